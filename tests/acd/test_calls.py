"""The live call model, fed facts directly (the AMI replays are in tests/pbx/test_replay.py)."""

from datetime import datetime, timedelta, timezone

import pytest

from dataclasses import replace

from acd import events as ev
from acd.acd import CallAbandoned, CallAnswered, QueueRefused
from acd.calls import UNSEEN_HANGUP_TEXT, LiveCalls
from acd.commands import CallArrived, CallEnded, WriteCallRecord
from acd.records import Disposition
from acd.states import CallState, IllegalTransition, next_call_state

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
LINK = "pbx-1.1"


def t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def created(uid: str, at: float, *, linkedid: str = LINK, state: int = 4, exten: str = "12345",
            number: str = "13800138000", name: str = "张三") -> ev.ChannelCreated:
    return ev.ChannelCreated(t(at), uid, linkedid, f"PJSIP/x-{uid}", state, number, name, exten, "from-trunk")


def hung_up(uid: str, at: float, cause: int | None = 16, linkedid: str = LINK) -> ev.ChannelHungUp:
    return ev.ChannelHungUp(t(at), uid, linkedid, cause, "Normal Clearing")


def records(effects: list) -> list:
    return [e.record for e in effects if isinstance(e, WriteCallRecord)]


def test_given_an_answered_call_when_its_channel_hangs_up_then_one_record_with_times() -> None:
    calls = LiveCalls()
    arrived = calls.apply(created(LINK, 0))
    assert arrived == [CallArrived(LINK, "13800138000", "张三", "12345")]
    calls.apply(ev.ChannelStateChanged(t(0.2), LINK, LINK, 6))
    out = calls.apply(hung_up(LINK, 5))
    [record] = records(out)
    assert (record.linkedid, record.caller_number, record.caller_name, record.dialed_number) == (
        LINK, "13800138000", "张三", "12345")
    assert (record.arrived_at, record.answered_at, record.ended_at) == (t(0), t(0.2), t(5))
    assert record.disposition is Disposition.ABANDONED_IVR  # greeted, never queued
    assert record.hangup_cause == 16 and record.agent == "" and record.talk_time is None
    assert CallEnded(LINK, "abandoned_ivr") in out
    assert calls.calls == {} and calls.channels == {}


def test_given_an_unanswered_call_when_the_caller_hangs_up_then_it_is_abandoned() -> None:
    calls = LiveCalls()
    calls.apply(created(LINK, 0))
    [record] = records(calls.apply(hung_up(LINK, 3)))
    assert record.disposition is Disposition.ABANDONED_IVR and record.answered_at is None


def test_given_a_failed_call_then_its_cause_says_failed() -> None:
    calls = LiveCalls()
    calls.apply(created(LINK, 0))
    [record] = records(calls.apply(hung_up(LINK, 1, cause=34)))
    assert record.disposition is Disposition.FAILED


def test_given_two_legs_when_one_hangs_up_then_the_call_lives_on_until_the_last() -> None:
    calls = LiveCalls()
    calls.apply(created(LINK, 0))
    calls.apply(created("pbx-1.2", 1, exten="s", number="1002", name="agent1002"))
    calls.apply(ev.BridgeEntered(t(2), "br-1", LINK, LINK))
    calls.apply(ev.BridgeEntered(t(2), "br-1", "pbx-1.2", LINK))
    [view] = calls.views()
    assert view.bridges == ("br-1",) and len(view.channels) == 2
    assert records(calls.apply(hung_up("pbx-1.2", 9))) == []
    [record] = records(calls.apply(hung_up(LINK, 9.1)))
    # the record speaks of the caller's leg, not the agent's
    assert record.caller_number == "13800138000" and record.dialed_number == "12345"
    assert record.ended_at == t(9.1)


def test_given_a_duplicate_hangup_then_still_exactly_one_record() -> None:
    calls = LiveCalls()
    calls.apply(created(LINK, 0))
    first = records(calls.apply(hung_up(LINK, 1)))
    again = records(calls.apply(hung_up(LINK, 1)))
    late_newchannel = calls.apply(created(LINK, 1.5))  # a stale duplicate must not resurrect it
    assert len(first) == 1 and again == [] and late_newchannel == [] and calls.calls == {}


def test_given_a_reconnect_when_the_snapshot_lacks_a_known_channel_then_it_ended_unseen() -> None:
    calls = LiveCalls()
    calls.apply(created(LINK, 0))
    calls.apply(ev.ChannelStateChanged(t(0.1), LINK, LINK, 6))
    calls.apply(ev.AmiLinkDown(t(5), "cut"))
    calls.apply(ev.AmiLinkUp(t(8)))
    out = calls.apply(ev.ChannelsSnapshot(t(8.1), ()))
    [record] = records(out)
    assert record.disposition is Disposition.UNKNOWN
    assert record.hangup_cause is None and record.hangup_cause_text == UNSEEN_HANGUP_TEXT
    assert record.ended_at == t(8.1)


def test_given_a_reconnect_then_channels_born_while_blind_are_adopted_with_their_age() -> None:
    calls = LiveCalls()
    calls.apply(ev.AmiLinkUp(t(100)))
    snap = ev.ChannelSnapshot("pbx-9.1", "pbx-9.1", "PJSIP/carrier-9", 6, "13900139000", "李四",
                              "12345", "from-trunk", "br-7", 42)
    out = calls.apply(ev.ChannelsSnapshot(t(100.5), (snap,)))
    assert out == [CallArrived("pbx-9.1", "13900139000", "李四", "12345")]
    [view] = calls.views()
    assert view.arrived_at == t(100.5 - 42) and view.state == "answered" and view.bridges == ("br-7",)


def test_given_events_racing_the_snapshot_then_no_ghost_and_no_lost_channel() -> None:
    calls = LiveCalls()
    calls.apply(created("old.1", 0, linkedid="old.1"))
    calls.apply(ev.AmiLinkUp(t(10)))
    # after login, while CoreShowChannels is being collected: a new call arrives and the old
    # one hangs up; the list (generated a moment earlier) still shows old.1, not new.1
    calls.apply(created("new.1", 10.1, linkedid="new.1"))
    calls.apply(hung_up("old.1", 10.2, linkedid="old.1"))
    listed_old = ev.ChannelSnapshot("old.1", "old.1", "PJSIP/x", 6, "1", "", "12345", "c", "", 10)
    out = calls.apply(ev.ChannelsSnapshot(t(10.3), (listed_old,)))
    assert out == []
    assert set(calls.calls) == {"new.1"}


def test_call_state_table_rejects_what_it_does_not_list() -> None:
    assert next_call_state(CallState.ARRIVING, "answer") is CallState.ANSWERED
    with pytest.raises(IllegalTransition) as err:
        next_call_state(CallState.ENDED, "answer")
    assert str(err.value).startswith("illegal-transition: call cannot answer from ended")


def journal(linkedid: str, arrived: float, ended: float, answered: bool = True, cause: int | None = 16) -> ev.JournalEntry:
    return ev.JournalEntry(linkedid, t(arrived), t(ended), answered, cause, "12345", "13700000000", "王五")


def test_given_a_call_the_controller_never_saw_when_the_journal_is_read_then_one_record() -> None:
    calls = LiveCalls()
    out = calls.apply(ev.CallJournal(t(60), (journal("away.1", 10, 40),)))
    [record] = records(out)
    assert (record.linkedid, record.arrived_at, record.ended_at) == ("away.1", t(10), t(40))
    assert record.disposition is Disposition.ABANDONED_IVR and record.answered_at is None
    assert record.caller_name == "王五" and record.hangup_cause == 16
    # read again (the line was not cleared yet): not written twice
    assert records(calls.apply(ev.CallJournal(t(90), (journal("away.1", 10, 40),)))) == []


def test_given_the_journal_then_live_and_already_recorded_calls_are_not_written_from_it() -> None:
    calls = LiveCalls()
    calls.apply(created("live.1", 0, linkedid="live.1"))
    calls.apply(created("done.1", 0, linkedid="done.1"))
    calls.apply(hung_up("done.1", 5, linkedid="done.1"))
    out = calls.apply(ev.CallJournal(t(9), (journal("live.1", 0, 8), journal("done.1", 0, 5))))
    assert records(out) == []


def test_given_a_reconnect_then_a_vanished_call_takes_its_end_from_the_journal() -> None:
    calls = LiveCalls()
    calls.apply(created(LINK, 0))
    calls.apply(ev.AmiLinkUp(t(30)))
    [record] = records(calls.apply(ev.ChannelsSnapshot(t(30.2), (), (journal(LINK, 0, 21, cause=17),))))
    assert record.ended_at == t(21) and record.hangup_cause == 17
    assert record.disposition is Disposition.FAILED  # unanswered, user busy


def test_agent_state_table_never_offers_an_agent_on_a_call() -> None:
    from acd.states import AGENT_TRANSITIONS, AgentState, next_agent_state

    for busy in (AgentState.OFFERED, AgentState.ON_CALL, AgentState.LOGGED_OUT, AgentState.PAUSED, AgentState.WRAP_UP):
        with pytest.raises(IllegalTransition):
            next_agent_state(busy, "offer")
    assert next_agent_state(AgentState.READY, "outbound") is AgentState.ON_CALL
    with pytest.raises(IllegalTransition, match="agent cannot logout from on_call"):
        next_agent_state(AgentState.ON_CALL, "logout")
    # every state can be left somehow: no dead ends
    assert {s for s, _ in AGENT_TRANSITIONS} == set(AgentState)


def queued_call(calls: LiveCalls, at: float = 0, open_order: str = "") -> None:
    calls.apply(created(LINK, at))
    calls.apply(ev.ChannelStateChanged(t(at + 0.1), LINK, LINK, 6))
    calls.apply(ev.CallQueued(t(at + 3), LINK, LINK, "PJSIP/carrier-1", "market", 2,
                              recording="rec-1.wav", open_order=open_order))


def test_given_an_agent_answers_then_the_record_has_desk_agent_wait_talk_and_recording() -> None:
    calls = LiveCalls()
    queued_call(calls, open_order="0571-20261122-000007")
    calls.apply(ev.DialEnded(t(12), LINK, LINK, "PJSIP/agent1003-1", "ANSWER"))
    calls.note(CallAnswered(LINK, "market", "agent1003", 9.0), t(12))
    [record] = records(calls.apply(hung_up(LINK, 72.5)))
    assert record.disposition is Disposition.ANSWERED
    assert (record.desk, record.agent, record.queue_wait, record.talk_time) == ("market", "agent1003", 9.0, 60.5)
    assert record.recording == "rec-1.wav"
    assert record.repeat_caller and record.order_number == "0571-20261122-000007"


def test_given_a_caller_leaves_the_queue_or_a_ringing_phone_then_the_loss_says_where() -> None:
    in_queue, ringing = LiveCalls(), LiveCalls()
    for calls, while_ringing in ((in_queue, False), (ringing, True)):
        queued_call(calls)
        calls.note(CallAbandoned(LINK, "market", 20.0, while_ringing), t(23))
        [record] = records(calls.apply(hung_up(LINK, 23)))
        assert record.queue_wait == 20.0 and record.desk == "market" and record.agent == ""
        assert record.recording == "" and not record.repeat_caller
        expected = Disposition.ABANDONED_RINGING if while_ringing else Disposition.ABANDONED_QUEUE
        assert record.disposition is expected


def test_given_the_fallback_queue_then_answered_there_or_lost_there() -> None:
    answered, lost, refused = LiveCalls(), LiveCalls(), LiveCalls()
    for calls in (answered, lost):
        queued_call(calls)
        calls.apply(ev.CallFellBack(t(30), LINK, LINK, "market"))
    answered.apply(ev.BridgeEntered(t(40), "br-9", LINK, LINK))
    [a] = records(answered.apply(hung_up(LINK, 90)))
    [b] = records(lost.apply(hung_up(LINK, 50)))
    queued_call(refused)
    refused.note(QueueRefused(LINK, "PJSIP/carrier-1", "market", "queue-full"), t(3))
    [c] = records(refused.apply(hung_up(LINK, 9)))
    assert (a.disposition, b.disposition, c.disposition) == (
        Disposition.FALLBACK_QUEUE, Disposition.ABANDONED_QUEUE, Disposition.ABANDONED_QUEUE)
    assert a.desk == b.desk == "market"


def test_given_the_journal_names_desk_agent_and_fallback_then_the_record_does_too() -> None:
    calls = LiveCalls()
    base = journal("j.1", 10, 100)
    entries = (replace(base, desk="general", agent="agent1001"),
               replace(base, linkedid="j.2", desk="market", agent="agent1003", fell_back=True),
               replace(base, linkedid="j.3", desk="market"))
    got = {r.linkedid: r for r in records(calls.apply(ev.CallJournal(t(200), entries)))}
    assert (got["j.1"].disposition, got["j.1"].agent, got["j.1"].desk) == (Disposition.ANSWERED, "agent1001", "general")
    assert got["j.2"].disposition is Disposition.FALLBACK_QUEUE
    assert got["j.3"].disposition is Disposition.ABANDONED_QUEUE


def test_given_a_caller_adopted_in_the_fallback_queue_and_bridged_then_not_a_lost_call() -> None:
    calls = LiveCalls()
    calls.apply(ev.AmiLinkUp(t(100)))
    snap = ev.ChannelSnapshot("fb.1", "fb.1", "PJSIP/carrier-7", 6, "13866667777", "周九", "s",
                              "hotline-fallback", "br-3", 30)
    calls.apply(ev.ChannelsSnapshot(t(100.5), (snap,)))
    [record] = records(calls.apply(hung_up("fb.1", 120, linkedid="fb.1")))
    assert record.disposition is Disposition.FALLBACK_QUEUE and record.left_in == "fallback"


def test_an_agi_session_that_begins_before_its_channel_is_read_from_ami_still_counts() -> None:
    """FastAGI and AMI are two sockets: on a loaded machine the intake session can reach the
    engine before the AMI event of its channel. It is kept and applied when the channel appears."""
    calls = LiveCalls()
    calls.apply(ev.AgiSessionStarted(t(0.1), LINK, "intake?dialed=12315", "12315"))
    calls.apply(created(LINK, 0, exten="057112315"))
    [call] = calls.calls.values()
    assert (call.stage, call.dialed_number) == ("intake", "12315")
    [record] = records(calls.apply(hung_up(LINK, 2)))
    assert record.dialed_number == "12315" and record.left_in == "intake"
    # a session of a channel that is gone is not kept for ever
    calls.apply(ev.AgiSessionStarted(t(3), LINK, "intake?dialed=12315", "12315"))
    assert LINK not in calls._early_agi


def test_a_channel_of_a_call_that_already_ended_resumes_it_and_its_end_writes_the_complete_record() -> None:
    """Heard half-way (after a start or a reconnect), a call can look ended when the part the
    controller knew of it ends; a channel of that linkedid appearing later is the same call:
    no second CallArrived, and its end writes one record holding the whole call, later than the
    first (the store keeps the later one)."""
    calls = LiveCalls()
    calls.apply(ev.AmiLinkUp(t(0)))
    calls.apply(ev.ChannelsSnapshot(t(1), (ev.ChannelSnapshot(
        LINK, LINK, "PJSIP/x-caller", 6, "13800138000", "张三", "12345", "hotline-wait", "", 30),)))
    calls.apply(ev.CallQueued(t(1), LINK, LINK, "PJSIP/x-caller", "general"))
    [first] = records(calls.apply(hung_up(LINK, 5)))
    assert first.disposition is Disposition.ABANDONED_QUEUE
    late = calls.apply(created("agent-leg", 6, exten="s", number="1001", name=""))
    assert not [e for e in late if isinstance(e, CallArrived)]
    assert calls.calls[LINK].state is CallState.ANSWERED and calls.calls[LINK].caller_number == "13800138000"
    calls.note(CallAnswered(LINK, "general", "agent1001", 12.0), t(6))
    [complete] = records(calls.apply(hung_up("agent-leg", 50)))
    assert complete.linkedid == LINK and complete.ended_at > first.ended_at
    assert complete.disposition is Disposition.ANSWERED and complete.agent == "agent1001"
    assert (complete.arrived_at, complete.caller_name) == (first.arrived_at, "张三")
    assert calls.calls == {} and calls.channels == {}


def _consult_beside_a_citizen() -> LiveCalls:
    """A citizen's call (LINK: the citizen and agent A in br-1) and a consult call (pbx-2.1:
    agent A's second phone line and agent B in br-2), as before an attended transfer."""
    calls = LiveCalls()
    calls.apply(created(LINK, 0))
    calls.apply(created("pbx-1.2", 1, exten="s", number="1001"))
    calls.apply(ev.BridgeEntered(t(2), "br-1", LINK, LINK, "basic"))
    calls.apply(ev.BridgeEntered(t(2), "br-1", "pbx-1.2", LINK, "basic"))
    calls.apply(created("pbx-2.1", 3, linkedid="pbx-2.1", exten="1004", number="1001"))
    calls.apply(created("pbx-2.2", 3, linkedid="pbx-2.1", exten="s", number="1004"))
    calls.apply(ev.BridgeEntered(t(4), "br-2", "pbx-2.2", "pbx-2.1", "basic"))
    calls.apply(ev.BridgeEntered(t(4), "br-2", "pbx-2.1", "pbx-2.1", "basic"))
    return calls


def test_given_a_citizen_entering_a_basic_bridge_then_its_other_channels_join_the_citizens_call() -> None:
    calls = _consult_beside_a_citizen()
    calls.apply(ev.BridgeLeft(t(5), "br-1", LINK, LINK))
    calls.apply(ev.BridgeLeft(t(5), "br-2", "pbx-2.1", "pbx-2.1"))
    calls.apply(ev.BridgeEntered(t(5), "br-2", LINK, LINK, "basic", swap_uniqueid="pbx-2.1"))
    assert calls.channels["pbx-2.2"].linkedid == LINK  # agent B, told of it by no event of its own
    assert calls.channels["pbx-2.1"].linkedid == "pbx-2.1"
    # agent B's leg: left the consult and joined the citizen's call at the transfer, as who it was
    moved = calls.calls[LINK].legs["pbx-2.2"]
    assert (moved.role, moved.number, moved.joined_at, moved.left_at) == ("other", "1004", t(5), None)
    assert calls.calls["pbx-2.1"].legs["pbx-2.2"].left_at == t(5)
    [consult] = records(calls.apply(hung_up("pbx-2.1", 6, linkedid="pbx-2.1")))
    assert consult.linkedid == "pbx-2.1" and consult.ended_at == t(6)


@pytest.mark.parametrize("bridge_type", ["base", "holding", ""])
def test_given_a_bridge_that_is_not_basic_then_only_the_entering_channel_says_its_linkedid(bridge_type: str) -> None:
    calls = _consult_beside_a_citizen()
    calls.apply(ev.BridgeEntered(t(5), "br-2", LINK, LINK, bridge_type))
    assert calls.channels["pbx-2.2"].linkedid == "pbx-2.1"


@pytest.mark.parametrize("linkedid", ["pbx-0.9", ""], ids=["never-seen", "none-given"])
def test_given_a_basic_bridge_entered_with_a_linkedid_this_model_does_not_hold_then_nothing_moves(linkedid: str) -> None:
    calls = _consult_beside_a_citizen()
    entered = ev.BridgeEntered(t(5), "br-2", "pbx-2.1", linkedid, "basic")
    assert calls.linkedid_moves(entered) == []  # the engine looks each move's call up
    calls.apply(entered)
    assert {c.linkedid for c in calls.channels.values()} == {LINK, "pbx-2.1"}


def test_given_a_channel_this_model_never_saw_entering_a_basic_bridge_then_the_others_still_follow() -> None:
    calls = _consult_beside_a_citizen()
    entered = ev.BridgeEntered(t(5), "br-2", "pbx-9.9", LINK, "basic")
    assert sorted(calls.linkedid_moves(entered)) == [("pbx-2.1", LINK), ("pbx-2.2", LINK)]


def test_a_callbacks_talk_time_starts_when_the_citizen_is_put_through_after_the_notice() -> None:
    """The agent's leg comes first (originated), the citizen is dialed, hears that the call is
    recorded, then joins the agent's bridge: the talk — and the recording — begin there."""
    calls = LiveCalls()
    calls.apply(created("CB", 0, linkedid="CB", state=4, exten="13900001111", number="agent1001", name="王芳"))
    calls.apply(ev.ChannelStateChanged(t(1), "CB", "CB", 6))
    calls.apply(ev.CallbackDialed(t(2), "13900001111", "AGENT_ANSWERED", "CB", "20261122/CB.wav"))
    calls.apply(created("CIT", 3, linkedid="CB", exten="13900001111", number="13900001111", name=""))
    calls.apply(ev.BridgeEntered(t(10), "b1", "CB", "CB", "basic"))  # after the 3 s notice and the ring
    calls.apply(ev.BridgeEntered(t(10.02), "b1", "CIT", "CB", "basic"))
    calls.apply(ev.CallbackDialed(t(40), "13900001111", "ANSWER", "CB"))
    calls.apply(hung_up("CIT", 40, linkedid="CB"))
    [record] = records(calls.apply(hung_up("CB", 40, linkedid="CB")))
    assert record.disposition is Disposition.CALLED_BACK and record.caller_number == "13900001111"
    assert record.caller_name == ""  # the agent's leg came first: its name is not the citizen's
    assert record.talk_time == 30.0 and record.recording == "20261122/CB.wav"


def test_a_callback_the_citizen_does_not_answer_is_failed_with_no_talk() -> None:
    calls = LiveCalls()
    calls.apply(created("CB", 0, linkedid="CB", state=4, exten="13900001111", number="agent1001", name="王芳"))
    calls.apply(ev.ChannelStateChanged(t(1), "CB", "CB", 6))
    calls.apply(ev.CallbackDialed(t(2), "13900001111", "AGENT_ANSWERED", "CB", "20261122/CB.wav"))
    calls.apply(ev.CallbackDialed(t(32), "13900001111", "NOANSWER", "CB"))
    [record] = records(calls.apply(hung_up("CB", 32, linkedid="CB")))
    assert record.disposition is Disposition.FAILED and record.talk_time is None


def test_an_inbound_calls_bridge_before_the_acds_answer_leaves_the_answer_to_the_acd() -> None:
    """Only a callback takes its talk from the bridge: an inbound call whose bridge event comes
    before the ACD's answer still gets its agent, desk and talk time from the answer."""
    calls = LiveCalls()
    calls.apply(created(LINK, 0))
    calls.apply(ev.ChannelStateChanged(t(0.2), LINK, LINK, 6))
    calls.apply(ev.CallQueued(t(3), LINK, LINK, "PJSIP/x-pbx-1.1", "general"))
    calls.apply(ev.BridgeEntered(t(9.9), "b1", LINK, LINK, "basic"))
    calls.note(CallAnswered(LINK, "general", "agent1001", 7.0), t(10))
    [record] = records(calls.apply(hung_up(LINK, 40)))
    assert (record.agent, record.desk, record.talk_time) == ("agent1001", "general", 30.0)
