"""Property tests on the routing policy (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from acd.routing import (GENERAL_POOL, TIME_EPSILON, DeskPolicy, OverflowStep, Priority, ReadyAgent,
                         WaitingCall, agent_level, assign, call_order, next_call_for, next_overflow_at)

SKILLS = ["general", "enterprise", "heating", "market", "social"]
POLICIES = {
    "general": DeskPolicy("general", "general", (OverflowStep(0, 1),)),
    "enterprise": DeskPolicy("enterprise", "enterprise",
                             (OverflowStep(0, 4), OverflowStep(20, 2), OverflowStep(40, 1, general_pool=True)), 1.5),
    "heating": DeskPolicy("heating", "heating", (OverflowStep(0, 3), OverflowStep(30, 1, general_pool=True))),
    "market": DeskPolicy("market", "market", (OverflowStep(0, 2), OverflowStep(15, 1))),
    "social": DeskPolicy("social", "social", (OverflowStep(0, 1), OverflowStep(60, 1, general_pool=True))),
}
NOW = 1000.0

calls_st = st.lists(
    st.tuples(st.sampled_from(list(POLICIES)), st.sampled_from(list(Priority)), st.floats(0, 120)),
    max_size=25,
).map(lambda xs: [WaitingCall(f"c{i}", d, p, NOW - w, i) for i, (d, p, w) in enumerate(xs)])

agents_st = st.lists(
    st.tuples(st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5), max_size=3), st.floats(0, 500)),
    max_size=15,
).map(lambda xs: [ReadyAgent(f"a{i}", skills, NOW - idle) for i, (skills, idle) in enumerate(xs)])


@settings(max_examples=300, deadline=None)
@given(calls_st, agents_st)
def test_no_call_to_two_agents_and_no_agent_to_two_calls(calls, agents) -> None:
    matches = assign(calls, agents, POLICIES, NOW)
    assert len({c.call_id for c, _ in matches}) == len(matches)
    assert len({a.agent_id for _, a in matches}) == len(matches)
    for call, agent in matches:
        assert agent_level(agent, call, POLICIES[call.desk], NOW) is not None


@settings(max_examples=300, deadline=None)
@given(calls_st, agents_st)
def test_priority_and_wait_order_respected(calls, agents) -> None:
    """A call left waiting was not eligible for any agent given to a call behind it."""
    matches = assign(calls, agents, POLICIES, NOW)
    matched = {c.call_id for c, _ in matches}
    for waiting in (c for c in calls if c.call_id not in matched):
        for call, agent in matches:
            if call_order(call, POLICIES, NOW) > call_order(waiting, POLICIES, NOW):
                assert agent_level(agent, waiting, POLICIES[waiting.desk], NOW) is None


@settings(max_examples=300, deadline=None)
@given(calls_st, agents_st)
def test_nobody_left_idle_who_could_take_a_waiting_call(calls, agents) -> None:
    matches = assign(calls, agents, POLICIES, NOW)
    busy = {a.agent_id for _, a in matches}
    matched = {c.call_id for c, _ in matches}
    for agent in (a for a in agents if a.agent_id not in busy):
        for call in (c for c in calls if c.call_id not in matched):
            assert agent_level(agent, call, POLICIES[call.desk], NOW) is None


@given(st.floats(0, 100), st.integers(1, 5))
def test_overflow_happens_exactly_at_the_configured_time(waited, level) -> None:
    policy = POLICIES["enterprise"]
    call = WaitingCall("c", "enterprise", Priority.NORMAL, NOW - waited, 0)
    agent = ReadyAgent("a", {"enterprise": level}, 0.0)
    required = 4 if waited < 20 else 2 if waited < 40 else 1
    assert (agent_level(agent, call, policy, NOW) is not None) == (level >= required)
    pool_agent = ReadyAgent("p", {GENERAL_POOL: 1}, 0.0)
    assert (agent_level(pool_agent, call, policy, NOW) is not None) == (waited >= 40)


def test_an_absent_agent_does_not_stall_overflow() -> None:
    """Overflow depends on the call's wait alone: the only expert being logged in but absent
    (never ready) does not keep the call from widening to level 2 at 20 s."""
    call = WaitingCall("c", "enterprise", Priority.NORMAL, NOW - 20.0, 0)
    junior = ReadyAgent("junior", {"enterprise": 2}, NOW - 5)
    assert assign([call], [junior], POLICIES, NOW) == [(call, junior)]
    assert next_overflow_at(WaitingCall("d", "enterprise", Priority.NORMAL, NOW - 5, 1), POLICIES["enterprise"], NOW) == NOW + 15


@given(st.floats(0, 100), st.floats(0, 100))
def test_an_agent_in_two_desks_serves_the_longest_weighted_wait_across_them(wait_market, wait_social) -> None:
    agent = ReadyAgent("a", {"market": 3, "social": 3}, 0.0)
    m = WaitingCall("m", "market", Priority.NORMAL, NOW - wait_market, 0)
    s = WaitingCall("s", "social", Priority.NORMAL, NOW - wait_social, 1)
    chosen = next_call_for(agent, [m, s], POLICIES, NOW)
    expected = m if m.queued_at <= s.queued_at else s  # equal weights: earliest queued wins
    assert chosen is expected


def test_emergency_before_key_enterprise_before_normal_whatever_the_wait() -> None:
    agent = ReadyAgent("a", {"general": 5}, 0.0)
    normal = WaitingCall("n", "general", Priority.NORMAL, NOW - 300, 0)
    key = WaitingCall("k", "general", Priority.KEY_ENTERPRISE, NOW - 10, 1)
    urgent = WaitingCall("u", "general", Priority.EMERGENCY, NOW - 1, 2)
    assert next_call_for(agent, [normal, key, urgent], POLICIES, NOW) is urgent
    assert next_call_for(agent, [normal, key], POLICIES, NOW) is key


def test_best_skilled_then_longest_idle() -> None:
    call = WaitingCall("c", "market", Priority.NORMAL, NOW, 0)
    a = ReadyAgent("a", {"market": 3}, NOW - 100)
    b = ReadyAgent("b", {"market": 5}, NOW - 1)
    c = ReadyAgent("c", {"market": 5}, NOW - 50)
    assert assign([call], [a, b, c], POLICIES, NOW) == [(call, c)]


def test_a_heavier_desk_counts_its_wait_for_more() -> None:
    """Weighted wait: 30 s at a desk of weight 2 counts as 60 s, ahead of 50 s at weight 1,
    whether one agent became ready or several."""
    policies = {"heavy": DeskPolicy("heavy", "heavy", weight=2.0), "plain": DeskPolicy("plain", "plain")}
    plain = WaitingCall("p", "plain", Priority.NORMAL, NOW - 50, 0)
    heavy = WaitingCall("h", "heavy", Priority.NORMAL, NOW - 30, 1)
    both = ReadyAgent("both", {"heavy": 3, "plain": 3}, NOW - 10)
    elsewhere = ReadyAgent("elsewhere", {"market": 3}, NOW - 10)
    assert next_call_for(both, [plain, heavy], policies, NOW) is heavy
    assert assign([plain, heavy], [both, elsewhere], policies, NOW) == [(heavy, both)]
    # lighter than 1: 100 s at weight 0.25 counts as 25 s, behind 50 s at weight 1
    light = {**policies, "heavy": DeskPolicy("heavy", "heavy", weight=0.25)}
    slow = WaitingCall("s", "heavy", Priority.NORMAL, NOW - 100, 1)
    assert assign([plain, slow], [both, elsewhere], light, NOW) == [(plain, both)]


def test_the_general_pool_takes_an_overflowed_call_only_after_every_skilled_agent() -> None:
    """At heating's last step (30 s) any level-1 heating agent or the general pool may take the
    call: a skilled agent still goes first, even one who has been idle for less time."""
    call = WaitingCall("c", "heating", Priority.NORMAL, NOW - 40, 0)
    skilled = ReadyAgent("skilled", {"heating": 1}, NOW - 1)
    pool = ReadyAgent("pool", {GENERAL_POOL: 5}, NOW - 400)
    assert assign([call], [pool, skilled], POLICIES, NOW) == [(call, skilled)]
    assert assign([call], [skilled, pool], POLICIES, NOW) == [(call, skilled)]
    pool_level = agent_level(pool, call, POLICIES["heating"], NOW)
    skilled_level = agent_level(skilled, call, POLICIES["heating"], NOW)
    assert pool_level is not None and skilled_level is not None and pool_level < skilled_level
    assert assign([call], [pool], POLICIES, NOW) == [(call, pool)]


def test_an_overflow_step_reached_a_hair_early_is_reached_and_no_longer_ahead() -> None:
    """The engine's overflow timer may fire a hair (< TIME_EPSILON) before queued_at + after:
    the step then applies, and the next timer is for the following step, not this one again."""
    policy = POLICIES["enterprise"]  # steps at 0 s (level 4), 20 s (level 2), 40 s (general pool)
    call = WaitingCall("c", "enterprise", Priority.NORMAL, 0.0, 0)
    now = 20.0 - TIME_EPSILON
    assert now + TIME_EPSILON == 20.0  # the exact edge, in floats
    assert policy.step_at(now - call.queued_at) == OverflowStep(20, 2)
    junior = ReadyAgent("junior", {"enterprise": 2}, 0.0)
    assert assign([call], [junior], POLICIES, now) == [(call, junior)]
    assert next_overflow_at(call, policy, now) == 40.0
    # at the last step the call is as wide as it gets: no timer
    last = 40.0 - TIME_EPSILON
    assert policy.step_at(last - call.queued_at) == OverflowStep(40, 1, general_pool=True)
    assert next_overflow_at(call, policy, last) is None
