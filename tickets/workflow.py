"""The work order (工单) workflow as a table, and the append-only history of its transitions.

    new → answered_directly (直办) → closed
    new → dispatched (转办) → accepted → replied ⇄ returned (rework) → follow_up (回访) → closed

Rules first: a dispatched order is closed only after a reply and a follow-up; a returned order
goes back to the department and must be replied again; closed is final. An illegal transition
raises with a stable string and leaves the order unchanged. Only the follow-up step records the
citizen's verdict (满意度): a verdict given with any other step is refused, so a close can never
turn "dissatisfied" into "satisfied". Each history line carries the values its step changed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime

from acd.errors import StableError

ILLEGAL_ORDER_TRANSITION = "illegal-order-transition"
FOLLOW_UP_RESULT_REQUIRED = "follow-up-result-required"
FOLLOW_UP_RESULT_NOT_HERE = "follow-up-result-not-here"


class OrderState(str, enum.Enum):
    NEW = "new"
    ANSWERED_DIRECTLY = "answered_directly"
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    REPLIED = "replied"
    RETURNED = "returned"
    FOLLOW_UP = "follow_up"
    CLOSED = "closed"


class FollowUpResult(str, enum.Enum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意


ORDER_TRANSITIONS: dict[tuple[OrderState, str], OrderState] = {
    (OrderState.NEW, "answer_directly"): OrderState.ANSWERED_DIRECTLY,
    (OrderState.ANSWERED_DIRECTLY, "close"): OrderState.CLOSED,
    (OrderState.NEW, "dispatch"): OrderState.DISPATCHED,
    (OrderState.DISPATCHED, "accept"): OrderState.ACCEPTED,
    (OrderState.ACCEPTED, "reply"): OrderState.REPLIED,
    (OrderState.REPLIED, "return"): OrderState.RETURNED,
    (OrderState.RETURNED, "reply"): OrderState.REPLIED,
    (OrderState.REPLIED, "follow_up"): OrderState.FOLLOW_UP,
    (OrderState.FOLLOW_UP, "close"): OrderState.CLOSED,
}


class OrderTransitionError(StableError):
    pass


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One value a history line changed, old and new as text (None: there was none)."""

    field: str
    old: str | None
    new: str | None


@dataclass(frozen=True, slots=True)
class Transition:
    """One line of an order's history: who did what, when, with a note, and the values it
    changed (an edit's fields, the verdict, the department, 保密 on/off). Never edited. Lines
    written before revision 0008 read back with no changes."""

    at: datetime
    by: str
    action: str
    from_state: OrderState
    to_state: OrderState
    note: str = ""
    changes: tuple[FieldChange, ...] = ()


@dataclass(frozen=True, slots=True)
class OrderProgress:
    state: OrderState = OrderState.NEW
    history: tuple[Transition, ...] = ()
    follow_up_result: FollowUpResult | None = None
    department: str | None = None


def _change(field: str, old: str | None, new: str | None) -> tuple[FieldChange, ...]:
    return () if old == new else (FieldChange(field, old, new),)


def apply(progress: OrderProgress, action: str, *, by: str, at: datetime, note: str = "",
          follow_up_result: FollowUpResult | None = None, department: str | None = None) -> OrderProgress:
    """The order after `action`, or OrderTransitionError with nothing changed. The verdict is
    taken only by follow_up; the department only by dispatch (given with another step it is
    ignored, as it always was: it changes nothing there)."""
    target = ORDER_TRANSITIONS.get((progress.state, action))
    if target is None:
        raise OrderTransitionError(ILLEGAL_ORDER_TRANSITION,
                                   f"cannot {action} an order that is {progress.state.value}")
    if action == "follow_up" and follow_up_result is None:
        raise OrderTransitionError(FOLLOW_UP_RESULT_REQUIRED, "a follow-up records the citizen's verdict")
    if action != "follow_up" and follow_up_result is not None:
        raise OrderTransitionError(FOLLOW_UP_RESULT_NOT_HERE,
                                   f"only a follow-up records the citizen's verdict, not {action}")
    verdict = follow_up_result if action == "follow_up" else progress.follow_up_result
    moved_to = department if action == "dispatch" else progress.department
    changes = (_change("follow_up_result", _value(progress.follow_up_result), _value(verdict))
               + _change("department", progress.department, moved_to))
    line = Transition(at, by, action, progress.state, target, note, changes)
    return replace(progress, state=target, history=progress.history + (line,), follow_up_result=verdict,
                   department=moved_to)


def _value(result: FollowUpResult | None) -> str | None:
    return None if result is None else result.value
