"""The recordings' rows in the store (tables in tickets/schema.py, revision 0015): the converter's
queue and results, legal holds, the access log and the audit. Nothing here touches a file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tickets.schema import (call_records, legal_holds, order_calls, recording_access, recording_audit, recordings,
                            work_orders)

PENDING, DONE, FAILED, DELETED = "pending", "done", "failed", "deleted"
UNKNOWN_ORDER = "unknown-order"
ALREADY_HELD = "already-held"
NOT_HELD = "not-held"


class RecordingStoreError(ValueError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code


def _utc(value: datetime) -> datetime:
    """Every time goes into a query in UTC: SQLite compares the stored text, which is UTC (a
    local midnight given with its +08:00 would be compared as if it were UTC)."""
    return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


@dataclass(frozen=True, slots=True)
class Recording:
    linkedid: str
    original: str
    file: str
    state: str
    agent: str
    ended_at: datetime
    talk_time: float | None
    attempts: int
    next_try_at: datetime | None
    error: str
    format: str
    duration: float | None
    loudness: float | None
    silent: bool
    sha256: str
    size: int | None
    created_at: datetime
    converted_at: datetime | None
    deleted_at: datetime | None


def _recording(row: Any) -> Recording:
    m = row._mapping
    return Recording(m["linkedid"], m["original"], m["file"], m["state"], m["agent"], _aware(m["ended_at"]),  # type: ignore[arg-type]
                     m["talk_time"], m["attempts"], _aware(m["next_try_at"]), m["error"], m["format"],
                     m["duration"], m["loudness"], bool(m["silent"]), m["sha256"], m["size"],
                     _aware(m["created_at"]), _aware(m["converted_at"]), _aware(m["deleted_at"]))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A recording retention may delete: when its call ended, the request types of the work
    orders it is linked to, and whether one of them is on legal hold."""

    linkedid: str
    original: str
    file: str
    ended_at: datetime
    categories: frozenset[str]
    held: bool


@dataclass(frozen=True, slots=True)
class Hold:
    number: str
    held_at: datetime
    held_by: str
    reason: str


@dataclass(frozen=True, slots=True)
class Access:
    at: datetime
    name: str
    role: str
    linkedid: str
    what: str
    byte_range: str
    status: int


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    target: str
    detail: str


class RecordingStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # ---- the converter's queue -----------------------------------------------------------
    async def last_noted_call(self) -> int:
        """The id of the last call record whose recording is noted: the scan for new ones goes on
        after it (a restart included)."""
        async with self.engine.connect() as conn:
            found = await conn.scalar(select(func.max(call_records.c.id)).select_from(
                call_records.join(recordings, recordings.c.linkedid == call_records.c.linkedid)))
        return int(found or 0)

    async def note_new_calls(self, after: int, now: datetime, limit: int = 500) -> int:
        """Queue the recordings of the call records written after id `after`; the last id seen."""
        c = call_records.c
        async with self.engine.begin() as conn:
            rows = (await conn.execute(
                select(c.id, c.linkedid, c.recording, c.agent, c.ended_at, c.talk_time)
                .where(c.id > after).order_by(c.id).limit(limit))).all()
            recorded = [row for row in rows if row.recording]
            noted: set[str] = set((await conn.execute(select(recordings.c.linkedid).where(
                recordings.c.linkedid.in_([row.linkedid for row in recorded])))).scalars()) if recorded else set()
            new = [{"linkedid": row.linkedid, "original": row.recording, "state": PENDING, "agent": row.agent or "",
                    "ended_at": row.ended_at, "talk_time": row.talk_time, "created_at": _utc(now),
                    "next_try_at": _utc(now)} for row in recorded if row.linkedid not in noted]
            if new:  # one statement for the batch, one look for those already noted
                await conn.execute(insert(recordings), new)
        return int(rows[-1].id) if rows else after

    async def due(self, now: datetime, limit: int) -> list[Recording]:
        r = recordings.c
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(recordings).where(
                r.state == PENDING, or_(r.next_try_at.is_(None), r.next_try_at <= _utc(now)))
                .order_by(r.next_try_at, r.linkedid).limit(limit))).all()
        return [_recording(row) for row in rows]

    async def next_due(self) -> datetime | None:
        async with self.engine.connect() as conn:
            found = await conn.scalar(select(func.min(recordings.c.next_try_at)).where(recordings.c.state == PENDING))
        return _aware(found)

    async def converted(self, linkedid: str, *, file: str, fmt: str, duration: float, loudness: float,
                        silent: bool, sha256: str, size: int, now: datetime) -> bool:
        """Store a verified conversion; False if the row is no longer pending (retention deleted
        it meanwhile): the caller then removes the file it made."""
        async with self.engine.begin() as conn:
            stored = await conn.execute(update(recordings).where(
                recordings.c.linkedid == linkedid, recordings.c.state == PENDING).values(
                state=DONE, file=file, format=fmt, duration=duration, loudness=loudness, silent=silent,
                sha256=sha256, size=size, converted_at=_utc(now), next_try_at=None, error="",
                attempts=recordings.c.attempts + 1))
            if not stored.rowcount:
                return False
            # the call record (and through it the work orders' linked calls) names the kept file
            await conn.execute(update(call_records).where(call_records.c.linkedid == linkedid).values(recording=file))
        return True

    async def attempt_failed(self, linkedid: str, error: str, now: datetime, retry_at: datetime | None) -> None:
        """Count a failed attempt; `retry_at` None gives up (state failed, an audit entry)."""
        async with self.engine.begin() as conn:
            await conn.execute(update(recordings).where(recordings.c.linkedid == linkedid).values(
                attempts=recordings.c.attempts + 1, error=error[:200],
                state=PENDING if retry_at is not None else FAILED,
                next_try_at=None if retry_at is None else _utc(retry_at)))
            if retry_at is None:
                await conn.execute(insert(recording_audit).values(
                    at=_utc(now), actor="converter", action="failed", target=linkedid, detail=error[:200]))

    async def wait_longer(self, linkedid: str, retry_at: datetime) -> None:
        """Not an attempt: the WAV is still being written."""
        async with self.engine.begin() as conn:
            await conn.execute(update(recordings).where(recordings.c.linkedid == linkedid).values(next_try_at=_utc(retry_at)))

    async def retry(self, linkedids: Sequence[str] | None, now: datetime, actor: str) -> int:
        """Queue failed recordings again (all failed ones when `linkedids` is None)."""
        r = recordings.c
        where = r.state == FAILED if linkedids is None else and_(r.state == FAILED, r.linkedid.in_(list(linkedids)))
        async with self.engine.begin() as conn:
            ids: list[str] = list((await conn.execute(select(r.linkedid).where(where))).scalars().all())
            if ids:
                await conn.execute(update(recordings).where(r.linkedid.in_(ids)).values(
                    state=PENDING, attempts=0, next_try_at=_utc(now)))
                await conn.execute(insert(recording_audit), [
                    {"at": _utc(now), "actor": actor, "action": "retry", "target": i, "detail": ""} for i in ids])
        return len(ids)

    # ---- reading --------------------------------------------------------------------------
    async def get(self, linkedid: str) -> Recording | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(recordings).where(recordings.c.linkedid == linkedid))).first()
        return None if row is None else _recording(row)

    async def listing(self, *, since: datetime | None = None, until: datetime | None = None, agent: str | None = None,
                      state: str | None = None, order: str | None = None, limit: int = 100) -> list[Recording]:
        r = recordings.c
        query = select(recordings)
        if since is not None:
            query = query.where(r.ended_at >= _utc(since))
        if until is not None:
            query = query.where(r.ended_at < _utc(until))
        if agent is not None:
            query = query.where(r.agent == agent)
        if state is not None:
            query = query.where(r.state == state)
        if order is not None:
            query = query.where(r.linkedid.in_(select(order_calls.c.linkedid).where(order_calls.c.number == order)))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(r.ended_at.desc(), r.linkedid).limit(limit))).all()
        return [_recording(row) for row in rows]

    async def counts(self) -> dict[str, int]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(recordings.c.state, func.count()).group_by(recordings.c.state))).all()
        return {str(row[0]): int(row[1]) for row in rows}

    async def participants(self, linkedid: str) -> tuple[str, str | None]:
        """(the agent who answered, the legs' JSON) of the call: who took part in it."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(call_records.c.agent, call_records.c.legs)
                                      .where(call_records.c.linkedid == linkedid))).first()
        return ("", None) if row is None else (row.agent or "", row.legs)

    async def orders_of(self, linkedid: str) -> list[str]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(select(order_calls.c.number).where(order_calls.c.linkedid == linkedid)
                                            .order_by(order_calls.c.number))).scalars().all())

    # ---- retention -------------------------------------------------------------------------
    async def candidates(self, ended_before: datetime) -> list[Candidate]:
        """Every recording not yet deleted whose call ended before `ended_before`, with its
        orders' request types and holds."""
        r = recordings.c
        query = (select(r.linkedid, r.original, r.file, r.ended_at, work_orders.c.category, legal_holds.c.number.label("held"))
                 .select_from(recordings.outerjoin(order_calls, order_calls.c.linkedid == r.linkedid)
                              .outerjoin(work_orders, work_orders.c.number == order_calls.c.number)
                              .outerjoin(legal_holds, legal_holds.c.number == order_calls.c.number))
                 .where(r.state != DELETED, r.ended_at < _utc(ended_before)))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        found: dict[str, dict[str, Any]] = {}
        for row in rows:
            entry = found.setdefault(row.linkedid, {"row": row, "categories": set(), "held": False})
            if row.category:
                entry["categories"].add(row.category)
            entry["held"] = entry["held"] or row.held is not None
        return [Candidate(e["row"].linkedid, e["row"].original, e["row"].file, _aware(e["row"].ended_at),  # type: ignore[arg-type]
                          frozenset(e["categories"]), e["held"]) for e in found.values()]

    async def deleted(self, linkedid: str, now: datetime, detail: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(recordings).where(recordings.c.linkedid == linkedid).values(
                state=DELETED, deleted_at=_utc(now)))
            await conn.execute(insert(recording_audit).values(
                at=_utc(now), actor="retention", action="deleted", target=linkedid, detail=detail[:200]))

    # ---- legal holds -------------------------------------------------------------------------
    async def hold(self, number: str, by: str, reason: str, now: datetime) -> Hold:
        async with self.engine.begin() as conn:
            if await conn.scalar(select(work_orders.c.number).where(work_orders.c.number == number)) is None:
                raise RecordingStoreError(UNKNOWN_ORDER, number)
            try:
                await conn.execute(insert(legal_holds).values(number=number, held_at=_utc(now), held_by=by, reason=reason[:200]))
            except IntegrityError:
                raise RecordingStoreError(ALREADY_HELD, number) from None
            await conn.execute(insert(recording_audit).values(at=_utc(now), actor=by, action="hold", target=number,
                                                              detail=reason[:200]))
        return Hold(number, now, by, reason[:200])

    async def release(self, number: str, by: str, reason: str, now: datetime) -> None:
        async with self.engine.begin() as conn:
            gone = await conn.execute(delete(legal_holds).where(legal_holds.c.number == number))
            if not gone.rowcount:
                raise RecordingStoreError(NOT_HELD, number)
            await conn.execute(insert(recording_audit).values(at=_utc(now), actor=by, action="release", target=number,
                                                              detail=reason[:200]))

    async def holds(self) -> list[Hold]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(legal_holds).order_by(legal_holds.c.held_at))).all()
        return [Hold(r.number, _aware(r.held_at), r.held_by, r.reason) for r in rows]  # type: ignore[arg-type]

    async def call_held(self, linkedid: str) -> bool:
        """Whether a work order the call is linked to is on legal hold."""
        async with self.engine.connect() as conn:
            return await conn.scalar(select(legal_holds.c.number).where(legal_holds.c.number.in_(
                select(order_calls.c.number).where(order_calls.c.linkedid == linkedid))).limit(1)) is not None

    async def is_held(self, number: str) -> bool:
        async with self.engine.connect() as conn:
            return await conn.scalar(select(legal_holds.c.number).where(legal_holds.c.number == number)) is not None

    # ---- who heard what, and the audit -------------------------------------------------------------
    async def log_access(self, entry: Access) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(recording_access).values(
                at=_utc(entry.at), name=entry.name[:64], role=entry.role[:16], linkedid=entry.linkedid[:64],
                what=entry.what, byte_range=entry.byte_range[:64], status=entry.status))

    async def accesses(self, *, linkedid: str | None = None, name: str | None = None,
                       since: datetime | None = None, limit: int = 200) -> list[Access]:
        a = recording_access.c
        query = select(recording_access)
        if linkedid is not None:
            query = query.where(a.linkedid == linkedid)
        if name is not None:
            query = query.where(a.name == name)
        if since is not None:
            query = query.where(a.at >= _utc(since))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(a.at.desc(), a.id.desc()).limit(limit))).all()
        return [Access(_aware(r.at), r.name, r.role, r.linkedid, r.what, r.byte_range, r.status) for r in rows]  # type: ignore[arg-type]

    async def audit(self, *, since: datetime | None = None, limit: int = 200) -> list[AuditEntry]:
        a = recording_audit.c
        query = select(recording_audit)
        if since is not None:
            query = query.where(a.at >= _utc(since))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(a.at.desc(), a.id.desc()).limit(limit))).all()
        return [AuditEntry(_aware(r.at), r.actor, r.action, r.target, r.detail) for r in rows]  # type: ignore[arg-type]

    async def note_corrupt(self, linkedid: str, detail: str, now: datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(recording_audit).values(at=_utc(now), actor="integrity", action="corrupt",
                                                              target=linkedid, detail=detail[:200]))


def backoff(attempts: int, first: float) -> timedelta:
    """The wait before retry `attempts` (1, 2, …): doubled each time, at most an hour."""
    return timedelta(seconds=min(3600.0, first * 2 ** max(0, attempts - 1)))
