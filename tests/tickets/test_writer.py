"""The batching writer: every record stored once, through a locked SQLite file and through a
PostgreSQL server stopped for real (the on-disk journal)."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from acd.records import CallRecord, Disposition
from tickets.store import CallRecordStore
from tickets.writer import CallRecordWriter, _encode

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)


def record(n: int, name: str = "张三丰") -> CallRecord:
    return CallRecord(f"hotline-pbx-1.{n}", f"1380013{n:04d}", name, "12345", T0 + timedelta(seconds=n),
                      T0 + timedelta(seconds=n + 1), T0 + timedelta(seconds=n + 60), Disposition.ANSWERED,
                      16, "Normal Clearing")


async def test_the_writer_batches_and_keeps_every_record_through_a_locked_database(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    store = CallRecordStore(f"sqlite+aiosqlite:///{path}", busy_timeout_ms=100)
    await store.open()
    writer = CallRecordWriter(store, batch_size=50, max_delay=0.01, backoff_initial=0.05, backoff_max=0.2)
    await writer.start()
    for n in range(120):
        writer.submit(record(n))
    await writer.flush()
    assert await store.count() == 120 and writer.written == 120
    # another process holds the database: writes fail for real and are retried, in order
    blocker = sqlite3.connect(path, timeout=0.1)
    blocker.execute("BEGIN EXCLUSIVE")
    for n in range(120, 180):
        writer.submit(record(n))
    writer.submit(record(5))  # a duplicate among them
    await asyncio.sleep(1.0)
    assert writer.errors > 0 and writer.pending > 0
    blocker.rollback()
    blocker.close()
    await asyncio.wait_for(writer.flush(), 30)
    assert await store.count() == 180
    assert writer.duplicates == 1 and writer.pending == 0
    await writer.close()
    await store.close()


async def test_given_postgresql_stopped_mid_traffic_then_the_journal_keeps_every_record_once(
        postgres, tmp_path: Path) -> None:
    """PostgreSQL is stopped for real while records keep coming; they go to the on-disk journal,
    a controller restart happens meanwhile, and when PostgreSQL is back every record is in the
    store exactly once, in order of submission."""
    url = postgres.database()
    journal = tmp_path / "journal.jsonl"
    store = CallRecordStore(url)
    await store.open()
    writer = CallRecordWriter(store, batch_size=20, max_delay=0.01, backoff_initial=0.05,
                              backoff_max=0.3, journal=journal)
    await writer.start()
    for n in range(50):
        writer.submit(record(n))
    await writer.flush()
    postgres.stop()
    try:
        for n in range(50, 120):
            writer.submit(record(n))
            await asyncio.sleep(0.005)
        writer.submit(record(10))  # a duplicate while down
        await asyncio.sleep(1.0)
        assert journal.exists() and len(journal.read_text().splitlines()) >= 70
        await writer.close(timeout=0.5)  # the controller stops while the database is down
        await store.close()
        store = CallRecordStore(url)
        writer = CallRecordWriter(store, batch_size=20, max_delay=0.01, backoff_initial=0.05,
                                  backoff_max=0.3, journal=journal)
        await writer.start()  # a new controller: the journal waits for the database
    finally:
        postgres.start()
    for _ in range(100):
        if not journal.exists():
            break
        await asyncio.sleep(0.1)
    assert not journal.exists()
    assert await store.count() == 120
    assert writer.replayed >= 70
    rows = list(reversed(await store.recent(200)))  # in the order they were written
    assert [r.linkedid for r in rows] == [record(n).linkedid for n in range(120)]
    await writer.close()
    await store.close()


class FlakyStore:
    """A database that is away while `down` is set."""

    def __init__(self) -> None:
        self.down = False
        self.rows: dict[str, CallRecord] = {}

    async def write_many(self, records: Sequence[CallRecord]) -> int:
        if self.down:
            raise ConnectionError("database away")
        new = {r.linkedid for r in records} - set(self.rows)
        self.rows.update((r.linkedid, r) for r in records)
        return len(new)


def replayed_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "journal replayed" in r.getMessage()]


async def test_given_a_journal_from_before_then_its_replay_is_said_once_with_the_count(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tickets.writer")
    journal = tmp_path / "journal.jsonl"
    journal.write_text("".join(json.dumps(_encode(record(n)), ensure_ascii=False) + "\n" for n in (1, 2)))
    store = FlakyStore()
    writer = CallRecordWriter(store, backoff_initial=0.01, journal=journal)
    await writer.start()
    for _ in range(200):
        if not journal.exists():
            break
        await asyncio.sleep(0.01)
    await writer.close()
    assert len(store.rows) == 2
    assert replayed_lines(caplog) == ["call-record journal replayed; 2 record(s) written from it in all"]


async def test_given_a_journal_with_nothing_readable_then_no_replay_is_claimed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tickets.writer")
    journal = tmp_path / "journal.jsonl"
    journal.write_text('{"linkedid": "torn by a cr\n')
    writer = CallRecordWriter(FlakyStore(), backoff_initial=0.01, journal=journal)
    await writer.start()
    for _ in range(200):
        if not journal.exists():
            break
        await asyncio.sleep(0.01)
    await writer.close()
    assert not journal.exists() and writer.unreadable == 1 and writer.replayed == 0
    assert replayed_lines(caplog) == []


async def test_given_the_database_away_and_the_disk_full_then_no_replay_is_claimed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each failed journal write starts a replay pass that finds nothing; none of them may say
    the journal was replayed (each did, once per pass, in the log of issue 12)."""
    import errno

    import tickets.writer

    def disk_full(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tickets.writer, "_append", disk_full)
    caplog.set_level(logging.INFO, logger="tickets.writer")
    store = FlakyStore()
    store.down = True
    writer = CallRecordWriter(store, backoff_initial=0.02, backoff_max=0.05,
                              journal=tmp_path / "journal.jsonl")
    await writer.start()
    writer.submit(record(1))
    for _ in range(200):
        if writer.errors >= 8:  # four database failures, four journal failures: four passes
            break
        await asyncio.sleep(0.01)
    cannot = [r for r in caplog.records if "cannot be written" in r.getMessage()]
    assert len(cannot) >= 4
    store.down = False
    await asyncio.wait_for(writer.flush(), 5)  # retried from memory once the database is back
    await writer.close()
    assert list(store.rows) == [record(1).linkedid] and writer.replayed == 0
    assert replayed_lines(caplog) == []
