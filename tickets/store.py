"""The call-record store: SQLAlchemy 2 Core (async), SQLite file by default, PostgreSQL in
production.

One row per linkedid, enforced by a unique key and insert-or-ignore (ON CONFLICT DO NOTHING on
both dialects), so a record submitted twice — in one batch, a retry, a journal replay, after a
controller restart — is stored once. The first one stored wins.

Times are stored in UTC. SQLite keeps no zone (it would store an aware +08:00 time as its wall
clock), so every time is converted to UTC before it is written and read back as UTC-aware.
Text is stored as given (Chinese names included), except what no database can hold: NUL
characters and lone surrogates are replaced, and the free-text fields are cut to their column
length, so one odd caller name cannot stop every later record on PostgreSQL.
"""

from __future__ import annotations

import json
import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Column, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from acd.records import CallRecord, Disposition, legs_from_json, legs_json
from tickets.migrations import private_database, upgrade
from tickets.schema import call_records

log = logging.getLogger("tickets.store")

DEFAULT_URL = "sqlite+aiosqlite:///var/lib/hotline-pbx/hotline.db"


def _utc(value: datetime) -> datetime:
    """Aware → UTC; naive is taken as UTC already (what CallRecord promises)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything here is UTC."""
    if value is None:
        return None
    return _utc(value)


def _text(value: str | None, column: Column[Any] | None = None) -> str:
    """Storable everywhere: no NUL (PostgreSQL refuses it), no lone surrogate (no encoding
    takes it), and no longer than the column (PostgreSQL refuses that too)."""
    text = (value or "").replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    length = getattr(column.type, "length", None) if column is not None else None
    return text[:length] if length else text


def _row(record: CallRecord) -> dict[str, Any]:
    c = call_records.c
    return {
        "linkedid": record.linkedid,
        "caller_number": _text(record.caller_number, c.caller_number),
        "caller_name": _text(record.caller_name, c.caller_name),
        "dialed_number": _text(record.dialed_number, c.dialed_number),
        "arrived_at": _utc(record.arrived_at),
        "answered_at": None if record.answered_at is None else _utc(record.answered_at),
        "ended_at": _utc(record.ended_at),
        "disposition": Disposition(record.disposition).value,
        "hangup_cause": record.hangup_cause,
        "hangup_cause_text": _text(record.hangup_cause_text, c.hangup_cause_text),
        "recording": _text(record.recording, c.recording) or None,
        "desk": _text(record.desk, c.desk),
        "agent": _text(record.agent, c.agent),
        "queue_wait": record.queue_wait,
        "talk_time": record.talk_time,
        "survey_score": record.survey_score,
        "repeat_caller": bool(record.repeat_caller),
        "order_number": record.order_number or None,
        "transferred_to": _text(record.transferred_to, c.transferred_to),
        "left_in": _text(record.left_in, c.left_in),
        "callback": _text(record.callback, c.callback),
        "legs": json.dumps(legs_json(record.legs), ensure_ascii=False) if record.legs else None,
    }


def _record(row: Any) -> CallRecord:
    return CallRecord(
        linkedid=row.linkedid, caller_number=row.caller_number, caller_name=row.caller_name,
        dialed_number=row.dialed_number, arrived_at=_utc(row.arrived_at),
        answered_at=_aware(row.answered_at), ended_at=_utc(row.ended_at),
        disposition=Disposition(row.disposition), hangup_cause=row.hangup_cause,
        hangup_cause_text=row.hangup_cause_text or "", recording=row.recording or "",
        desk=row.desk, agent=row.agent, queue_wait=row.queue_wait, talk_time=row.talk_time,
        survey_score=row.survey_score, repeat_caller=bool(row.repeat_caller),
        order_number=row.order_number or "", transferred_to=row.transferred_to, left_in=row.left_in,
        callback=row.callback, legs=legs_from_json(json.loads(row.legs) if row.legs else None))


def _latest_of_each(records: Sequence[CallRecord]) -> list[CallRecord]:
    """Within a batch as across batches, the record of a linkedid that ended last wins (the
    first of those on a tie); order of first appearance is kept."""
    seen: dict[str, CallRecord] = {}
    for record in records:
        kept = seen.get(record.linkedid)
        if kept is None or _utc(record.ended_at) > _utc(kept.ended_at):
            seen[record.linkedid] = record
    return list(seen.values())


class CallRecordStore:
    """Call records in a database. `open()` migrates; the engine is shared with other stores
    of the same database (work orders) through `.engine`."""

    def __init__(self, url: str = DEFAULT_URL, *, busy_timeout_ms: int = 5000,
                 **engine_options: Any) -> None:
        self.url = url
        parsed = make_url(url)
        self._dialect = parsed.get_backend_name()
        if self._dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {self._dialect!r}: sqlite or postgresql")
        private_database(url)  # 0600 in 0700 folders, -wal and -shm alike
        if self._dialect == "postgresql":
            engine_options.setdefault("pool_pre_ping", True)  # survive a database restart
        self.engine: AsyncEngine = create_async_engine(url, **engine_options)
        if self._dialect == "sqlite":
            timeout = int(busy_timeout_ms)

            def pragmas(dbapi_connection: Any, _record: Any) -> None:
                _sqlite_pragmas(dbapi_connection, timeout)

            event.listen(self.engine.sync_engine, "connect", pragmas)
        insert = postgresql.insert(call_records) if self._dialect == "postgresql" else sqlite.insert(call_records)
        # one row per call: a record of the same linkedid that ended later is the same call
        # heard further (resumed after a start or reconnect) and replaces the row; a replay of
        # the same record (writer journal, restart) changes nothing
        columns = [c.name for c in call_records.c if c.name not in ("id", "linkedid")]
        self._insert_new = (insert.on_conflict_do_update(
            index_elements=["linkedid"], set_={name: insert.excluded[name] for name in columns},
            where=insert.excluded.ended_at > call_records.c.ended_at).returning(call_records.c.linkedid))

    async def open(self) -> None:
        """Bring the schema to the newest Alembic revision (idempotent)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(upgrade)

    async def analyze(self) -> bool:
        """Give SQLite's planner statistics (PostgreSQL's autovacuum keeps its own; False there).
        Without them, or with sampled ones (analysis_limit), it sorts every match of a filter
        where walking the sort index backwards finds the first page at once: "complaints, newest
        first" took 530 ms instead of 1 ms at 1M orders. A full pass reads every index (about
        2 s per million orders, in aiosqlite's thread), so the controller runs it in the
        background after start and daily."""
        if self._dialect != "sqlite":
            return False
        async with self.engine.begin() as conn:
            await conn.exec_driver_sql("ANALYZE")
        return True

    async def analyze_daily(self, first_after: float = 5.0) -> None:
        """The planner statistics refreshed in the background: soon after start, then daily
        (the store grows by thousands of orders a day). Returns at once on PostgreSQL."""
        delay = first_after
        while True:
            await asyncio.sleep(delay)
            delay = 86_400.0
            started = time.perf_counter()
            try:
                if not await self.analyze():
                    return  # PostgreSQL: autovacuum does it
            except Exception as exc:  # tomorrow again; searches work without, only slower
                log.warning("store statistics not refreshed: %s", exc)
                continue
            log.info("store statistics refreshed in %.1f s", time.perf_counter() - started)

    async def close(self) -> None:
        await self.engine.dispose()

    async def write_many(self, records: Sequence[CallRecord]) -> int:
        """Insert in one transaction, one row per linkedid: a record that ended later than the
        stored one replaces it, any other is ignored; returns how many rows were written (new
        or replaced). Raises when the database fails: then nothing of the batch is stored."""
        unique = _latest_of_each(records)
        if not unique:
            return 0
        async with self.engine.begin() as conn:
            result = await conn.execute(self._insert_new, [_row(r) for r in unique])
            return len(result.all())

    async def get(self, linkedid: str) -> CallRecord | None:
        query = select(call_records).where(call_records.c.linkedid == linkedid)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _record(row)

    async def by_caller(self, number: str, limit: int = 50) -> list[CallRecord]:
        """A caller's calls, newest first."""
        query = (select(call_records).where(call_records.c.caller_number == number)
                 .order_by(call_records.c.arrived_at.desc(), call_records.c.id.desc()).limit(limit))
        async with self.engine.connect() as conn:
            return [_record(row) for row in await conn.execute(query)]

    async def recent(self, limit: int = 20) -> list[CallRecord]:
        """The last records written, newest first."""
        query = select(call_records).order_by(call_records.c.id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            return [_record(row) for row in await conn.execute(query)]

    async def arrived_between(self, start: datetime, end: datetime) -> list[CallRecord]:
        """The calls that arrived in [start, end) (a local day, given in UTC), oldest first."""
        query = (select(call_records).where(call_records.c.arrived_at >= _utc(start), call_records.c.arrived_at < _utc(end))
                 .order_by(call_records.c.arrived_at, call_records.c.id))
        async with self.engine.connect() as conn:
            return [_record(row) for row in await conn.execute(query)]

    async def count(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(call_records))).scalar_one())


def _sqlite_pragmas(dbapi_connection: Any, busy_timeout_ms: int) -> None:
    # PRAGMAs take no bound parameters; the only value is an int checked by the constructor
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
