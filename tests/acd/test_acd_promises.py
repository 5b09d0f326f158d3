"""Promises of the ACD that an independent review broke, each stated as what a caller, agent or
supervisor would see. Every test here failed on the code before issue 11."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acd.acd import OFFER_GRACE, QUEUE_FULL, Acd, AcdError, AgentChanged, AgentSession, CallAbandoned, OfferCall, SetTimer
from acd.desks import AcdConfig, AgentConfig, Desk, parse_acd
from acd.figures import DeskFigures
from acd.routing import DeskPolicy, OverflowStep, Priority, ReadyAgent, WaitingCall, assign
from acd.states import AgentState, IllegalTransition, PauseReason

CONFIG = AcdConfig(
    desks=(Desk("general", "综合", "general", wrap_up=5, max_queue=2),
           Desk("market", "市场监管", "market", wrap_up=8, steps=(OverflowStep(0, 3), OverflowStep(20, 1, True)))),
    agents=(AgentConfig("a1", "甲", "PJSIP/agent1001", "1001", "1", {"general": 3}),
            AgentConfig("a2", "乙", "PJSIP/agent1002", "1002", "1", {"general": 2, "market": 5}),
            AgentConfig("a3", "丙", "PJSIP/agent1003", "1003", "1", {"market": 1})),
    max_misses=2)


def offers(effects: list[object]) -> list[tuple[str, str]]:
    return [(e.call_id, e.agent_id) for e in effects if isinstance(e, OfferCall)]


def logged_in(acd: Acd, *agents: str) -> None:
    for agent_id in agents:
        acd.login(agent_id, 0)


# ---- 1. callbacks never crowd out live callers ----

def test_a_night_of_callbacks_never_takes_a_morning_callers_queue_slot_position_or_figures() -> None:
    """After a night of lost calls, the first live callers of the morning are queued (max_queue
    counts live callers only), hear positions 1 and 2, and the desk shows their wait, not the
    callbacks' hours."""
    acd = Acd(CONFIG)
    for n in range(50):  # due since the night
        acd.enqueue_callback(f"callback:{n}", "general", Priority.NORMAL, 36_000, queued_at=float(n))
    acd.enqueue("morning-1", "ch1", "general", Priority.NORMAL, 36_000)
    acd.enqueue("morning-2", "ch2", "general", Priority.NORMAL, 36_010)
    assert (acd.position("morning-1", 36_020), acd.position("morning-2", 36_020)) == (1, 2)
    with pytest.raises(AcdError, match=f"^{QUEUE_FULL}"):
        acd.enqueue("morning-3", "ch3", "general", Priority.NORMAL, 36_020)  # the desk's 2, not 52
    figures = DeskFigures(["general", "market"]).snapshot(36_020, acd)["general"]
    assert figures["waiting"] == 2 and figures["longest_wait"] == 20


def test_callbacks_are_served_in_the_routing_order_among_live_callers_of_their_class() -> None:
    """A callback due before a live caller arrived goes first; live callers who waited longer
    than a callback go before it; a key enterprise goes before both."""
    acd = Acd(CONFIG)
    logged_in(acd, "a1")
    acd.enqueue("early", "ch1", "general", Priority.NORMAL, 10)
    acd.enqueue_callback("callback:1", "general", Priority.NORMAL, 20, queued_at=20)
    acd.enqueue("late", "ch2", "general", Priority.NORMAL, 30)
    acd.enqueue_callback("callback:2", "general", Priority.KEY_ENTERPRISE, 40, queued_at=40)
    served = []
    for t in (50, 60, 70, 80):
        [(call_id, _)] = offers(acd.ready("a1", t))
        served.append(call_id)
        acd.offer_answered(call_id, t)
        acd.agent_call_ended("a1", t + 1)
        acd.pause("a1", PauseReason.BREAK, t + 7)
    assert served == ["callback:2", "early", "callback:1", "late"]


def test_plain_callbacks_wait_outside_business_hours_and_virtual_hold_ones_do_not() -> None:
    acd = Acd(CONFIG)
    logged_in(acd, "a1", "a2")
    acd.set_business_hours(False, 0)
    acd.enqueue_callback("callback:plain", "general", Priority.NORMAL, 0, queued_at=0)
    acd.enqueue_callback("callback:held", "general", Priority.NORMAL, 0, queued_at=5, after_hours=True)
    assert offers(acd.ready("a1", 10)) == [("callback:held", "a1")]
    assert offers(acd.ready("a2", 11)) == []  # 19:59 queued, 20:00 closed: not dialed at 23:00
    assert offers(acd.set_business_hours(True, 12)) == [("callback:plain", "a2")]


def test_at_opening_time_overnight_callbacks_queue_behind_callers_already_waiting_and_before_later_ones() -> None:
    acd = Acd(CONFIG)
    logged_in(acd, "a1")
    acd.set_business_hours(False, 0)
    acd.enqueue_callback("callback:night-1", "general", Priority.NORMAL, 0, queued_at=0)
    acd.enqueue_callback("callback:night-2", "general", Priority.NORMAL, 10, queued_at=10)
    acd.enqueue("at-07:59", "ch1", "general", Priority.NORMAL, 100)
    acd.set_business_hours(True, 160)  # 08:00
    acd.enqueue("at-08:01", "ch2", "general", Priority.NORMAL, 220)
    served = []
    for t in (300, 400, 500, 600):
        [(call_id, _)] = offers(acd.ready("a1", t))
        served.append(call_id)
        acd.offer_answered(call_id, t)
        acd.agent_call_ended("a1", t + 1)
        acd.pause("a1", PauseReason.BREAK, t + 2)
    assert served == ["at-07:59", "callback:night-1", "callback:night-2", "at-08:01"]


# queue times in milliseconds: two calls queued within one float ulp of the clock's reading would
# tie in the routing's weighted wait and be ordered by arrival there, by queue time in a lane
ops = st.lists(st.tuples(st.sampled_from(["live", "callback", "held"]), st.sampled_from(["general", "market"]),
                         st.sampled_from(list(Priority)), st.integers(0, 100_000).map(lambda ms: ms / 1000)),
               max_size=25)


@settings(max_examples=300)
@given(ops, st.sets(st.sampled_from(["a1", "a2", "a3"])), st.booleans())
def test_dispatch_from_the_lane_heads_matches_the_routing_policy_over_every_waiting_call(
        calls: list[tuple[str, str, Priority, float]], ready: set[str], hours: bool) -> None:
    """The ACD looks only at the head of each callback lane (flat cost); what it offers must be
    exactly what the routing policy gives over every waiting call, callbacks included."""
    acd = Acd(CONFIG)
    acd.set_business_hours(hours, 0)
    acd.suspend()
    waiting: list[WaitingCall] = []
    for n, (kind, desk, priority, since) in enumerate(calls):
        if kind == "live":
            try:
                acd.enqueue(f"live-{n}", "ch", desk, priority, 100, queued_at=since)
            except AcdError:
                continue
            waiting.append(acd.queue[f"live-{n}"].call)
        else:
            acd.enqueue_callback(f"callback:{n}", desk, priority, 100, queued_at=since, after_hours=kind == "held")
            if kind == "held" or hours:
                waiting.append(acd.callbacks[f"callback:{n}"].call)
    for agent_id in sorted(ready):
        acd.login(agent_id, 0)
        acd.ready(agent_id, float(ord(agent_id[-1])))
    agents = [ReadyAgent(a.config.agent_id, a.config.skills, a.idle_since) for a in acd.agents.values()
              if a.state is AgentState.READY]
    expected = {(c.call_id, a.agent_id) for c, a in assign(waiting, agents, acd.policies, 200)}
    assert set(offers(acd.resume(200))) == expected


# ---- 2. a caller who hangs up while the phone rings is never the agent's miss ----

def test_the_caller_leaving_while_the_agent_rings_is_the_callers_abandon_and_no_miss() -> None:
    acd = Acd(CONFIG)
    logged_in(acd, "a1")
    acd.enqueue("c1", "ch1", "general", Priority.NORMAL, 0)
    assert offers(acd.ready("a1", 1)) == [("c1", "a1")]
    effects = acd.call_left("c1", 4)  # what the engine does on DialEnd CANCEL
    assert [e for e in effects if isinstance(e, CallAbandoned)] == [CallAbandoned("c1", "general", 4, True)]
    agent = acd.agents["a1"]
    assert agent.state is AgentState.READY and agent.misses == 0 and "c1" not in acd.queue


# ---- an offer that never reached Asterisk, the AMI link down ----

def test_offers_wait_while_the_link_is_down_and_one_that_never_reached_asterisk_is_no_miss() -> None:
    acd = Acd(CONFIG)
    logged_in(acd, "a1", "a2")
    acd.enqueue("c1", "ch1", "general", Priority.NORMAL, 0)
    assert offers(acd.ready("a1", 1)) == [("c1", "a1")]
    acd.suspend()
    effects = acd.offer_not_sent("c1", 2)  # the Redirect failed: ami-disconnected
    assert offers(effects) == [] and acd.agents["a1"].state is AgentState.READY and acd.agents["a1"].misses == 0
    assert offers(acd.ready("a2", 3)) == []  # nothing can reach Asterisk now
    assert offers(acd.resume(10)) == [("c1", "a1")]  # the best level again: it was nobody's miss


# ---- 7. the smaller ones ----

def test_a_refused_ready_while_the_phone_rings_does_not_reset_the_miss_count() -> None:
    acd = Acd(CONFIG)
    logged_in(acd, "a1")
    acd.enqueue("c1", "ch1", "general", Priority.NORMAL, 0)
    acd.ready("a1", 1)
    acd.offer_failed("c1", 16)  # miss 1, offered again at once
    assert acd.agents["a1"].state is AgentState.OFFERED and acd.agents["a1"].misses == 1
    with pytest.raises(IllegalTransition):
        acd.ready("a1", 17)  # 409 in the API
    assert acd.agents["a1"].misses == 1
    acd.offer_failed("c1", 31)
    assert acd.agents["a1"].state is AgentState.PAUSED  # two misses in a row: auto-paused


def test_a_stale_wrap_up_timer_does_not_end_the_next_wrap_up_early() -> None:
    acd = Acd(CONFIG)
    logged_in(acd, "a1")
    acd.enqueue("c1", "ch1", "general", Priority.NORMAL, 0)
    acd.ready("a1", 0)
    acd.offer_answered("c1", 1)
    [first] = [e for e in acd.agent_call_ended("a1", 10) if isinstance(e, SetTimer)]  # wrap-up until 15
    acd.ready("a1", 11)  # the agent ends wrap-up early by hand
    acd.enqueue("c2", "ch2", "general", Priority.NORMAL, 12)
    acd.offer_answered("c2", 12)
    [second] = [e for e in acd.agent_call_ended("a1", 14) if isinstance(e, SetTimer)]  # until 19
    assert acd.timer(first.key, 15) == [] and acd.agents["a1"].state is AgentState.WRAP_UP
    assert acd.timer(second.key, 19) and acd.agents["a1"].state is AgentState.READY


def test_an_overflow_timer_firing_exactly_at_its_time_widens_the_call() -> None:
    """queued at 70408.51344132822 with a step after 0.7 s: in floats (q + 0.7) - q < 0.7, so a
    timer that fires exactly on time used to find the step not reached, and set no next timer."""
    cfg = AcdConfig(desks=(Desk("market", "市场", "market", steps=(OverflowStep(0, 5), OverflowStep(0.7, 1))),),
                    agents=(AgentConfig("a3", "丙", "PJSIP/agent1003", "1003", "1", {"market": 1}),))
    acd = Acd(cfg)
    logged_in(acd, "a3")
    acd.ready("a3", 0)
    queued_at = 70408.51344132822
    [timer] = [e for e in acd.enqueue("m1", "ch", "market", Priority.NORMAL, queued_at) if isinstance(e, SetTimer)]
    assert (timer.at - queued_at) < 0.7  # the float trap itself
    assert offers(acd.timer(timer.key, timer.at)) == [("m1", "a3")]


def test_overflow_steps_that_would_narrow_with_the_wait_are_refused_in_the_config() -> None:
    text = """[[desks]]
name = "market"
skill = "market"
overflow = [{after = 0, min_level = 1}, {after = 20, min_level = 3}]
"""
    import tomllib

    with pytest.raises(Exception, match="only widen"):
        parse_acd(tomllib.loads(text), text=text)


def test_the_policy_heads_argument_holds_a_lane_head_is_eligible_wherever_a_later_one_is() -> None:
    """Why the lanes may be served from their heads: with widening steps, a call that waited
    longer may go to every agent a call of the same desk and class that waited less may."""
    policy = DeskPolicy("market", "market", (OverflowStep(0, 4), OverflowStep(20, 2), OverflowStep(40, 1, True)))
    agents = [ReadyAgent(f"a{lvl}", {"market": lvl}, 0) for lvl in range(1, 6)] + [ReadyAgent("pool", {"general": 1}, 0)]
    for older, newer in ((0.0, 10.0), (0.0, 30.0), (5.0, 45.0)):
        head, later = (WaitingCall(n, "market", Priority.NORMAL, q, i) for i, (n, q) in enumerate((("h", older), ("l", newer))))
        for agent in agents:
            if assign([later], [agent], {"market": policy}, 50):
                assert assign([head], [agent], {"market": policy}, 50)


def test_what_a_supervisor_sees_of_an_offer_and_an_agent_keeps_their_place_in_the_idle_line() -> None:
    """The wallboard's facts name the agent, the state, the desk and the time; a ready agent told
    ready again keeps the time they became idle (their place in the longest-idle order)."""
    from acd.acd import AgentChanged

    acd = Acd(CONFIG)
    logged_in(acd, "a1")
    acd.ready("a1", 1)
    acd.ready("a1", 3)
    assert acd.agents["a1"].idle_since == 1
    effects = acd.enqueue("c1", "PJSIP/carrier-1", "general", Priority.NORMAL, 4)
    assert effects == [AgentChanged("a1", AgentState.OFFERED, "general", 4),
                       OfferCall("c1", "PJSIP/carrier-1", "a1", "PJSIP/agent1001", "general"),
                       SetTimer(4 + CONFIG.ring_timeout + OFFER_GRACE, ("offer", "a1", 1))]  # every offer ends
    left = acd.call_left("c1", 5)
    assert AgentChanged("a1", AgentState.READY, "", 5) in left and acd.agents["a1"].call_id is None
    acd.enqueue("c2", "PJSIP/carrier-2", "general", Priority.NORMAL, 6)
    acd.offer_not_sent("c2", 7)  # back in line: the agent holds no call while it is re-offered
    assert acd.agents["a1"].call_id == "c2" and acd.queue["c2"].offered_to == "a1"
    acd.suspend()
    acd.offer_failed("c2", 8)
    assert acd.agents["a1"].call_id is None and acd.agents["a1"].idle_since == 8


# ---- issue 12: agents' sessions across a controller restart ----

def test_a_restart_restores_every_agent_as_the_store_kept_them() -> None:
    """The store kept (epoch seconds; the old process died at wall 1000): a2 in wrap-up until
    1004 after a market call, a1 being offered a call, a3 paused for a meal since 900, an agent
    no longer configured, a state this version does not know. The new process starts at wall
    1010 (monotonic 50): each agent is as kept, on the new clock."""
    acd = Acd(CONFIG, suspended=True)
    kept = [AgentSession("gone", "ready", "", 990.0),
            AgentSession("a3", "dancing", "", 999.0),
            AgentSession("a1", "offered", "general", 995.0, "general", "C9"),
            AgentSession("a2", "wrap_up", "market", 998.0, "market", "", 1014.0),
            AgentSession("a3", "paused", "meal", 900.0)]
    effects = acd.restore(kept, now=50.0, wall=1010.0)
    a1, a2, a3 = (acd.agents[a] for a in ("a1", "a2", "a3"))
    assert (a1.state, a1.reason, a1.call_id, a1.desk, a1.since, a1.idle_since) == (
        AgentState.READY, "", None, None, 35.0, 35.0)  # the resync finds the offer's ring, if any
    assert (a2.state, a2.reason, a2.desk, a2.since, a2.wrap_up_until) == (AgentState.WRAP_UP, "market", "market", 38.0, 54.0)
    assert (a3.state, a3.reason, a3.since) == (AgentState.PAUSED, "meal", -60.0)
    assert effects == [AgentChanged("a1", AgentState.READY, "", 35.0),
                       AgentChanged("a2", AgentState.WRAP_UP, "market", 38.0),
                       SetTimer(54.0, ("wrap_up", "a2", a2.wrap_up_generation)),
                       AgentChanged("a3", AgentState.PAUSED, "meal", -60.0)]
    assert acd.timer(("wrap_up", "a2", a2.wrap_up_generation - 1), 54.0) == []  # an older wrap-up's timer
    assert acd.timer(("wrap_up", "a2", a2.wrap_up_generation), 54.0)[0] == AgentChanged("a2", AgentState.READY, "", 54.0)


def test_a_session_kept_is_the_agents_state_in_epoch_seconds() -> None:
    acd = Acd(CONFIG)
    logged_in(acd, "a1", "a2")
    acd.ready("a2", 3.0)
    acd.enqueue("c1", "PJSIP/carrier-1", "market", Priority.NORMAL, 4.0)
    acd.offer_answered("c1", 6.0)
    assert acd.session("a2", now=7.0, wall=1007.0) == AgentSession("a2", "on_call", "market", 1006.0, "market", "c1")
    acd.agent_call_ended("a2", 10.0)  # the market desk's 8 s wrap-up
    assert acd.session("a2", now=11.0, wall=1011.0) == AgentSession("a2", "wrap_up", "market", 1010.0, "", "", 1018.0)
    assert acd.session("a1", now=11.0, wall=1011.0) == AgentSession("a1", "paused", "login", 1011.0 - 11.0)
    after = Acd(CONFIG)  # the next process, 2 s later: 5 s of wrap-up left
    after.restore([acd.session("a2", now=11.0, wall=1011.0)], now=0.0, wall=1013.0)
    assert after.agents["a2"].wrap_up_until == 5.0
    skewed = Acd(CONFIG)  # a store clock ahead of this host: never a start in the future
    skewed.restore([AgentSession("a1", "ready", "", 2000.0)], now=0.0, wall=1013.0)
    assert skewed.agents["a1"].since == 0.0
