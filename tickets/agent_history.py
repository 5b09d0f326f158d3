"""Agents' state history in the store (issue 17): every transition the engine publishes, batched
(tickets/saves.py), and read back for an agent's day (acd/history.py computes the figures). A
transition written twice (restored at a restart: same agent, time and state) is one row."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import and_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.history import Transition
from tickets.schema import agent_history


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()


class AgentHistoryStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    async def save(self, rows: list[tuple[str, Transition]]) -> None:
        if not rows:
            return
        values = [{"agent_id": agent_id, "at": _when(t.at), "state": t.state, "reason": t.reason[:64]}
                  for agent_id, t in rows]
        async with self.engine.begin() as conn:
            await conn.execute(self._insert(agent_history).on_conflict_do_nothing(), values)

    async def between(self, agent_id: str, start: float, end: float) -> list[Transition]:
        """The transitions in [start, end), and the last one before `start` (the state the span began in)."""
        table = agent_history.c
        async with self.engine.connect() as conn:
            before = (await conn.execute(
                select(agent_history).where(and_(table.agent_id == agent_id, table.at < _when(start)))
                .order_by(table.at.desc()).limit(1))).first()
            rows = (await conn.execute(
                select(agent_history).where(and_(table.agent_id == agent_id, table.at >= _when(start),
                                                 table.at < _when(end))).order_by(table.at))).all()
        return [Transition(_epoch(r.at), r.state, r.reason) for r in ([before] if before else []) + list(rows)]
