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

# ---- work orders (工单) ------------------------------------------------------------------------
work_orders = Table(
    "work_orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("number", String(32), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("caller_number", Unicode(64), nullable=False),
    Column("contact_number", Unicode(64), nullable=False),
    Column("category", String(32), nullable=False),
    Column("topic", Unicode(64), nullable=False),
    Column("area", Unicode(128), nullable=False),
    Column("content", Unicode(4000), nullable=False),
    Column("department", Unicode(128), nullable=True),
    Column("state", String(32), nullable=False),
    Column("follow_up_result", String(32), nullable=True),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("linkedid", String(64), nullable=True),  # the call it was opened from
)
Index("ix_work_orders_caller_number", work_orders.c.caller_number)
Index("ix_work_orders_state_due", work_orders.c.state, work_orders.c.due_at)

work_order_history = Table(
    "work_order_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("number", String(32), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("by", Unicode(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("from_state", String(32), nullable=False),
    Column("to_state", String(32), nullable=False),
    Column("note", Unicode(1000), nullable=False),
)

order_sequences = Table(
    "order_sequences",
    metadata,
    Column("city_code", String(16), primary_key=True),
    Column("day", String(8), primary_key=True),
    Column("last", Integer, nullable=False),
)
