"""Work-order search: filters, a capped count, and keyset pages by an opaque cursor.

An exact COUNT over a million orders and OFFSET paging are what made a page slow, so the count
stops at COUNT_CAP and the next page starts after the last row's (sort key, id) instead of
re-reading the rows before it. The composite indexes of revision 0003 serve these shapes on
SQLite and PostgreSQL. Bound parameters only: no SQL is ever built from a caller's text.

`OrderQuery.viewer` restricts the search to what that viewer may find (tickets/scope.py): the
scope is a condition of the same WHERE the page, the cursor and the count use, and a 保密
order's personal fields come back masked for a viewer who may not read them (so the CSV
export, which pages through search(), is masked too).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Integer, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.errors import StableError
from tickets.schema import work_orders
from tickets.scope import Viewer, caller_matches, in_scope, masked_row, personal_visible
from tickets.workflow import OrderState

SORTABLE = {"created_at": work_orders.c.created_at, "due_at": work_orders.c.due_at,
            "number": work_orders.c.number}
COUNT_CAP = 10_000  # beyond this a search says "more than 10,000" instead of counting them all
MAX_LIMIT = 1000
BAD_CURSOR = "bad-cursor"
MAX_ROW_ID = 2**31 - 1  # work_orders.id is an INTEGER: 32 bits on PostgreSQL


class SearchError(StableError):
    pass


@dataclass(frozen=True, slots=True)
class OrderQuery:
    """A search: every filter given must hold. `cursor` (from the previous page's
    `next_cursor`) pages by the sort key without re-reading the rows before it. `viewer`
    None searches every order unmasked (supervisors' routes and internal use)."""

    state: str | None = None
    category: str | None = None
    caller: str | None = None
    department: str | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    overdue_at: datetime | None = None  # not closed and due before this moment
    sort: str = "created_at"  # created_at | due_at | number
    descending: bool = True
    limit: int = 50
    offset: int = 0
    cursor: str | None = None
    viewer: Viewer | None = None

    def __post_init__(self) -> None:
        if self.sort not in SORTABLE:
            raise ValueError(f"sort must be one of {', '.join(SORTABLE)}")
        if not 1 <= self.limit <= MAX_LIMIT or self.offset < 0:
            raise ValueError(f"limit must be 1..{MAX_LIMIT} and offset >= 0")


@dataclass(frozen=True, slots=True)
class SearchPage:
    rows: list[dict[str, Any]]  # ISO 8601 times, no internal id
    total: int  # exact when total_exact, else the cap: "more than that"
    total_exact: bool
    next_cursor: str | None  # None on the last page


def _utc(value: datetime) -> datetime:
    """SQLite hands times back without a zone; they were stored in UTC, so they are UTC. (A naive
    time must never go through astimezone: that would read it as the host's local time.)"""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _encode_cursor(query: OrderQuery, value: Any, row_id: int) -> str:
    key = _utc(value).isoformat() if isinstance(value, datetime) else value
    document = [query.sort, "desc" if query.descending else "asc", key, row_id]
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


def _decode_cursor(query: OrderQuery) -> tuple[Any, int]:
    """The (sort key, id) a page starts after; a cursor of another sort or direction is refused
    rather than silently skipping or repeating rows. So is one no search hands out and no
    database could bind: an id beyond the id column (PostgreSQL's integer), a time without its
    zone or one that leaves the calendar when put in UTC, a key with a NUL or a lone surrogate."""
    cursor = query.cursor or ""
    try:
        document = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        sort, direction, key, row_id = document
        if (sort, direction) != (query.sort, "desc" if query.descending else "asc"):
            raise ValueError
        if type(row_id) is not int or not 0 <= row_id <= MAX_ROW_ID or not isinstance(key, str):
            raise ValueError
        if "\x00" in key:
            raise ValueError
        key.encode("utf-8")  # a lone surrogate: UnicodeEncodeError, a ValueError
        if sort == "number":
            return key, row_id
        moment = datetime.fromisoformat(key)
        if moment.tzinfo is None:  # every cursor handed out says +00:00
            raise ValueError
        return _utc(moment), row_id
    except (ValueError, TypeError, OverflowError, binascii.Error, RecursionError):
        raise SearchError(BAD_CURSOR, "the cursor is not one this search handed out") from None


def _conditions(query: OrderQuery) -> list[Any]:
    conditions: list[Any] = []
    if query.state:
        conditions.append(work_orders.c.state == query.state)
    if query.category:
        conditions.append(work_orders.c.category == query.category)
    if query.caller:
        conditions.append(caller_matches(query.caller, query.viewer))
    if query.department:
        conditions.append(work_orders.c.department == query.department)
    if query.due_before:
        conditions.append(work_orders.c.due_at < _utc(query.due_before))
    if query.due_after:
        conditions.append(work_orders.c.due_at >= _utc(query.due_after))
    if query.overdue_at:
        conditions += [work_orders.c.due_at < _utc(query.overdue_at),
                       work_orders.c.state != OrderState.CLOSED.value]
    scope = in_scope(query.viewer)
    if scope is not None:
        conditions.append(scope)
    return conditions


VISIBLE = "personal_visible"  # the page's extra column: may this viewer read the personal fields


def _row(mapping: Any) -> dict[str, Any]:
    row = {key: (_utc(value).isoformat() if isinstance(value, datetime) else value)
           for key, value in mapping.items()}
    row.pop("id", None)
    visible = row.pop(VISIBLE)
    return row if visible else masked_row(row)


async def search(engine: AsyncEngine, query: OrderQuery, *, count_cap: int = COUNT_CAP) -> SearchPage:
    """One page of the orders matching `query`, and how many match, counted up to `count_cap`.
    A short first page is its own count, so a caller's few orders cost one query."""
    conditions = _conditions(query)
    column = SORTABLE[query.sort]
    page_conditions = list(conditions)
    if query.cursor:
        key, row_id = _decode_cursor(query)
        after = tuple_(column, work_orders.c.id)
        start = tuple_(literal(key, column.type), literal(row_id, Integer()))
        page_conditions.append(after < start if query.descending else after > start)
    order = ((column.desc(), work_orders.c.id.desc()) if query.descending
             else (column.asc(), work_orders.c.id.asc()))
    page = select(work_orders, personal_visible(query.viewer).label(VISIBLE)).where(*page_conditions) \
        .order_by(*order).limit(query.limit)
    if not query.cursor and query.offset:
        page = page.offset(query.offset)
    async with engine.connect() as conn:
        found = [r._mapping for r in await conn.execute(page)]
        seen = query.offset + len(found)
        if not query.cursor and len(found) < query.limit and (found or not query.offset) and seen <= count_cap:
            counted = seen
        else:
            capped = select(work_orders.c.id).where(*conditions).limit(count_cap + 1).subquery()
            counted = int((await conn.execute(select(func.count()).select_from(capped))).scalar_one())
    next_cursor = None
    if len(found) == query.limit:
        last = found[-1]
        next_cursor = _encode_cursor(query, last[query.sort], int(last["id"]))
    return SearchPage([_row(m) for m in found], min(counted, count_cap), counted <= count_cap, next_cursor)
