"""the pages' people: accounts (argon2id hashes), browser sessions (token digests) and the
login audit

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("display", sa.Unicode(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False))
    op.create_table(
        "web_sessions",
        sa.Column("token_digest", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("address", sa.String(45), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False))
    op.create_index("ix_web_sessions_name", "web_sessions", ["name"])
    op.create_table(
        "login_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("address", sa.String(45), nullable=False),
        sa.Column("outcome", sa.String(24), nullable=False))
    op.create_index("ix_login_audit_at", "login_audit", ["at"])


def downgrade() -> None:
    op.drop_index("ix_login_audit_at", "login_audit")
    op.drop_table("login_audit")
    op.drop_index("ix_web_sessions_name", "web_sessions")
    op.drop_table("web_sessions")
    op.drop_table("users")
