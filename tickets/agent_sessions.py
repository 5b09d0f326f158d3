"""Agents' sessions in the store: the last state of each agent (logged in, paused with its
reason, ready, on a call, in wrap-up until when), saved after every change and read back at
start, so a controller restart does not log out the hall (nor forget the ordinary phone an
agent works on). The table is one of the store's
(tickets/schema.py), migrated with the rest."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.acd import AgentSession
from tickets.schema import agent_sessions


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def _epoch(value: datetime | None) -> float:
    if value is None:
        return 0.0
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()


class AgentSessionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    async def save(self, sessions: list[AgentSession]) -> None:
        """Upsert in one transaction (the last session of each agent wins)."""
        latest = {s.agent_id: s for s in sessions}
        if not latest:
            return
        now = datetime.now(timezone.utc)
        rows = [{"agent_id": s.agent_id, "state": s.state, "reason": s.reason, "since": _when(s.since),
                 "desk": s.desk, "call_id": s.call_id,
                 "wrap_up_until": _when(s.wrap_up_until) if s.wrap_up_until else None, "updated_at": now,
                 "phone": s.phone, "persistent": s.persistent}
                for s in latest.values()]
        statement = self._insert(agent_sessions)
        statement = statement.on_conflict_do_update(
            index_elements=["agent_id"],
            set_={c: statement.excluded[c] for c in ("state", "reason", "since", "desk", "call_id",
                                                      "wrap_up_until", "updated_at", "phone",
                                                      "persistent")})
        async with self.engine.begin() as conn:
            await conn.execute(statement, rows)

    async def load(self) -> list[AgentSession]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(agent_sessions).order_by(agent_sessions.c.agent_id))
            return [AgentSession(r.agent_id, r.state, r.reason, _epoch(r.since), r.desk, r.call_id,
                                 _epoch(r.wrap_up_until), r.phone, bool(r.persistent)) for r in rows]
