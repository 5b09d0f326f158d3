"""The call-record store on a real SQLite file (and a real PostgreSQL where `store_url` is
used): one row per linkedid, whatever happens; text and times come back as they went in."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import (Column, DateTime, Integer, MetaData, String, Table, Unicode, func, select,
                        text)

from acd.records import CallRecord, Disposition
from tickets.migrations import current, migrate
from tickets.schema import call_records
from tickets.store import DEFAULT_URL, CallRecordStore

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
CST = timezone(timedelta(hours=8))
HEAD = "0015"


def record(n: int, name: str = "张三丰", **changes: object) -> CallRecord:
    fields: dict[str, object] = dict(
        linkedid=f"hotline-pbx-1.{n}", caller_number=f"1380013{n:04d}", caller_name=name,
        dialed_number="12345", arrived_at=T0 + timedelta(seconds=n),
        answered_at=T0 + timedelta(seconds=n + 1), ended_at=T0 + timedelta(seconds=n + 60),
        disposition=Disposition.ANSWERED, hangup_cause=16, hangup_cause_text="Normal Clearing")
    fields.update(changes)
    return CallRecord(**fields)  # type: ignore[arg-type]


def test_the_default_store_is_a_sqlite_file_under_var_lib() -> None:
    assert DEFAULT_URL == "sqlite+aiosqlite:///var/lib/hotline-pbx/hotline.db"


async def test_a_sqlite_file_gets_its_folders(tmp_path: Path) -> None:
    store = CallRecordStore(f"sqlite+aiosqlite:///{tmp_path}/sub/dir/calls.db")
    await store.open()
    assert (tmp_path / "sub/dir/calls.db").exists()
    async with store.engine.connect() as conn:  # the connect event set WAL
        assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one() == "wal"
    await store.close()


async def test_analyze_gives_sqlite_true_statistics_and_is_left_to_postgresql_elsewhere(store_url: str) -> None:
    store = CallRecordStore(store_url)
    await store.open()
    await store.write_many([record(n) for n in range(1500)])
    if not await store.analyze():
        assert store_url.startswith("postgresql")
        await store.close()
        return
    async with store.engine.connect() as conn:
        stat = (await conn.exec_driver_sql(
            "SELECT stat FROM sqlite_stat1 WHERE tbl = 'call_records' AND idx IS NOT NULL")).scalars().all()
    await store.close()
    assert stat and all(row.split()[0] == "1500" for row in stat)  # counted, not sampled


async def test_records_round_trip_with_chinese_names_and_utc_times(store_url: str) -> None:
    store = CallRecordStore(store_url)
    await store.open()
    assert await store.write_many([record(1)]) == 1
    got = await store.get("hotline-pbx-1.1")
    assert got == record(1)
    assert got is not None and got.caller_name == "张三丰"
    assert got.arrived_at.utcoffset() == timedelta(0) and got.ended_at.utcoffset() == timedelta(0)
    assert got.disposition is Disposition.ANSWERED
    assert await store.by_caller("13800130001") == [record(1)]
    assert await store.get("no-such-call") is None
    await store.close()


async def test_unanswered_calls_keep_their_empty_fields(store_url: str) -> None:
    store = CallRecordStore(store_url)
    await store.open()
    lost = record(2, name="", answered_at=None, disposition=Disposition.ABANDONED_IVR, hangup_cause=None,
                  hangup_cause_text="")
    await store.write_many([lost])
    assert await store.get(lost.linkedid) == lost
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(call_records).where(call_records.c.linkedid == lost.linkedid))).one()
    assert row.recording is None and row.written_at is not None  # reserved; set by the server
    await store.close()


async def test_a_time_given_in_beijing_time_is_stored_as_the_same_instant_in_utc(store_url: str) -> None:
    store = CallRecordStore(store_url)
    await store.open()
    local = record(3, arrived_at=datetime(2026, 11, 22, 17, 0, tzinfo=CST),
                   answered_at=datetime(2026, 11, 22, 17, 0, 5, tzinfo=CST),
                   ended_at=datetime(2026, 11, 22, 17, 3, tzinfo=CST))
    await store.write_many([local])
    got = await store.get(local.linkedid)
    assert got is not None
    assert got.arrived_at == datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
    assert got.arrived_at.tzinfo == timezone.utc and got == local  # same instants
    await store.close()


async def test_text_no_database_can_hold_does_not_stop_the_records_behind_it(store_url: str) -> None:
    store = CallRecordStore(store_url)
    await store.open()
    odd = record(4, name="王\x00五" + "长" * 300, caller_number="\udcff138")
    assert await store.write_many([odd, record(5)]) == 2
    got = await store.get(odd.linkedid)
    assert got is not None and got.caller_name.startswith("王\ufffd五长") and len(got.caller_name) == 128
    assert "\x00" not in got.caller_name and got.caller_number.endswith("138")
    assert await store.get(record(5).linkedid) == record(5)
    await store.close()


async def test_the_same_linkedid_is_stored_once_in_a_batch_across_batches_and_after_a_restart(
        store_url: str) -> None:
    store = CallRecordStore(store_url)
    await store.open()
    assert await store.write_many([record(1), record(1, name="李四"), record(2)]) == 2
    assert (await store.get(record(1).linkedid)) == record(1)  # the first one wins
    assert await store.write_many([record(2), record(3)]) == 1
    assert await store.write_many([]) == 0
    await store.close()
    again = CallRecordStore(store_url)  # a controller restart: open (migrate) twice, write again
    await again.open()
    await again.open()
    assert await again.write_many([record(1), record(3, name="王五")]) == 0
    assert await again.count() == 3
    assert (await again.get(record(3).linkedid)) == record(3)
    await again.close()


async def test_by_caller_lists_newest_first_up_to_the_limit(tmp_path: Path) -> None:
    store = CallRecordStore(f"sqlite+aiosqlite:///{tmp_path}/calls.db")
    await store.open()
    same = [record(n, caller_number="13900000000") for n in range(5)]
    await store.write_many(same)
    got = await store.by_caller("13900000000", limit=3)
    assert [r.linkedid for r in got] == [r.linkedid for r in reversed(same)][:3]
    assert await store.by_caller("10086") == []
    await store.close()


async def test_migrate_by_url_is_idempotent_and_leaves_the_store_at_head(store_url: str) -> None:
    await migrate(store_url)
    await migrate(store_url)
    store = CallRecordStore(store_url)
    await store.open()
    async with store.engine.connect() as conn:
        assert await conn.run_sync(current) == HEAD
        assert (await conn.execute(text("SELECT count(*) FROM alembic_version"))).scalar_one() == 1
    assert await store.write_many([record(6)]) == 1
    await store.close()


async def test_migrate_makes_the_sqlite_folder(tmp_path: Path) -> None:
    await migrate(f"sqlite+aiosqlite:///{tmp_path}/a/b/calls.db")
    assert (tmp_path / "a/b/calls.db").exists()


def _first_call_records_table() -> Table:
    """call_records as the foundation created it, before Alembic (revision 0001's shape)."""
    return Table(
        "call_records", MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("linkedid", String(64), nullable=False, unique=True),
        Column("caller_number", Unicode(64), nullable=False), Column("caller_name", Unicode(128), nullable=False),
        Column("dialed_number", Unicode(64), nullable=False),
        Column("arrived_at", DateTime(timezone=True), nullable=False),
        Column("answered_at", DateTime(timezone=True), nullable=True),
        Column("ended_at", DateTime(timezone=True), nullable=False),
        Column("disposition", String(32), nullable=False), Column("hangup_cause", Integer, nullable=True),
        Column("hangup_cause_text", Unicode(128), nullable=False), Column("recording", Unicode(255), nullable=True),
        Column("written_at", DateTime(timezone=True), nullable=False, server_default=func.now()))


async def test_migrations_run_to_head_once_and_adopt_a_store_made_before_them(store_url: str) -> None:
    store = CallRecordStore(store_url)
    old = _first_call_records_table()
    async with store.engine.begin() as conn:  # a store created before Alembic: one table
        await conn.run_sync(old.create)
        await conn.execute(old.insert().values(
            linkedid="hotline-pbx-1.7", caller_number="13800130007", caller_name="张三丰", dialed_number="12345",
            arrived_at=T0, answered_at=None, ended_at=T0 + timedelta(seconds=9), disposition="abandoned",
            hangup_cause=16, hangup_cause_text="Normal Clearing"))
    await store.open()
    await store.open()
    async with store.engine.connect() as conn:
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
    assert version == HEAD
    got = await store.get("hotline-pbx-1.7")
    # the foundation's "abandoned" (before any queue existed) reads as lost in the IVR
    assert got is not None and got.disposition is Disposition.ABANDONED_IVR and got.caller_name == "张三丰"
    assert (got.desk, got.agent, got.queue_wait, got.repeat_caller) == ("", "", None, False)
    assert await store.write_many([record(8, desk="market", agent="agent1003", queue_wait=4.5, talk_time=61.25,
                                          survey_score=2, repeat_caller=True, order_number="3301-20261122-000001",
                                          transferred_to="")]) == 1
    assert await store.get(record(8).linkedid) == record(
        8, desk="market", agent="agent1003", queue_wait=4.5, talk_time=61.25, survey_score=2, repeat_caller=True,
        order_number="3301-20261122-000001")
    await store.close()


async def test_a_later_record_of_the_same_call_replaces_the_first_and_a_replay_changes_nothing(
        store_url: str) -> None:
    """One call, one record, the complete one: the controller heard the call half-way and wrote
    a record when the part it knew ended; a later channel of the call resumed it and its end
    wrote the whole call (answered by an agent) — that one must be the row, not the first."""
    store = CallRecordStore(store_url)
    await store.open()
    partial = record(7, disposition=Disposition.ABANDONED_QUEUE, answered_at=None)
    complete = record(7, disposition=Disposition.ANSWERED, agent="agent1001", talk_time=42.0,
                      ended_at=partial.ended_at + timedelta(seconds=45))
    assert await store.write_many([partial]) == 1
    assert await store.write_many([complete]) == 1
    assert await store.get(partial.linkedid) == complete and await store.count() == 1
    assert await store.write_many([partial, complete]) == 0  # a replay (writer journal, restart)
    assert await store.get(partial.linkedid) == complete
    assert await store.write_many([record(8), record(8, ended_at=record(8).ended_at + timedelta(seconds=1),
                                                          agent="agent1002")]) == 1  # in one batch
    assert (await store.get(record(8).linkedid)).agent == "agent1002"
    await store.close()


async def test_agents_sessions_keep_the_ordinary_phone_an_agent_works_on(store_url: str) -> None:
    from acd.acd import AgentSession
    from tickets.agent_sessions import AgentSessionStore

    store = CallRecordStore(store_url)
    await store.open()
    try:
        sessions = AgentSessionStore(store.engine)
        at = datetime(2026, 12, 3, 9, 30, tzinfo=timezone.utc).timestamp()
        await sessions.save([AgentSession("agent1001", "ready", "", at, phone="13900001111"),
                             AgentSession("agent1002", "paused", "break", at)])
        assert [(s.agent_id, s.phone) for s in await sessions.load()] == [("agent1001", "13900001111"), ("agent1002", "")]
        await sessions.save([AgentSession("agent1001", "logged_out", "", at + 60)])  # logged out: forgotten
        assert [(s.agent_id, s.state, s.phone) for s in await sessions.load()][0] == ("agent1001", "logged_out", "")
    finally:
        await store.close()
