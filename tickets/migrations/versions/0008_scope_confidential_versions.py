"""保密 (confidential) orders, order versions against lost updates, old and new values in the
history, and the indexes an agent's scope is read with

Existing orders are not confidential and are at version 1; existing history lines have no
changes (NULL).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("work_orders") as table:
        table.add_column(sa.Column("confidential", sa.Boolean, nullable=False, server_default=sa.false()))
        table.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    with op.batch_alter_table("work_order_history") as table:
        table.add_column(sa.Column("changes", sa.UnicodeText, nullable=True))
    op.create_index("ix_work_orders_taken_by_created", "work_orders", ["taken_by", "created_at", "id"])
    op.create_index("ix_call_records_agent", "call_records", ["agent"])


def downgrade() -> None:
    op.drop_index("ix_call_records_agent", "call_records")
    op.drop_index("ix_work_orders_taken_by_created", "work_orders")
    with op.batch_alter_table("work_order_history") as table:
        table.drop_column("changes")
    with op.batch_alter_table("work_orders") as table:
        table.drop_column("version")
        table.drop_column("confidential")
