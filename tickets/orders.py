"""Work orders in the store: numbering, creation, workflow transitions with history.

Numbers are city code + date + a daily sequence handed out by one atomic upsert per order, so
they stay unique and gapless under concurrency on SQLite and PostgreSQL. A transition is
applied with the pure workflow table and written with a compare-and-set on the order's
version, so two clerks acting on one order at once cannot both win.

Versions (the API's ETag): every change to what `get` returns of the order itself — an edit, a
workflow step, 保密 on or off — adds one to `version` and writes one history line with the old
and new values. Linking a call and recording a survey score do not: they only add to the
order (they cannot undo a clerk's change) and must not make an edit in progress fail. A write
given `expected_version` that is not the order's raises "version-mismatch" (412 in the API);
without it the read-modify-write is still a compare-and-set on the version read, and a lost
race raises "concurrent-change". Never a silent last write wins.

Who reads what (scope, 保密 masking) is tickets/scope.py; `viewer=None` is internal use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tickets.deadlines import DeadlinePolicy, order_number
from tickets.schema import call_records, order_calls, order_sequences, work_order_history, work_orders
from tickets.scope import PERSONAL, Viewer, ViewerRole, caller_matches, in_scope, mask, personal_visible
from tickets.workflow import (FieldChange, FollowUpResult, OrderProgress, OrderState, OrderTransitionError,
                              Transition, apply)

UNKNOWN_ORDER = "unknown-order"
CONCURRENT_CHANGE = "concurrent-change"
VERSION_MISMATCH = "version-mismatch"
ORDER_CLOSED = "order-closed"
CONFIDENTIAL_NOT_ALLOWED = "confidential-not-allowed"
EDITABLE = ("contact_number", "category", "topic", "area", "content")
VISIBLE = "personal_visible"


@dataclass(frozen=True, slots=True)
class NewOrder:
    caller_number: str
    contact_number: str
    category: str
    topic: str
    area: str
    content: str
    linkedid: str | None = None
    confidential: bool = False  # 保密, asked for at intake


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
    confidential: bool = False  # 保密: no personal data here anyway, but the agent must know


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
    version: int = 1  # the ETag: +1 on each edit, workflow step and 保密 change
    confidential: bool = False  # 保密
    masked: bool = False  # its personal fields (and their history) are masked for this viewer


def _text(value: bool) -> str:
    return "true" if value else "false"


def _encode(changes: tuple[FieldChange, ...]) -> str | None:
    if not changes:
        return None
    return json.dumps([{"field": c.field, "old": c.old, "new": c.new} for c in changes], ensure_ascii=False)


def _decode(text: str | None, masked: bool) -> tuple[FieldChange, ...]:
    """A line's changes as stored; personal values masked when the order is for this viewer."""
    changes = tuple(FieldChange(c["field"], c["old"], c["new"]) for c in json.loads(text or "[]"))
    if not masked:
        return changes
    return tuple(FieldChange(c.field, None if c.old is None else mask(c.field, c.old),
                             None if c.new is None else mask(c.field, c.new))
                 if c.field in PERSONAL else c for c in changes)


def _history_row(line: Transition, number: str) -> dict[str, Any]:
    return {"number": number, "at": _utc(line.at), "by": line.by, "action": line.action,
            "from_state": line.from_state.value, "to_state": line.to_state.value, "note": line.note,
            "changes": _encode(line.changes)}


def _lost(number: str, expected_version: int | None) -> OrderTransitionError:
    """The compare-and-set found another version: someone wrote in between."""
    if expected_version is not None:
        return OrderTransitionError(VERSION_MISMATCH, f"{number} is no longer at version {expected_version}")
    return OrderTransitionError(CONCURRENT_CHANGE, f"{number} changed meanwhile; reload it")


def _check_version(order: WorkOrder, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != order.version:
        raise OrderTransitionError(VERSION_MISMATCH,
                                   f"{order.number} is at version {order.version}, not {expected_version}")


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
                taken_by=by, updated_at=_utc(at), confidential=order.confidential, version=1))
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

    async def note_handover(self, linkedid: str, note: str, *, by: str, at: datetime) -> int:
        """The citizen of this call was handed over (三方通话 with 110, a department, a transfer):
        a history line on every order the call is linked to, in the state it is in. Returns
        how many orders took it."""
        about = select(order_calls.c.number).where(order_calls.c.linkedid == linkedid)
        async with self.engine.begin() as conn:
            rows = (await conn.execute(select(work_orders.c.number, work_orders.c.state)
                                       .where(work_orders.c.number.in_(about.scalar_subquery())))).all()
            for number, state in rows:
                await conn.execute(work_order_history.insert().values(
                    number=number, at=_utc(at), by=by, action="handover", from_state=state, to_state=state,
                    note=note[:500]))
        return len(rows)

    async def record_survey(self, linkedid: str, score: int) -> int:
        """The citizen's rating after a call goes on every order that call is linked to; returns
        how many orders took it."""
        about = select(order_calls.c.number).where(order_calls.c.linkedid == linkedid).scalar_subquery()
        async with self.engine.begin() as conn:
            result = await conn.execute(update(work_orders).where(work_orders.c.number.in_(about))
                                        .values(survey_score=score))
        return int(result.rowcount)

    async def _write(self, order: WorkOrder, values: dict[str, Any], line: Transition,
                     expected_version: int | None) -> None:
        """One change and its history line, if the order is still at the version read."""
        async with self.engine.begin() as conn:
            result = await conn.execute(update(work_orders).where(
                work_orders.c.number == order.number, work_orders.c.version == order.version)
                .values(**values, version=order.version + 1))
            if result.rowcount != 1:
                raise _lost(order.number, expected_version)
            await conn.execute(work_order_history.insert().values(**_history_row(line, order.number)))

    async def update(self, number: str, changes: dict[str, str], *, by: str, at: datetime,
                     expected_version: int | None = None, viewer: Viewer | None = None) -> WorkOrder:
        """Correct what the agent wrote (contact, category, topic, area, content); the deadline
        follows a new category or topic, counted from when the order was created. One history
        line names the fields changed and keeps each old and new value (the deadline's too); a
        closed order is not edited. Nothing changed: no line, no new version. The order comes
        back as `viewer` may read it."""
        unknown = set(changes) - set(EDITABLE)
        if unknown:
            raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
        order = await self.get(number)
        _check_version(order, expected_version)
        if order.state is OrderState.CLOSED:
            raise OrderTransitionError(ORDER_CLOSED, f"{number} is closed")
        changed = {k: v for k, v in changes.items() if getattr(order, k) != v}
        if not changed:
            return order if viewer is None else await self.get(number, viewer=viewer)
        values: dict[str, Any] = dict(changed, updated_at=_utc(at))
        fields = [FieldChange(k, getattr(order, k), v) for k, v in sorted(changed.items())]
        if "category" in changed or "topic" in changed:
            due = _utc(self.deadlines.due(changed.get("category", order.category),
                                          changed.get("topic", order.topic), order.created_at))
            values["due_at"] = due
            if due != order.due_at:
                fields.append(FieldChange("due_at", _utc(order.due_at).isoformat(), due.isoformat()))
        line = Transition(at, by, "edit", order.state, order.state, "changed: " + ", ".join(sorted(changed)),
                          tuple(fields))
        await self._write(order, values, line, expected_version)
        return await self.get(number, viewer=viewer)

    async def get(self, number: str, *, viewer: Viewer | None = None) -> WorkOrder:
        """The order with its history and calls. Any agent may look an order up by its exact
        number (a citizen reads it out); a department only one dispatched to it (any other is
        unknown to it). A 保密 order's personal data is masked unless `viewer` may read it."""
        where: list[ColumnElement[bool]] = [work_orders.c.number == number]
        scope = in_scope(viewer) if viewer is not None and viewer.role is ViewerRole.DEPARTMENT else None
        if scope is not None:
            where.append(scope)
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(work_orders, personal_visible(viewer).label(VISIBLE))
                                      .where(*where))).first()
            if row is None:
                raise OrderTransitionError(UNKNOWN_ORDER, number)
            lines = (await conn.execute(select(work_order_history).where(
                work_order_history.c.number == number).order_by(work_order_history.c.id))).all()
            linked = (await conn.execute(
                select(order_calls.c.linkedid, order_calls.c.linked_at, order_calls.c.reason,
                       call_records.c.recording)
                .select_from(order_calls.outerjoin(call_records, call_records.c.linkedid == order_calls.c.linkedid))
                .where(order_calls.c.number == number).order_by(order_calls.c.id))).all()
        fields = row._mapping
        masked = not fields[VISIBLE]
        history = tuple(Transition(_aware(h.at), h.by, h.action, OrderState(h.from_state),
                                   OrderState(h.to_state), h.note, _decode(h.changes, masked))
                        for h in lines if h.action != "create")
        calls = tuple(LinkedCall(c.linkedid, _aware(c.linked_at), c.reason, c.recording or "") for c in linked)
        personal = {f: (mask(f, fields[f]) if masked else fields[f]) for f in PERSONAL}
        return WorkOrder(
            number=row.number, created_at=_aware(row.created_at), caller_number=personal["caller_number"],
            contact_number=personal["contact_number"], category=row.category, topic=row.topic,
            area=personal["area"], content=row.content, department=row.department, state=OrderState(row.state),
            follow_up_result=FollowUpResult(row.follow_up_result) if row.follow_up_result else None,
            due_at=_aware(row.due_at), linkedid=row.linkedid, history=history, handling=row.handling,
            taken_by=row.taken_by, calls=calls, survey_score=row.survey_score, version=row.version,
            confidential=bool(row.confidential), masked=masked)

    async def transition(self, number: str, action: str, *, by: str, at: datetime, note: str = "",
                         department: str | None = None, follow_up_result: FollowUpResult | None = None,
                         expected_version: int | None = None, viewer: Viewer | None = None) -> WorkOrder:
        """Apply one workflow step; illegal steps, a verdict given to any step but follow_up,
        a stale version and lost races change nothing. The verdict is written by follow_up
        only, the department by dispatch only; the order comes back as `viewer` may read it."""
        order = await self.get(number)
        _check_version(order, expected_version)
        progress = apply(OrderProgress(order.state, order.history, order.follow_up_result, order.department),
                         action, by=by, at=at, note=note, follow_up_result=follow_up_result,
                         department=department)
        values: dict[str, Any] = {"state": progress.state.value, "updated_at": _utc(at)}
        if action == "follow_up" and progress.follow_up_result is not None:
            values["follow_up_result"] = progress.follow_up_result.value
        if action == "dispatch":
            values["department"], values["handling"] = progress.department, "dispatched"
        if action == "answer_directly":
            values["handling"] = "direct"
        await self._write(order, values, progress.history[-1], expected_version)
        return await self.get(number, viewer=viewer)

    async def set_confidential(self, number: str, value: bool, *, by: str, at: datetime, note: str = "",
                               expected_version: int | None = None, viewer: Viewer | None = None) -> WorkOrder:
        """Mark an order 保密 (any agent or supervisor: a citizen may ask at any time, even after
        it is closed) or lift it (supervisors only); a department does neither. `viewer` None is
        internal use and may do both. One history line says off → on or on → off; setting what
        is set already changes nothing."""
        if viewer is not None and viewer.role is not ViewerRole.SUPERVISOR:
            if viewer.role is ViewerRole.DEPARTMENT:
                raise OrderTransitionError(CONFIDENTIAL_NOT_ALLOWED, "a department does not set 保密")
            if not value:
                raise OrderTransitionError(CONFIDENTIAL_NOT_ALLOWED, "only a supervisor lifts 保密")
        order = await self.get(number)
        _check_version(order, expected_version)
        if order.confidential == value:
            return await self.get(number, viewer=viewer)
        line = Transition(at, by, "confidential", order.state, order.state, note,
                          (FieldChange("confidential", _text(order.confidential), _text(value)),))
        await self._write(order, {"confidential": value, "updated_at": _utc(at)}, line, expected_version)
        return await self.get(number, viewer=viewer)

    async def open_for_caller(self, number: str, limit: int = 20, *,
                              viewer: Viewer | None = None) -> list[OpenOrder]:
        """A caller number's orders not yet closed, newest first (first-contact responsibility:
        the agent sees them, and the call is linked to the newest). For an agent whose current
        caller this is, every one of them; otherwise only those in their scope, and a 保密 one
        only if they may read its personal data (tickets/scope.py)."""
        columns = (work_orders.c.number, work_orders.c.category, work_orders.c.topic, work_orders.c.state,
                   work_orders.c.taken_by, work_orders.c.created_at, work_orders.c.due_at, call_records.c.desk,
                   work_orders.c.confidential)
        where = [caller_matches(number, viewer), work_orders.c.state != OrderState.CLOSED.value]
        scope = in_scope(viewer)
        if scope is not None:
            where.append(scope)
        query = select(*columns).select_from(
            work_orders.outerjoin(call_records, call_records.c.linkedid == work_orders.c.linkedid)).where(
            *where).order_by(work_orders.c.created_at.desc(), work_orders.c.id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            return [OpenOrder(r.number, r.category, r.topic, r.state, r.taken_by, _aware(r.created_at),
                              _aware(r.due_at), r.desk or "", bool(r.confidential))
                    for r in await conn.execute(query)]

    async def due(self, now: datetime, within: timedelta | None = None, limit: int = 1000, *,
                  viewer: Viewer | None = None) -> list[OpenOrder]:
        """Open orders past their deadline (within=None), or due in the next `within`; the
        most urgent first; only those in `viewer`'s scope."""
        now = _utc(now)
        condition = (work_orders.c.due_at < now if within is None
                     else (work_orders.c.due_at >= now) & (work_orders.c.due_at <= now + within))
        where = [condition, work_orders.c.state != OrderState.CLOSED.value]
        scope = in_scope(viewer)
        if scope is not None:
            where.append(scope)
        query = select(work_orders).where(*where).order_by(work_orders.c.due_at, work_orders.c.id).limit(limit)
        async with self.engine.connect() as conn:
            return [OpenOrder(r.number, r.category, r.topic, r.state, r.taken_by, _aware(r.created_at),
                              _aware(r.due_at), confidential=bool(r.confidential))
                    for r in await conn.execute(query)]
