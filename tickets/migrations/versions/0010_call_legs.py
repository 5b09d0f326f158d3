"""call legs: everyone who was on a call (the citizen, agents, 110, a department's staff) with
the times they joined and left; transferred_to wide enough for a desk or an agent

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_records") as batch:
        batch.add_column(sa.Column("legs", sa.UnicodeText(), nullable=True))
        batch.alter_column("transferred_to", existing_type=sa.String(8), type_=sa.String(64),
                           existing_nullable=False, existing_server_default="")


def downgrade() -> None:
    with op.batch_alter_table("call_records") as batch:
        batch.drop_column("legs")
        batch.alter_column("transferred_to", existing_type=sa.String(64), type_=sa.String(8),
                           existing_nullable=False, existing_server_default="")
