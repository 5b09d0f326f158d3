"""recordings: each call's recording (conversion, checks, deletion), legal holds on work
orders, the access log and the recordings' audit

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("linkedid", sa.String(64), primary_key=True),
        sa.Column("original", sa.Unicode(255), nullable=False),
        sa.Column("file", sa.Unicode(255), nullable=False, server_default=""),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("agent", sa.String(64), nullable=False, server_default=""),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("talk_time", sa.Float, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Unicode(200), nullable=False, server_default=""),
        sa.Column("format", sa.String(16), nullable=False, server_default=""),
        sa.Column("duration", sa.Float, nullable=True),
        sa.Column("loudness", sa.Float, nullable=True),
        sa.Column("silent", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("sha256", sa.String(64), nullable=False, server_default=""),
        sa.Column("size", sa.Integer, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("converted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_recordings_state_next", "recordings", ["state", "next_try_at"])
    op.create_index("ix_recordings_ended", "recordings", ["ended_at"])
    op.create_index("ix_recordings_agent", "recordings", ["agent", "ended_at"])
    op.create_table(
        "legal_holds",
        sa.Column("number", sa.String(32), primary_key=True),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("held_by", sa.Unicode(64), nullable=False),
        sa.Column("reason", sa.Unicode(200), nullable=False))
    op.create_table(
        "recording_access",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("what", sa.String(16), nullable=False),
        sa.Column("byte_range", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer, nullable=False))
    op.create_index("ix_recording_access_at", "recording_access", ["at"])
    op.create_index("ix_recording_access_linkedid", "recording_access", ["linkedid", "at"])
    op.create_table(
        "recording_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("detail", sa.Unicode(200), nullable=False))
    op.create_index("ix_recording_audit_at", "recording_audit", ["at"])


def downgrade() -> None:
    for table in ("recording_audit", "recording_access", "legal_holds", "recordings"):
        op.drop_table(table)
