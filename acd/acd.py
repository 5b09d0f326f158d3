"""The ACD's live state: agents and waiting calls. Pure; the engine task is its only caller.

Every method takes `now` (seconds on the engine's monotonic clock) and returns effects; an
illegal request raises with a stable error string and changes nothing (checks, then effects).
Dispatch runs after every change that can free an agent or a call, so an agent who becomes
ready is offered the right waiting call in the same engine step: no polling.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from acd.desks import AcdConfig, AgentConfig
from acd.errors import StableError
from acd.routing import Priority, ReadyAgent, WaitingCall, assign, call_order, next_overflow_at
from acd.states import AgentState, PauseReason, next_agent_state

UNKNOWN_AGENT = "unknown-agent"
UNKNOWN_DESK = "unknown-desk"
QUEUE_FULL = "queue-full"
DESK_CLOSED = "desk-closed"


class AcdError(StableError):
    pass


@dataclass(frozen=True, slots=True)
class OfferCall:
    """Ring `agent_id`'s device for the caller on `channel` (AMI Redirect to the connect context)."""

    call_id: str
    channel: str
    agent_id: str
    device: str
    desk: str


@dataclass(frozen=True, slots=True)
class SetTimer:
    at: float
    key: tuple[str, str]  # ("wrap_up", agent_id) | ("overflow", call_id)


@dataclass(frozen=True, slots=True)
class AgentChanged:
    agent_id: str
    state: AgentState
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class CallAnswered:
    """A queued call reached an agent: speed of answer for the desk's figures."""

    call_id: str
    desk: str
    agent_id: str
    waited: float


@dataclass(frozen=True, slots=True)
class CallAbandoned:
    call_id: str
    desk: str
    waited: float
    while_ringing: bool


@dataclass(frozen=True, slots=True)
class QueueRefused:
    """The desk's queue is full (or the desk unknown): the caller is not left waiting for
    nothing; the edge sends them to the desk's static queue and the callback issue calls back."""

    call_id: str
    channel: str
    desk: str
    reason: str


AcdEffect = OfferCall | SetTimer | AgentChanged | CallAnswered | CallAbandoned | QueueRefused


@dataclass(slots=True)
class LiveAgent:
    config: AgentConfig
    state: AgentState = AgentState.LOGGED_OUT
    reason: str = ""
    since: float = 0.0
    idle_since: float = 0.0
    misses: int = 0
    call_id: str | None = None
    desk: str | None = None  # the desk of the call the agent is on
    history: list[tuple[float, AgentState, str]] = field(default_factory=list)


@dataclass(slots=True)
class QueuedCall:
    call: WaitingCall
    channel: str
    offered_to: str | None = None


class Acd:
    def __init__(self, config: AcdConfig) -> None:
        self.config = config
        self.policies = config.policies()
        self.agents = {a.agent_id: LiveAgent(a) for a in config.agents}
        self.queue: dict[str, QueuedCall] = {}
        self._seq = 0

    # ---- agents: checks, then effects ----
    def _agent(self, agent_id: str) -> LiveAgent:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise AcdError(UNKNOWN_AGENT, agent_id)
        return agent

    def _move(self, agent: LiveAgent, trigger: str, now: float, reason: str = "") -> AgentChanged:
        state = next_agent_state(agent.state, trigger)  # raises before anything changes
        if state is AgentState.READY and agent.state is not AgentState.READY:
            agent.idle_since = now
        agent.state, agent.reason, agent.since = state, reason, now
        agent.history.append((now, state, reason))
        return AgentChanged(agent.config.agent_id, state, reason, now)

    def login(self, agent_id: str, now: float) -> list[AcdEffect]:
        agent = self._agent(agent_id)
        return [self._move(agent, "login", now, PauseReason.LOGIN.value)]

    def ready(self, agent_id: str, now: float) -> list[AcdEffect]:
        agent = self._agent(agent_id)
        agent.misses = 0
        return [self._move(agent, "ready", now), *self.dispatch(now)]

    def pause(self, agent_id: str, reason: PauseReason, now: float) -> list[AcdEffect]:
        return [self._move(self._agent(agent_id), "pause", now, reason.value)]

    def logout(self, agent_id: str, now: float) -> list[AcdEffect]:
        return [self._move(self._agent(agent_id), "logout", now)]

    def agent_outbound(self, agent_id: str, now: float) -> list[AcdEffect]:
        """The agent's phone is on a call the ACD did not offer (they dialed out)."""
        agent = self._agent(agent_id)
        if agent.state in (AgentState.ON_CALL, AgentState.OFFERED, AgentState.LOGGED_OUT):
            return []
        return [self._move(agent, "outbound", now, "outbound")]

    def agent_call_ended(self, agent_id: str, now: float) -> list[AcdEffect]:
        """The agent's call is over: wrap-up, then ready again when the desk says."""
        agent = self._agent(agent_id)
        if agent.state is not AgentState.ON_CALL:
            return []
        desk, agent.desk, agent.call_id = agent.desk, None, None
        wrap_up = self.config.desk(desk).wrap_up if desk else 0.0
        return [self._move(agent, "hangup", now, desk or ""),
                SetTimer(now + wrap_up, ("wrap_up", agent_id))]

    # ---- calls ----
    def enqueue(self, call_id: str, channel: str, desk: str, priority: Priority,
                now: float, queued_at: float | None = None, seq: int | None = None,
                preferred_agent: str = "") -> list[AcdEffect]:
        """Queue a call. `preferred_agent` (who took the caller's open order) gets it first when
        ready and skilled for the desk: an idle agent has no waiting call they could take (the
        dispatch invariant), so nobody who waited longer is passed over."""
        if desk not in self.policies:
            raise AcdError(UNKNOWN_DESK, desk)
        waiting = sum(1 for q in self.queue.values() if q.call.desk == desk)
        if waiting >= self.config.desk(desk).max_queue:
            raise AcdError(QUEUE_FULL, desk)
        if seq is None:
            self._seq += 1
            seq = self._seq
        call = WaitingCall(call_id, desk, priority, now if queued_at is None else queued_at, seq)
        self.queue[call_id] = QueuedCall(call, channel)
        effects: list[AcdEffect] = []
        overflow = next_overflow_at(call, self.policies[desk], now)
        if overflow is not None:
            effects.append(SetTimer(overflow, ("overflow", call_id)))
        preferred = self.agents.get(preferred_agent)
        if preferred is not None and preferred.state is AgentState.READY \
                and self.policies[desk].skill in preferred.config.skills:
            effects += self._offer(self.queue[call_id], preferred, now)
        return effects + self.dispatch(now)

    def offer_answered(self, call_id: str, now: float) -> list[AcdEffect]:
        queued = self.queue.pop(call_id, None)
        if queued is None or queued.offered_to is None:
            return []
        agent = self._agent(queued.offered_to)
        agent.misses = 0
        agent.call_id, agent.desk = call_id, queued.call.desk
        return [self._move(agent, "answer", now, queued.call.desk),
                CallAnswered(call_id, queued.call.desk, agent.config.agent_id, now - queued.call.queued_at)]

    def offer_failed(self, call_id: str, now: float) -> list[AcdEffect]:
        """Ring-no-answer (or busy, unavailable): the call goes back to its original place;
        the agent is ready again, or paused after too many misses in a row."""
        queued = self.queue.get(call_id)
        if queued is None or queued.offered_to is None:
            return []
        agent = self._agent(queued.offered_to)
        queued.offered_to = None
        agent.call_id = None
        agent.misses += 1
        if agent.misses >= self.config.max_misses:
            changed = self._move(agent, "no_answer_pause", now, PauseReason.AUTO_NO_ANSWER.value)
        else:
            changed = self._move(agent, "no_answer", now)
            agent.idle_since = now  # to the back of the idle line, not the front
        return [changed, *self.dispatch(now)]

    def call_left(self, call_id: str, now: float) -> list[AcdEffect]:
        """The caller hung up while waiting or while an agent's phone rang."""
        queued = self.queue.pop(call_id, None)
        if queued is None:
            return []
        effects: list[AcdEffect] = [CallAbandoned(call_id, queued.call.desk, now - queued.call.queued_at,
                                                  queued.offered_to is not None)]
        if queued.offered_to is not None:
            agent = self._agent(queued.offered_to)
            agent.call_id = None
            effects.append(self._move(agent, "caller_gone", now))
            effects += self.dispatch(now)
        return effects

    def timer(self, key: tuple[str, str], now: float) -> list[AcdEffect]:
        kind, ident = key
        if kind == "wrap_up":
            agent = self.agents.get(ident)
            if agent is None or agent.state is not AgentState.WRAP_UP:
                return []
            return [self._move(agent, "wrap_up_done", now), *self.dispatch(now)]
        if kind == "overflow":
            queued = self.queue.get(ident)
            if queued is None:
                return []
            effects: list[AcdEffect] = []
            upcoming = next_overflow_at(queued.call, self.policies[queued.call.desk], now)
            if upcoming is not None:
                effects.append(SetTimer(upcoming, ("overflow", ident)))
            return effects + self.dispatch(now)
        return []

    # ---- the decision ----
    def dispatch(self, now: float) -> list[AcdEffect]:
        ready = [ReadyAgent(a.config.agent_id, a.config.skills, a.idle_since)
                 for a in self.agents.values() if a.state is AgentState.READY]
        if not ready:
            return []
        waiting = [q.call for q in self.queue.values() if q.offered_to is None]
        effects: list[AcdEffect] = []
        for call, chosen in assign(waiting, ready, self.policies, now):
            effects += self._offer(self.queue[call.call_id], self.agents[chosen.agent_id], now)
        return effects

    def _offer(self, queued: QueuedCall, agent: LiveAgent, now: float) -> list[AcdEffect]:
        queued.offered_to = agent.config.agent_id
        agent.call_id = queued.call.call_id
        return [self._move(agent, "offer", now, queued.call.desk),
                OfferCall(queued.call.call_id, queued.channel, agent.config.agent_id, agent.config.device,
                          queued.call.desk)]

    def position(self, call_id: str, now: float) -> int | None:
        """1-based place among the calls of the same desk not yet offered."""
        queued = self.queue.get(call_id)
        if queued is None:
            return None
        mine = call_order(queued.call, self.policies, now)
        ahead = sum(1 for q in self.queue.values()
                    if q.call.desk == queued.call.desk and q.offered_to is None
                    and call_order(q.call, self.policies, now) < mine)
        return ahead + 1
