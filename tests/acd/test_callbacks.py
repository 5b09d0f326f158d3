"""The callback book's rules, and properties over random sequences: never two callbacks to one
number at once, every entry ends in a final outcome, no callback ahead of a longer-waiting live
caller of the same class."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acd.callbacks import (CallbackBook, CallbackError, Loss, Outcome, RetryPolicy, as_waiting_call,
                           entry_of)
from acd.routing import DeskPolicy, Priority, ReadyAgent, WaitingCall, assign

POLICY = RetryPolicy(attempts=3, spacing=600, window=86_400)


def loss(number: str, at: float, reason: str = "abandoned_queue", **kw: object) -> Loss:
    return Loss(f"pbx-{number}-{at}", number, "general", reason, 20.0, at, **kw)  # type: ignore[arg-type]


def test_three_lost_calls_from_one_number_make_one_entry_listing_all_three() -> None:
    book = CallbackBook(POLICY)
    for at, reason in ((0, "abandoned_ivr"), (60, "abandoned_queue"), (300, "abandoned_ringing")):
        book.lost(loss("13800000001", at, reason))
    [entry] = book.entries.values()
    assert [l.reason for l in entry.losses] == ["abandoned_ivr", "abandoned_queue", "abandoned_ringing"]
    assert entry.open and entry.due_at == 0


def test_anonymous_and_do_not_call_numbers_are_recorded_and_closed() -> None:
    book = CallbackBook(POLICY, do_not_call=frozenset({"13900000000"}))
    assert book.lost(loss("", 0)).outcome is Outcome.ANONYMOUS
    assert book.lost(loss("13900000000", 0)).outcome is Outcome.OPTED_OUT
    assert book.due(10, business_hours=True) == []


def test_an_opted_out_number_is_closed_at_once_or_when_its_attempt_ends_and_never_due_again() -> None:
    book = CallbackBook(POLICY)
    waiting = book.lost(loss("13800000005", 0))
    dialed = book.lost(loss("13800000006", 0))
    book.start(dialed.entry_id)
    closed = book.opt_out("13800000005", 30)
    assert closed is not None and closed.outcome is Outcome.OPTED_OUT and closed.entry_id == waiting.entry_id
    assert book.opt_out("13800000006", 30) is None  # being dialed: the attempt ends first
    assert book.result(dialed.entry_id, "agent1001", Outcome.NO_ANSWER, 60).outcome is Outcome.OPTED_OUT
    assert book.lost(loss("13800000005", 90)).outcome is Outcome.OPTED_OUT  # later losses too
    assert book.due(100, True) == [] and book.opt_in("13800000005") and not book.opt_in("13800000005")
    again = book.lost(loss("13800000005", 120))
    assert again.open and [e.entry_id for e in book.due(130, True)] == [again.entry_id]


def test_a_citizen_who_does_not_answer_is_retried_per_policy_then_closed_with_the_outcome() -> None:
    book = CallbackBook(POLICY)
    entry = book.lost(loss("13800000002", 0))
    now = 0.0
    for n, outcome in enumerate((Outcome.NO_ANSWER, Outcome.AGENT_NO_ANSWER, Outcome.BUSY, Outcome.NO_ANSWER)):
        [due] = book.due(now, business_hours=True)
        book.start(due.entry_id)
        with pytest.raises(CallbackError, match="^callback-already-dialing"):
            book.start(due.entry_id)
        assert book.due(now, True) == []  # never twice at once
        entry = book.result(due.entry_id, "agent1001", outcome, now)
        if outcome is Outcome.AGENT_NO_ANSWER:
            assert entry.due_at <= now  # due again at once: it cost the citizen nothing
        elif entry.open:
            assert book.due(now + 599, True) == [] and entry.due_at == now + 600
            now += 600
    assert entry.outcome is Outcome.NO_ANSWER and entry.citizen_attempts == 3 and len(entry.attempts) == 4


def test_served_when_the_citizen_calls_again_and_plain_lost_calls_wait_for_business_hours() -> None:
    book = CallbackBook(POLICY)
    book.lost(loss("13800000003", 0))
    virtual = book.lost(loss("13800000004", 100, virtual_hold=True, queued_at=40.0))
    assert [e.number for e in book.due(200, business_hours=False)] == ["13800000004"]
    assert virtual.due_at == 40.0  # its place in the queue
    assert book.served("13800000003", 300).outcome is Outcome.SERVED
    assert book.served("13800000003", 301) is None


def test_a_callback_queues_behind_live_callers_who_waited_longer() -> None:
    book = CallbackBook(POLICY)
    entry = book.lost(loss("13800000005", 100))
    callback = as_waiting_call(entry, 5)
    assert entry_of(callback.call_id) == entry.entry_id and entry_of("pbx-1.1") is None
    older = WaitingCall("older", "general", Priority.NORMAL, 50, 1)
    newer = WaitingCall("newer", "general", Priority.NORMAL, 150, 9)
    agent = ReadyAgent("a1", {"general": 3}, 0)
    policies = {"general": DeskPolicy("general", "general")}
    assert [c.call_id for c, _ in assign([newer, callback, older], [agent], policies, 200)] == ["older"]
    assert [c.call_id for c, _ in assign([newer, callback], [agent], policies, 200)] == [callback.call_id]


numbers = st.sampled_from(["13800000001", "13800000002", "13800000003", ""])
ops = st.lists(st.one_of(
    st.tuples(st.just("lost"), numbers, st.booleans()),
    st.tuples(st.just("served"), numbers, st.booleans()),
    st.tuples(st.just("dial"), st.sampled_from(list(Outcome)[:5]), st.booleans()),
    st.tuples(st.just("wait"), st.integers(1, 40_000), st.booleans()),
    st.tuples(st.just("opt"), numbers, st.booleans()),  # flag: out (True) or back in
), max_size=60)


@settings(max_examples=200)
@given(ops)
def test_never_two_at_once_and_every_entry_ends(sequence: list[tuple[object, object, bool]]) -> None:
    book = CallbackBook(RetryPolicy(attempts=3, spacing=600, window=3600), do_not_call=frozenset({"13800000003"}))
    now = 0.0
    dialing: list[int] = []
    for op, value, flag in sequence:
        if op == "lost":
            book.lost(loss(str(value), now, virtual_hold=flag, queued_at=now - 5 if flag else None))
        elif op == "served":
            book.served(str(value), now)
        elif op == "dial":
            if dialing:
                book.result(dialing.pop(), "a1", Outcome(value), now)
            else:
                due = book.due(now, business_hours=flag)
                if due:
                    book.start(due[0].entry_id)
                    dialing.append(due[0].entry_id)
        elif op == "opt":
            book.opt_out(str(value), now) if flag else book.opt_in(str(value))
        else:
            now += float(value)  # type: ignore[arg-type]
        assert not [e for e in book.due(now, True) if e.number in book.do_not_call]
        open_numbers = [e.number for e in book.entries.values() if e.open and e.number]
        assert len(open_numbers) == len(set(open_numbers))  # one open entry per number
        busy = [e.number for e in book.entries.values() if e.dialing]
        assert len(busy) == len(set(busy)) <= 1 + len(dialing)
        assert all(e.citizen_attempts <= 3 for e in book.entries.values())
    # drain: every entry reaches a final outcome within a bounded number of attempts
    for entry_id in dialing:
        book.result(entry_id, "a1", Outcome.NO_ANSWER, now)
    for _ in range(100):
        due = book.due(now, business_hours=True)
        if not due:
            if all(not e.open for e in book.entries.values()):
                break
            now += 600
            continue
        book.start(due[0].entry_id)
        book.result(due[0].entry_id, "a1", Outcome.NO_ANSWER, now)
    assert all(e.outcome is not None for e in book.entries.values())


def test_figures_count_outcomes_success_and_time_to_callback() -> None:
    from acd.callbacks import figures

    book = CallbackBook(POLICY)
    reached = book.lost(loss("13800000011", 0))
    book.start(reached.entry_id)
    book.result(reached.entry_id, "a1", Outcome.REACHED, 300)
    gave_up = book.lost(loss("13800000012", 10))
    for n in range(3):
        book.start(gave_up.entry_id)
        book.result(gave_up.entry_id, "a1", Outcome.NO_ANSWER, 20 + 600 * n)
    book.lost(loss("", 30))  # anonymous: not counted against the success rate
    book.lost(loss("13800000013", 40))  # still open, due
    got = figures(list(book.entries.values()), 2000, lost_calls=4, citizen_calls=40)
    assert (got["entries"], got["open"], got["due"], got["reached"], got["no_answer"], got["anonymous"]) == (
        4, 1, 1, 1, 1, 1)
    assert got["success_rate"] == 0.5 and got["median_seconds_to_callback"] == 300 and got["lost_call_rate"] == 0.1


waiting = st.lists(st.tuples(st.sampled_from([Priority.EMERGENCY, Priority.KEY_ENTERPRISE, Priority.NORMAL]),
                             st.floats(0, 1000), st.booleans()), min_size=1, max_size=12)


@settings(max_examples=300)
@given(waiting, st.integers(1, 3))
def test_no_callback_is_served_ahead_of_a_longer_waiting_live_caller_of_its_class(
        calls: list[tuple[Priority, float, bool]], agents: int) -> None:
    book = CallbackBook(POLICY)
    queue: list[WaitingCall] = []
    for seq, (priority, since, is_callback) in enumerate(calls):
        if is_callback:
            entry = book.lost(loss(f"1380000{seq:04d}", since, priority=priority))
            queue.append(as_waiting_call(entry, seq))
        else:
            queue.append(WaitingCall(f"live-{seq}", "general", priority, since, seq))
    ready = [ReadyAgent(f"a{n}", {"general": 3}, 0) for n in range(agents)]
    chosen = {c.call_id for c, _ in assign(queue, ready, {"general": DeskPolicy("general", "general")}, 2000)}
    for call in queue:
        if entry_of(call.call_id) is None or call.call_id not in chosen:
            continue
        passed_over = [live for live in queue if entry_of(live.call_id) is None and live.call_id not in chosen
                       and live.priority == call.priority and live.queued_at < call.queued_at - 1e-6]
        assert not passed_over, (call, passed_over)


def test_a_lost_call_booked_before_a_restart_is_not_booked_again_when_the_journal_replays_it() -> None:
    book = CallbackBook(POLICY)
    first = book.lost(loss("13800000021", 0))
    assert first is not None and book.lost(loss("13800000021", 0)) is None  # same linkedid, same run
    book.start(first.entry_id)
    closed = book.result(first.entry_id, "agent1001", Outcome.REACHED, 50)
    restarted = CallbackBook(POLICY)  # the store gives back open entries, and closed entries' lost calls
    restarted.restore([], closed.entry_id, {first.losses[0].linkedid: first.losses[0].at})
    assert restarted.lost(loss("13800000021", 0)) is None  # no second callback to a reached citizen
    assert restarted.due(100, True) == [] and restarted.entries == {}
    assert restarted.lost(loss("13800000021", 60)) is not None  # a new lost call is booked as ever


def test_the_memory_of_booked_calls_forgets_what_is_older_than_two_windows() -> None:
    book = CallbackBook(RetryPolicy(window=100))
    for n in range(25_000):
        book.lost(loss("", float(n)))  # anonymous: closed at once, only their linkedids stay
    # pruned once it passed 20,000: what remains is the last two windows before then, and after
    assert min(book.booked.values()) >= 20_000 - 2 * 100 and len(book.booked) <= 5_000 + 2 * 100 + 1


def test_a_loss_past_the_window_while_the_entry_is_dialed_joins_it_so_an_opt_out_ends_everything() -> None:
    """Found by the property above: the second loss opened a second open entry for the number,
    which the opt-out (and `served`) did not see, and which was then never due and never ended."""
    book = CallbackBook(RetryPolicy(attempts=3, spacing=600, window=3600))
    first = book.lost(loss("13800000001", 0, virtual_hold=True, queued_at=-5))
    assert first is not None
    book.start(first.entry_id)
    joined = book.lost(loss("13800000001", 3601))
    assert joined is not None and joined.entry_id == first.entry_id and len(joined.losses) == 2
    book.opt_out("13800000001", 3602)
    assert book.result(first.entry_id, "a1", Outcome.NO_ANSWER, 3610).outcome is Outcome.OPTED_OUT
    assert all(not e.open for e in book.entries.values())
