"""call outcomes on call records (desk, agent, wait, talk, survey, repeat caller, stage left in), order
handling, and the calls linked to each order

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# the foundation's one "abandoned" is, in the new terms, a caller lost before any queue
OLD_ABANDONED, NEW_ABANDONED = "abandoned", "abandoned_ivr"


def upgrade() -> None:
    with op.batch_alter_table("call_records") as table:
        table.add_column(sa.Column("desk", sa.String(32), nullable=False, server_default=""))
        table.add_column(sa.Column("agent", sa.String(64), nullable=False, server_default=""))
        table.add_column(sa.Column("queue_wait", sa.Float, nullable=True))
        table.add_column(sa.Column("talk_time", sa.Float, nullable=True))
        table.add_column(sa.Column("survey_score", sa.SmallInteger, nullable=True))
        table.add_column(sa.Column("repeat_caller", sa.Boolean, nullable=False, server_default=sa.false()))
        table.add_column(sa.Column("order_number", sa.String(32), nullable=True))
        table.add_column(sa.Column("transferred_to", sa.String(8), nullable=False, server_default=""))
        table.add_column(sa.Column("left_in", sa.String(16), nullable=False, server_default=""))
        table.add_column(sa.Column("callback", sa.String(16), nullable=False, server_default=""))
    records = sa.table("call_records", sa.column("disposition", sa.String))
    op.execute(records.update().where(records.c.disposition == OLD_ABANDONED)
               .values(disposition=NEW_ABANDONED))
    with op.batch_alter_table("work_orders") as table:
        table.add_column(sa.Column("handling", sa.String(16), nullable=True))
        table.add_column(sa.Column("taken_by", sa.Unicode(64), nullable=False, server_default=""))
        table.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("survey_score", sa.SmallInteger, nullable=True))
    op.create_table(
        "order_calls",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.UniqueConstraint("number", "linkedid", name="uq_order_calls_number_linkedid"),
    )
    op.create_index("ix_order_calls_linkedid", "order_calls", ["linkedid"])
    orders = sa.table("work_orders", sa.column("number", sa.String), sa.column("linkedid", sa.String),
                      sa.column("created_at", sa.DateTime))
    op.execute(sa.table("order_calls", sa.column("number"), sa.column("linkedid"), sa.column("linked_at"),
                        sa.column("reason")).insert().from_select(
        ["number", "linkedid", "linked_at", "reason"],
        sa.select(orders.c.number, orders.c.linkedid, orders.c.created_at, sa.literal("opened"))
        .where(orders.c.linkedid.is_not(None))))


def downgrade() -> None:
    op.drop_table("order_calls")
    with op.batch_alter_table("work_orders") as table:
        for name in ("survey_score", "updated_at", "taken_by", "handling"):
            table.drop_column(name)
    with op.batch_alter_table("call_records") as table:
        for name in ("callback", "left_in", "transferred_to", "order_number", "repeat_caller", "survey_score", "talk_time",
                     "queue_wait", "agent", "desk"):
            table.drop_column(name)
