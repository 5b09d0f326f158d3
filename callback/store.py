"""The callback list in the store: each entry of the engine's callback book saved whole (upsert
by entry id) after every change, and read back at start so a restart forgets no lost call (an
attempt that was being dialed is read back as such: the first resync settles it, so a restart
never starts a second attempt beside it); and the do-not-call list, read at start beside the
config's. The table is one of the store's (tickets/schema.py), migrated with the rest."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from callback.book import Attempt, Entry, Loss, Outcome
from acd.routing import Priority
from tickets.schema import callbacks, do_not_call


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def to_document(entry: Entry) -> str:
    return json.dumps({"losses": [asdict(loss) | {"priority": int(loss.priority)} for loss in entry.losses],
                       "attempts": [asdict(a) | {"outcome": a.outcome.value} for a in entry.attempts],
                       "due_at": entry.due_at, "opened_at": entry.opened_at, "closed_at": entry.closed_at,
                       "dialing": entry.dialing, "dialing_agent": entry.dialing_agent},
                      ensure_ascii=False)


def from_row(row: Any) -> Entry:
    doc = json.loads(row.document)
    losses = tuple(Loss(**(d | {"priority": Priority(d["priority"])})) for d in doc["losses"])
    attempts = tuple(Attempt(a["at"], a["agent_id"], Outcome(a["outcome"])) for a in doc["attempts"])
    return Entry(row.entry_id, row.number, row.desk, Priority(row.priority), doc["opened_at"], losses, attempts,
                 due_at=doc["due_at"], virtual_hold=bool(row.virtual_hold), dialing=bool(doc.get("dialing")),
                 outcome=Outcome(row.outcome) if row.outcome else None, closed_at=doc["closed_at"],
                 dialing_agent=str(doc.get("dialing_agent", "")))


@dataclass(frozen=True, slots=True)
class OptOut:
    number: str
    added_at: datetime
    added_by: str
    note: str


class CallbackStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._insert: Any = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    async def save(self, entries: list[Entry]) -> None:
        """Upsert entries in one transaction (the last state of each wins)."""
        if not entries:
            return
        latest = {e.entry_id: e for e in entries}
        rows = [{"entry_id": e.entry_id, "number": e.number, "desk": e.desk, "priority": int(e.priority),
                 "opened_at": _when(e.opened_at), "due_at": _when(e.due_at), "virtual_hold": e.virtual_hold,
                 "outcome": e.outcome.value if e.outcome else None,
                 "closed_at": _when(e.closed_at) if e.closed_at is not None else None,
                 "losses": len(e.losses), "attempts": len(e.attempts), "document": to_document(e)}
                for e in latest.values()]
        statement = self._insert(callbacks)
        statement = statement.on_conflict_do_update(
            index_elements=["entry_id"],
            set_={c: statement.excluded[c] for c in ("number", "desk", "priority", "due_at", "virtual_hold",
                                                      "outcome", "closed_at", "losses", "attempts", "document")})
        async with self.engine.begin() as conn:
            await conn.execute(statement, rows)

    async def open_entries(self) -> list[Entry]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(callbacks).where(callbacks.c.outcome.is_(None))
                                      .order_by(callbacks.c.entry_id))
            return [from_row(r) for r in rows]

    async def recently_booked(self, since: datetime) -> dict[str, float]:
        """The lost calls (linkedid -> when) of entries closed since `since`: what a restarted
        controller must not book again when Asterisk's call journal replays them."""
        query = select(callbacks.c.document).where(callbacks.c.closed_at >= since)
        async with self.engine.connect() as conn:
            return {loss["linkedid"]: loss["at"] for row in await conn.execute(query)
                    for loss in json.loads(row.document)["losses"]}

    async def last_id(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.coalesce(func.max(callbacks.c.entry_id), 0)))).scalar_one())

    async def listing(self, *, open_only: bool = True, limit: int = 200) -> list[Entry]:
        query = select(callbacks).order_by(callbacks.c.due_at, callbacks.c.entry_id).limit(limit)
        if open_only:
            query = query.where(callbacks.c.outcome.is_(None))
        async with self.engine.connect() as conn:
            return [from_row(r) for r in await conn.execute(query)]

    async def day(self, start: datetime, end: datetime) -> tuple[list[Entry], int, int]:
        """Entries opened in [start, end), and that period's lost and citizen calls."""
        from acd.records import LOST, Disposition
        from tickets.schema import call_records

        async with self.engine.connect() as conn:
            rows = await conn.execute(select(callbacks).where(callbacks.c.opened_at >= start, callbacks.c.opened_at < end))
            entries = [from_row(r) for r in rows]
            in_day = (call_records.c.arrived_at >= start, call_records.c.arrived_at < end)
            citizen = (await conn.execute(select(func.count()).select_from(call_records).where(
                *in_day, call_records.c.disposition.notin_([Disposition.INTERNAL.value, "called_back"])))).scalar_one()
            lost = (await conn.execute(select(func.count()).select_from(call_records).where(
                *in_day, call_records.c.disposition.in_([d.value for d in LOST])))).scalar_one()
        return entries, int(lost), int(citizen)

    async def opt_out(self, number: str, by: str, note: str, at: datetime) -> bool:
        """On the do-not-call list; False if it was there already (kept as first written)."""
        statement = self._insert(do_not_call).on_conflict_do_nothing(index_elements=["number"])
        async with self.engine.begin() as conn:
            result = await conn.execute(statement, {"number": number, "added_at": at, "added_by": by, "note": note})
        return bool(result.rowcount)

    async def opt_in(self, number: str) -> bool:
        """Off the list; False if it was not on it."""
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(do_not_call).where(do_not_call.c.number == number))
        return bool(result.rowcount)

    async def do_not_call(self) -> list[OptOut]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(do_not_call).order_by(do_not_call.c.added_at, do_not_call.c.number))
            return [OptOut(r.number, r.added_at.replace(tzinfo=r.added_at.tzinfo or timezone.utc), r.added_by, r.note)
                    for r in rows]
