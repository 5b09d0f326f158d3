"""Supervision in the store: every monitoring session (saved at each change: requested, spying,
each mode switch, ended) and the supervisors' audit (forced pause or logout, emergency
hang-up). Both tables are the store's (tickets/schema.py, revision 0009), read by the API
(web/supervision.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.supervision import AuditEntry, SessionRecord
from tickets.schema import monitor_sessions, supervisor_audit


def _when(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, timezone.utc)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class StoredSession:
    session_id: str
    supervisor: str
    agent: str
    linkedid: str
    source: str
    requested_by: str
    requested_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    duration: float | None
    modes: list[dict[str, Any]]  # [{"mode": "listen", "began_at": datetime}]
    end_reason: str


@dataclass(frozen=True, slots=True)
class StoredAudit:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    reason: str
    detail: str


class SupervisionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    async def save_sessions(self, records: list[SessionRecord]) -> None:
        """Upsert in one transaction; the last state of each session wins."""
        latest = {r.session_id: r for r in records}
        if not latest:
            return
        rows = [{"session_id": r.session_id, "supervisor": r.supervisor, "agent": r.agent, "linkedid": r.linkedid,
                 "source": r.source, "requested_by": r.requested_by, "requested_at": _when(r.requested_at),
                 "started_at": _when(r.started_at), "ended_at": _when(r.ended_at), "duration": r.duration,
                 "modes": json.dumps([{"mode": m.mode, "began_at": m.began_at} for m in r.modes]),
                 "end_reason": r.end_reason[:64]} for r in latest.values()]
        statement = self._insert(monitor_sessions)
        statement = statement.on_conflict_do_update(
            index_elements=["session_id"],
            set_={c: statement.excluded[c] for c in ("linkedid", "started_at", "ended_at", "duration", "modes",
                                                      "end_reason")})
        async with self.engine.begin() as conn:
            await conn.execute(statement, rows)

    async def sessions(self, *, supervisor: str | None = None, agent: str | None = None,
                       linkedid: str | None = None, limit: int = 100) -> list[StoredSession]:
        """Newest first."""
        query = select(monitor_sessions)
        for column, value in (("supervisor", supervisor), ("agent", agent), ("linkedid", linkedid)):
            if value:
                query = query.where(monitor_sessions.c[column] == value)
        query = query.order_by(monitor_sessions.c.requested_at.desc(), monitor_sessions.c.session_id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [StoredSession(r.session_id, r.supervisor, r.agent, r.linkedid, r.source, r.requested_by,
                              _aware(r.requested_at) or datetime.min, _aware(r.started_at), _aware(r.ended_at),
                              r.duration,
                              [{"mode": m["mode"], "began_at": _when(m["began_at"])} for m in json.loads(r.modes)],
                              r.end_reason) for r in rows]

    async def close_open(self, at: datetime, reason: str = "controller restarted") -> int:
        """At start: sessions a previous run of the controller left open (it kept them in memory
        only) end now, so the log never shows a session live that nobody tracks. The number closed."""
        async with self.engine.begin() as conn:
            result = await conn.execute(update(monitor_sessions).where(monitor_sessions.c.ended_at.is_(None))
                                        .values(ended_at=at, end_reason=reason))
        return int(result.rowcount or 0)

    async def add_audit(self, entries: list[AuditEntry]) -> None:
        if not entries:
            return
        async with self.engine.begin() as conn:
            await conn.execute(supervisor_audit.insert(), [
                {"at": _when(e.at), "actor": e.actor[:64], "action": e.action[:32], "target": e.target[:64],
                 "reason": e.reason[:200], "detail": e.detail[:200]} for e in entries])

    async def audit(self, *, actor: str | None = None, target: str | None = None, limit: int = 100) -> list[StoredAudit]:
        """Newest first."""
        query = select(supervisor_audit)
        if actor:
            query = query.where(supervisor_audit.c.actor == actor)
        if target:
            query = query.where(supervisor_audit.c.target == target)
        query = query.order_by(supervisor_audit.c.at.desc(), supervisor_audit.c.id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [StoredAudit(r.id, _aware(r.at) or datetime.min, r.actor, r.action, r.target, r.reason, r.detail)
                for r in rows]
