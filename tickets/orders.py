"""Work orders in the store: numbering, creation, workflow transitions with history.

Numbers are city code + date + a daily sequence handed out by one atomic upsert per order, so
they stay unique and gapless under concurrency on SQLite and PostgreSQL. A transition is
applied with the pure workflow table and written with a compare-and-set on the old state, so
two clerks acting on one order at once cannot both win.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tickets.deadlines import DeadlinePolicy, order_number
from tickets.schema import call_records, order_calls, order_sequences, work_order_history, work_orders
from tickets.workflow import (FollowUpResult, OrderProgress, OrderState, OrderTransitionError,
                              Transition, apply)

UNKNOWN_ORDER = "unknown-order"
CONCURRENT_CHANGE = "concurrent-change"
ORDER_CLOSED = "order-closed"
EDITABLE = ("contact_number", "category", "topic", "area", "content")


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
class LinkedCall:
    """A call about the order: the one it was opened from, a repeat call, or linked by hand."""

    linkedid: str
    linked_at: datetime
    reason: str  # opened | repeat | linked
    recording: str = ""  # from the call's record, once it is written


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """What an agent sees of a caller's open order when the caller rings again (首接负责)."""

    number: str
    category: str
    topic: str
    state: str
    taken_by: str
    created_at: datetime
    due_at: datetime
    desk: str = ""  # the desk of the call it was opened from (a repeat call goes there)


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
    handling: str | None = None  # direct (直办) | dispatched (转办)
    taken_by: str = ""
    calls: tuple[LinkedCall, ...] = ()
    survey_score: int | None = None  # the citizen's rating after the last call about it


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _utc(value: datetime) -> datetime:
    """Stored in UTC: SQLite keeps no zone, so what goes in must already be UTC (a naive value
    is taken as UTC, never as the host's local time)."""
    return _aware(value).astimezone(timezone.utc)


class WorkOrderStore:
    def __init__(self, engine: AsyncEngine, city_code: str, deadlines: DeadlinePolicy) -> None:
        self.engine = engine
        self.city_code = city_code
        self.deadlines = deadlines
        self._dialect = engine.dialect.name

    async def _next_number(self, conn: AsyncConnection, at: datetime) -> str:
        """The date in the number is the city's date of `at` (07:00 in Beijing is still the
        previous day in UTC)."""
        day = self.deadlines.calendar.local_date(at)
        key = {"city_code": self.city_code, "day": f"{day:%Y%m%d}", "last": 1}
        insert: Any = (postgresql.insert if self._dialect == "postgresql" else sqlite.insert)(order_sequences)
        statement = insert.values(**key).on_conflict_do_update(
            index_elements=["city_code", "day"], set_={"last": order_sequences.c.last + 1},
        ).returning(order_sequences.c.last)
        sequence: int = (await conn.execute(statement)).scalar_one()
        return order_number(self.city_code, day, int(sequence))

    async def create(self, order: NewOrder, *, by: str, at: datetime) -> str:
        """A new order (state new) with its deadline; returns its number."""
        due = self.deadlines.due(order.category, order.topic, at)
        async with self.engine.begin() as conn:
            number = await self._next_number(conn, at)
            await conn.execute(work_orders.insert().values(
                number=number, created_at=_utc(at), caller_number=order.caller_number,
                contact_number=order.contact_number or order.caller_number, category=order.category,
                topic=order.topic, area=order.area, content=order.content, department=None,
                state=OrderState.NEW.value, follow_up_result=None, due_at=_utc(due), linkedid=order.linkedid,
                taken_by=by, updated_at=_utc(at)))
            await conn.execute(work_order_history.insert().values(
                number=number, at=_utc(at), by=by, action="create", from_state=OrderState.NEW.value,
                to_state=OrderState.NEW.value, note=""))
            if order.linkedid:
                await conn.execute(order_calls.insert().values(
                    number=number, linkedid=order.linkedid, linked_at=_utc(at), reason="opened"))
        return number

    async def link_call(self, number: str, linkedid: str, *, at: datetime, reason: str = "linked") -> bool:
        """Link a call to an order (idempotent); False when it was linked already."""
        insert: Any = (postgresql.insert if self._dialect == "postgresql" else sqlite.insert)(order_calls)
        async with self.engine.begin() as conn:
            exists = (await conn.execute(select(work_orders.c.id).where(work_orders.c.number == number))).first()
            if exists is None:
                raise OrderTransitionError(UNKNOWN_ORDER, number)
            result = await conn.execute(insert.values(number=number, linkedid=linkedid, linked_at=_utc(at),
                                                      reason=reason).on_conflict_do_nothing())
        return bool(result.rowcount)

    async def record_survey(self, linkedid: str, score: int) -> int:
        """The citizen's rating after a call goes on every order that call is linked to; returns
        how many orders took it."""
        about = select(order_calls.c.number).where(order_calls.c.linkedid == linkedid).scalar_subquery()
        async with self.engine.begin() as conn:
            result = await conn.execute(update(work_orders).where(work_orders.c.number.in_(about))
                                        .values(survey_score=score))
        return int(result.rowcount)

    async def update(self, number: str, changes: dict[str, str], *, by: str, at: datetime) -> WorkOrder:
        """Correct what the agent wrote (contact, category, topic, area, content); the deadline
        follows a new category or topic, counted from when the order was created. One history
        line names the fields changed; a closed order is not edited."""
        unknown = set(changes) - set(EDITABLE)
        if unknown:
            raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
        order = await self.get(number)
        if order.state is OrderState.CLOSED:
            raise OrderTransitionError(ORDER_CLOSED, f"{number} is closed")
        changed = {k: v for k, v in changes.items() if getattr(order, k) != v}
        if not changed:
            return order
        values: dict[str, Any] = dict(changed, updated_at=_utc(at))
        if "category" in changed or "topic" in changed:
            values["due_at"] = _utc(self.deadlines.due(changed.get("category", order.category),
                                                       changed.get("topic", order.topic), order.created_at))
        async with self.engine.begin() as conn:
            result = await conn.execute(update(work_orders).where(
                work_orders.c.number == number, work_orders.c.state == order.state.value).values(**values))
            if result.rowcount != 1:
                raise OrderTransitionError(CONCURRENT_CHANGE, f"{number} changed meanwhile; reload it")
            await conn.execute(work_order_history.insert().values(
                number=number, at=_utc(at), by=by, action="edit", from_state=order.state.value,
                to_state=order.state.value, note="changed: " + ", ".join(sorted(changed))))
        return await self.get(number)

    async def get(self, number: str) -> WorkOrder:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(work_orders).where(work_orders.c.number == number))).first()
            if row is None:
                raise OrderTransitionError(UNKNOWN_ORDER, number)
            lines = (await conn.execute(select(work_order_history).where(
                work_order_history.c.number == number).order_by(work_order_history.c.id))).all()
            linked = (await conn.execute(
                select(order_calls.c.linkedid, order_calls.c.linked_at, order_calls.c.reason,
                       call_records.c.recording)
                .select_from(order_calls.outerjoin(call_records, call_records.c.linkedid == order_calls.c.linkedid))
                .where(order_calls.c.number == number).order_by(order_calls.c.id))).all()
        history = tuple(Transition(_aware(h.at), h.by, h.action, OrderState(h.from_state),
                                   OrderState(h.to_state), h.note) for h in lines if h.action != "create")
        calls = tuple(LinkedCall(c.linkedid, _aware(c.linked_at), c.reason, c.recording or "") for c in linked)
        return WorkOrder(
            number=row.number, created_at=_aware(row.created_at), caller_number=row.caller_number,
            contact_number=row.contact_number, category=row.category, topic=row.topic, area=row.area,
            content=row.content, department=row.department, state=OrderState(row.state),
            follow_up_result=FollowUpResult(row.follow_up_result) if row.follow_up_result else None,
            due_at=_aware(row.due_at), linkedid=row.linkedid, history=history, handling=row.handling,
            taken_by=row.taken_by, calls=calls, survey_score=row.survey_score)

    async def transition(self, number: str, action: str, *, by: str, at: datetime, note: str = "",
                         department: str | None = None,
                         follow_up_result: FollowUpResult | None = None) -> WorkOrder:
        """Apply one workflow step; illegal steps and lost races change nothing."""
        order = await self.get(number)
        progress = apply(OrderProgress(order.state, order.history, order.follow_up_result), action,
                         by=by, at=at, note=note, follow_up_result=follow_up_result)
        line = progress.history[-1]
        values: dict[str, Any] = {"state": progress.state.value, "updated_at": _utc(at)}
        if progress.follow_up_result is not None:
            values["follow_up_result"] = progress.follow_up_result.value
        if action == "dispatch":
            values["department"], values["handling"] = department, "dispatched"
        if action == "answer_directly":
            values["handling"] = "direct"
        async with self.engine.begin() as conn:
            changed = await conn.execute(update(work_orders).where(
                work_orders.c.number == number, work_orders.c.state == order.state.value).values(**values))
            if changed.rowcount != 1:
                raise OrderTransitionError(CONCURRENT_CHANGE, f"{number} changed meanwhile; reload it")
            await conn.execute(work_order_history.insert().values(
                number=number, at=_utc(line.at), by=line.by, action=line.action,
                from_state=line.from_state.value, to_state=line.to_state.value, note=line.note))
        return await self.get(number)

    async def open_for_caller(self, number: str, limit: int = 20) -> list[OpenOrder]:
        """A caller number's orders not yet closed, newest first (first-contact responsibility:
        the agent sees them, and the call is linked to the newest)."""
        columns = (work_orders.c.number, work_orders.c.category, work_orders.c.topic, work_orders.c.state,
                   work_orders.c.taken_by, work_orders.c.created_at, work_orders.c.due_at, call_records.c.desk)
        query = select(*columns).select_from(
            work_orders.outerjoin(call_records, call_records.c.linkedid == work_orders.c.linkedid)).where(
            work_orders.c.caller_number == number, work_orders.c.state != OrderState.CLOSED.value,
        ).order_by(work_orders.c.created_at.desc(), work_orders.c.id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            return [OpenOrder(r.number, r.category, r.topic, r.state, r.taken_by, _aware(r.created_at),
                              _aware(r.due_at), r.desk or "") for r in await conn.execute(query)]

    async def due(self, now: datetime, within: timedelta | None = None, limit: int = 1000) -> list[OpenOrder]:
        """Open orders past their deadline (within=None), or due in the next `within`; the
        most urgent first."""
        now = _utc(now)
        condition = (work_orders.c.due_at < now if within is None
                     else (work_orders.c.due_at >= now) & (work_orders.c.due_at <= now + within))
        query = select(work_orders).where(condition, work_orders.c.state != OrderState.CLOSED.value) \
            .order_by(work_orders.c.due_at, work_orders.c.id).limit(limit)
        async with self.engine.connect() as conn:
            return [OpenOrder(r.number, r.category, r.topic, r.state, r.taken_by, _aware(r.created_at),
                              _aware(r.due_at)) for r in await conn.execute(query)]
