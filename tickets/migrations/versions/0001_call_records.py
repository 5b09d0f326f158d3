"""call_records: one row per call (linkedid), the foundation's record

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_records",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("linkedid", sa.String(64), nullable=False, unique=True),
        sa.Column("caller_number", sa.Unicode(64), nullable=False),
        sa.Column("caller_name", sa.Unicode(128), nullable=False),
        sa.Column("dialed_number", sa.Unicode(64), nullable=False),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disposition", sa.String(32), nullable=False),
        sa.Column("hangup_cause", sa.Integer, nullable=True),
        sa.Column("hangup_cause_text", sa.Unicode(128), nullable=False),
        sa.Column("recording", sa.Unicode(255), nullable=True),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_call_records_caller_number", "call_records", ["caller_number"])
    op.create_index("ix_call_records_arrived_at", "call_records", ["arrived_at"])


def downgrade() -> None:
    op.drop_table("call_records")
