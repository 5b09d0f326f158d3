"""agents' state history: every transition with its reason and time (the day's per-agent
figures are read from it; memory keeps only the current state)

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_history",
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", "at", "state"))


def downgrade() -> None:
    op.drop_table("agent_history")
