"""Work-order search on SQLite and the real PostgreSQL: filters, both sort orders, keyset pages
that cover every match once (ties on the sort key included), the capped count, bad cursors."""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from tickets.search import OrderQuery, SearchError, search
from tickets.schema import work_orders
from tickets.store import CallRecordStore

T0 = datetime(2026, 11, 1, 8, tzinfo=timezone.utc)
STATES = ("new", "dispatched", "replied", "closed")


async def loaded(url: str, n: int = 120) -> CallRecordStore:
    store = CallRecordStore(url)
    await store.open()
    rows = [{"number": f"3301-{i:06d}", "created_at": T0 + timedelta(minutes=i // 3),  # ties: 3 per minute
             "caller_number": f"1380000{i % 7:04d}", "contact_number": "", "category": ("complaint", "consultation")[i % 2],
             "topic": "water", "area": "区", "content": "内容", "department": ("water", "housing", None)[i % 3],
             "state": STATES[i % 4], "follow_up_result": None, "due_at": T0 + timedelta(hours=i % 40),
             "linkedid": None} for i in range(n)]
    async with store.engine.begin() as conn:
        await conn.execute(work_orders.insert(), rows)
    return store


async def everything(store: CallRecordStore, query: OrderQuery) -> list[str]:
    numbers: list[str] = []
    page = await search(store.engine, query)
    while True:
        numbers += [r["number"] for r in page.rows]
        if page.next_cursor is None:
            return numbers
        page = await search(store.engine, dataclasses.replace(query, cursor=page.next_cursor))


@pytest.mark.parametrize("sort", ["created_at", "due_at", "number"])
@pytest.mark.parametrize("descending", [True, False])
async def test_cursor_pages_cover_every_match_exactly_once_in_order(store_url: str, sort: str, descending: bool) -> None:
    store = await loaded(store_url)
    query = OrderQuery(category="complaint", sort=sort, descending=descending, limit=7)
    numbers = await everything(store, query)
    assert len(numbers) == len(set(numbers)) == 60
    one_page = (await search(store.engine, dataclasses.replace(query, limit=1000))).rows
    assert numbers == [r["number"] for r in one_page]
    keys = [r[sort] for r in one_page]
    assert keys == sorted(keys, reverse=descending)
    await store.close()


async def test_filters_combine_and_overdue_leaves_closed_orders_out(store_url: str) -> None:
    store = await loaded(store_url)
    page = await search(store.engine, OrderQuery(state="dispatched", department="water", limit=1000))
    assert page.rows and all(r["state"] == "dispatched" and r["department"] == "water" for r in page.rows)
    assert page.total == len(page.rows) and page.total_exact
    now = T0 + timedelta(hours=10)
    overdue = (await search(store.engine, OrderQuery(overdue_at=now, limit=1000))).rows
    assert overdue and all(r["state"] != "closed" and datetime.fromisoformat(r["due_at"]) < now for r in overdue)
    window = (await search(store.engine, OrderQuery(due_after=now, due_before=now + timedelta(hours=2), limit=1000))).rows
    assert window and all(now <= datetime.fromisoformat(r["due_at"]) < now + timedelta(hours=2) for r in window)
    caller = (await search(store.engine, OrderQuery(caller="13800000003", limit=1000))).rows
    assert {r["caller_number"] for r in caller} == {"13800000003"}
    await store.close()


async def test_a_count_above_the_cap_says_so_instead_of_counting_everything(store_url: str) -> None:
    store = await loaded(store_url)
    capped = await search(store.engine, OrderQuery(limit=5), count_cap=50)
    assert (capped.total, capped.total_exact) == (50, False)
    exact = await search(store.engine, OrderQuery(state="new", limit=5), count_cap=50)
    assert (exact.total, exact.total_exact) == (30, True)
    await store.close()


@pytest.mark.parametrize("cursor", ["not-base64!", "WzEsMl0", "eyJhIjogMX0"])
async def test_a_cursor_we_did_not_hand_out_is_refused(store_url: str, cursor: str) -> None:
    store = await loaded(store_url, 3)
    with pytest.raises(SearchError, match="^bad-cursor"):
        await search(store.engine, OrderQuery(cursor=cursor))
    await store.close()


def _cursor(*document: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


WHEN = "2026-11-01T08:00:00+00:00"


@pytest.mark.parametrize("sort, cursor", [
    ("created_at", _cursor("created_at", "desc", WHEN, 2 ** 31)),  # beyond PostgreSQL's integer
    ("created_at", _cursor("created_at", "desc", WHEN, 2 ** 63)),
    ("created_at", _cursor("created_at", "desc", WHEN, -1)),
    ("created_at", _cursor("created_at", "desc", WHEN, True)),
    ("created_at", _cursor("created_at", "desc", "0001-01-01T00:00:00+08:00", 1)),  # before year 1 in UTC
    ("created_at", _cursor("created_at", "desc", "9999-12-31T23:59:59-14:00", 1)),  # after 9999 in UTC
    ("created_at", _cursor("created_at", "desc", "2026-11-01T08:00:00", 1)),  # no zone: never handed out
    ("created_at", _cursor("created_at", "desc", [[[[WHEN]]]], 1)),
    ("created_at", _cursor("created_at", "desc", WHEN, [[[[1]]]])),
    ("number", _cursor("number", "desc", "\ud800", 1)),  # a lone surrogate no database can bind
    ("number", _cursor("number", "desc", "3301\u0000", 1)),  # PostgreSQL refuses NUL in text
    ("created_at", "W" * 10 + _cursor("created_at", "desc", WHEN, 1)),
    ("created_at", base64.urlsafe_b64encode(b"[" * 100_000).decode()),  # deep nesting
])
async def test_a_cursor_no_database_could_bind_is_refused_as_bad_never_a_database_error(
        store_url: str, sort: str, cursor: str) -> None:
    store = await loaded(store_url, 3)
    with pytest.raises(SearchError, match="^bad-cursor"):
        await search(store.engine, OrderQuery(sort=sort, cursor=cursor))
    far = await search(store.engine, OrderQuery(cursor=_cursor("created_at", "desc", "0001-01-01T00:00:00+00:00", 1)))
    assert far.rows == [] and far.next_cursor is None  # the calendar's first day is a cursor, an empty page
    await store.close()


@pytest.fixture
def beijing_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The host clock in Asia/Shanghai, as on the hotline's servers."""
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("sort", ["created_at", "due_at"])
async def test_cursor_pages_by_time_on_a_host_not_in_utc(store_url: str, sort: str, beijing_host: None) -> None:
    """SQLite gives times back without a zone: a cursor must not read them as local time."""
    store = await loaded(store_url)
    query = OrderQuery(sort=sort, limit=11)
    numbers = await everything(store, query)
    assert len(numbers) == len(set(numbers)) == 120
    await store.close()


async def test_a_cursor_of_another_sort_or_direction_is_refused(store_url: str) -> None:
    store = await loaded(store_url, 10)
    page = await search(store.engine, OrderQuery(sort="due_at", limit=3))
    assert page.next_cursor is not None
    for other in (OrderQuery(sort="created_at", cursor=page.next_cursor),
                  OrderQuery(sort="due_at", descending=False, cursor=page.next_cursor)):
        with pytest.raises(SearchError, match="^bad-cursor"):
            await search(store.engine, other)
    await store.close()


async def test_offset_pages_the_last_page_has_no_cursor_and_counts_stay_exact(store_url: str) -> None:
    store = await loaded(store_url)
    query = OrderQuery(state="replied", sort="number", descending=False, limit=20)
    pages = [await search(store.engine, dataclasses.replace(query, offset=o)) for o in (0, 20, 40)]
    assert [len(p.rows) for p in pages] == [20, 10, 0]
    assert [(p.total, p.total_exact) for p in pages] == [(30, True)] * 3
    assert pages[1].next_cursor is None and pages[0].next_cursor is not None
    numbers = [r["number"] for p in pages for r in p.rows]
    assert numbers == sorted(set(numbers)) and all("id" not in r for r in pages[0].rows)
    assert (await search(store.engine, OrderQuery(caller="nobody"))).total == 0
    await store.close()


def test_a_query_outside_the_contract_is_refused() -> None:
    for wrong in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"sort": "content"}):
        with pytest.raises(ValueError):
            OrderQuery(**wrong)  # type: ignore[arg-type]


async def test_the_migrated_store_has_the_search_indexes_schema_declares(store_url: str) -> None:
    """Revision 0003 and tickets/schema.py name the same columns in the same order."""
    from sqlalchemy import inspect
    store = await loaded(store_url, 1)
    async with store.engine.connect() as conn:
        found = await conn.run_sync(lambda sync: {i["name"]: i["column_names"]
                                                  for i in inspect(sync).get_indexes("work_orders")})
    declared = {i.name: [c.name for c in i.columns] for i in work_orders.indexes}
    assert {name: found.get(name) for name in declared} == declared
    await store.close()
