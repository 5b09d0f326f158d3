"""An agent's day from their state history (issue 17): the store keeps every transition (state,
reason, when); memory holds only the current state. Pure: the transitions in, the figures out.

Figures, in seconds within the local day [start, end) (or until `now` for today):
logged_in (any state but logged_out), ready, offered (ringing), on_call, wrap_up, paused per
reason; occupancy = (offered + on_call + wrap_up) / (ready + offered + on_call + wrap_up), the
share of the time available to take calls that the agent spent on them (None with no such time).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

WORKING = ("offered", "on_call", "wrap_up")


@dataclass(frozen=True, slots=True)
class Transition:
    at: float  # epoch seconds
    state: str  # an AgentState value
    reason: str = ""


def agent_day(transitions: Iterable[Transition], start: float, end: float) -> dict[str, object]:
    """`transitions` in time order; the last one before `start` (if any) says the state the day
    began in. Time after `end` (for today: now) is not counted."""
    spent: dict[str, float] = {}
    paused: dict[str, float] = {}
    current: Transition | None = None
    for step in sorted(transitions, key=lambda t: t.at):
        if current is not None:
            _count(current, max(current.at, start), min(step.at, end), spent, paused)
        current = step
    if current is not None:
        _count(current, max(current.at, start), end, spent, paused)
    logged_in = sum(v for k, v in spent.items() if k != "logged_out")
    working = sum(spent.get(k, 0.0) for k in WORKING)
    available = working + spent.get("ready", 0.0)
    return {"logged_in": round(logged_in, 3), "ready": round(spent.get("ready", 0.0), 3),
            "offered": round(spent.get("offered", 0.0), 3), "on_call": round(spent.get("on_call", 0.0), 3),
            "wrap_up": round(spent.get("wrap_up", 0.0), 3),
            "paused": {reason: round(seconds, 3) for reason, seconds in sorted(paused.items())},
            "occupancy": round(working / available, 4) if available > 0 else None}


def _count(step: Transition, begin: float, until: float, spent: dict[str, float], paused: dict[str, float]) -> None:
    if until <= begin:
        return
    spent[step.state] = spent.get(step.state, 0.0) + (until - begin)
    if step.state == "paused":
        reason = step.reason or "break"  # a pause with no reason given is a break
        paused[reason] = paused.get(reason, 0.0) + (until - begin)
