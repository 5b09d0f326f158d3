"""Who reads an order, what of it they may read: the agent's scope and 保密 (confidential) orders.

Both are SQL conditions, not filters applied afterwards, so a page, its keyset cursor and its
capped count all see the same rows, and no row outside the scope ever leaves the database.

Scope (which orders a viewer finds in a search, a due list, a caller's open orders):
- a supervisor, and internal use (`viewer=None`): every order;
- an agent: the orders they took (taken_by), the orders linked to a call they answered
  (order_calls → call_records.agent), and the orders of the caller on their current call
  (caller_number == current_caller, when set) — the first-contact view (首接负责);
- a department: the orders dispatched to it (Viewer.name is the department code).
An exact order-number lookup (`get`) is open to any agent: a citizen reads out their number.

Personal data of a 保密 order (caller_number, contact_number, area: the address) is shown only
to the agent who took it, to supervisors and to internal use. Everyone else gets the numbers
masked (acd.privacy.mask_number: the last four digits) and the area as MASKED_AREA. Content
and notes are free text and are not masked (the intake must not write the address there).

A search by caller number would reveal a masked number by matching it, so a 保密 order whose
personal data the viewer may not see is matched by caller only when that number is the
caller on the viewer's current call (the citizen on the line: they are found, masked, so
first contact still works). Departments and other agents never find it by number.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true

from acd.privacy import mask_number
from tickets.schema import call_records, order_calls, work_orders

MASKED_AREA = "（保密）"
PERSONAL = ("caller_number", "contact_number", "area")


class ViewerRole(str, enum.Enum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    DEPARTMENT = "department"  # not an API role yet; the store already keeps 保密 data from it


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who reads. `current_caller` is the caller number on the agent's current call (the web
    layer fills it from the engine); empty when they are on no call."""

    name: str
    role: ViewerRole
    current_caller: str = ""


def _any(conditions: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    return or_(*conditions) if conditions else false()


def in_scope(viewer: Viewer | None) -> ColumnElement[bool] | None:
    """The SQL condition for the orders `viewer` may find; None: every order. An empty name
    matches nothing (an order taken by nobody is no one's)."""
    if viewer is None or viewer.role is ViewerRole.SUPERVISOR:
        return None
    c = work_orders.c
    if viewer.role is ViewerRole.DEPARTMENT:
        return c.department == viewer.name if viewer.name else false()
    conditions: list[ColumnElement[bool]] = []
    if viewer.name:
        answered = select(order_calls.c.number).join(
            call_records, call_records.c.linkedid == order_calls.c.linkedid).where(
            call_records.c.agent == viewer.name)
        conditions += [c.taken_by == viewer.name, c.number.in_(answered)]
    if viewer.current_caller:
        conditions.append(c.caller_number == viewer.current_caller)
    return _any(conditions)


def personal_visible(viewer: Viewer | None) -> ColumnElement[bool]:
    """True where `viewer` may read the order's personal data: it is not 保密, or they took it,
    or they are a supervisor (or internal)."""
    if viewer is None or viewer.role is ViewerRole.SUPERVISOR:
        return true()
    open_ = work_orders.c.confidential.is_(false())
    if viewer.role is ViewerRole.AGENT and viewer.name:
        return or_(open_, work_orders.c.taken_by == viewer.name)
    return open_


def caller_matches(number: str, viewer: Viewer | None) -> ColumnElement[bool]:
    """Orders of caller `number` as `viewer` may find them by that number (see the module)."""
    match = work_orders.c.caller_number == number
    if viewer is None or viewer.role is ViewerRole.SUPERVISOR:
        return match
    if viewer.role is ViewerRole.AGENT and viewer.current_caller and number == viewer.current_caller:
        return match
    return and_(match, personal_visible(viewer))


def mask(field: str, value: str) -> str:
    """A personal field as a viewer who may not read it sees it; empty stays empty (it tells
    nothing)."""
    if not value:
        return value
    return MASKED_AREA if field == "area" else mask_number(value)


def masked_row(row: dict[str, Any]) -> dict[str, Any]:
    """A search row with its personal fields masked."""
    return {k: (mask(k, v) if k in PERSONAL else v) for k, v in row.items()}
