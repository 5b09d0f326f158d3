"""Work-order workflow and deadlines (pure)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from tickets.deadlines import (DeadlinePolicy, DeadlineRule, WorkCalendar, due_soon, order_number,
                               overdue, parse_days)
from tickets.workflow import (FieldChange, FollowUpResult, OrderProgress, OrderState, OrderTransitionError,
                              Transition, apply)

CST = timezone(timedelta(hours=8))
T = datetime(2026, 9, 29, 10, 0, tzinfo=CST)


def test_a_dispatched_order_with_rework_reaches_closed_and_keeps_its_whole_history() -> None:
    p = OrderProgress()
    steps = [("dispatch", "agent1001"), ("accept", "水务集团"), ("reply", "水务集团"),
             ("return", "agent1001"), ("reply", "水务集团"), ("follow_up", "agent1002"), ("close", "agent1002")]
    for i, (action, who) in enumerate(steps):
        p = apply(p, action, by=who, at=T + timedelta(hours=i), note=f"第{i + 1}步",
                  follow_up_result=FollowUpResult.SATISFIED if action == "follow_up" else None)
    assert p.state is OrderState.CLOSED
    assert [h.action for h in p.history] == [a for a, _ in steps]
    assert p.history[3].from_state is OrderState.REPLIED and p.history[3].to_state is OrderState.RETURNED
    assert p.follow_up_result is FollowUpResult.SATISFIED


def test_illegal_transitions_raise_stable_errors_and_change_nothing() -> None:
    p = apply(OrderProgress(), "answer_directly", by="a", at=T)
    with pytest.raises(OrderTransitionError) as err:
        apply(p, "dispatch", by="a", at=T)
    assert err.value.code == "illegal-order-transition"
    assert p.state is OrderState.ANSWERED_DIRECTLY and len(p.history) == 1
    replied = apply(apply(apply(OrderProgress(), "dispatch", by="a", at=T), "accept", by="d", at=T),
                    "reply", by="d", at=T)
    with pytest.raises(OrderTransitionError, match="^follow-up-result-required"):
        apply(replied, "follow_up", by="a", at=T)
    closed = apply(p, "close", by="a", at=T)
    with pytest.raises(OrderTransitionError):
        apply(closed, "close", by="a", at=T)


# National Day 2026: Oct 1–7 off; Sunday Sep 20 and Saturday Oct 10 are make-up working days
# (Sep 25–27 is the Mid-Autumn holiday)
CAL = WorkCalendar(holidays=parse_days([f"2026-10-0{d}" for d in range(1, 8)] + ["2026-09-25", "2026-09-26",
                                                                                 "2026-09-27"]),
                   makeup_workdays=parse_days(["2026-09-20", "2026-10-10"]))
POLICY = DeadlinePolicy(rules=(
    DeadlineRule("help_request", ("emergency",), hours=2),
    DeadlineRule("*", ("water", "power", "gas", "heating"), hours=24),
    DeadlineRule("complaint", (), working_days=5),
    DeadlineRule("*", (), working_days=3),
), calendar=CAL)


def test_deadlines_skip_the_holiday_and_count_the_make_up_working_day() -> None:
    # received Tue Sep 29: working days Sep 30, Oct 8 (Thu), Oct 9 (Fri), Oct 10 (Sat, make-up), Oct 12
    assert POLICY.due("complaint", "noise", T) == datetime(2026, 10, 12, 18, 0, tzinfo=CST)
    assert POLICY.due("consultation", "school", T) == datetime(2026, 10, 9, 18, 0, tzinfo=CST)
    assert POLICY.due("help_request", "emergency", T) == T + timedelta(hours=2)
    assert POLICY.due("report", "heating", T) == T + timedelta(hours=24)
    assert CAL.is_working_day(date(2026, 9, 20)) and not CAL.is_working_day(date(2026, 10, 5))
    assert not CAL.is_working_day(date(2026, 9, 27)) and not CAL.is_working_day(date(2026, 9, 25))


def test_overdue_and_due_soon_and_numbers() -> None:
    orders = [("A", T - timedelta(minutes=1)), ("B", T + timedelta(hours=1)), ("C", T + timedelta(days=3))]
    assert overdue(orders, T) == ["A"]
    assert due_soon(orders, T, timedelta(hours=2)) == ["B"]
    assert order_number("3301", date(2026, 11, 22), 42) == "3301-20261122-000042"


# What the docstring promises, written out again: every other (state, action) pair is refused.
ACTIONS = ("answer_directly", "dispatch", "accept", "reply", "return", "follow_up", "close")
ALLOWED = {
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


@pytest.mark.parametrize("state", list(OrderState))
@pytest.mark.parametrize("action", ACTIONS)
def test_each_action_is_allowed_only_where_the_workflow_says(state: OrderState, action: str) -> None:
    p = OrderProgress(state=state)
    verdict = FollowUpResult.DISSATISFIED if action == "follow_up" else None
    if (state, action) in ALLOWED:
        after = apply(p, action, by="agent1001", at=T, follow_up_result=verdict)
        assert after.state is ALLOWED[state, action]
        return
    with pytest.raises(OrderTransitionError) as err:
        apply(p, action, by="agent1001", at=T, follow_up_result=verdict)
    # what the agent sees in the API answer: the stable code, the action and the order's state
    assert str(err.value) == f"illegal-order-transition: cannot {action} an order that is {state.value}"
    assert p == OrderProgress(state=state)


def test_a_follow_up_without_the_citizens_verdict_is_refused_and_says_why() -> None:
    replied = OrderProgress(state=OrderState.REPLIED)
    with pytest.raises(OrderTransitionError) as err:
        apply(replied, "follow_up", by="agent1002", at=T)
    assert err.value.code == "follow-up-result-required"
    assert str(err.value) == "follow-up-result-required: a follow-up records the citizen's verdict"


def test_the_history_says_who_did_what_when_with_their_note() -> None:
    p = apply(OrderProgress(), "dispatch", by="agent1001", at=T, note="转水务集团")
    p = apply(p, "accept", by="水务集团", at=T + timedelta(hours=1))
    assert p.history == (
        Transition(T, "agent1001", "dispatch", OrderState.NEW, OrderState.DISPATCHED, "转水务集团"),
        Transition(T + timedelta(hours=1), "水务集团", "accept", OrderState.DISPATCHED, OrderState.ACCEPTED, ""),
    )


def test_the_citizens_verdict_stays_on_the_order_after_it_is_closed() -> None:
    p = apply(OrderProgress(state=OrderState.REPLIED), "follow_up", by="agent1002", at=T,
              follow_up_result=FollowUpResult.BASICALLY_SATISFIED)
    closed = apply(p, "close", by="agent1002", at=T)
    assert closed.follow_up_result is FollowUpResult.BASICALLY_SATISFIED


@pytest.mark.parametrize("state, action", [pair for pair in ALLOWED if pair[1] != "follow_up"])
@pytest.mark.parametrize("verdict", list(FollowUpResult))
def test_only_the_follow_up_step_takes_the_citizens_verdict(state: OrderState, action: str,
                                                            verdict: FollowUpResult) -> None:
    before = OrderProgress(state=state, follow_up_result=FollowUpResult.DISSATISFIED)
    with pytest.raises(OrderTransitionError) as err:
        apply(before, action, by="agent1001", at=T, follow_up_result=verdict)
    assert str(err.value) == f"follow-up-result-not-here: only a follow-up records the citizen's verdict, not {action}"
    assert before == OrderProgress(state=state, follow_up_result=FollowUpResult.DISSATISFIED)


def test_a_dissatisfied_verdict_cannot_be_turned_into_satisfied_by_closing() -> None:
    followed = apply(OrderProgress(state=OrderState.REPLIED), "follow_up", by="agent1002", at=T,
                     follow_up_result=FollowUpResult.DISSATISFIED)
    with pytest.raises(OrderTransitionError, match="^follow-up-result-not-here"):
        apply(followed, "close", by="agent1003", at=T, follow_up_result=FollowUpResult.SATISFIED)
    closed = apply(followed, "close", by="agent1003", at=T)
    assert closed.follow_up_result is FollowUpResult.DISSATISFIED
    assert closed.history[-1].changes == ()


def test_each_history_line_keeps_the_values_its_step_changed() -> None:
    p = apply(OrderProgress(), "dispatch", by="agent1001", at=T, department="water")
    for action, who in (("accept", "water"), ("reply", "water")):
        p = apply(p, action, by=who, at=T)
    p = apply(p, "follow_up", by="agent1002", at=T, follow_up_result=FollowUpResult.BASICALLY_SATISFIED)
    p = apply(p, "close", by="agent1002", at=T, department="housing")  # a department given to close changes nothing
    assert [h.changes for h in p.history] == [
        (FieldChange("department", None, "water"),), (), (),
        (FieldChange("follow_up_result", None, "basically_satisfied"),), ()]
    assert p.department == "water" and p.follow_up_result is FollowUpResult.BASICALLY_SATISFIED


def test_a_line_keeps_the_value_a_step_replaced_not_only_the_new_one() -> None:
    """An order read back with a department already set (a store row) and dispatched again:
    the history names the department it had as well as the new one."""
    p = apply(OrderProgress(state=OrderState.NEW, department="water"), "dispatch", by="chen", at=T,
              department="housing")
    assert p.history[-1].changes == (FieldChange("department", "water", "housing"),)
