"""Routing policy: which waiting call goes to which ready agent. Pure code, no I/O, no clock.

Rules, in order:
1. Calls are served by priority class (emergency < key enterprise < normal), then by weighted
   wait (longest first), then by arrival order. A call put back after a ring-no-answer keeps its
   original `queued_at` and `seq`, so it returns to its original position, not to the back.
2. A call may go to an agent who holds its desk's skill at no less than the level its overflow
   step requires *now*: the required level drops step by step as the call waits, and at the
   last step any agent of the general pool may take it. Overflow depends only on the call's own
   wait, never on who else is logged in, so an idle-but-absent agent cannot stall it.
3. Among eligible ready agents: highest skill level first, then longest idle, then name.
4. An agent in several desks takes the first eligible call in the global order of rule 1, so
   they serve whoever has waited longest across their desks.
`assign` applies the rules greedily in call order; it never offers one call to two agents nor
two calls to one agent.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

GENERAL_POOL = "general"
# A timer set for `queued_at + after` fires at a clock reading whose difference with queued_at
# can fall a hair short of `after` in floats: times within this margin count as reached.
TIME_EPSILON = 1e-6


class Priority(enum.IntEnum):
    EMERGENCY = 0
    KEY_ENTERPRISE = 1
    NORMAL = 2


@dataclass(frozen=True, slots=True)
class OverflowStep:
    after: float  # seconds of waiting after which this step applies
    min_level: int  # lowest skill level (1..5) that may take the call from then on
    general_pool: bool = False  # from this step on, any general-pool agent may take it


@dataclass(frozen=True, slots=True)
class DeskPolicy:
    desk: str
    skill: str
    steps: tuple[OverflowStep, ...] = (OverflowStep(0.0, 1),)
    weight: float = 1.0  # weighted wait: a desk's waiting seconds count this much

    def step_at(self, waited: float) -> OverflowStep:
        current = self.steps[0]
        for step in self.steps:
            if waited + TIME_EPSILON >= step.after:
                current = step
        return current


@dataclass(frozen=True, slots=True)
class WaitingCall:
    call_id: str
    desk: str
    priority: Priority
    queued_at: float  # seconds on the engine's monotonic clock
    seq: int  # arrival order, the final tie-break


@dataclass(frozen=True, slots=True)
class ReadyAgent:
    agent_id: str
    skills: Mapping[str, int]  # skill -> level 1..5
    idle_since: float


def call_order(call: WaitingCall, policies: Mapping[str, DeskPolicy], now: float) -> tuple[int, float, int]:
    weight = policies[call.desk].weight
    return (int(call.priority), -(now - call.queued_at) * weight, call.seq)


def agent_level(agent: ReadyAgent, call: WaitingCall, policy: DeskPolicy, now: float) -> int | None:
    """The level at which `agent` may take `call` now, or None if not (yet) eligible."""
    step = policy.step_at(now - call.queued_at)
    level = agent.skills.get(policy.skill)
    if level is not None and level >= step.min_level:
        return level
    if step.general_pool and GENERAL_POOL in agent.skills:
        return 0  # the pool takes it, after every skilled agent
    return None


def agent_order(agent: ReadyAgent, level: int) -> tuple[int, float, str]:
    return (-level, agent.idle_since, agent.agent_id)


def best_agent(call: WaitingCall, agents: Iterable[ReadyAgent], policy: DeskPolicy,
               now: float) -> ReadyAgent | None:
    # the call's overflow step is the same for every agent: work it out once
    step = policy.step_at(now - call.queued_at)
    skill, min_level, pool = policy.skill, step.min_level, step.general_pool
    best: ReadyAgent | None = None
    best_key: tuple[int, float, str] | None = None
    for agent in agents:
        level = agent.skills.get(skill)
        if level is None or level < min_level:
            if not (pool and GENERAL_POOL in agent.skills):
                continue
            level = 0
        key = (-level, agent.idle_since, agent.agent_id)
        if best_key is None or key < best_key:
            best, best_key = agent, key
    return best


def assign(calls: Sequence[WaitingCall], agents: Sequence[ReadyAgent],
           policies: Mapping[str, DeskPolicy], now: float) -> list[tuple[WaitingCall, ReadyAgent]]:
    """Greedy matching in call order: each call takes its best still-free eligible agent."""
    if len(agents) == 1:  # the common event: one agent became ready
        call = next_call_for(agents[0], calls, policies, now)
        return [] if call is None else [(call, agents[0])]
    free: dict[str, ReadyAgent] = {a.agent_id: a for a in agents}
    matches: list[tuple[WaitingCall, ReadyAgent]] = []
    for call in sorted(calls, key=lambda c: call_order(c, policies, now)):
        if not free:
            break
        agent = best_agent(call, free.values(), policies[call.desk], now)
        if agent is not None:
            matches.append((call, agent))
            del free[agent.agent_id]
    return matches


def next_call_for(agent: ReadyAgent, calls: Sequence[WaitingCall],
                  policies: Mapping[str, DeskPolicy], now: float) -> WaitingCall | None:
    """The call a newly ready agent should take: the first in call order they may take."""
    best: WaitingCall | None = None
    best_key: tuple[int, float, int] | None = None
    skills = agent.skills
    in_pool = GENERAL_POOL in skills
    for call in calls:
        policy = policies[call.desk]
        waited = now - call.queued_at
        level = skills.get(policy.skill)
        if level is None and not in_pool:
            continue  # the cheap test first: most calls are for desks this agent does not serve
        step = policy.step_at(waited)
        if (level is None or level < step.min_level) and not (step.general_pool and in_pool):
            continue
        key = (int(call.priority), -waited * policy.weight, call.seq)
        if best_key is None or key < best_key:
            best, best_key = call, key
    return best


def next_overflow_at(call: WaitingCall, policy: DeskPolicy, now: float) -> float | None:
    """When the call's eligibility next widens (the engine sets a timer for it), if ever."""
    upcoming = [call.queued_at + step.after for step in policy.steps
                if call.queued_at + step.after > now + TIME_EPSILON]
    return min(upcoming) if upcoming else None
