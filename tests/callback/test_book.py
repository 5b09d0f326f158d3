"""The callback book's rules, and properties over random sequences with restarts (the book
restored from what it handed the store): never two callbacks to one number at once, one open
entry per number, every entry ends in a final outcome, expiry on time, no attempt twice."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acd.routing import Priority
from callback.book import (Attempt, CallbackBook, CallbackError, Entry, Loss, Outcome, RetryPolicy, call_id_of,
                           entry_of)

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
    assert book.due(10) == []


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
    assert book.due(100) == [] and book.opt_in("13800000005") and not book.opt_in("13800000005")
    again = book.lost(loss("13800000005", 120))
    assert again.open and [e.entry_id for e in book.due(130)] == [again.entry_id]


def test_a_citizen_who_does_not_answer_is_retried_per_policy_then_closed_with_the_outcome() -> None:
    book = CallbackBook(POLICY)
    entry = book.lost(loss("13800000002", 0))
    now = 0.0
    for n, outcome in enumerate((Outcome.NO_ANSWER, Outcome.AGENT_NO_ANSWER, Outcome.BUSY, Outcome.NO_ANSWER)):
        [due] = book.due(now)
        book.start(due.entry_id)
        with pytest.raises(CallbackError, match="^callback-already-dialing"):
            book.start(due.entry_id)
        assert book.due(now) == []  # never twice at once
        entry = book.result(due.entry_id, "agent1001", outcome, now)
        if outcome is Outcome.AGENT_NO_ANSWER:
            assert entry.due_at <= now  # due again at once: it cost the citizen nothing
        elif entry.open:
            assert book.due(now + 599) == [] and entry.due_at == now + 600
            now += 600
    assert entry.outcome is Outcome.NO_ANSWER and entry.citizen_attempts == 3 and len(entry.attempts) == 4


def test_served_when_the_citizen_calls_again_and_a_virtual_hold_entry_keeps_the_callers_place() -> None:
    book = CallbackBook(POLICY)
    book.lost(loss("13800000003", 0))
    virtual = book.lost(loss("13800000004", 100, virtual_hold=True, queued_at=40.0))
    assert virtual is not None and virtual.due_at == 40.0  # its place in the queue
    assert [e.number for e in book.due(200)] == ["13800000003", "13800000004"]  # each handed out once
    assert book.due(200) == []
    assert book.served("13800000003", 300).outcome is Outcome.SERVED
    assert book.served("13800000003", 301) is None
    assert call_id_of(7) == "callback:7" and entry_of("callback:7") == 7 and entry_of("pbx-1.1") is None


def test_a_key_enterprise_lost_call_stays_a_key_enterprise_callback() -> None:
    """Item 4: the class of the lost call is the class of the callback (and the best of its losses)."""
    book = CallbackBook(POLICY)
    entry = book.lost(loss("13800000031", 0, priority=Priority.KEY_ENTERPRISE, virtual_hold=True, queued_at=-30.0))
    assert entry is not None and entry.priority is Priority.KEY_ENTERPRISE
    plain = book.lost(loss("13800000032", 0))
    assert book.lost(loss("13800000032", 10, priority=Priority.KEY_ENTERPRISE)).priority is Priority.KEY_ENTERPRISE
    assert plain is not None and [e.number for e in book.due(20)] == ["13800000031", "13800000032"]


def test_an_entry_whose_window_passed_closes_on_time_and_the_store_is_told() -> None:
    """Item 4: before, expiry happened only when a new loss arrived, and that close was not saved."""
    book = CallbackBook(RetryPolicy(attempts=3, spacing=600, window=3600))
    first = book.lost(loss("13800000041", 0))
    book.take_changes()
    assert book.expire(3599.0) == []
    [expired] = book.expire(3600.0)  # exactly at the end of the window
    assert expired.entry_id == first.entry_id and expired.outcome is Outcome.EXPIRED
    assert [e.outcome for e in book.take_changes()] == [Outcome.EXPIRED]
    assert book.due(4000) == [] and book.open_for("13800000041") is None
    again = book.lost(loss("13800000041", 7300))  # a loss past the window: the old one ended, saved
    assert again is not None and again.open and [e.entry_id for e in book.take_changes()] == [again.entry_id]


def test_a_new_loss_past_the_window_saves_both_the_expired_entry_and_the_new_one() -> None:
    book = CallbackBook(RetryPolicy(attempts=3, spacing=600, window=3600))
    old = book.lost(loss("13800000042", 0))
    book.take_changes()
    new = book.lost(loss("13800000042", 4000))  # expire() not called in between
    saved = {e.entry_id: e.outcome for e in book.take_changes()}
    assert saved == {old.entry_id: Outcome.EXPIRED, new.entry_id: None}


def test_a_citizen_answered_while_their_callback_is_dialed_is_served_and_never_dialed_again() -> None:
    """Item 4: the entry stayed open and the citizen was called back again after the attempt."""
    book = CallbackBook(POLICY)
    entry = book.lost(loss("13800000051", 0))
    [due] = book.due(10)
    book.start(due.entry_id, "a1")
    served = book.served("13800000051", 20)
    assert served is not None and served.outcome is Outcome.SERVED and served.dialing
    ended = book.result(entry.entry_id, "a1", Outcome.NO_ANSWER, 30)
    assert ended.outcome is Outcome.SERVED and not ended.dialing and len(ended.attempts) == 1
    assert book.due(10_000) == [] and book.in_flight() == [] and book.entries == {}


def test_an_attempt_in_flight_at_a_restart_is_not_started_twice() -> None:
    """Item 4: restore() used to clear `dialing`, so a second attempt could start beside the live one."""
    book = CallbackBook(POLICY)
    entry = book.lost(loss("13800000061", 0))
    [due] = book.due(10)
    book.start(due.entry_id, "a1")
    stored = {e.entry_id: e for e in book.take_changes()}
    restarted = CallbackBook(POLICY)
    restarted.restore([e for e in stored.values() if e.open], max(stored))
    assert restarted.due(20) == [] and [e.dialing_agent for e in restarted.in_flight()] == ["a1"]
    with pytest.raises(CallbackError, match="^callback-already-dialing"):
        restarted.start(entry.entry_id, "a2")
    settled = restarted.result(entry.entry_id, "a1", Outcome.INTERRUPTED, 30)  # the resync found no phone
    assert settled.open and settled.citizen_attempts == 1 and settled.due_at == 30 + POLICY.spacing


numbers = st.sampled_from(["13800000001", "13800000002", "13800000003", ""])
ops = st.lists(st.one_of(
    st.tuples(st.just("lost"), numbers, st.booleans()),
    st.tuples(st.just("served"), numbers, st.booleans()),
    st.tuples(st.just("dial"), st.sampled_from([o for o in Outcome if o.value in (
        "reached", "no_answer", "busy", "invalid_number", "agent_no_answer", "not_dialed")]), st.booleans()),
    st.tuples(st.just("wait"), st.integers(1, 40_000), st.booleans()),
    st.tuples(st.just("opt"), numbers, st.booleans()),  # flag: out (True) or back in
    st.tuples(st.just("restart"), st.just(""), st.booleans()),  # flag: the attempt in flight survived
), max_size=60)


def restarted(store: dict[int, Entry], policy: RetryPolicy, do_not_call: frozenset[str]) -> CallbackBook:
    """A controller restart: a new book from what the old one handed the store."""
    book = CallbackBook(policy, do_not_call=do_not_call)
    booked = {loss.linkedid: loss.at for e in store.values() if not e.open for loss in e.losses}
    book.restore([e for e in store.values() if e.open], max(store, default=0), booked)
    return book


@settings(max_examples=300)
@given(ops)
def test_never_two_at_once_one_open_per_number_and_every_entry_ends(sequence: list[tuple[object, object, bool]]) -> None:
    policy = RetryPolicy(attempts=3, spacing=600, window=3600)
    book = CallbackBook(policy, do_not_call=frozenset({"13800000003"}))
    store: dict[int, Entry] = {}
    now = 0.0
    attempts_seen: dict[int, int] = {}
    for op, value, flag in sequence:
        if op == "lost":
            book.lost(loss(str(value), now, virtual_hold=flag, queued_at=now - 5 if flag else None))
        elif op == "served":
            book.served(str(value), now)
        elif op == "dial":
            in_flight = book.in_flight()
            if in_flight:
                book.result(in_flight[0].entry_id, "a1", Outcome(value), now)
            else:
                due = book.due(now)
                if due:
                    book.start(due[0].entry_id, "a1")
        elif op == "opt":
            book.opt_out(str(value), now) if flag else book.opt_in(str(value))
        elif op == "restart":
            store.update((e.entry_id, e) for e in book.take_changes())
            book = restarted(store, policy, book.do_not_call)
            if not flag:  # the first resync finds no phone of the attempt: it ended unseen
                for entry in book.in_flight():
                    book.result(entry.entry_id, "a1", Outcome.INTERRUPTED, now)
        else:
            now += float(value)  # type: ignore[arg-type]
            book.expire(now)
        store.update((e.entry_id, e) for e in book.take_changes())
        # what the store holds, as what memory holds: one open entry per number
        open_numbers = [e.number for e in store.values() if e.open and e.number]
        assert len(open_numbers) == len(set(open_numbers)), store
        assert not [e for e in store.values() if e.open and e.number in book.do_not_call and not e.dialing]
        busy = [e.number for e in book.entries.values() if e.dialing]
        assert len(busy) == len(set(busy)) <= 1
        for e in store.values():
            assert e.citizen_attempts <= 3
            assert len(e.attempts) >= attempts_seen.get(e.entry_id, 0)  # no attempt is forgotten
            attempts_seen[e.entry_id] = len(e.attempts)
            if e.open and not e.dialing:  # expiry on time (the engine expires after every step)
                assert now < e.opened_at + policy.window
    # drain: every entry reaches a final outcome within a bounded number of attempts
    for entry in book.in_flight():
        book.result(entry.entry_id, "a1", Outcome.NO_ANSWER, now)
    for _ in range(100):
        book.expire(now)
        due = book.due(now)
        if not due:
            if not book.entries:
                break
            now += 600
            continue
        book.start(due[0].entry_id)
        book.result(due[0].entry_id, "a1", Outcome.NO_ANSWER, now)
    store.update((e.entry_id, e) for e in book.take_changes())
    assert all(e.outcome is not None for e in store.values()) and book.entries == {}


def test_figures_count_outcomes_success_and_time_to_callback() -> None:
    from callback.book import figures

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
    saved = {e.entry_id: e for e in book.take_changes()}
    got = figures(list(saved.values()), 2000, lost_calls=4, citizen_calls=40)
    assert (got["entries"], got["open"], got["due"], got["reached"], got["no_answer"], got["anonymous"]) == (
        4, 1, 1, 1, 1, 1)
    assert got["success_rate"] == 0.5 and got["median_seconds_to_callback"] == 300 and got["lost_call_rate"] == 0.1


def test_a_lost_call_booked_before_a_restart_is_not_booked_again_when_the_journal_replays_it() -> None:
    book = CallbackBook(POLICY)
    first = book.lost(loss("13800000021", 0))
    assert first is not None and book.lost(loss("13800000021", 0)) is None  # same linkedid, same run
    book.start(first.entry_id)
    closed = book.result(first.entry_id, "agent1001", Outcome.REACHED, 50)
    restarted = CallbackBook(POLICY)  # the store gives back open entries, and closed entries' lost calls
    restarted.restore([], closed.entry_id, {first.losses[0].linkedid: first.losses[0].at})
    assert restarted.lost(loss("13800000021", 0)) is None  # no second callback to a reached citizen
    assert restarted.due(100) == [] and restarted.entries == {}
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
    assert book.entries == {} and book.open_for("13800000001") is None


T = 1_795_000_000.0  # a real epoch (2026-11-18): window arithmetic that works only from 0 fails here


def test_at_real_times_losses_join_within_the_window_and_a_later_one_opens_a_new_entry() -> None:
    book = CallbackBook(RetryPolicy(attempts=2, spacing=600, window=3600))
    first = book.lost(loss("13800000071", T))
    joined = book.lost(loss("13800000071", T + 3600))  # exactly at the end of the window: still joins
    assert joined is not None and first is not None and joined.entry_id == first.entry_id and len(joined.losses) == 2
    book.take_changes()
    later = book.lost(loss("13800000071", T + 3601))
    assert later is not None and later.entry_id != first.entry_id and later.opened_at == T + 3601
    saved = {e.entry_id: e for e in book.take_changes()}
    assert (saved[first.entry_id].outcome, saved[first.entry_id].closed_at) == (Outcome.EXPIRED, T + 3601)
    assert book.expire(T + 3601 + 3599) == [] and [e.entry_id for e in book.expire(T + 3601 + 3600)] == [later.entry_id]


def test_an_entry_holds_every_attempt_who_made_it_and_when_and_closes_when_it_ends() -> None:
    """What a supervisor reads on the callback list: each attempt's time and agent, the entry's
    close time; after an unanswered attempt a virtual-hold entry is a plain retry (it waits for
    business hours and the spacing)."""
    book = CallbackBook(RetryPolicy(attempts=2, spacing=600, window=86_400))
    entry = book.lost(loss("13800000072", T, virtual_hold=True, queued_at=T - 30))
    assert entry is not None and entry.virtual_hold and entry.due_at == T - 30
    started = book.start(entry.entry_id, "agent1001")
    assert started.dialing and started.dialing_agent == "agent1001" and book.dialing_for("13800000072") == started
    with pytest.raises(CallbackError, match="^callback-already-dialing"):
        book.start(entry.entry_id, "agent1002")
    tried = book.result(entry.entry_id, "agent1001", Outcome.NO_ANSWER, T + 100)
    assert (tried.dialing, tried.dialing_agent, tried.virtual_hold, tried.due_at) == (False, "", False, T + 700)
    assert tried.attempts == (Attempt(T + 100, "agent1001", Outcome.NO_ANSWER),) and tried.open
    assert book.dialing_for("13800000072") is None
    with pytest.raises(CallbackError, match="^callback-not-dialing"):
        book.result(entry.entry_id, "agent1001", Outcome.NO_ANSWER, T + 101)
    assert [e.entry_id for e in book.due(T + 700)] == [entry.entry_id]
    book.start(entry.entry_id, "agent1003")
    last = book.result(entry.entry_id, "agent1003", Outcome.BUSY, T + 800)
    assert (last.outcome, last.closed_at, last.citizen_attempts) == (Outcome.BUSY, T + 800, 2)
    assert last.attempts[-1] == Attempt(T + 800, "agent1003", Outcome.BUSY)
    with pytest.raises(CallbackError, match="^unknown-callback"):
        book.start(entry.entry_id, "agent1001")  # closed and out of memory


def test_an_attempt_ending_after_the_window_closes_the_entry_as_expired_then() -> None:
    book = CallbackBook(RetryPolicy(attempts=3, spacing=600, window=3600))
    entry = book.lost(loss("13800000073", T))
    book.start(entry.entry_id, "a1")
    closed = book.result(entry.entry_id, "a1", Outcome.NO_ANSWER, T + 3600)
    assert (closed.outcome, closed.closed_at) == (Outcome.EXPIRED, T + 3600)
    other = book.lost(loss("13800000074", T))
    book.start(other.entry_id, "a1")
    assert book.result(other.entry_id, "a1", Outcome.NO_ANSWER, T + 3599).open  # a second before: retried


def test_an_opt_out_while_dialed_closes_at_the_attempts_end_with_its_time_and_opt_in_makes_it_due_again() -> None:
    book = CallbackBook(POLICY)
    entry = book.lost(loss("13800000075", T))
    book.start(entry.entry_id, "a1")
    book.opt_out("13800000075", T + 5)
    closed = book.result(entry.entry_id, "a1", Outcome.NO_ANSWER, T + 9)
    assert (closed.outcome, closed.closed_at) == (Outcome.OPTED_OUT, T + 9)
    waiting = book.lost(loss("13800000076", T))
    assert [e.entry_id for e in book.due(T)] == [waiting.entry_id]
    book.opt_out("13800000077", T)  # a number without an entry
    assert book.opt_in("13800000077") and book.due(T + 1) == []


def test_a_virtual_hold_loss_joining_a_plain_entry_makes_it_keep_the_callers_place() -> None:
    book = CallbackBook(POLICY)
    book.lost(loss("13800000078", T))
    joined = book.lost(loss("13800000078", T + 100, virtual_hold=True, queued_at=T + 40))
    assert joined is not None and joined.virtual_hold and joined.due_at == T + 40


def test_after_the_memory_of_booked_calls_is_pruned_a_replay_of_the_last_two_windows_is_still_refused() -> None:
    book = CallbackBook(RetryPolicy(window=100))
    for n in range(20_001):  # the 20,001st prunes
        book.lost(Loss(f"j-{n}", "", "general", "abandoned_ivr", 0.0, float(n)))
    assert book.lost(Loss("j-19801", "", "general", "abandoned_ivr", 0.0, 19_801.0)) is None
    assert book.lost(Loss("j-19800", "", "general", "abandoned_ivr", 0.0, 19_800.0)) is None  # exactly 2 windows
    assert "j-100" not in book.booked
