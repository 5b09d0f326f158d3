"""the callback list: one row per entry (number, desk, due, outcome) with its lost calls and
attempts as a JSON document

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callbacks",
        sa.Column("entry_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("number", sa.Unicode(64), nullable=False),
        sa.Column("desk", sa.String(32), nullable=False),
        sa.Column("priority", sa.SmallInteger, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("virtual_hold", sa.Boolean, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("losses", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("document", sa.UnicodeText, nullable=False),
    )
    op.create_index("ix_callbacks_number", "callbacks", ["number"])
    op.create_index("ix_callbacks_outcome_due", "callbacks", ["outcome", "due_at"])


def downgrade() -> None:
    op.drop_table("callbacks")
