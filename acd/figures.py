"""The live side of each desk's figures, kept by the engine from the ACD's own facts: who
waits and since when, the agents by state, and the average handle time behind the wait the
callers are told. The counted figures (offered, answered, 15 s level …) come from the call
records (acd/kpis.py), so they survive restarts and agree with the store."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from acd.states import AgentState

if TYPE_CHECKING:
    from acd.acd import Acd, AcdEffect


DEFAULT_HANDLE_TIME = 180.0  # seconds, until the desk has answered calls of its own
HANDLE_TIME_WEIGHT = 0.2  # exponential moving average over recent calls


class DeskFigures:
    def __init__(self, desks: Iterable[str]) -> None:
        self._desks = list(desks)
        self._talk_started: dict[str, tuple[str, float]] = {}  # agent -> (desk, when)
        self.handle_time: dict[str, float] = {}

    def estimated_wait(self, desk: str, ahead: int, serving: int) -> float:
        """Seconds until a caller with `ahead` callers before them reaches an agent: live
        average handle time of the desk, shared among the agents serving it."""
        handle = self.handle_time.get(desk, DEFAULT_HANDLE_TIME)
        return (ahead + 1) * handle / max(1, serving)

    def record(self, effect: AcdEffect) -> None:
        from acd.acd import AgentChanged

        if isinstance(effect, AgentChanged):
            if effect.state is AgentState.ON_CALL and effect.reason:
                self._talk_started[effect.agent_id] = (effect.reason, effect.at)
            elif effect.state is AgentState.WRAP_UP and effect.agent_id in self._talk_started:
                desk, started = self._talk_started.pop(effect.agent_id)
                talk = effect.at - started
                old = self.handle_time.get(desk)
                self.handle_time[desk] = talk if old is None else old + HANDLE_TIME_WEIGHT * (talk - old)

    def snapshot(self, now: float, acd: Acd) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for desk in self._desks:
            waiting = [q for q in acd.queue.values() if q.call.desk == desk]
            agents: dict[str, int] = {s.value: 0 for s in AgentState}
            for agent in acd.agents.values():
                if desk in {d.name for d in acd.config.desks if d.skill in agent.config.skills}:
                    agents[agent.state.value] += 1
            out[desk] = {
                "waiting": len(waiting),
                "longest_wait": max((now - q.call.queued_at for q in waiting), default=0.0),
                "agents": agents,
            }
        return out
