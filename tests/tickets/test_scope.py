"""Who sees which orders, and what of them, on SQLite and a real PostgreSQL (issue 14, item 2).

Promises: an agent never sees another agent's orders in a search — on any page, in the count, in
the due lists — except those linked to calls they answered and those of the caller on their
current call; an exact order number opens any order; a 保密 order's personal data is masked for
everyone but the agent who took it and supervisors, and a search by its caller number does not
find it for them (unless that caller is on their line)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from acd.privacy import mask_number
from acd.records import CallRecord, Disposition
from tickets.deadlines import DeadlinePolicy, DeadlineRule
from tickets.orders import NewOrder, WorkOrderStore
from tickets.schema import call_records, order_calls, work_order_history, work_orders
from tickets.scope import MASKED_AREA, Viewer, ViewerRole
from tickets.search import OrderQuery, SearchPage, search
from tickets.store import CallRecordStore
from tickets.workflow import FieldChange, OrderTransitionError

T = datetime(2026, 11, 23, 1, 30, tzinfo=timezone.utc)
POLICY = DeadlinePolicy(rules=(DeadlineRule("*", (), hours=24),))
CITIZEN = "13800001111"  # the caller on agent1001's line
A1 = Viewer("agent1001", ViewerRole.AGENT)
A1_ON_CALL = Viewer("agent1001", ViewerRole.AGENT, current_caller=CITIZEN)
A2 = Viewer("agent1002", ViewerRole.AGENT)
SUPERVISOR = Viewer("zhang.wei", ViewerRole.SUPERVISOR)
WATER = Viewer("water", ViewerRole.DEPARTMENT)


async def orders(url: str) -> tuple[CallRecordStore, WorkOrderStore]:
    store = CallRecordStore(url)
    await store.open()
    return store, WorkOrderStore(store.engine, "3301", POLICY)


def complaint(caller: str, *, confidential: bool = False, linkedid: str | None = None) -> NewOrder:
    return NewOrder(caller, "13900009999", "complaint", "water", "西湖区北山街道12号", "停水三天", linkedid,
                    confidential=confidential)


async def answered(store: CallRecordStore, linkedid: str, agent: str, caller: str = "13700000000") -> None:
    await store.write_many([CallRecord(linkedid, caller, "", "12345", T, T, T + timedelta(minutes=3),
                                       Disposition.ANSWERED, 16, agent=agent)])


async def every_page(engine: Any, query: OrderQuery) -> tuple[list[dict[str, Any]], list[SearchPage]]:
    pages = [await search(engine, query)]
    while pages[-1].next_cursor is not None:
        pages.append(await search(engine, dataclasses.replace(query, cursor=pages[-1].next_cursor)))
    return [r for p in pages for r in p.rows], pages


async def a_hall(store: CallRecordStore, work: WorkOrderStore) -> dict[str, set[str]]:
    """agent1001 took 4 orders, agent1002 took 6; agent1001 answered a call later linked to one of
    agent1003's; agent1003 took two orders of the citizen now on agent1001's line."""
    made: dict[str, set[str]] = {"a1": set(), "a2": set(), "linked": set(), "citizen": set(), "other": set()}
    for i in range(4):
        made["a1"].add(await work.create(complaint(f"1380000{i:04d}"), by="agent1001", at=T + timedelta(minutes=i)))
    for i in range(6):
        made["a2"].add(await work.create(complaint(f"1381000{i:04d}"), by="agent1002", at=T + timedelta(minutes=i)))
    linked = await work.create(complaint("13820000000"), by="agent1003", at=T)
    await answered(store, "pbx-7.1", "agent1001")
    await work.link_call(linked, "pbx-7.1", at=T, reason="repeat")
    made["linked"].add(linked)
    for i in range(2):
        made["citizen"].add(await work.create(complaint(CITIZEN), by="agent1003", at=T + timedelta(minutes=i)))
    made["other"].add(await work.create(complaint("13830000000"), by="agent1003", at=T))
    return made


@pytest.mark.parametrize("limit", [1, 2, 3, 50])
@pytest.mark.parametrize("sort", ["created_at", "number"])
async def test_an_agent_never_sees_another_agents_orders_on_any_page_or_in_the_count(
        store_url: str, limit: int, sort: str) -> None:
    store, work = await orders(store_url)
    made = await a_hall(store, work)
    for viewer, expected in ((A1, made["a1"] | made["linked"]),
                             (A1_ON_CALL, made["a1"] | made["linked"] | made["citizen"]),
                             (A2, made["a2"])):
        query = OrderQuery(viewer=viewer, limit=limit, sort=sort)
        rows, pages = await every_page(store.engine, query)
        assert [r["number"] for r in rows] != [] and {r["number"] for r in rows} == expected
        assert len(rows) == len(expected)  # each once
        assert {(p.total, p.total_exact) for p in pages} == {(len(expected), True)}
        capped = await search(store.engine, query, count_cap=2)
        assert (capped.total, capped.total_exact) == (2, False)
        by_offset = await search(store.engine, dataclasses.replace(query, offset=len(expected) - 1))
        assert by_offset.total == len(expected) and {r["number"] for r in by_offset.rows} <= expected
    everyone = set().union(*made.values())
    assert {r["number"] for r in (await every_page(store.engine, OrderQuery(limit=limit, sort=sort)))[0]} == everyone
    supervised, _ = await every_page(store.engine, OrderQuery(viewer=SUPERVISOR, limit=limit, sort=sort))
    assert {r["number"] for r in supervised} == everyone
    await store.close()


async def test_an_agent_without_a_name_sees_nothing_not_the_orders_nobody_took(store_url: str) -> None:
    store, work = await orders(store_url)
    await work.create(complaint("13800000000"), by="", at=T)
    await answered(store, "pbx-7.2", "")
    page = await search(store.engine, OrderQuery(viewer=Viewer("", ViewerRole.AGENT)))
    assert (page.rows, page.total) == ([], 0)
    await store.close()


async def test_the_due_lists_and_a_callers_open_orders_keep_to_the_agents_scope(store_url: str) -> None:
    store, work = await orders(store_url)
    made = await a_hall(store, work)
    late = T + timedelta(days=2)
    assert {o.number for o in await work.due(late, viewer=A1)} == made["a1"] | made["linked"]
    assert {o.number for o in await work.due(late, viewer=A2)} == made["a2"]
    assert {o.number for o in await work.due(T, timedelta(days=2), viewer=A1_ON_CALL)} == \
        made["a1"] | made["linked"] | made["citizen"]
    assert {o.number for o in await work.due(late)} == set().union(*made.values())
    # the citizen on agent1001's line: all their open orders (首接负责), whoever took them
    assert {o.number for o in await work.open_for_caller(CITIZEN, viewer=A1_ON_CALL)} == made["citizen"]
    assert await work.open_for_caller(CITIZEN, viewer=A1) == []  # not on the line: not in scope
    assert await work.open_for_caller(CITIZEN, viewer=A2) == []
    # the exact number opens any order for any agent (the citizen reads it out)
    other = next(iter(made["other"]))
    opened = await work.get(other, viewer=A2)
    assert opened.taken_by == "agent1003" and opened.caller_number == "13830000000" and not opened.masked
    await store.close()


async def test_a_department_finds_only_what_was_dispatched_to_it(store_url: str) -> None:
    store, work = await orders(store_url)
    mine = await work.create(complaint("13800000001"), by="agent1001", at=T)
    theirs = await work.create(complaint("13800000002"), by="agent1001", at=T)
    await work.transition(mine, "dispatch", by="agent1001", at=T, department="water")
    await work.transition(theirs, "dispatch", by="agent1001", at=T, department="housing")
    page = await search(store.engine, OrderQuery(viewer=WATER))
    assert [r["number"] for r in page.rows] == [mine] and page.total == 1
    assert [o.number for o in await work.due(T + timedelta(days=2), viewer=WATER)] == [mine]
    assert (await work.get(mine, viewer=WATER)).department == "water"
    with pytest.raises(OrderTransitionError, match="^unknown-order"):
        await work.get(theirs, viewer=WATER)
    await store.close()


async def test_a_confidential_orders_personal_data_is_masked_for_everyone_but_its_taker_and_supervisors(
        store_url: str) -> None:
    store, work = await orders(store_url)
    number = await work.create(complaint(CITIZEN, confidential=True, linkedid="pbx-8.1"), by="agent1002", at=T)
    await answered(store, "pbx-8.1", "agent1001", CITIZEN)  # agent1001 answered the call: in their scope
    await work.update(number, {"contact_number": "13900001234", "area": "上城区湖滨街道5号"}, by="agent1002", at=T)
    await work.transition(number, "dispatch", by="agent1002", at=T, department="water")
    hidden = {"caller_number": "*******1111", "contact_number": "*******1234", "area": MASKED_AREA}
    shown = {"caller_number": CITIZEN, "contact_number": "13900001234", "area": "上城区湖滨街道5号"}
    for viewer in (A1, A1_ON_CALL, WATER):
        order = await work.get(number, viewer=viewer)
        assert {f: getattr(order, f) for f in hidden} == hidden and order.masked and order.confidential
        [edit] = [h for h in order.history if h.action == "edit"]
        assert edit.changes == (FieldChange("area", MASKED_AREA, MASKED_AREA),
                                FieldChange("contact_number", "*******9999", "*******1234"))
        [row] = (await search(store.engine, OrderQuery(viewer=viewer))).rows
        assert {f: row[f] for f in hidden} == hidden and row["confidential"] is True
        [due] = await work.due(T + timedelta(days=2), viewer=viewer)
        assert due.number == number and due.confidential  # a due line carries no personal data
    for viewer in (A2, SUPERVISOR, None):
        order = await work.get(number, viewer=viewer)
        assert {f: getattr(order, f) for f in shown} == shown and not order.masked
        [row] = (await search(store.engine, OrderQuery(viewer=viewer))).rows
        assert {f: row[f] for f in shown} == shown
    assert (await work.get(number, viewer=A2)).history[0].changes[0] == FieldChange("area", "西湖区北山街道12号",
                                                                                    "上城区湖滨街道5号")
    # what an edit or a step answers is masked the same way
    edited = await work.update(number, {"content": "停水四天"}, by="agent1001", at=T, viewer=A1)
    assert edited.caller_number == "*******1111" and edited.content == "停水四天"
    await store.close()


async def test_a_search_by_caller_number_does_not_find_a_confidential_order_it_would_unmask(store_url: str) -> None:
    store, work = await orders(store_url)
    secret = await work.create(complaint(CITIZEN, confidential=True, linkedid="pbx-8.2"), by="agent1002", at=T)
    plain = await work.create(complaint(CITIZEN, linkedid="pbx-8.3"), by="agent1003", at=T)
    for linkedid in ("pbx-8.2", "pbx-8.3"):
        await answered(store, linkedid, "agent1001", CITIZEN)
    await work.transition(secret, "dispatch", by="agent1002", at=T, department="water")

    async def found(viewer: Viewer | None) -> set[str]:
        page = await search(store.engine, OrderQuery(caller=CITIZEN, viewer=viewer))
        assert page.total == len(page.rows)
        return {r["number"] for r in page.rows}

    assert await found(A1) == {plain}  # both in scope (calls answered), but the number would unmask one
    assert await found(WATER) == set()
    assert await found(A2) == {secret} and await found(SUPERVISOR) == {secret, plain}
    # the citizen on the line: their orders are found, the confidential one masked (first contact)
    page = await search(store.engine, OrderQuery(caller=CITIZEN, viewer=A1_ON_CALL))
    assert {r["number"]: r["caller_number"] for r in page.rows} == {secret: "*******1111", plain: CITIZEN}
    assert {o.number: o.confidential for o in await work.open_for_caller(CITIZEN, viewer=A1_ON_CALL)} == \
        {secret: True, plain: False}
    assert [o.number for o in await work.open_for_caller(CITIZEN, viewer=A1)] == [plain]
    await store.close()


# ---- the property: the store's scope and masking equal the rules computed again in Python --------
AGENTS = ("agent1001", "agent1002", "agent1003", "")
CALLERS = ("13800000001", "13800000002", "13800000003")
T0 = datetime(2026, 11, 1, 8, tzinfo=timezone.utc)

order_st = st.fixed_dictionaries({
    "taken_by": st.sampled_from(AGENTS), "caller_number": st.sampled_from(CALLERS),
    "confidential": st.booleans(), "department": st.sampled_from((None, "water", "housing")),
    "state": st.sampled_from(("new", "closed")), "minute": st.integers(0, 5), "due_hours": st.integers(0, 48)})


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[str], set[tuple[int, int]]]:
    """Orders, the agents who answered some calls, and which order each call is linked to."""
    drawn = draw(st.lists(order_st, min_size=1, max_size=14))
    call_agents = draw(st.lists(st.sampled_from(AGENTS), max_size=5))
    links = draw(st.sets(st.tuples(st.integers(0, len(drawn) - 1), st.integers(0, len(call_agents) - 1)),
                         max_size=8)) if call_agents else set()
    return drawn, call_agents, links


agents_st = st.builds(Viewer, st.sampled_from(AGENTS), st.just(ViewerRole.AGENT), st.sampled_from(("",) + CALLERS))
viewers_st = st.one_of(
    agents_st, agents_st, agents_st,  # agents are where the rules have most to say
    st.builds(Viewer, st.sampled_from(("water", "housing")), st.just(ViewerRole.DEPARTMENT)),
    st.builds(Viewer, st.just("zhang.wei"), st.just(ViewerRole.SUPERVISOR)), st.none())


def model(viewer: Viewer | None, order: dict[str, Any], answered_by: set[str]) -> tuple[bool, bool]:
    """(in scope, personal data visible), written from the rules rather than from the code."""
    if viewer is None or viewer.role is ViewerRole.SUPERVISOR:
        return True, True
    if viewer.role is ViewerRole.DEPARTMENT:
        return order["department"] == viewer.name, not order["confidential"]
    mine = bool(viewer.name) and order["taken_by"] == viewer.name
    scope = mine or (bool(viewer.name) and viewer.name in answered_by) or \
        (bool(viewer.current_caller) and order["caller_number"] == viewer.current_caller)
    return scope, mine or not order["confidential"]


async def check_world(url: str, drawn: list[dict[str, Any]], call_agents: list[str], links: set[tuple[int, int]],
                      viewer: Viewer | None, query: OrderQuery, caller: str | None, count_cap: int) -> None:
    store = CallRecordStore(url)
    await store.open()
    try:
        async with store.engine.begin() as conn:
            for table in (order_calls, call_records, work_order_history, work_orders):
                await conn.execute(delete(table))
            rows = [{"id": i + 1, "number": f"3301-{i:06d}", "created_at": T0 + timedelta(minutes=o["minute"]),
                     "caller_number": o["caller_number"], "contact_number": "13900000000", "category": "complaint",
                     "topic": "water", "area": "西湖区", "content": "停水", "department": o["department"],
                     "state": o["state"], "follow_up_result": None, "due_at": T0 + timedelta(hours=o["due_hours"]),
                     "linkedid": None, "taken_by": o["taken_by"], "confidential": o["confidential"]}
                    for i, o in enumerate(drawn)]
            if rows:
                await conn.execute(work_orders.insert(), rows)
            if call_agents:
                await conn.execute(call_records.insert(), [
                    {"linkedid": f"c{j}", "arrived_at": T0, "ended_at": T0, "disposition": "answered", "agent": agent}
                    for j, agent in enumerate(call_agents)])
            if links:
                await conn.execute(order_calls.insert(), [
                    {"number": f"3301-{i:06d}", "linkedid": f"c{j}", "linked_at": T0, "reason": "linked"}
                    for i, j in sorted(links)])
        answered_by = {i: {call_agents[j] for k, j in links if k == i} for i in range(len(drawn))}
        judged = [model(viewer, o, answered_by[i]) for i, o in enumerate(drawn)]
        if caller is not None:  # found by the number only where it would not unmask it, or on the line
            judged = [(scope and o["caller_number"] == caller and (visible or (
                viewer is not None and viewer.role is ViewerRole.AGENT and caller == viewer.current_caller)), visible)
                for o, (scope, visible) in zip(drawn, judged)]
        key = {"created_at": lambda i: rows[i]["created_at"], "due_at": lambda i: rows[i]["due_at"],
               "number": lambda i: rows[i]["number"]}[query.sort]
        expected = sorted((i for i, (scope, _) in enumerate(judged) if scope and (
            query.state is None or drawn[i]["state"] == query.state)), key=lambda i: (key(i), i),
            reverse=query.descending)
        query = dataclasses.replace(query, viewer=viewer, caller=caller)
        pages = [await search(store.engine, query, count_cap=count_cap)]
        while pages[-1].next_cursor is not None:
            pages.append(await search(store.engine, dataclasses.replace(query, cursor=pages[-1].next_cursor),
                                      count_cap=count_cap))
        found = [r for p in pages for r in p.rows]
        assert [r["number"] for r in found] == [rows[i]["number"] for i in expected]
        assert (pages[0].total, pages[0].total_exact) == (min(len(expected), count_cap), len(expected) <= count_cap)
        for row, i in zip(found, expected):
            visible = judged[i][1]
            assert row["caller_number"] == (drawn[i]["caller_number"] if visible
                                            else mask_number(drawn[i]["caller_number"]))
            assert row["area"] == ("西湖区" if visible else MASKED_AREA)
        work = WorkOrderStore(store.engine, "3301", POLICY)
        late = T0 + timedelta(hours=49)
        scoped = [model(viewer, o, answered_by[i])[0] for i, o in enumerate(drawn)]
        assert {o.number for o in await work.due(late, viewer=viewer)} == {
            rows[i]["number"] for i, o in enumerate(drawn) if scoped[i] and o["state"] != "closed"}
    finally:
        await store.close()


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(world=worlds(), viewer=viewers_st, sort=st.sampled_from(("created_at", "due_at", "number")),
       descending=st.booleans(), limit=st.integers(1, 4), state=st.sampled_from((None, "new")),
       caller=st.sampled_from((None,) + CALLERS), count_cap=st.sampled_from((2, 10_000)))
def test_search_for_any_viewer_equals_the_scope_and_masking_rules_computed_again(
        store_url: str, world: tuple[list[dict[str, Any]], list[str], set[tuple[int, int]]], viewer: Viewer | None,
        sort: str, descending: bool, limit: int, state: str | None, caller: str | None, count_cap: int) -> None:
    drawn, call_agents, links = world
    query = OrderQuery(sort=sort, descending=descending, limit=limit, state=state)
    asyncio.run(check_world(store_url, drawn, call_agents, links, viewer, query, caller, count_cap))
