"""Files that hold callers' data are 0600 in 0700 folders, whatever the umask (issue 14, item 4):
the SQLite store with its -wal and -shm, the call-record journal and its .bad side file, the API
tokens file. What was there before is tightened (a file) or warned about (a folder), never
silently left open."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from acd.records import CallRecord, Disposition
from tickets.migrations import migrate
from tickets.store import CallRecordStore
from tickets.writer import CallRecordWriter
from web.access import Role, add_token

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)


def record(n: int) -> CallRecord:
    return CallRecord(f"hotline-pbx-1.{n}", f"1380013{n:04d}", "张三丰", "12345", T0 + timedelta(seconds=n),
                      T0 + timedelta(seconds=n + 1), T0 + timedelta(seconds=n + 60), Disposition.ANSWERED,
                      16, "Normal Clearing")


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """A permissive umask for the test, the previous one restored after."""
    before = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(before)


async def test_the_store_its_wal_and_shm_and_its_new_folders_are_private(tmp_path: Path, umask: int) -> None:
    db = tmp_path / "lib" / "hotline-pbx" / "calls.db"
    store = CallRecordStore(f"sqlite+aiosqlite:///{db}")
    await store.open()
    assert await store.write_many([record(n) for n in range(3)]) == 3
    async with store.engine.connect():  # a connection open: SQLite keeps -wal and -shm
        wal, shm = db.with_name("calls.db-wal"), db.with_name("calls.db-shm")
        assert wal.exists() and shm.exists()
        assert {p.name: oct(mode(p)) for p in (db, wal, shm)} == \
            {"calls.db": "0o600", "calls.db-wal": "0o600", "calls.db-shm": "0o600"}
    await store.close()
    assert oct(mode(tmp_path / "lib")) == oct(mode(tmp_path / "lib" / "hotline-pbx")) == "0o700"


async def test_migrate_alone_makes_the_file_private_too(tmp_path: Path, umask: int) -> None:
    db = tmp_path / "new" / "calls.db"
    await migrate(f"sqlite+aiosqlite:///{db}")
    assert oct(mode(db)) == "0o600" and oct(mode(db.parent)) == "0o700"


async def test_an_existing_open_store_is_tightened_and_said_so_and_its_folder_warned_about(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    os.chmod(folder, 0o755)  # made by a package: not ours to change
    db = folder / "calls.db"
    sqlite3.connect(db).close()
    for path in (db, db.with_name("calls.db-wal")):
        path.touch()
        os.chmod(path, 0o644)
    caplog.set_level(logging.WARNING, logger="tickets.files")
    store = CallRecordStore(f"sqlite+aiosqlite:///{db}")
    assert oct(mode(db)) == oct(mode(db.with_name("calls.db-wal"))) == "0o600"  # before SQLite opens it
    await store.open()
    await store.close()
    assert oct(mode(db)) == "0o600"
    assert oct(mode(folder)) == "0o755"
    text = caplog.text
    assert f"{db} was 644, open to others: now 0600" in text
    assert f"folder {folder} is 755" in text


class DownStore:
    async def write_many(self, records: Sequence[CallRecord]) -> int:
        raise OSError("database away")


async def test_the_journal_and_its_folders_are_private(tmp_path: Path, umask: int) -> None:
    journal = tmp_path / "spool" / "calls.journal"
    writer = CallRecordWriter(DownStore(), backoff_initial=10.0, journal=journal)
    await writer.start()
    writer.submit(record(1))
    for _ in range(200):
        if journal.exists() and journal.stat().st_size:
            break
        await asyncio.sleep(0.01)
    await writer.close(timeout=0.1)
    assert oct(mode(journal)) == "0o600" and oct(mode(journal.parent)) == "0o700"


async def test_the_journals_bad_lines_are_set_aside_privately(tmp_path: Path, umask: int) -> None:
    journal = tmp_path / "calls.journal"
    journal.write_text('{"linkedid": "torn by a cr\n')
    os.chmod(journal, 0o644)  # from before, under the old code
    writer = CallRecordWriter(DownStore(), backoff_initial=0.01, journal=journal)
    await writer.start()
    assert oct(mode(journal)) == "0o600"
    bad = journal.with_name("calls.journal.bad")
    for _ in range(200):
        if bad.exists():
            break
        await asyncio.sleep(0.01)
    await writer.close(timeout=0.1)
    assert writer.unreadable == 1 and oct(mode(bad)) == "0o600"


def test_the_tokens_file_and_a_folder_made_for_it_are_private_an_existing_folder_is_left(
        tmp_path: Path, umask: int) -> None:
    made = tmp_path / "etc" / "hotline-pbx" / "api-tokens"
    add_token(str(made), Role.SUPERVISOR, "zhang.wei")
    assert oct(mode(made)) == "0o600"
    assert oct(mode(made.parent)) == oct(mode(made.parent.parent)) == "0o700"
    shared = tmp_path / "shared-etc"
    shared.mkdir()
    os.chmod(shared, 0o755)
    add_token(str(shared / "api-tokens"), Role.AGENT, "agent1001")
    assert oct(mode(shared / "api-tokens")) == "0o600" and oct(mode(shared)) == "0o755"
