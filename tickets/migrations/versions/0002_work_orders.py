"""work orders, their append-only history, and per-city daily order sequences

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "work_orders",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("number", sa.String(32), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("caller_number", sa.Unicode(64), nullable=False),
        sa.Column("contact_number", sa.Unicode(64), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("topic", sa.Unicode(64), nullable=False),
        sa.Column("area", sa.Unicode(128), nullable=False),
        sa.Column("content", sa.Unicode(4000), nullable=False),
        sa.Column("department", sa.Unicode(128), nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("follow_up_result", sa.String(32), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=True),
    )
    op.create_index("ix_work_orders_caller_number", "work_orders", ["caller_number"])
    op.create_index("ix_work_orders_state_due", "work_orders", ["state", "due_at"])
    op.create_table(
        "work_order_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.Unicode(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(32), nullable=False),
        sa.Column("to_state", sa.String(32), nullable=False),
        sa.Column("note", sa.Unicode(1000), nullable=False),
    )
    op.create_index("ix_work_order_history_number", "work_order_history", ["number"])
    op.create_table(
        "order_sequences",
        sa.Column("city_code", sa.String(16), primary_key=True),
        sa.Column("day", sa.String(8), primary_key=True),
        sa.Column("last", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("order_sequences")
    op.drop_table("work_order_history")
    op.drop_table("work_orders")
