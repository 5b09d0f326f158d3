"""Work orders in the store: numbering, creation, workflow transitions with history.

Numbers are city code + date + a daily sequence handed out by one atomic upsert per order, so
they stay unique and gapless under concurrency on SQLite and PostgreSQL. A transition is
applied with the pure workflow table and written with a compare-and-set on the old state, so
two clerks acting on one order at once cannot both win.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tickets.deadlines import DeadlinePolicy, DeadlineRule, order_number
from tickets.schema import order_sequences, work_order_history, work_orders
from tickets.workflow import (FollowUpResult, OrderProgress, OrderState, OrderTransitionError,
                              Transition, apply)

UNKNOWN_ORDER = "unknown-order"
CONCURRENT_CHANGE = "concurrent-change"


@dataclass(frozen=True, slots=True)
class NewOrder:
    caller_number: str
    contact_number: str
    category: str
    topic: str
    area: str
    content: str
    linkedid: str | None = None


@dataclass(frozen=True, slots=True)
class WorkOrder:
    number: str
    created_at: datetime
    caller_number: str
    contact_number: str
    category: str
    topic: str
    area: str
    content: str
    department: str | None
    state: OrderState
    follow_up_result: FollowUpResult | None
    due_at: datetime
    linkedid: str | None
    history: tuple[Transition, ...]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _utc(value: datetime) -> datetime:
    """Stored in UTC: SQLite keeps no zone, so what goes in must already be UTC."""
    return value.astimezone(timezone.utc)


class WorkOrderStore:
    def __init__(self, engine: AsyncEngine, city_code: str, deadlines: DeadlinePolicy) -> None:
        self.engine = engine
        self.city_code = city_code
        self.deadlines = deadlines
        self._dialect = engine.dialect.name

    async def _next_number(self, conn: AsyncConnection, day: datetime) -> str:
        key = {"city_code": self.city_code, "day": f"{day:%Y%m%d}", "last": 1}
        insert: Any = (postgresql.insert if self._dialect == "postgresql" else sqlite.insert)(order_sequences)
        statement = insert.values(**key).on_conflict_do_update(
            index_elements=["city_code", "day"], set_={"last": order_sequences.c.last + 1},
        ).returning(order_sequences.c.last)
        sequence: int = (await conn.execute(statement)).scalar_one()
        return order_number(self.city_code, day.date(), int(sequence))

    async def create(self, order: NewOrder, *, by: str, at: datetime) -> str:
        """A new order (state new) with its deadline; returns its number."""
        due = self.deadlines.due(order.category, order.topic, at)
        async with self.engine.begin() as conn:
            number = await self._next_number(conn, at)
            await conn.execute(work_orders.insert().values(
                number=number, created_at=_utc(at), caller_number=order.caller_number,
                contact_number=order.contact_number or order.caller_number, category=order.category,
                topic=order.topic, area=order.area, content=order.content, department=None,
                state=OrderState.NEW.value, follow_up_result=None, due_at=_utc(due), linkedid=order.linkedid))
            await conn.execute(work_order_history.insert().values(
                number=number, at=_utc(at), by=by, action="create", from_state=OrderState.NEW.value,
                to_state=OrderState.NEW.value, note=""))
        return number

    async def get(self, number: str) -> WorkOrder:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(work_orders).where(work_orders.c.number == number))).first()
            if row is None:
                raise OrderTransitionError(UNKNOWN_ORDER, number)
            lines = (await conn.execute(select(work_order_history).where(
                work_order_history.c.number == number).order_by(work_order_history.c.id))).all()
        history = tuple(Transition(_aware(h.at), h.by, h.action, OrderState(h.from_state),
                                   OrderState(h.to_state), h.note) for h in lines if h.action != "create")
        return WorkOrder(
            number=row.number, created_at=_aware(row.created_at), caller_number=row.caller_number,
            contact_number=row.contact_number, category=row.category, topic=row.topic, area=row.area,
            content=row.content, department=row.department, state=OrderState(row.state),
            follow_up_result=FollowUpResult(row.follow_up_result) if row.follow_up_result else None,
            due_at=_aware(row.due_at), linkedid=row.linkedid, history=history)

    async def transition(self, number: str, action: str, *, by: str, at: datetime, note: str = "",
                         department: str | None = None,
                         follow_up_result: FollowUpResult | None = None) -> WorkOrder:
        """Apply one workflow step; illegal steps and lost races change nothing."""
        order = await self.get(number)
        progress = apply(OrderProgress(order.state, order.history, order.follow_up_result), action,
                         by=by, at=at, note=note, follow_up_result=follow_up_result)
        line = progress.history[-1]
        values: dict[str, Any] = {"state": progress.state.value}
        if progress.follow_up_result is not None:
            values["follow_up_result"] = progress.follow_up_result.value
        if action == "dispatch":
            values["department"] = department
        async with self.engine.begin() as conn:
            changed = await conn.execute(update(work_orders).where(
                work_orders.c.number == number, work_orders.c.state == order.state.value).values(**values))
            if changed.rowcount != 1:
                raise OrderTransitionError(CONCURRENT_CHANGE, f"{number} changed meanwhile; reload it")
            await conn.execute(work_order_history.insert().values(
                number=number, at=_utc(line.at), by=line.by, action=line.action,
                from_state=line.from_state.value, to_state=line.to_state.value, note=line.note))
        return await self.get(number)

    async def open_for_caller(self, number: str) -> list[str]:
        """Orders not yet closed for a caller number (first-contact responsibility)."""
        query = select(work_orders.c.number).where(
            work_orders.c.caller_number == number, work_orders.c.state != OrderState.CLOSED.value,
        ).order_by(work_orders.c.id)
        async with self.engine.connect() as conn:
            return [r.number for r in await conn.execute(query)]


SORTABLE = {"created_at": work_orders.c.created_at, "due_at": work_orders.c.due_at,
            "number": work_orders.c.number}

# Default deadline rules until the city's own come from config: emergencies 2 h, utilities 24 h,
# complaints 5 working days, everything else 3 working days (GB/T 33358 practice).
DEFAULT_RULES = (
    DeadlineRule("help_request", ("emergency",), hours=2),
    DeadlineRule("*", ("water", "power", "gas", "heating"), hours=24),
    DeadlineRule("complaint", (), working_days=5),
    DeadlineRule("*", (), working_days=3),
)


async def search(engine: AsyncEngine, *, state: str | None = None, category: str | None = None,
                 caller: str | None = None, due_before: datetime | None = None, sort: str = "created_at",
                 descending: bool = True, limit: int = 50, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
    """Orders matching every filter given, one page of them, and how many match in all."""
    from sqlalchemy import func

    conditions = []
    if state:
        conditions.append(work_orders.c.state == state)
    if category:
        conditions.append(work_orders.c.category == category)
    if caller:
        conditions.append(work_orders.c.caller_number == caller)
    if due_before:
        conditions.append(work_orders.c.due_at < _utc(due_before))
    column = SORTABLE[sort]
    query = select(work_orders).where(*conditions).order_by(
        column.desc() if descending else column.asc(), work_orders.c.id).limit(limit).offset(offset)
    async with engine.connect() as conn:
        total = (await conn.execute(select(func.count()).select_from(work_orders).where(*conditions))).scalar_one()
        rows = [dict(r._mapping) for r in await conn.execute(query)]
    for row in rows:
        for key in ("created_at", "due_at"):
            row[key] = _aware(row[key]).isoformat()
        row.pop("id", None)
    return int(total), rows
