"""The ACD state: offers, ring-no-answer, wrap-up, auto-pause; and random operation sequences
that must never leave a ghost state."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acd.acd import (BAD_PHONE, LINE_NEEDS_PHONE, QUEUE_FULL, UNKNOWN_AGENT, Acd, AcdError, AgentChanged, AgentReachable,
                     CallAbandoned, CallAnswered, OfferCall, SetTimer)
from acd.desks import AcdConfig, AgentConfig, Desk
from acd.lines import DialLine, HangUpLine, LineChanged, LineState, far_half, line_agent
from acd.routing import OverflowStep, Priority
from acd.states import AgentState, IllegalTransition, PauseReason

CONFIG = AcdConfig(
    desks=(Desk("general", "综合", "general", wrap_up=5, max_queue=3),
           Desk("market", "市场监管", "market", wrap_up=8, steps=(OverflowStep(0, 3), OverflowStep(20, 1, True)))),
    agents=(AgentConfig("a1", "甲", "PJSIP/agent1001", "1001", "1", {"general": 3}),
            AgentConfig("a2", "乙", "PJSIP/agent1002", "1002", "1", {"general": 2, "market": 5}),
            AgentConfig("a3", "丙", "PJSIP/agent1003", "1003", "1", {"market": 1})),
    max_misses=2)


def offers(effects) -> list[tuple[str, str]]:
    return [(e.call_id, e.agent_id) for e in effects if isinstance(e, OfferCall)]


def ready_all(acd: Acd, now: float = 0.0) -> None:
    for agent_id in acd.agents:
        acd.login(agent_id, now)
        acd.ready(agent_id, now)


def test_given_a_waiting_call_when_an_agent_becomes_ready_then_offered_in_the_same_step() -> None:
    acd = Acd(CONFIG)
    acd.login("a1", 0)
    assert offers(acd.enqueue("c1", "PJSIP/carrier-1", "general", Priority.NORMAL, 1)) == []
    effects = acd.ready("a1", 2)
    assert offers(effects) == [("c1", "a1")]
    assert acd.agents["a1"].state is AgentState.OFFERED
    [answered] = [e for e in acd.offer_answered("c1", 4) if isinstance(e, CallAnswered)]
    assert answered.waited == 3 and acd.agents["a1"].state is AgentState.ON_CALL


def test_given_ring_no_answer_then_the_call_keeps_its_place_and_the_agent_is_auto_paused_after_misses() -> None:
    acd = Acd(CONFIG)
    acd.login("a1", 0)
    acd.enqueue("first", "ch1", "general", Priority.NORMAL, 1)
    acd.enqueue("second", "ch2", "general", Priority.NORMAL, 2)
    assert offers(acd.ready("a1", 3)) == [("first", "a1")]
    acd.offer_failed("first", 18)  # a miss: back to READY, and 'first' is offered again first
    assert acd.agents["a1"].misses == 1
    assert acd.queue["first"].offered_to == "a1"
    acd.offer_failed("first", 33)  # second miss in a row: auto-paused
    agent = acd.agents["a1"]
    assert agent.state is AgentState.PAUSED and agent.reason == PauseReason.AUTO_NO_ANSWER.value
    assert acd.position("first", 33) == 1 and acd.position("second", 33) == 2
    acd.login("a2", 34)
    assert offers(acd.ready("a2", 34)) == [("first", "a2")]


def test_given_a_call_ends_then_wrap_up_of_the_calls_desk_before_the_next_offer() -> None:
    acd = Acd(CONFIG)
    acd.login("a2", 0)
    acd.ready("a2", 0)
    acd.enqueue("m1", "ch", "market", Priority.NORMAL, 1)
    acd.offer_answered("m1", 2)
    acd.enqueue("g1", "ch2", "general", Priority.NORMAL, 3)
    effects = acd.agent_call_ended("a2", 10)
    assert SetTimer(18, ("wrap_up", "a2", 1)) in effects  # the market desk's 8 s
    assert offers(effects) == [] and acd.agents["a2"].state is AgentState.WRAP_UP
    assert offers(acd.timer(("wrap_up", "a2", 1), 18)) == [("g1", "a2")]


def test_given_the_caller_leaves_while_ringing_then_the_agent_is_free_and_it_counts_as_abandoned() -> None:
    acd = Acd(CONFIG)
    acd.login("a1", 0)
    acd.ready("a1", 0)
    acd.enqueue("c", "ch", "general", Priority.NORMAL, 1)
    effects = acd.call_left("c", 5)
    assert CallAbandoned("c", "general", 4, True) in effects
    assert acd.agents["a1"].state is AgentState.READY and acd.queue == {}


def test_illegal_requests_raise_stable_errors_and_change_nothing() -> None:
    acd = Acd(CONFIG)
    with pytest.raises(IllegalTransition, match="^illegal-transition: agent cannot pause from logged_out"):
        acd.pause("a1", PauseReason.BREAK, 1)
    assert acd.agents["a1"].state is AgentState.LOGGED_OUT and acd.agents["a1"].since == 0.0
    with pytest.raises(AcdError, match=f"^{UNKNOWN_AGENT}: nobody"):
        acd.ready("nobody", 1)
    for n in range(3):
        acd.enqueue(f"c{n}", "ch", "general", Priority.NORMAL, 1)
    with pytest.raises(AcdError, match=f"^{QUEUE_FULL}: general"):
        acd.enqueue("c9", "ch", "general", Priority.NORMAL, 1)


def test_overflow_timer_widens_the_call_to_the_general_pool() -> None:
    acd = Acd(CONFIG)
    acd.login("a1", 0)
    acd.ready("a1", 0)  # general only: may take a market call only from 20 s on
    effects = acd.enqueue("m", "ch", "market", Priority.NORMAL, 0)
    assert SetTimer(20, ("overflow", "m", 0)) in effects and offers(effects) == []
    assert offers(acd.timer(("overflow", "m", 0), 20)) == [("m", "a1")]


OPS = st.lists(st.tuples(
    st.sampled_from(["login", "ready", "pause", "logout", "enqueue", "answer", "fail", "left", "end"]),
    st.sampled_from(["a1", "a2", "a3"]),
    st.sampled_from(["c1", "c2", "c3", "c4"]),
    st.sampled_from(["general", "market"]),
    st.floats(0.1, 12)), max_size=60)


@settings(max_examples=400, deadline=None)
@given(OPS)
def test_no_ghost_states_whatever_the_order_of_events(ops) -> None:
    """Random events, timers firing when due: after every step no agent holds two calls, no call
    rings two agents, OFFERED agents and offered calls match one to one, and no agent sits
    READY while a call they may take waits un-offered."""
    from acd.routing import ReadyAgent, agent_level

    acd = Acd(CONFIG)
    now = 0.0
    timers: list[SetTimer] = []

    def run(effects) -> None:
        timers.extend(e for e in effects if isinstance(e, SetTimer))

    for op, agent_id, call_id, desk, step in ops:
        now += step
        for timer in sorted((t for t in timers if t.at <= now), key=lambda t: t.at):
            timers.remove(timer)
            run(acd.timer(timer.key, now))
        try:
            if op == "login":
                run(acd.login(agent_id, now))
            elif op == "ready":
                run(acd.ready(agent_id, now))
            elif op == "pause":
                run(acd.pause(agent_id, PauseReason.BREAK, now))
            elif op == "logout":
                run(acd.logout(agent_id, now))
            elif op == "enqueue" and call_id not in acd.queue:
                run(acd.enqueue(call_id, "ch", desk, Priority.NORMAL, now))
            elif op == "answer":
                run(acd.offer_answered(call_id, now))
            elif op == "fail":
                run(acd.offer_failed(call_id, now))
            elif op == "left":
                run(acd.call_left(call_id, now))
            elif op == "end":
                run(acd.agent_call_ended(agent_id, now))
        except (IllegalTransition, AcdError):
            pass
        offered = {q.offered_to: cid for cid, q in acd.queue.items() if q.offered_to}
        assert len(offered) == sum(1 for q in acd.queue.values() if q.offered_to)
        waiting = [q.call for q in acd.queue.values() if q.offered_to is None]
        for aid, agent in acd.agents.items():
            if agent.state is AgentState.OFFERED:
                assert offered.get(aid) == agent.call_id
            else:
                assert aid not in offered
            if agent.state is AgentState.READY:
                me = ReadyAgent(aid, agent.config.skills, agent.idle_since)
                assert all(agent_level(me, c, acd.policies[c.desk], now) is None for c in waiting)


def test_estimated_wait_follows_the_desks_live_handle_time() -> None:
    from acd.figures import DeskFigures
    from acd.acd import AgentChanged

    figures = DeskFigures(["general"])
    assert figures.estimated_wait("general", 2, 1) == 3 * 180.0
    figures.record(AgentChanged("a1", AgentState.ON_CALL, "general", 100.0))
    figures.record(AgentChanged("a1", AgentState.WRAP_UP, "general", 160.0))
    assert figures.handle_time["general"] == 60.0
    assert figures.estimated_wait("general", 3, 2) == 4 * 60.0 / 2


def test_a_repeat_caller_goes_to_the_agent_who_took_the_order_when_that_agent_is_ready() -> None:
    acd = Acd(CONFIG)
    ready_all(acd)  # a1 has been idle longest (ready first): plain routing would pick a1
    assert offers(acd.enqueue("c1", "PJSIP/carrier-1", "general", Priority.NORMAL, 1, preferred_agent="a2")) == [
        ("c1", "a2")]
    # not ready (on the offer now) → normal routing, no waiting for them
    assert offers(acd.enqueue("c2", "PJSIP/carrier-2", "general", Priority.NORMAL, 2, preferred_agent="a2")) == [
        ("c2", "a1")]
    # unknown or unskilled preferred agents are ignored
    acd.offer_failed("c1", 3)
    assert offers(acd.enqueue("c3", "PJSIP/carrier-3", "general", Priority.NORMAL, 4, preferred_agent="a3")) == []
    fresh = Acd(CONFIG)
    ready_all(fresh)
    assert offers(fresh.enqueue("c5", "PJSIP/carrier-5", "general", Priority.NORMAL, 1, preferred_agent="nobody")) == [
        ("c5", "a1")]
    # a3 holds market only at level 1 (the desk's first step asks for 3), but took the order:
    # first-contact responsibility wins over the skill level
    assert offers(fresh.enqueue("c6", "PJSIP/carrier-6", "market", Priority.NORMAL, 1, preferred_agent="a3")) == [
        ("c6", "a3")]


def test_given_an_unreachable_ready_agent_then_no_offer_reaches_them_until_their_phone_is_back() -> None:
    acd = Acd(CONFIG)
    ready_all(acd)
    acd.set_reachable("a1", False, 1)
    acd.set_reachable("a2", False, 1)
    # a1 is the call's preferred agent and a2 is skilled for it too: neither is offered it
    assert offers(acd.enqueue("c1", "ch1", "general", Priority.NORMAL, 2, preferred_agent="a1")) == []
    assert acd.ready_agent_for("general") is None
    assert acd.agents["a1"].state is AgentState.READY  # still ready: shown unreachable, not logged out
    assert acd.set_reachable("a1", False, 3) == []  # no news, no effect
    back = acd.set_reachable("a1", True, 4)
    assert offers(back) == [("c1", "a1")] and back[0] == AgentReachable("a1", True, 4)
    assert acd.ready_agent_for("market") is acd.agents["a3"]


def test_an_agent_logged_in_on_an_ordinary_phone_is_rung_there_until_they_log_out() -> None:
    acd = Acd(CONFIG)
    with pytest.raises(AcdError) as refused:
        acd.login("a1", 0, phone="139-0000")
    assert refused.value.code == BAD_PHONE and acd.agents["a1"].state is AgentState.LOGGED_OUT
    acd.login("a1", 0, phone="13900001111")
    acd.ready("a1", 1)
    [offer] = [e for e in acd.enqueue("c1", "ch1", "general", Priority.NORMAL, 2) if isinstance(e, OfferCall)]
    assert offer.device == "Local/13900001111@hotline-seat-phone/n"
    acd.offer_failed("c1", 3)  # answered, 1 not pressed: back at its place, the agent's miss
    assert acd.queue["c1"].call.queued_at == 2 and acd.agents["a1"].misses == 1
    acd.withdraw("c1", 4)
    acd.logout("a1", 5)
    acd.login("a1", 6)
    assert acd.device("a1") == "PJSIP/agent1001"


def test_an_agent_on_an_ordinary_phone_is_rung_there_whatever_their_softphone_does_meanwhile() -> None:
    """An AMI reconnect's resync reports the softphone's contacts: a home agent who logged in on
    their mobile, softphone switched off, must still be offered calls; logged out of the mobile,
    the softphone's last word counts again."""
    acd = Acd(CONFIG)
    acd.set_reachable("a1", False, 0)  # the softphone is off
    acd.login("a1", 1, phone="13900001111")
    acd.ready("a1", 2)
    assert acd.set_reachable("a1", False, 3) == []  # the resync's word on the softphone: nothing changes
    assert offers(acd.enqueue("c1", "ch1", "general", Priority.NORMAL, 4)) == [("c1", "a1")]
    acd.withdraw("c1", 5)
    acd.set_reachable("a1", True, 6)
    acd.set_reachable("a1", False, 7)  # the softphone came and went again
    acd.logout("a1", 8)
    acd.login("a1", 9)
    acd.ready("a1", 10)
    assert acd.agents["a1"].reachable is False
    assert offers(acd.enqueue("c2", "ch2", "general", Priority.NORMAL, 11)) == []


@pytest.mark.parametrize("state", ["ready", "paused", "logged_out"])
def test_a_restart_keeps_ringing_the_ordinary_phone_an_agent_is_logged_in_on(state: str) -> None:
    hall = Acd(CONFIG)
    hall.set_reachable("a1", False, 0)
    hall.login("a1", 1, phone="13900001111")
    if state == "ready":
        hall.ready("a1", 2)
    session = hall.session("a1", 3, 1_000.0)
    if state == "logged_out":
        hall.logout("a1", 3)
        session = replace(hall.session("a1", 3, 1_000.0), phone="13900001111")  # a row from before the logout
    later = Acd(CONFIG)
    later.restore([session], 0, 1_010.0)
    if state == "logged_out":
        assert later.device("a1") == "PJSIP/agent1001"
    else:
        assert later.agents["a1"].state.value == state and later.agents["a1"].reachable
        assert later.device("a1") == "Local/13900001111@hotline-seat-phone/n"
    later.restore([replace(session, phone="not-a-number")], 0, 1_010.0)  # a row tampered with
    assert later.device("a1") == "PJSIP/agent1001"


def dialed(effects) -> list[str]:
    return [e.uniqueid for e in effects if isinstance(e, DialLine)]


def test_an_agent_on_a_persistent_line_is_offered_calls_only_while_the_line_is_up() -> None:
    """The line is dialed at login; until the agent pressed 1 (the line in their conference)
    nobody is put through; then every offer joins them there, with no dial of its own; the line
    gone, nothing is offered until their next ready dials it again."""
    acd = Acd(CONFIG)
    with pytest.raises(AcdError) as refused:
        acd.login("a1", 0, persistent=True)
    assert refused.value.code == LINE_NEEDS_PHONE and acd.agents["a1"].state is AgentState.LOGGED_OUT
    [line] = dialed(acd.login("a1", 1, phone="13900001111", persistent=True))
    assert line_agent(line) == "a1" and acd.agents["a1"].line is LineState.DIALING
    assert dialed(acd.ready("a1", 2)) == []  # dialing already: not twice
    assert offers(acd.enqueue("c1", "ch1", "general", Priority.NORMAL, 3)) == []  # no 1 pressed yet
    up = acd.line_up("a1", line, 4)
    [offer] = [e for e in up if isinstance(e, OfferCall)]
    assert (offer.call_id, offer.device) == ("c1", "Local/a1@hotline-seat-join/n")
    assert AgentReachable("a1", True, 4) in up
    acd.offer_answered("c1", 5)
    assert dialed(acd.agent_call_ended("a1", 6)) == []  # the line stays for the next call
    assert acd.line_down("a1", "hotline-line-a1-1", 7) == []  # not this line: nothing changes
    down = acd.line_down("a1", line, 8, cause=38)
    assert AgentReachable("a1", False, 8) in down and acd.agents["a1"].line is LineState.DOWN
    acd.timer(("wrap_up", "a1", acd.agents["a1"].wrap_up_generation), 11)  # wrap-up over: ready
    assert acd.agents["a1"].state is AgentState.READY
    assert offers(acd.enqueue("c2", "ch2", "general", Priority.NORMAL, 12)) == []  # ready, but no line
    assert acd.lines_found({}, 12) == []  # down is down: no second word of it
    [again] = dialed(acd.pause("a1", PauseReason.BREAK, 13) + acd.ready("a1", 14))
    assert again != line  # a new channel name: the old line may linger in Asterisk a moment
    assert acd.line_down("a1", again, 14) != []  # refused at once (no 1 pressed) ...
    [third] = dialed(acd.pause("a1", PauseReason.BREAK, 14) + acd.ready("a1", 14))
    assert third not in (line, again)  # ... and dialed again in the same millisecond: still a new name
    assert offers(acd.line_up("a1", third, 15)) == [("c2", "a1")]


def test_a_softphone_or_ordinary_phone_agent_has_no_line_to_hang_up() -> None:
    acd = Acd(CONFIG)
    acd.login("a1", 0, phone="13900001111")
    acd.login("a2", 0)
    assert [type(e) for e in acd.logout("a1", 1) + acd.logout("a2", 1)] == [AgentChanged, AgentChanged]
    acd.login("a1", 2)  # on the softphone now: a line of an earlier persistent login is nobody's
    assert acd.line_up("a1", "hotline-line-a1-5", 3) == [HangUpLine("a1", "hotline-line-a1-5")]


def test_a_persistent_line_nobody_wants_is_hung_up() -> None:
    acd = Acd(CONFIG)
    [line] = dialed(acd.login("a1", 1, phone="13900001111", persistent=True))
    assert acd.logout("a1", 2)[-1] == HangUpLine("a1", line)  # logged out while it rang
    assert acd.line_up("a1", line, 3) == [HangUpLine("a1", line)]  # ... and answered after
    assert acd.device("a1") == "PJSIP/agent1001" and acd.agents["a1"].line is LineState.DOWN
    [second] = dialed(acd.login("a1", 4, phone="13900001111", persistent=True))
    assert acd.line_up("a1", line, 5) == [HangUpLine("a1", line)]  # an older line than the one now ringing
    assert acd.agents["a1"].line is LineState.DIALING and second != line


def test_after_a_restart_the_resync_finds_a_persistent_line_again() -> None:
    hall = Acd(CONFIG)
    [line] = dialed(hall.login("a1", 1, phone="13900001111", persistent=True))
    hall.line_up("a1", line, 2)
    hall.ready("a1", 3)
    later = Acd(CONFIG)
    later.restore([hall.session("a1", 4, 1_000.0)], 0, 1_010.0)
    assert later.agents["a1"].reachable is False  # until Asterisk lists the line
    assert later.device("a1") == "Local/a1@hotline-seat-join/n"
    later.enqueue("c1", "ch1", "general", Priority.NORMAL, 1)
    stray = "hotline-line-a2-7"  # a2 is logged out: a line of theirs is nobody's
    later.login("a3", 1, phone="13900002222", persistent=True)
    ringing = later.agents["a3"].line_id
    found = later.lines_found({"a2": (stray, False), "a1": (line, True), "a3": (ringing, False)}, 2)
    assert found[0] == HangUpLine("a2", stray) and offers(found) == [("c1", "a1")]
    assert (later.agents["a3"].line, later.agents["a3"].line_id) == (LineState.DIALING, ringing)  # not yet a 1
    # Asterisk restarted meanwhile: no line listed, none there (both agents told)
    gone = later.lines_found({}, 3)
    assert [e for e in gone if isinstance(e, AgentReachable)] == [AgentReachable("a1", False, 3)]
    assert [(e.agent_id, e.state) for e in gone if isinstance(e, LineChanged)] == [
        ("a1", LineState.DOWN), ("a3", LineState.DOWN)]
    assert later.agents["a1"].line is LineState.DOWN and later.agents["a3"].line_id == ""
    [now_ringing] = dialed(later.ready("a3", 4))
    older = "hotline-line-a3-1"  # one Asterisk still lists from before: not the line being dialed
    assert later.lines_found({"a3": (older, True)}, 5) == [HangUpLine("a3", older)]
    assert (later.agents["a3"].line, later.agents["a3"].line_id) == (LineState.DIALING, now_ringing)


@pytest.mark.parametrize(("phone", "accepted"), [("110", True), ("1" * 20, True), ("12", False), ("1" * 21, False)])
def test_an_ordinary_phones_number_is_three_to_twenty_digits(phone: str, accepted: bool) -> None:
    acd = Acd(CONFIG)
    if accepted:
        acd.login("a1", 0, phone=phone)
        assert acd.device("a1") == f"Local/{phone}@hotline-seat-phone/n"
        acd.logout("a1", 1)
        assert acd.device("a1") == "PJSIP/agent1001"  # logged out: the phone is forgotten at once
    else:
        with pytest.raises(AcdError) as refused:
            acd.login("a1", 0, phone=phone)
        assert (refused.value.code, str(refused.value).endswith(phone)) == (BAD_PHONE, True)


@pytest.mark.parametrize(("uniqueid", "agent"), [
    ("hotline-line-a1-66787872", "a1"), ("hotline-line-a1-66787872-far", "a1"),
    ("hotline-line-agent-1006-5", "agent-1006"),  # an agent id with a dash
    ("hotline-line-a1-x", None), ("hotline-line--5", None), ("hotline-line-a1", None),
    ("hotline-pbx-1796304487.2", None)])
def test_a_lines_channels_are_known_by_their_names(uniqueid: str, agent: str | None) -> None:
    assert line_agent(uniqueid) == agent


def test_the_far_half_of_a_line_is_named_after_it() -> None:
    assert far_half("hotline-line-a1-7") == "hotline-line-a1-7-far" and line_agent(far_half("hotline-line-a1-7")) == "a1"
