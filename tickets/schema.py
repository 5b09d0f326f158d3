"""Tables of the store (SQLAlchemy Core). Portable between SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (Boolean, Column, DateTime, Float, Index, Integer, MetaData, SmallInteger, String,
                        Table, Unicode, UnicodeText, UniqueConstraint, false, func)

metadata = MetaData()

call_records = Table(
    "call_records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("linkedid", String(64), nullable=False, unique=True),
    Column("caller_number", Unicode(64), nullable=False, default=""),
    Column("caller_name", Unicode(128), nullable=False, default=""),
    Column("dialed_number", Unicode(64), nullable=False, default=""),
    Column("arrived_at", DateTime(timezone=True), nullable=False),
    Column("answered_at", DateTime(timezone=True), nullable=True),
    Column("ended_at", DateTime(timezone=True), nullable=False),
    Column("disposition", String(32), nullable=False),
    Column("hangup_cause", Integer, nullable=True),
    Column("hangup_cause_text", Unicode(128), nullable=False, default=""),
    Column("recording", Unicode(255), nullable=True),  # filled by the recordings issue
    Column("written_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # revision 0004: what the intake and the ACD made of the call
    Column("desk", String(32), nullable=False, server_default=""),
    Column("agent", String(64), nullable=False, server_default=""),
    Column("queue_wait", Float, nullable=True),
    Column("talk_time", Float, nullable=True),
    Column("survey_score", SmallInteger, nullable=True),
    Column("repeat_caller", Boolean, nullable=False, server_default=false()),
    Column("order_number", String(32), nullable=True),
    Column("transferred_to", String(64), nullable=False, server_default=""),  # 64 since 0010
    Column("left_in", String(16), nullable=False, server_default=""),
    Column("callback", String(16), nullable=False, server_default=""),
    # revision 0010: everyone who was on the call (acd.records.legs_json)
    Column("legs", UnicodeText, nullable=True),
)
Index("ix_call_records_caller_number", call_records.c.caller_number)
Index("ix_call_records_arrived_at", call_records.c.arrived_at)

# ---- work orders (工单) ------------------------------------------------------------------------
work_orders = Table(
    "work_orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("number", String(32), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("caller_number", Unicode(64), nullable=False),
    Column("contact_number", Unicode(64), nullable=False),
    Column("category", String(32), nullable=False),
    Column("topic", Unicode(64), nullable=False),
    Column("area", Unicode(128), nullable=False),
    Column("content", Unicode(4000), nullable=False),
    Column("department", Unicode(128), nullable=True),
    Column("state", String(32), nullable=False),
    Column("follow_up_result", String(32), nullable=True),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("linkedid", String(64), nullable=True),  # the call it was opened from
    # revision 0004
    Column("handling", String(16), nullable=True),  # direct (直办) | dispatched (转办)
    Column("taken_by", Unicode(64), nullable=False, server_default=""),  # first-contact agent
    Column("updated_at", DateTime(timezone=True), nullable=True),
    Column("survey_score", SmallInteger, nullable=True),  # the citizen's rating of the call about it
    # revision 0008
    Column("confidential", Boolean, nullable=False, server_default=false()),  # 保密: personal data withheld
    Column("version", Integer, nullable=False, server_default="1"),  # +1 on each edit, step, 保密 change
)
Index("ix_work_orders_caller_number", work_orders.c.caller_number)
Index("ix_work_orders_state_due", work_orders.c.state, work_orders.c.due_at)
# revision 0003: what search filters and sorts by (with id last, for keyset paging)
Index("ix_work_orders_category_state_due", work_orders.c.category, work_orders.c.state, work_orders.c.due_at, work_orders.c.id)
Index("ix_work_orders_state_created", work_orders.c.state, work_orders.c.created_at, work_orders.c.id)
Index("ix_work_orders_state_due_id", work_orders.c.state, work_orders.c.due_at, work_orders.c.id)
Index("ix_work_orders_department_due", work_orders.c.department, work_orders.c.due_at, work_orders.c.id, work_orders.c.state)
Index("ix_work_orders_caller_created", work_orders.c.caller_number, work_orders.c.created_at)
# no filter, or one only a scan can serve: the first page of every order by created_at or due_at
Index("ix_work_orders_created", work_orders.c.created_at, work_orders.c.id)
Index("ix_work_orders_due", work_orders.c.due_at, work_orders.c.id, work_orders.c.state)
# revision 0008: an agent's scope (the orders they took; the calls they answered)
Index("ix_work_orders_taken_by_created", work_orders.c.taken_by, work_orders.c.created_at, work_orders.c.id)
Index("ix_call_records_agent", call_records.c.agent)

work_order_history = Table(
    "work_order_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("number", String(32), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("by", Unicode(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("from_state", String(32), nullable=False),
    Column("to_state", String(32), nullable=False),
    Column("note", Unicode(1000), nullable=False),
    # revision 0008: the values the line changed, JSON [{"field", "old", "new"}]; NULL before it
    Column("changes", UnicodeText, nullable=True),
)

order_sequences = Table(
    "order_sequences",
    metadata,
    Column("city_code", String(16), primary_key=True),
    Column("day", String(8), primary_key=True),
    Column("last", Integer, nullable=False),
)

# Calls linked to an order: the one it was opened from, repeat calls about it, and calls an agent
# linked by hand; each with its recording through call_records (revision 0004).
order_calls = Table(
    "order_calls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("number", String(32), nullable=False),
    Column("linkedid", String(64), nullable=False),
    Column("linked_at", DateTime(timezone=True), nullable=False),
    Column("reason", String(16), nullable=False),  # opened | repeat | linked
    UniqueConstraint("number", "linkedid", name="uq_order_calls_number_linkedid"),
)
Index("ix_order_calls_linkedid", order_calls.c.linkedid)

# The callback list (revision 0005): one row per entry; the lost calls and attempts in `document`.
callbacks = Table(
    "callbacks",
    metadata,
    Column("entry_id", Integer, primary_key=True, autoincrement=False),
    Column("number", Unicode(64), nullable=False),
    Column("desk", String(32), nullable=False),
    Column("priority", SmallInteger, nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("virtual_hold", Boolean, nullable=False),
    Column("outcome", String(16), nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("losses", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("document", UnicodeText, nullable=False),
)
Index("ix_callbacks_number", callbacks.c.number)
Index("ix_callbacks_outcome_due", callbacks.c.outcome, callbacks.c.due_at)
Index("ix_callbacks_closed_at", callbacks.c.closed_at)

do_not_call = Table(
    "do_not_call",
    metadata,
    Column("number", Unicode(64), primary_key=True),
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("added_by", Unicode(64), nullable=False),
    Column("note", Unicode(200), nullable=False),
)

# Agents' sessions (revision 0007): the last state of each agent, restored after a restart.
agent_sessions = Table(
    "agent_sessions",
    metadata,
    Column("agent_id", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
    Column("desk", String(32), nullable=False),
    Column("call_id", String(64), nullable=False),
    Column("wrap_up_until", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # revision 0011: the ordinary phone an agent is logged in on (their own number: the API never shows it)
    Column("phone", String(20), nullable=False, server_default=""),
    # revision 0012: on a persistent line to that phone (acd/lines.py)
    Column("persistent", Boolean, nullable=False, server_default=false()),
)

# Agents' state history (revision 0013, acd/history.py): every transition, for the day's figures.
# The key makes a transition restored at a restart (same agent, time and state) one row.
agent_history = Table(
    "agent_history",
    metadata,
    Column("agent_id", String(64), primary_key=True),
    Column("at", DateTime(timezone=True), primary_key=True),
    Column("state", String(16), primary_key=True),
    Column("reason", String(64), nullable=False),
)

# Supervision (revision 0009, acd/supervision.py): every monitoring session (who monitored whom,
# which call, when, in which modes, how long) and the supervisors' audit (forced pause or
# logout, emergency hang-up: who, what, target, reason, when).
monitor_sessions = Table(
    "monitor_sessions",
    metadata,
    Column("session_id", String(32), primary_key=True),
    Column("supervisor", String(64), nullable=False),
    Column("agent", String(64), nullable=False),
    Column("linkedid", String(64), nullable=False),
    Column("source", String(8), nullable=False),  # api | phone
    Column("requested_by", String(64), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),  # ChanSpyStart
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("duration", Float, nullable=True),  # seconds spying
    Column("modes", UnicodeText, nullable=False),  # JSON [{"mode", "began_at"}], in order
    Column("end_reason", Unicode(64), nullable=False),
    Index("ix_monitor_sessions_agent", "agent", "requested_at"),
    Index("ix_monitor_sessions_supervisor", "supervisor", "requested_at"),
    Index("ix_monitor_sessions_linkedid", "linkedid"),
)

supervisor_audit = Table(
    "supervisor_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),  # force_pause | force_logout | hangup_call
    Column("target", String(64), nullable=False),  # the agent id, or the call's linkedid
    Column("reason", Unicode(200), nullable=False),
    Column("detail", Unicode(200), nullable=False),
    Index("ix_supervisor_audit_at", "at"),
)

# The pages' people (revision 0014, web/login.py): accounts with argon2id password hashes, their
# browser sessions (a session's token is kept only as its SHA-256 digest) and every login,
# failed login and logout.
users = Table(
    "users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),  # agent | supervisor | admin
    Column("display", Unicode(64), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("password_changed_at", DateTime(timezone=True), nullable=False),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_digest", String(64), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("address", String(45), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Index("ix_web_sessions_name", "name"),
)

login_audit = Table(
    "login_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("name", String(64), nullable=False),  # as typed (cut to 64), for a failed login too
    Column("address", String(45), nullable=False),
    Column("outcome", String(24), nullable=False),  # login | wrong-password | unknown-user | disabled | throttled | logout | expired
    Index("ix_login_audit_at", "at"),
)

# Recordings (revision 0015, recordings/): one row per call's recording — its conversion and
# checks, then its deletion when retention ends; the legal holds on work orders that keep their
# calls' recordings; who heard what, when; and the audit of every deletion, hold and failure.
recordings = Table(
    "recordings",
    metadata,
    Column("linkedid", String(64), primary_key=True),
    Column("original", Unicode(255), nullable=False),  # as MixMonitor named it, under [recordings] monitor_dir
    Column("file", Unicode(255), nullable=False, server_default=""),  # the converted file, under store_dir
    Column("state", String(16), nullable=False),  # pending | done | failed | deleted
    Column("agent", String(64), nullable=False, server_default=""),
    Column("ended_at", DateTime(timezone=True), nullable=False),  # the call's end: retention counts from it
    Column("talk_time", Float, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_try_at", DateTime(timezone=True), nullable=True),
    Column("error", Unicode(200), nullable=False, server_default=""),
    Column("format", String(16), nullable=False, server_default=""),
    Column("duration", Float, nullable=True),  # seconds, of the converted file as decoded
    Column("loudness", Float, nullable=True),  # dBFS (RMS) of the whole recording
    Column("silent", Boolean, nullable=False, server_default=false()),
    Column("sha256", String(64), nullable=False, server_default=""),
    Column("size", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("converted_at", DateTime(timezone=True), nullable=True),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    Index("ix_recordings_state_next", "state", "next_try_at"),
    Index("ix_recordings_ended", "ended_at"),
    Index("ix_recordings_agent", "agent", "ended_at"),
)

legal_holds = Table(
    "legal_holds",
    metadata,
    Column("number", String(32), primary_key=True),  # the work order held
    Column("held_at", DateTime(timezone=True), nullable=False),
    Column("held_by", Unicode(64), nullable=False),
    Column("reason", Unicode(200), nullable=False),
)

recording_access = Table(
    "recording_access",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("name", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("linkedid", String(64), nullable=False),
    Column("what", String(16), nullable=False),  # details | audio | download
    Column("byte_range", String(64), nullable=False),  # the Range header asked for, "" for the whole file
    Column("status", Integer, nullable=False),  # what was answered: 200, 206, 403, 404, 409 …
    Index("ix_recording_access_at", "at"),
    Index("ix_recording_access_linkedid", "linkedid", "at"),
)

recording_audit = Table(
    "recording_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),  # a person, or "retention" / "converter"
    Column("action", String(16), nullable=False),  # deleted | hold | release | failed | corrupt | retry
    Column("target", String(64), nullable=False),  # the call's linkedid, or the order number held
    Column("detail", Unicode(200), nullable=False),
    Index("ix_recording_audit_at", "at"),
)
