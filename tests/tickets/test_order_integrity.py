"""Work-order integrity on SQLite and a real PostgreSQL (issue 14, item 6): only the follow-up
records the citizen's verdict, the history keeps every old and new value, and versions keep
two clerks from silently overwriting each other."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select

from tickets.deadlines import DeadlinePolicy, DeadlineRule
from tickets.orders import NewOrder, WorkOrder, WorkOrderStore
from tickets.schema import work_order_history
from tickets.scope import Viewer, ViewerRole
from tickets.store import CallRecordStore
from tickets.workflow import FieldChange, FollowUpResult, OrderState, OrderTransitionError

T = datetime(2026, 11, 23, 1, 30, tzinfo=timezone.utc)
POLICY = DeadlinePolicy(rules=(DeadlineRule("*", ("heating",), hours=24), DeadlineRule("*", (), hours=72)))
SUPERVISOR = Viewer("zhang.wei", ViewerRole.SUPERVISOR)


async def orders(url: str) -> tuple[CallRecordStore, WorkOrderStore]:
    store = CallRecordStore(url)
    await store.open()
    return store, WorkOrderStore(store.engine, "3301", POLICY)


def heating(n: int = 1) -> NewOrder:
    return NewOrder(f"1380000{n:04d}", "", "complaint", "heating", "西湖区北山街道", "暖气不热", f"pbx-1.{n}")


async def replied(work: WorkOrderStore, n: int = 1) -> str:
    number = await work.create(heating(n), by="agent1001", at=T)
    await work.transition(number, "dispatch", by="agent1001", at=T, department="热力公司")
    await work.transition(number, "accept", by="热力公司", at=T)
    await work.transition(number, "reply", by="热力公司", at=T)
    return number


async def test_a_dissatisfied_verdict_is_never_overwritten_by_a_later_step(store_url: str) -> None:
    store, work = await orders(store_url)
    number = await replied(work)
    followed = await work.transition(number, "follow_up", by="agent1002", at=T, note="市民不满意",
                                     follow_up_result=FollowUpResult.DISSATISFIED)
    with pytest.raises(OrderTransitionError, match="^follow-up-result-not-here"):
        await work.transition(number, "close", by="agent1003", at=T, follow_up_result=FollowUpResult.SATISFIED)
    assert await work.get(number) == followed  # nothing written, not even a history line or a version
    closed = await work.transition(number, "close", by="agent1003", at=T)
    assert closed.follow_up_result is FollowUpResult.DISSATISFIED
    assert closed.history[-2].changes == (FieldChange("follow_up_result", None, "dissatisfied"),)
    await store.close()


@pytest.mark.parametrize("action", ["answer_directly", "dispatch"])
async def test_no_step_but_the_follow_up_writes_a_verdict(store_url: str, action: str) -> None:
    store, work = await orders(store_url)
    number = await work.create(heating(), by="agent1001", at=T)
    with pytest.raises(OrderTransitionError, match="^follow-up-result-not-here"):
        await work.transition(number, action, by="agent1001", at=T, department="热力公司",
                              follow_up_result=FollowUpResult.SATISFIED)
    untouched = await work.get(number)
    assert untouched.state is OrderState.NEW and untouched.follow_up_result is None
    assert untouched.history == () and untouched.version == 1
    await store.close()


async def test_an_edit_keeps_each_old_and_new_value_and_the_deadline_it_moved(store_url: str) -> None:
    store, work = await orders(store_url)
    number = await work.create(heating(), by="agent1001", at=T)
    edited = await work.update(number, {"topic": "housing", "area": "上城区湖滨街道", "contact_number": "13900000000"},
                               by="agent1002", at=T + timedelta(hours=1))
    [line] = edited.history
    assert line.note == "changed: area, contact_number, topic"
    assert line.changes == (
        FieldChange("area", "西湖区北山街道", "上城区湖滨街道"),
        FieldChange("contact_number", "13800000001", "13900000000"),
        FieldChange("topic", "heating", "housing"),
        FieldChange("due_at", (T + timedelta(hours=24)).isoformat(), (T + timedelta(hours=72)).isoformat()))
    again = await work.update(number, {"area": "滨江区"}, by="agent1003", at=T + timedelta(hours=2))
    assert again.history[-1].changes == (FieldChange("area", "上城区湖滨街道", "滨江区"),)
    dispatched = await work.transition(number, "dispatch", by="agent1003", at=T, department="住建局")
    assert dispatched.history[-1].changes == (FieldChange("department", None, "住建局"),)
    await store.close()


async def test_history_lines_written_before_changes_were_kept_read_back_with_none(store_url: str) -> None:
    store, work = await orders(store_url)
    number = await work.create(heating(), by="agent1001", at=T)
    async with store.engine.begin() as conn:  # what revision 0007 wrote: no changes column value
        await conn.execute(work_order_history.insert().values(
            number=number, at=T, by="agent1001", action="edit", from_state="new", to_state="new",
            note="changed: area"))
    [line] = (await work.get(number)).history
    assert (line.note, line.changes) == ("changed: area", ())
    async with store.engine.connect() as conn:
        stored = (await conn.execute(select(work_order_history.c.changes).where(
            work_order_history.c.action == "create"))).scalar_one()
    assert stored is None  # a line that changed nothing stores nothing
    await store.close()


async def test_every_change_of_what_get_shows_bumps_the_version_links_and_surveys_do_not(store_url: str) -> None:
    store, work = await orders(store_url)
    number = await work.create(heating(), by="agent1001", at=T)
    versions = [(await work.get(number)).version]
    versions.append((await work.update(number, {"area": "滨江区"}, by="a", at=T)).version)
    versions.append((await work.update(number, {"area": "滨江区"}, by="a", at=T)).version)  # no change
    versions.append((await work.transition(number, "answer_directly", by="a", at=T)).version)
    versions.append((await work.set_confidential(number, True, by="a", at=T)).version)
    versions.append((await work.set_confidential(number, True, by="a", at=T)).version)  # set already
    await work.link_call(number, "pbx-9.1", at=T)
    await work.record_survey("pbx-9.1", 5)
    versions.append((await work.get(number)).version)
    assert versions == [1, 2, 2, 3, 4, 4, 4]
    await store.close()


async def test_a_write_against_a_version_no_longer_current_is_refused_and_changes_nothing(store_url: str) -> None:
    store, work = await orders(store_url)
    number = await work.create(heating(), by="agent1001", at=T)
    await work.update(number, {"area": "滨江区"}, by="agent1002", at=T, expected_version=1)
    before = await work.get(number)
    writes: list[Any] = [
        work.update(number, {"area": "萧山区"}, by="agent1003", at=T, expected_version=1),
        work.transition(number, "answer_directly", by="agent1003", at=T, expected_version=1),
        work.set_confidential(number, True, by="agent1003", at=T, expected_version=1),
    ]
    for write in writes:
        with pytest.raises(OrderTransitionError) as err:
            await write
        assert str(err.value) == f"version-mismatch: {number} is at version 2, not 1"
    assert await work.get(number) == before
    done = await work.transition(number, "answer_directly", by="agent1003", at=T, expected_version=2)
    assert done.version == 3 and done.state is OrderState.ANSWERED_DIRECTLY
    await store.close()


class Interleaved(WorkOrderStore):
    """A clerk's edit lands between this store's read of the order and its write."""

    meanwhile: Any = None

    async def get(self, number: str, **kwargs: Any) -> WorkOrder:
        order = await super().get(number, **kwargs)
        meanwhile, self.meanwhile = self.meanwhile, None
        if meanwhile is not None:
            await meanwhile()
        return order


@pytest.mark.parametrize("expected_version, code", [(None, "concurrent-change"), (1, "version-mismatch")])
async def test_an_edit_that_lost_the_race_is_refused_never_silently_overwritten(
        store_url: str, expected_version: int | None, code: str) -> None:
    store = CallRecordStore(store_url)
    await store.open()
    work = Interleaved(store.engine, "3301", POLICY)
    other = WorkOrderStore(store.engine, "3301", POLICY)
    number = await work.create(heating(), by="agent1001", at=T)

    async def first_clerk(area: str = "滨江区") -> None:
        await other.update(number, {"area": area}, by="agent1002", at=T)

    work.meanwhile = first_clerk
    with pytest.raises(OrderTransitionError, match=f"^{code}"):
        await work.update(number, {"area": "萧山区"}, by="agent1003", at=T, expected_version=expected_version)
    kept = await other.get(number)
    assert kept.area == "滨江区" and kept.version == 2
    assert [(h.by, h.changes) for h in kept.history] == [
        ("agent1002", (FieldChange("area", "西湖区北山街道", "滨江区"),))]
    work.meanwhile = lambda: first_clerk("上城区")  # a workflow step that lost the race is refused as well
    with pytest.raises(OrderTransitionError, match="^concurrent-change"):
        await work.transition(number, "answer_directly", by="agent1003", at=T)
    assert (await other.get(number)).state is OrderState.NEW
    await store.close()


async def test_clerks_editing_at_once_lose_nothing_silently(store_url: str) -> None:
    """Every edit that answered is in the history with the value it replaced; each line's old
    value is the one before it; the order holds the last line's new value; the rest were refused."""
    store, work = await orders(store_url)
    number = await work.create(heating(), by="agent1001", at=T)
    areas = [f"区{i}" for i in range(12)]
    results = await asyncio.gather(*(work.update(number, {"area": a, "content": f"内容{i}"}, by=f"agent{i}", at=T)
                                     for i, a in enumerate(areas)), return_exceptions=True)
    won = [areas[i] for i, r in enumerate(results) if isinstance(r, WorkOrder)]
    refused = [r for r in results if not isinstance(r, WorkOrder)]
    assert won and all(isinstance(r, OrderTransitionError) and r.code == "concurrent-change" for r in refused)
    final = await work.get(number)
    chain = [next(c for c in h.changes if c.field == "area") for h in final.history]
    assert sorted(c.new for c in chain if c.new) == sorted(won) and len(chain) == len(won)
    assert [c.old for c in chain] == ["西湖区北山街道"] + [c.new for c in chain[:-1]]
    assert final.area == chain[-1].new and final.version == 1 + len(won)
    await store.close()


async def test_clerks_holding_the_same_version_one_wins_the_other_hears_412(store_url: str) -> None:
    store, work = await orders(store_url)
    number = await work.create(heating(), by="agent1001", at=T)
    results = await asyncio.gather(
        work.update(number, {"area": "滨江区"}, by="agent1002", at=T, expected_version=1),
        work.update(number, {"content": "暖气停了"}, by="agent1003", at=T, expected_version=1),
        return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["OrderTransitionError", "WorkOrder"]
    assert [r.code for r in results if isinstance(r, OrderTransitionError)] == ["version-mismatch"]
    final = await work.get(number)
    assert final.version == 2 and len(final.history) == 1
    await store.close()


async def test_confidential_goes_on_for_anyone_at_the_desk_and_off_only_for_a_supervisor(store_url: str) -> None:
    store, work = await orders(store_url)
    number = await work.create(heating(), by="agent1001", at=T)
    agent = Viewer("agent1002", ViewerRole.AGENT)
    on = await work.set_confidential(number, True, by="agent1002", at=T, note="市民要求保密", viewer=agent)
    assert on.confidential and on.masked and on.caller_number == "*******0001"
    for viewer in (agent, Viewer("agent1001", ViewerRole.AGENT), Viewer("热力公司", ViewerRole.DEPARTMENT)):
        with pytest.raises(OrderTransitionError) as err:
            await work.set_confidential(number, False, by=viewer.name, at=T, viewer=viewer)
        assert err.value.code == "confidential-not-allowed"
    with pytest.raises(OrderTransitionError, match="^confidential-not-allowed: a department does not set 保密"):
        await work.set_confidential(number, True, by="热力公司", at=T, viewer=Viewer("热力公司", ViewerRole.DEPARTMENT))
    off = await work.set_confidential(number, False, by="zhang.wei", at=T, viewer=SUPERVISOR)
    assert not off.confidential and not off.masked and off.version == 3
    assert [(h.action, h.by, h.note, h.changes) for h in off.history] == [
        ("confidential", "agent1002", "市民要求保密", (FieldChange("confidential", "false", "true"),)),
        ("confidential", "zhang.wei", "", (FieldChange("confidential", "true", "false"),))]
    await store.close()


async def test_orders_stored_before_revision_0008_are_open_at_version_1_with_plain_history(store_url: str) -> None:
    from alembic import command
    from sqlalchemy.ext.asyncio import create_async_engine

    from tickets.migrations import alembic_config

    engine = create_async_engine(store_url)
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(connection=sync), "0007"))
        await conn.exec_driver_sql(
            "INSERT INTO work_orders (number, created_at, caller_number, contact_number, category, topic, area,"
            " content, state, due_at, taken_by) VALUES ('3301-20261101-000001', '2026-11-01 08:00:00',"
            " '13800000001', '13800000001', 'complaint', 'heating', '西湖区', '暖气不热', 'new',"
            " '2026-11-02 08:00:00', 'agent1001')")
        await conn.exec_driver_sql(
            "INSERT INTO work_order_history (number, at, by, action, from_state, to_state, note) VALUES"
            " ('3301-20261101-000001', '2026-11-01 09:00:00', 'agent1002', 'edit', 'new', 'new', 'changed: area')")
    await engine.dispose()
    store, work = await orders(store_url)  # open() migrates to head
    old = await work.get("3301-20261101-000001", viewer=Viewer("agent1003", ViewerRole.AGENT))
    assert (old.version, old.confidential, old.masked, old.caller_number) == (1, False, False, "13800000001")
    assert [(h.note, h.changes) for h in old.history] == [("changed: area", ())]
    edited = await work.update(old.number, {"area": "滨江区"}, by="agent1002", at=T, expected_version=1)
    assert edited.version == 2 and edited.history[-1].changes == (FieldChange("area", "西湖区", "滨江区"),)
    async with store.engine.begin() as conn:  # and back down, and up again
        await conn.run_sync(lambda sync: command.downgrade(alembic_config(connection=sync), "0007"))
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(connection=sync), "head"))
    assert (await work.get(old.number)).version == 1
    await store.close()
