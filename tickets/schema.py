"""Tables of the store (SQLAlchemy Core). Portable between SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, MetaData, String, Table, Unicode, func

metadata = MetaData()

call_records = Table(
    "call_records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("linkedid", String(64), nullable=False, unique=True),
    Column("caller_number", Unicode(64), nullable=False, default=""),
    Column("caller_name", Unicode(128), nullable=False, default=""),
    Column("dialed_number", Unicode(64), nullable=False, default=""),
    Column("arrived_at", DateTime(timezone=True), nullable=False),
    Column("answered_at", DateTime(timezone=True), nullable=True),
    Column("ended_at", DateTime(timezone=True), nullable=False),
    Column("disposition", String(32), nullable=False),
    Column("hangup_cause", Integer, nullable=True),
    Column("hangup_cause_text", Unicode(128), nullable=False, default=""),
    Column("recording", Unicode(255), nullable=True),  # filled by the recordings issue
    Column("written_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("ix_call_records_caller_number", call_records.c.caller_number)
Index("ix_call_records_arrived_at", call_records.c.arrived_at)
