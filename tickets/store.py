"""The call-record store: SQLAlchemy 2 (async), SQLite file by default, PostgreSQL in production.

One row per linkedid, enforced by a unique key and insert-or-ignore, so a record submitted twice
(a retry, a journal replay, a controller restart) is stored once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from acd.records import CallRecord, Disposition
from tickets.schema import call_records


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything here is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


def _row(record: CallRecord) -> dict[str, Any]:
    return {
        "linkedid": record.linkedid, "caller_number": record.caller_number,
        "caller_name": record.caller_name, "dialed_number": record.dialed_number,
        "arrived_at": record.arrived_at, "answered_at": record.answered_at,
        "ended_at": record.ended_at, "disposition": record.disposition.value,
        "hangup_cause": record.hangup_cause, "hangup_cause_text": record.hangup_cause_text,
        "recording": record.recording or None,
    }


def _record(row: Any) -> CallRecord:
    arrived, ended = _aware(row.arrived_at), _aware(row.ended_at)
    assert arrived is not None and ended is not None
    return CallRecord(
        linkedid=row.linkedid, caller_number=row.caller_number, caller_name=row.caller_name,
        dialed_number=row.dialed_number, arrived_at=arrived, answered_at=_aware(row.answered_at),
        ended_at=ended, disposition=Disposition(row.disposition), hangup_cause=row.hangup_cause,
        hangup_cause_text=row.hangup_cause_text, recording=row.recording or "")


class CallRecordStore:
    def __init__(self, url: str, *, busy_timeout_ms: int = 5000) -> None:
        self.url = url
        parsed = make_url(url)
        self._dialect = parsed.get_backend_name()
        if self._dialect == "sqlite" and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: AsyncEngine = create_async_engine(url)
        if self._dialect == "sqlite":
            def pragmas(dbapi_connection: Any, _record: Any) -> None:
                _sqlite_pragmas(dbapi_connection, busy_timeout_ms)

            event.listen(self.engine.sync_engine, "connect", pragmas)

    async def open(self) -> None:
        """Bring the schema to the newest Alembic revision (idempotent)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade)

    async def close(self) -> None:
        await self.engine.dispose()

    def _insert_ignore(self) -> Any:
        if self._dialect == "postgresql":
            return postgresql.insert(call_records).on_conflict_do_nothing(index_elements=["linkedid"])
        return sqlite.insert(call_records).on_conflict_do_nothing(index_elements=["linkedid"])

    async def write_many(self, records: Sequence[CallRecord]) -> int:
        """One transaction; returns how many rows were new."""
        if not records:
            return 0
        unique = list({r.linkedid: r for r in records}.values())
        async with self.engine.begin() as conn:
            before = (await conn.execute(select(func.count()).select_from(call_records))).scalar_one()
            await conn.execute(self._insert_ignore(), [_row(r) for r in unique])
            after = (await conn.execute(select(func.count()).select_from(call_records))).scalar_one()
        return int(after - before)

    async def get(self, linkedid: str) -> CallRecord | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(call_records).where(call_records.c.linkedid == linkedid))).first()
        return None if row is None else _record(row)

    async def by_caller(self, number: str, limit: int = 50) -> list[CallRecord]:
        query = (select(call_records).where(call_records.c.caller_number == number)
                 .order_by(call_records.c.arrived_at.desc()).limit(limit))
        async with self.engine.connect() as conn:
            return [_record(row) for row in await conn.execute(query)]

    async def recent(self, limit: int = 20) -> list[CallRecord]:
        query = select(call_records).order_by(call_records.c.id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            return [_record(row) for row in await conn.execute(query)]

    async def count(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(call_records))).scalar_one())


MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _upgrade(connection: Any) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import inspect

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    tables = set(inspect(connection).get_table_names())
    if "call_records" in tables and "alembic_version" not in tables:
        command.stamp(config, "0001")  # a store made before migrations: its table is revision 1
    command.upgrade(config, "head")


def _sqlite_pragmas(dbapi_connection: Any, busy_timeout_ms: int) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
