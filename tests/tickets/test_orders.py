"""Work orders on SQLite and a real PostgreSQL: numbering under concurrency, workflow."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from tests.host_tz import host_tz  # noqa: F401
from tickets.catalog import DEFAULT_CATALOG
from tickets.deadlines import DeadlinePolicy, DeadlineRule
from tickets.orders import NewOrder, WorkOrderStore
from tickets.store import CallRecordStore
from tickets.workflow import FollowUpResult, OrderState, OrderTransitionError

CST = timezone(timedelta(hours=8))
T = datetime(2026, 11, 23, 9, 30, tzinfo=CST)
POLICY = DeadlinePolicy(rules=(DeadlineRule("*", ("heating",), hours=24),))


async def orders(url: str) -> tuple[CallRecordStore, WorkOrderStore]:
    store = CallRecordStore(url)
    await store.open()
    return store, WorkOrderStore(store.engine, "3301", POLICY)


def order(n: int = 0) -> NewOrder:
    return NewOrder(f"1380000{n:04d}", "", "complaint", "heating", "西湖区北山街道", "暖气不热，家里只有十二度", f"pbx-1.{n}")


async def test_fifty_orders_at_once_get_fifty_unique_consecutive_numbers(store_url: str) -> None:
    store, work = await orders(store_url)
    numbers = await asyncio.gather(*(work.create(order(n), by="agent1001", at=T) for n in range(50)))
    assert sorted(numbers) == [f"3301-20261123-{n:06d}" for n in range(1, 51)]
    tomorrow = await work.create(order(), by="agent1001", at=T + timedelta(days=1))
    assert tomorrow == "3301-20261124-000001"
    await store.close()


async def test_an_order_goes_through_dispatch_rework_and_follow_up_with_its_history(store_url: str) -> None:
    store, work = await orders(store_url)
    number = await work.create(order(1), by="agent1001", at=T)
    created = await work.get(number)
    assert created.state is OrderState.NEW and created.content == "暖气不热，家里只有十二度"
    assert created.due_at == T + timedelta(hours=24) and created.contact_number == "13800000001"
    [open_order] = await work.open_for_caller("13800000001")
    assert (open_order.number, open_order.taken_by, open_order.state) == (number, "agent1001", "new")
    assert created.taken_by == "agent1001" and created.handling is None
    steps = [("dispatch", "agent1001", {"department": "热力公司"}), ("accept", "热力公司", {}),
             ("reply", "热力公司", {}), ("return", "agent1002", {}), ("reply", "热力公司", {}),
             ("follow_up", "agent1002", {"follow_up_result": FollowUpResult.BASICALLY_SATISFIED}),
             ("close", "agent1002", {})]
    for i, (action, who, extra) in enumerate(steps):
        await work.transition(number, action, by=who, at=T + timedelta(hours=i + 1), note=action, **extra)
    done = await work.get(number)
    assert done.state is OrderState.CLOSED and done.department == "热力公司" and done.handling == "dispatched"
    assert done.follow_up_result is FollowUpResult.BASICALLY_SATISFIED
    assert [h.action for h in done.history] == [s[0] for s in steps]
    assert await work.open_for_caller("13800000001") == []
    with pytest.raises(OrderTransitionError, match="^illegal-order-transition"):
        await work.transition(number, "reply", by="x", at=T)
    with pytest.raises(OrderTransitionError, match="^unknown-order"):
        await work.get("3301-20261123-999999")
    await store.close()


async def test_two_clerks_acting_at_once_cannot_both_win(store_url: str) -> None:
    store, work = await orders(store_url)
    number = await work.create(order(2), by="agent1001", at=T)
    results = await asyncio.gather(
        work.transition(number, "answer_directly", by="agent1001", at=T),
        work.transition(number, "dispatch", by="agent1002", at=T, department="水务集团"),
        return_exceptions=True)
    wins = [r for r in results if not isinstance(r, Exception)]
    assert len(wins) == 1
    final = await work.get(number)
    assert len(final.history) == 1 and final.state is wins[0].state
    await store.close()


async def test_an_order_answered_directly_is_handled_direct(store_url: str) -> None:
    store, work = await orders(store_url)
    number = await work.create(order(2), by="agent1001", at=T)
    done = await work.transition(number, "answer_directly", by="agent1001", at=T, note="告知供暖热线")
    assert done.handling == "direct" and done.department is None
    await store.close()


async def test_calls_are_linked_once_each_and_show_their_recordings(store_url: str) -> None:
    from acd.records import CallRecord, Disposition

    store, work = await orders(store_url)
    number = await work.create(order(3), by="agent1001", at=T)
    assert await work.link_call(number, "pbx-9.1", at=T + timedelta(days=1), reason="repeat")
    assert not await work.link_call(number, "pbx-9.1", at=T + timedelta(days=2), reason="repeat")  # idempotent
    assert await work.link_call(number, "pbx-9.2", at=T + timedelta(days=3))
    await store.write_many([CallRecord("pbx-9.1", "13800000003", "", "12345", T, T, T + timedelta(minutes=3),
                                       Disposition.ANSWERED, 16, recording="20261124/pbx-9.1.wav",
                                       repeat_caller=True, order_number=number)])
    got = await work.get(number)
    assert [(c.linkedid, c.reason, c.recording) for c in got.calls] == [
        ("pbx-1.3", "opened", ""), ("pbx-9.1", "repeat", "20261124/pbx-9.1.wav"), ("pbx-9.2", "linked", "")]
    with pytest.raises(OrderTransitionError, match="^unknown-order"):
        await work.link_call("3301-20261123-999999", "pbx-9.3", at=T)
    await store.close()


async def test_an_edit_moves_the_deadline_with_the_topic_and_is_in_the_history(store_url: str) -> None:
    policy = DeadlinePolicy(rules=(DeadlineRule("*", ("heating",), hours=24), DeadlineRule("*", (), hours=72)))
    store = CallRecordStore(store_url)
    await store.open()
    work = WorkOrderStore(store.engine, "3301", policy)
    number = await work.create(order(4), by="agent1001", at=T)
    edited = await work.update(number, {"topic": "housing", "area": "上城区湖滨街道", "content": "暖气不热"},
                               by="agent1002", at=T + timedelta(hours=1))
    assert edited.due_at == T + timedelta(hours=72) and edited.area == "上城区湖滨街道"
    [line] = edited.history
    assert (line.action, line.by, line.note) == ("edit", "agent1002", "changed: area, content, topic")
    assert await work.update(number, {"area": "上城区湖滨街道"}, by="x", at=T) == edited  # nothing changed
    with pytest.raises(ValueError, match="not editable: state"):
        await work.update(number, {"state": "closed"}, by="x", at=T)
    await work.transition(number, "answer_directly", by="agent1002", at=T)
    await work.transition(number, "close", by="agent1002", at=T)
    with pytest.raises(OrderTransitionError, match="^order-closed"):
        await work.update(number, {"area": "滨江区"}, by="x", at=T)
    await store.close()


async def test_overdue_and_due_soon_leave_closed_orders_out(store_url: str) -> None:
    store, work = await orders(store_url)  # heating: 24 clock hours
    late = await work.create(order(5), by="a", at=T - timedelta(hours=30))
    soon = await work.create(order(6), by="a", at=T - timedelta(hours=20))
    later = await work.create(order(7), by="a", at=T)
    closed = await work.create(order(8), by="a", at=T - timedelta(hours=40))
    await work.transition(closed, "answer_directly", by="a", at=T)
    await work.transition(closed, "close", by="a", at=T)
    assert [o.number for o in await work.due(T)] == [late]
    assert [o.number for o in await work.due(T, timedelta(hours=6))] == [soon]
    assert [o.number for o in await work.due(T, timedelta(hours=48))] == [soon, later]
    await store.close()


async def test_an_order_taken_at_seven_on_a_beijing_monday_has_mondays_date_and_deadline(
        store_url: str, host_tz: str) -> None:
    store = CallRecordStore(store_url)
    await store.open()
    work = WorkOrderStore(store.engine, "3301", DEFAULT_CATALOG.deadlines)
    sunday_utc = datetime(2026, 11, 22, 23, 0, tzinfo=timezone.utc)  # = Monday 23 Nov 07:00 in Beijing
    complaint = NewOrder("13800009999", "", "complaint", "noise", "西湖区", "夜间施工噪音")
    number = await work.create(complaint, by="agent1001", at=sunday_utc)
    assert number == "3301-20261123-000001"  # the city's date, not the UTC Sunday
    # the Beijing day's sequence goes on across UTC midnight; the next Beijing day starts again
    later = await work.create(complaint, by="agent1001", at=datetime(2026, 11, 23, 15, 59, tzinfo=timezone.utc))
    next_day = await work.create(complaint, by="agent1001", at=datetime(2026, 11, 23, 16, 0, tzinfo=timezone.utc))
    assert (later, next_day) == ("3301-20261123-000002", "3301-20261124-000001")
    created = await work.get(number)
    # stored in UTC; due at the end of the fifth Beijing working day after Monday (Mon 30 Nov 18:00)
    assert created.created_at == sunday_utc and created.created_at.utcoffset() == timedelta(0)
    assert created.due_at == datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc)
    await store.close()
