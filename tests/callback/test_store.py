"""The callback list in the store (SQLite and the real PostgreSQL): entries saved whole, the
last state wins, open ones read back after a restart with their lost calls and attempts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from callback.book import CallbackBook, Loss, Outcome
from acd.routing import Priority
from callback.store import CallbackStore
from tickets.store import CallRecordStore


async def test_entries_round_trip_and_a_restart_continues_the_book(store_url: str) -> None:
    records = CallRecordStore(store_url)
    await records.open()
    store = CallbackStore(records.engine)
    book = CallbackBook()
    first = book.lost(Loss("pbx-1.1", "13800000001", "market", "abandoned_queue", 42.5, 1_795_000_000.0,
                           Priority.KEY_ENTERPRISE))
    book.lost(Loss("pbx-1.2", "13800000001", "market", "abandoned_ringing", 12.0, 1_795_000_100.0))
    anonymous = book.lost(Loss("pbx-1.3", "", "general", "abandoned_ivr", 0.0, 1_795_000_200.0))
    await store.save(book.take_changes())  # every change, closed entries included
    book.start(first.entry_id)
    tried = book.result(first.entry_id, "agent1003", Outcome.NO_ANSWER, 1_795_000_300.0)
    await store.save([tried])
    [reopened] = await store.open_entries()
    assert reopened == tried and [loss.reason for loss in reopened.losses] == ["abandoned_queue", "abandoned_ringing"]
    assert reopened.priority is Priority.KEY_ENTERPRISE and reopened.attempts[0].agent_id == "agent1003"
    assert await store.last_id() == anonymous.entry_id
    everything = await store.listing(open_only=False)
    assert {e.outcome for e in everything} == {None, Outcome.ANONYMOUS}
    restarted = CallbackBook()
    restarted.restore(await store.open_entries(), await store.last_id())
    assert restarted.lost(Loss("pbx-1.4", "13900000000", "general", "abandoned_queue", 3.0, 1_795_000_400.0)).entry_id == 3
    await records.close()


async def test_the_do_not_call_list_keeps_who_and_why_once_per_number(store_url: str) -> None:
    records = CallRecordStore(store_url)
    await records.open()
    store = CallbackStore(records.engine)
    when = datetime(2026, 11, 28, 9, tzinfo=timezone.utc)
    assert await store.opt_out("13800000001", "chen.li", "市民要求不再回拨", when)
    assert not await store.opt_out("13800000001", "agent1001", "again", when + timedelta(hours=1))
    assert await store.opt_out("13800000002", "chen.li", "", when + timedelta(minutes=5))
    listed = await store.do_not_call()
    assert [(o.number, o.added_by, o.note) for o in listed] == [
        ("13800000001", "chen.li", "市民要求不再回拨"), ("13800000002", "chen.li", "")]
    assert listed[0].added_at == when
    assert await store.opt_in("13800000001") and not await store.opt_in("13800000001")
    assert [o.number for o in await store.do_not_call()] == ["13800000002"]
    await records.close()
