"""Live service figures per desk, kept by the engine from the ACD's own facts.

Answered within target counts calls answered by an agent within the desk's service level
(GB/T 33358: 15 s). A call counts as abandoned only when its caller left before any agent
answered: an answered call is never counted as abandoned (a peer systems' bug).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from acd.states import AgentState

if TYPE_CHECKING:
    from acd.acd import Acd, AcdEffect


@dataclass(slots=True)
class _Counts:
    answered: int = 0
    answered_in_target: int = 0
    abandoned: int = 0
    abandoned_ringing: int = 0
    total_wait: float = 0.0


DEFAULT_HANDLE_TIME = 180.0  # seconds, until the desk has answered calls of its own
HANDLE_TIME_WEIGHT = 0.2  # exponential moving average over recent calls


class DeskFigures:
    def __init__(self, desks: Iterable[str], targets: Mapping[str, float]) -> None:
        self._counts = {d: _Counts() for d in desks}
        self._targets = dict(targets)
        self._talk_started: dict[str, tuple[str, float]] = {}  # agent -> (desk, when)
        self.handle_time: dict[str, float] = {}

    def estimated_wait(self, desk: str, ahead: int, serving: int) -> float:
        """Seconds until a caller with `ahead` callers before them reaches an agent: live
        average handle time of the desk, shared among the agents serving it."""
        handle = self.handle_time.get(desk, DEFAULT_HANDLE_TIME)
        return (ahead + 1) * handle / max(1, serving)

    def record(self, effect: AcdEffect) -> None:
        from acd.acd import AgentChanged, CallAbandoned, CallAnswered

        if isinstance(effect, AgentChanged):
            if effect.state is AgentState.ON_CALL and effect.reason:
                self._talk_started[effect.agent_id] = (effect.reason, effect.at)
            elif effect.state is AgentState.WRAP_UP and effect.agent_id in self._talk_started:
                desk, started = self._talk_started.pop(effect.agent_id)
                talk = effect.at - started
                old = self.handle_time.get(desk)
                self.handle_time[desk] = talk if old is None else old + HANDLE_TIME_WEIGHT * (talk - old)
            return

        if isinstance(effect, CallAnswered):
            c = self._counts.setdefault(effect.desk, _Counts())
            c.answered += 1
            c.total_wait += effect.waited
            if effect.waited <= self._targets.get(effect.desk, 15.0):
                c.answered_in_target += 1
        elif isinstance(effect, CallAbandoned):
            c = self._counts.setdefault(effect.desk, _Counts())
            c.abandoned += 1
            c.abandoned_ringing += int(effect.while_ringing)

    def snapshot(self, now: float, acd: Acd) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for desk, c in self._counts.items():
            waiting = [q for q in acd.queue.values() if q.call.desk == desk]
            agents: dict[str, int] = {s.value: 0 for s in AgentState}
            for agent in acd.agents.values():
                if desk in {d.name for d in acd.config.desks if d.skill in agent.config.skills}:
                    agents[agent.state.value] += 1
            offered = c.answered + c.abandoned
            out[desk] = {
                "waiting": len(waiting),
                "longest_wait": max((now - q.call.queued_at for q in waiting), default=0.0),
                "agents": agents,
                "answered": c.answered,
                "answered_in_target_pct": round(100.0 * c.answered_in_target / c.answered, 1) if c.answered else None,
                "abandoned": c.abandoned,
                "abandoned_while_ringing": c.abandoned_ringing,
                "answer_rate_pct": round(100.0 * c.answered / offered, 1) if offered else None,
                "average_speed_of_answer": round(c.total_wait / c.answered, 2) if c.answered else None,
            }
        return out
