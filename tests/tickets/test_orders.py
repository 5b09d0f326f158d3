"""Work orders on SQLite and a real PostgreSQL: numbering under concurrency, workflow."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

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
    assert await work.open_for_caller("13800000001") == [number]
    steps = [("dispatch", "agent1001", {"department": "热力公司"}), ("accept", "热力公司", {}),
             ("reply", "热力公司", {}), ("return", "agent1002", {}), ("reply", "热力公司", {}),
             ("follow_up", "agent1002", {"follow_up_result": FollowUpResult.BASICALLY_SATISFIED}),
             ("close", "agent1002", {})]
    for i, (action, who, extra) in enumerate(steps):
        await work.transition(number, action, by=who, at=T + timedelta(hours=i + 1), note=action, **extra)
    done = await work.get(number)
    assert done.state is OrderState.CLOSED and done.department == "热力公司"
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
