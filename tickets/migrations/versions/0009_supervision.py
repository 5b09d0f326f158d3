"""supervision: monitoring sessions (listen, whisper, barge: who, whom, which call, when, the
modes, how long) and the supervisors' audit (forced pause or logout, emergency hang-up)

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitor_sessions",
        sa.Column("session_id", sa.String(32), primary_key=True),
        sa.Column("supervisor", sa.String(64), nullable=False),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration", sa.Float, nullable=True),
        sa.Column("modes", sa.UnicodeText, nullable=False),
        sa.Column("end_reason", sa.Unicode(64), nullable=False),
    )
    op.create_index("ix_monitor_sessions_agent", "monitor_sessions", ["agent", "requested_at"])
    op.create_index("ix_monitor_sessions_supervisor", "monitor_sessions", ["supervisor", "requested_at"])
    op.create_index("ix_monitor_sessions_linkedid", "monitor_sessions", ["linkedid"])
    op.create_table(
        "supervisor_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("reason", sa.Unicode(200), nullable=False),
        sa.Column("detail", sa.Unicode(200), nullable=False),
    )
    op.create_index("ix_supervisor_audit_at", "supervisor_audit", ["at"])


def downgrade() -> None:
    op.drop_index("ix_supervisor_audit_at", "supervisor_audit")
    op.drop_table("supervisor_audit")
    op.drop_index("ix_monitor_sessions_linkedid", "monitor_sessions")
    op.drop_index("ix_monitor_sessions_supervisor", "monitor_sessions")
    op.drop_index("ix_monitor_sessions_agent", "monitor_sessions")
    op.drop_table("monitor_sessions")
