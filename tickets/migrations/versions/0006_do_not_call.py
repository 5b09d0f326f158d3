"""the do-not-call list of callbacks: numbers whose owners asked not to be called back, with
who put them there and why; callbacks by closing time (a restart reads the recently closed
entries' lost calls so that a replayed journal line is not booked twice)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "do_not_call",
        sa.Column("number", sa.Unicode(64), primary_key=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.Unicode(64), nullable=False),
        sa.Column("note", sa.Unicode(200), nullable=False),
    )
    op.create_index("ix_callbacks_closed_at", "callbacks", ["closed_at"])


def downgrade() -> None:
    op.drop_index("ix_callbacks_closed_at", "callbacks")
    op.drop_table("do_not_call")
