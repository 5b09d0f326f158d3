"""The ACD's live state: agents and waiting calls. Pure; the engine task is its only caller.

Every method takes `now` (seconds on the engine's monotonic clock) and returns effects; an
illegal request raises with a stable error string and changes nothing (checks, then effects).
Dispatch runs after every change that can free an agent or a call, so an agent who becomes
ready is offered the right waiting call in the same engine step: no polling.

Two kinds of waiting calls: live callers (`queue`: they count against the desk's `max_queue`,
the waiting figures and the positions announced to callers) and callbacks (`callbacks`: due
callback entries in lanes of their own, one lane per desk, priority class and whether they may
be dialed after hours). Within a lane the order is the routing order (same desk, same class:
queue time, then arrival), and overflow only widens with the wait, so the head of a lane can go
to every agent a later callback of that lane could: dispatch looks at the heads alone, and its
cost does not grow with the backlog. A callback is still served in the global routing order,
never ahead of a live caller of its class who waited longer.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, replace

from acd.desks import AcdConfig, AgentConfig, external_device
from acd.errors import StableError
from acd.lines import DialLine, HangUpLine, LineChanged, LineState, joining_device, line_uniqueid
from acd.routing import Priority, ReadyAgent, WaitingCall, agent_order, assign, call_order, next_overflow_at
from acd.states import AgentState, PauseReason, next_agent_state

UNKNOWN_AGENT = "unknown-agent"
UNKNOWN_DESK = "unknown-desk"
QUEUE_FULL = "queue-full"
DESK_CLOSED = "desk-closed"
BAD_PHONE = "bad-phone-number"  # an ordinary phone to log in on must be 3 to 20 digits
LINE_NEEDS_PHONE = "persistent-line-needs-phone"  # a persistent line is to an ordinary phone


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


TimerKey = tuple[str, str, int]
# an offer nobody heard back about (no DialEnd, no failure) ends this long after the agent's
# ring time: the agent is not left OFFERED while callers wait (the engine first checks that no
# channel of the agent's phone is live: a ring or call in progress still gets its DialEnd)
OFFER_GRACE = 10.0


@dataclass(frozen=True, slots=True)
class SetTimer:
    at: float
    key: TimerKey  # ("wrap_up" | "offer", agent_id, generation) | ("overflow", call_id, 0)


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


@dataclass(frozen=True, slots=True)
class AgentReachable:
    """An agent's phone can be rung again, or can no longer be (its state is unchanged: a ready
    agent whose phone is unreachable stays ready, and is offered calls again once it is back)."""

    agent_id: str
    reachable: bool
    at: float


AcdEffect = (OfferCall | SetTimer | AgentChanged | CallAnswered | CallAbandoned | QueueRefused | AgentReachable
             | DialLine | HangUpLine | LineChanged)


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
    wrap_up_generation: int = 0  # a wrap-up timer of an earlier wrap-up must not end this one
    wrap_up_until: float = 0.0
    offer_generation: int = 0  # likewise for the deadline of an offer
    reachable: bool = True  # its phone can be rung (acd.reachability): offered no call while not
    phone: str = ""  # logged in on an ordinary phone: its number (offers go out through the trunk)
    poor_quality: str = ""  # what RTCP said was wrong with the last call's audio ("" when it was fine)
    reachable_since: float = 0.0
    # what the softphone's contacts last said, whatever phone the agent is on now (an agent on
    # an ordinary phone is reachable there; logged out of it, the softphone's word counts again)
    softphone_reachable: bool = True
    # on an ordinary phone, on one line for the shift (acd.lines): offered calls only while it is up
    persistent: bool = False
    line: LineState = LineState.DOWN
    line_id: str = ""  # the line's channel (its uniqueid), while dialing or up


@dataclass(frozen=True, slots=True)
class AgentSession:
    """What the store keeps of an agent, so a controller restart does not log out the hall.
    Times are epoch seconds (the engine's monotonic clock does not survive a restart)."""

    agent_id: str
    state: str  # an AgentState value
    reason: str
    since: float
    desk: str = ""
    call_id: str = ""
    wrap_up_until: float = 0.0
    phone: str = ""  # logged in on an ordinary phone: its number (kept, so a restart keeps ringing it)
    persistent: bool = False  # on a persistent line to that phone (the resync finds the line again)


@dataclass(slots=True)
class QueuedCall:
    call: WaitingCall
    channel: str
    offered_to: str | None = None
    after_hours: bool = True  # a callback that may be dialed outside business hours (virtual hold)


LaneKey = tuple[str, int, bool]  # desk, priority class, may be dialed after hours


class Acd:
    def __init__(self, config: AcdConfig, suspended: bool = False) -> None:
        self.config = config
        self.policies = config.policies()
        self.agents = {a.agent_id: LiveAgent(a) for a in config.agents}
        self.queue: dict[str, QueuedCall] = {}  # live callers
        self.callbacks: dict[str, QueuedCall] = {}  # due callbacks, in their lanes
        self._lanes: dict[LaneKey, list[tuple[float, int, str]]] = {}
        self.business_hours = True  # plain callbacks are offered only in business hours
        self.suspended = suspended  # the AMI link is down: no offer could reach Asterisk
        self._seq = 0
        self._line_serial = 0

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
        return AgentChanged(agent.config.agent_id, state, reason, now)

    def login(self, agent_id: str, now: float, phone: str = "", persistent: bool = False) -> list[AcdEffect]:
        """`phone`: the agent works from an ordinary phone with this number (a home seat
        without a softphone); every offer rings it through the trunk and waits for the agent's 1.
        `persistent`: the phone is dialed once now, the agent presses 1 once, and stays on that
        line between calls; each citizen is put through to it at once (acd.lines)."""
        agent = self._agent(agent_id)
        if phone and not _phone_number(phone):
            raise AcdError(BAD_PHONE, phone)
        if persistent and not phone:
            raise AcdError(LINE_NEEDS_PHONE, agent_id)
        changed = self._move(agent, "login", now, PauseReason.LOGIN.value)
        self._on_phone(agent, phone, persistent)
        return [changed, *self._dial_line(agent, now)] if persistent else [changed]

    @staticmethod
    def _on_phone(agent: LiveAgent, phone: str, persistent: bool = False) -> None:
        agent.phone, agent.persistent = phone, persistent and bool(phone)
        if not agent.persistent:
            agent.line, agent.line_id = LineState.DOWN, ""
        # no contact tells of an ordinary phone; a persistent line is reachable while it is up
        agent.reachable = (agent.line is LineState.UP if agent.persistent
                           else True if phone else agent.softphone_reachable)

    def device(self, agent_id: str) -> str:
        agent = self._agent(agent_id)
        if agent.persistent:
            return joining_device(agent_id)
        return external_device(agent.phone) if agent.phone else agent.config.device

    def ready(self, agent_id: str, now: float) -> list[AcdEffect]:
        """Ready; an agent whose persistent line is down has it dialed again (and is offered
        calls once they pressed 1 on it)."""
        agent = self._agent(agent_id)
        changed = self._move(agent, "ready", now)  # an illegal ready changes nothing, misses included
        agent.misses = 0
        return [changed, *self._dial_line(agent, now), *self.dispatch(now)]

    # ---- persistent lines (acd.lines) ----
    def _dial_line(self, agent: LiveAgent, now: float) -> list[AcdEffect]:
        if not agent.persistent or agent.line is not LineState.DOWN:
            return []
        # the channel's name for Asterisk: unique among live channels, also across a controller
        # restart (the monotonic clock goes on; a lost line of the last life may still be live)
        self._line_serial = max(self._line_serial + 1, int(now * 1000))
        agent.line, agent.line_id = LineState.DIALING, line_uniqueid(agent.config.agent_id, self._line_serial)
        return [DialLine(agent.config.agent_id, agent.phone, agent.line_id),
                LineChanged(agent.config.agent_id, LineState.DIALING)]

    def line_up(self, agent_id: str, uniqueid: str, now: float) -> list[AcdEffect]:
        """The agent pressed 1 and is in their conference: offers may join them. A line the
        agent no longer wants (logged out, off persistent mode, a line replaced) is hung up."""
        agent = self._agent(agent_id)
        if not agent.persistent or uniqueid != agent.line_id:  # logged out, no agent is persistent
            return [HangUpLine(agent_id, uniqueid)]
        if agent.line is LineState.UP:
            return []
        agent.line = LineState.UP
        return [LineChanged(agent_id, LineState.UP), *self._set_reachable(agent, True, now)]

    def line_down(self, agent_id: str, uniqueid: str, now: float, cause: int | None = None) -> list[AcdEffect]:
        """The line hung up (the agent, the network, or never answered with 1): nothing is
        offered to the agent until it is up again (their next ready dials it)."""
        agent = self._agent(agent_id)
        if uniqueid != agent.line_id:
            return []
        agent.line, agent.line_id = LineState.DOWN, ""
        return [LineChanged(agent_id, LineState.DOWN, cause), *self._set_reachable(agent, False, now)]

    def lines_found(self, live: dict[str, tuple[str, bool]], now: float) -> list[AcdEffect]:
        """After a (re)connect or a restart: the lines Asterisk lists (agent -> its channel, and
        whether it is in the agent's conference). A line nobody wants is hung up; a persistent
        agent whose line is not listed has none."""
        effects: list[AcdEffect] = []
        for agent_id, (uniqueid, bridged) in live.items():
            agent = self.agents.get(agent_id)
            if agent is None or not agent.persistent:
                effects.append(HangUpLine(agent_id, uniqueid))
            elif agent.line_id in ("", uniqueid):  # this life's own line, or the last life's
                agent.line_id = uniqueid
                if bridged:
                    effects += self.line_up(agent_id, uniqueid, now)
                else:
                    agent.line = LineState.DIALING
            else:
                effects.append(HangUpLine(agent_id, uniqueid))  # an older line than the one dialed now
        for agent in self.agents.values():
            if agent.persistent and agent.line_id and agent.config.agent_id not in live:
                effects += self.line_down(agent.config.agent_id, agent.line_id, now)
        return effects

    def _set_reachable(self, agent: LiveAgent, reachable: bool, now: float) -> list[AcdEffect]:
        if agent.reachable == reachable:
            return []
        agent.reachable, agent.reachable_since = reachable, now
        changed: list[AcdEffect] = [AgentReachable(agent.config.agent_id, reachable, now)]
        return changed + self.dispatch(now) if reachable else changed

    def pause(self, agent_id: str, reason: PauseReason, now: float) -> list[AcdEffect]:
        return [self._move(self._agent(agent_id), "pause", now, reason.value)]

    def logout(self, agent_id: str, now: float) -> list[AcdEffect]:
        agent = self._agent(agent_id)
        changed = self._move(agent, "logout", now)
        line = [HangUpLine(agent_id, agent.line_id)] if agent.line_id else []
        self._on_phone(agent, "")
        return [changed, *line]

    def agent_outbound(self, agent_id: str, now: float, call_id: str = "", desk: str = "") -> list[AcdEffect]:
        """The agent's phone is on a call the ACD did not offer: they dialed out, or Asterisk
        shows them on a call the ACD did not see begin (after a restart or an outage: the
        ACD's own offer, or app_queue's while the controller was away; then `call_id` and
        `desk` name it, and the wrap-up is that desk's). A logged-out agent stays logged out
        (app_queue rings its static members whether logged in or not); an offered one is
        left to the offer's DialEnd."""
        agent = self._agent(agent_id)
        if agent.state in (AgentState.OFFERED, AgentState.LOGGED_OUT):
            return []
        desk = desk if desk in self.policies else ""
        if agent.state is AgentState.ON_CALL:
            agent.call_id, agent.desk = call_id or agent.call_id, desk or agent.desk
            return []
        agent.call_id, agent.desk = call_id or None, desk or None
        return [self._move(agent, "outbound", now, desk or "outbound")]

    def agent_call_ended(self, agent_id: str, now: float) -> list[AcdEffect]:
        """The agent's call is over: wrap-up, then ready again when the desk says."""
        agent = self._agent(agent_id)
        if agent.state is not AgentState.ON_CALL:
            return []
        desk, agent.desk, agent.call_id = agent.desk, None, None
        wrap_up = self.config.desk(desk).wrap_up if desk else 0.0
        agent.wrap_up_generation += 1
        agent.wrap_up_until = now + wrap_up
        return [self._move(agent, "hangup", now, desk or ""),
                SetTimer(agent.wrap_up_until, ("wrap_up", agent_id, agent.wrap_up_generation))]

    def set_reachable(self, agent_id: str, reachable: bool, now: float) -> list[AcdEffect]:
        """The agent's phone can be rung (or not) as its contacts say; back, it may be offered
        a waiting call at once."""
        agent = self._agent(agent_id)
        agent.softphone_reachable = reachable
        if agent.phone:  # contacts tell nothing of an ordinary phone
            return []
        return self._set_reachable(agent, reachable, now)

    # ---- sessions across restarts ----
    def session(self, agent_id: str, now: float, wall: float) -> AgentSession:
        agent = self._agent(agent_id)
        until = wall + (agent.wrap_up_until - now) if agent.state is AgentState.WRAP_UP else 0.0
        return AgentSession(agent_id, agent.state.value, agent.reason, wall + (agent.since - now),
                            agent.desk or "", agent.call_id or "", until, agent.phone, agent.persistent)

    def restore(self, sessions: list[AgentSession], now: float, wall: float) -> list[AcdEffect]:
        """Agents as the store kept them, at start (before the first resync, which reconciles
        them with what Asterisk shows). An agent who was being offered a call comes back ready:
        the resync finds the offer's ring or call, if there is one. A wrap-up resumes with the
        time it had left. Agents no longer configured are ignored."""
        effects: list[AcdEffect] = []
        for kept in sessions:
            agent = self.agents.get(kept.agent_id)
            try:
                state = AgentState(kept.state)
            except ValueError:
                continue
            if agent is None:
                continue
            if state is AgentState.OFFERED:
                state, kept = AgentState.READY, replace(kept, reason="", call_id="", desk="")
            since = now - max(0.0, wall - kept.since)
            agent.state, agent.reason, agent.since, agent.idle_since = state, kept.reason, since, since
            agent.call_id = kept.call_id or None
            agent.desk = kept.desk if kept.desk in self.policies else None  # a desk since removed: none
            phone = kept.phone if state is not AgentState.LOGGED_OUT and _phone_number(kept.phone) else ""
            self._on_phone(agent, phone, kept.persistent)  # a line is down until the resync lists it
            effects.append(AgentChanged(kept.agent_id, state, kept.reason, since))
            if state is AgentState.WRAP_UP:
                agent.wrap_up_generation += 1
                agent.wrap_up_until = now + max(0.0, kept.wrap_up_until - wall)
                effects.append(SetTimer(agent.wrap_up_until, ("wrap_up", kept.agent_id, agent.wrap_up_generation)))
        return effects

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
            effects.append(SetTimer(overflow, ("overflow", call_id, 0)))
        preferred = self.agents.get(preferred_agent)
        if preferred is not None and preferred.state is AgentState.READY and preferred.reachable \
                and self.policies[desk].skill in preferred.config.skills:
            effects += self._offer(self.queue[call_id], preferred, now)
        return effects + self.dispatch(now)

    def enqueue_callback(self, call_id: str, desk: str, priority: Priority, now: float, queued_at: float,
                         after_hours: bool = False) -> list[AcdEffect]:
        """Queue a due callback in its lane: never counted against the desk's `max_queue`, its
        waiting figures or the positions callers hear. `queued_at` is when it became due (for
        virtual hold, when the caller joined the queue), so the routing order puts it behind
        every live caller of its class who waited longer."""
        if desk not in self.policies:
            raise AcdError(UNKNOWN_DESK, desk)
        if call_id in self.callbacks:
            return []
        self._seq += 1
        queued = QueuedCall(WaitingCall(call_id, desk, priority, queued_at, self._seq), "", after_hours=after_hours)
        self.callbacks[call_id] = queued
        self._push(queued)
        return self.dispatch(now)

    def _push(self, queued: QueuedCall) -> None:
        call = queued.call
        lane = self._lanes.setdefault((call.desk, int(call.priority), queued.after_hours), [])
        heapq.heappush(lane, (call.queued_at, call.seq, call.call_id))

    def _lane_heads(self) -> list[WaitingCall]:
        """The first callback of every lane that may be offered now (stale lane items are
        dropped here: callbacks that were answered, withdrawn or are being offered)."""
        heads: list[WaitingCall] = []
        for (_, _, after_hours), lane in self._lanes.items():
            while lane:
                queued = self.callbacks.get(lane[0][2])
                if queued is not None and queued.offered_to is None and queued.call.seq == lane[0][1]:
                    break
                heapq.heappop(lane)
            if lane and (after_hours or self.business_hours):
                heads.append(self.callbacks[lane[0][2]].call)
        return heads

    def _queued(self, call_id: str) -> QueuedCall | None:
        return self.queue.get(call_id) or self.callbacks.get(call_id)

    def _pop(self, call_id: str) -> QueuedCall | None:
        return self.queue.pop(call_id, None) or self.callbacks.pop(call_id, None)

    def offer_answered(self, call_id: str, now: float) -> list[AcdEffect]:
        queued = self._queued(call_id)
        if queued is None or queued.offered_to is None:
            return []
        self._pop(call_id)
        agent = self._agent(queued.offered_to)
        agent.misses = 0
        agent.call_id, agent.desk = call_id, queued.call.desk
        return [self._move(agent, "answer", now, queued.call.desk),
                CallAnswered(call_id, queued.call.desk, agent.config.agent_id, now - queued.call.queued_at)]

    def offer_failed(self, call_id: str, now: float) -> list[AcdEffect]:
        """Ring-no-answer (or busy, unavailable): the call goes back to its original place;
        the agent is ready again, or paused after too many misses in a row."""
        agent = self._take_back(call_id)
        if agent is None:
            return []
        agent.misses += 1
        if agent.misses >= self.config.max_misses:
            changed = self._move(agent, "no_answer_pause", now, PauseReason.AUTO_NO_ANSWER.value)
        else:
            changed = self._move(agent, "no_answer", now)
            agent.idle_since = now  # to the back of the idle line, not the front
        return [changed, *self.dispatch(now)]

    def offer_not_sent(self, call_id: str, now: float, caller_gone: bool = False) -> list[AcdEffect]:
        """The offer never reached the agent's phone (Asterisk refused the action, or the AMI
        link was down): the call goes back to its place, the agent is ready again, and it is
        nobody's miss. The agent goes to the back of the idle line, so a failure that repeats
        does not ring the same agent in a loop. When Asterisk said the caller's channel is gone
        (they hung up as the offer went out), the call leaves the queue as the caller's abandon,
        before anybody else is offered it."""
        queued = self._queued(call_id)
        agent = self._take_back(call_id)
        if agent is None or queued is None:
            return []
        changed = self._move(agent, "offer_not_sent", now)
        agent.idle_since = now
        effects: list[AcdEffect] = [changed]
        if caller_gone:
            self._pop(call_id)
            effects.append(CallAbandoned(call_id, queued.call.desk, now - queued.call.queued_at, False))
        return effects + self.dispatch(now)

    def offer_expired(self, agent_id: str, generation: int, now: float) -> list[AcdEffect]:
        """The deadline of an offer passed with no word from Asterisk: not the agent's miss
        (their phone may never have rung); the call goes back to its place."""
        agent = self.agents.get(agent_id)
        if agent is None or agent.state is not AgentState.OFFERED or agent.offer_generation != generation:
            return []
        return self.offer_not_sent(agent.call_id or "", now)

    def _take_back(self, call_id: str) -> LiveAgent | None:
        """An offer that did not connect: the call back at its place; the agent it rang."""
        queued = self._queued(call_id)
        if queued is None or queued.offered_to is None:
            return None
        agent = self._agent(queued.offered_to)
        self._back_in_line(queued)
        agent.call_id = None
        return agent

    def _back_in_line(self, queued: QueuedCall) -> None:
        queued.offered_to = None
        if queued.call.call_id in self.callbacks:
            self._push(queued)  # at its own place in its lane (queue time and arrival unchanged)

    def call_left(self, call_id: str, now: float) -> list[AcdEffect]:
        """The caller hung up while waiting or while an agent's phone rang (for the ringing
        case Asterisk says so first, with DialEnd CANCEL): the caller's abandon, never the
        agent's miss."""
        queued = self._pop(call_id)
        if queued is None:
            return []
        effects: list[AcdEffect] = [CallAbandoned(call_id, queued.call.desk, now - queued.call.queued_at,
                                                  queued.offered_to is not None)]
        return effects + self._free_offered(queued, "caller_gone", now)

    def withdraw(self, call_id: str, now: float) -> list[AcdEffect]:
        """A waiting call leaves without being lost: a callback whose entry closed (served,
        expired, opted out), a caller taken by the fallback queue. An agent it was being
        offered to is free again at once (no miss)."""
        queued = self._pop(call_id)
        if queued is None:
            return []
        return self._free_offered(queued, "withdrawn", now)

    def _free_offered(self, queued: QueuedCall, trigger: str, now: float) -> list[AcdEffect]:
        if queued.offered_to is None:
            return []
        agent = self._agent(queued.offered_to)
        agent.call_id = None
        return [self._move(agent, trigger, now), *self.dispatch(now)]

    def set_business_hours(self, open_now: bool, now: float) -> list[AcdEffect]:
        """Plain callbacks wait outside business hours; a virtual-hold callback never does.
        When the hours open, a plain callback that waited overnight counts as queued at the
        opening (the moment it could be dialed), in its old order: live callers who were
        already waiting at 07:59 are served before it, those who call after 08:00 after it."""
        if open_now == self.business_hours:
            return []
        self.business_hours = open_now
        if open_now:
            for (_, _, after_hours), lane in self._lanes.items():
                if not after_hours:
                    self._rebase(lane, now)
        return self.dispatch(now)

    def _rebase(self, lane: list[tuple[float, int, str]], now: float) -> None:
        waiting = sorted(item for item in lane if (q := self.callbacks.get(item[2])) is not None
                         and q.call.seq == item[1] and q.offered_to is None)
        lane.clear()
        for _, _, call_id in waiting:
            queued = self.callbacks[call_id]
            self._seq += 1
            queued.call = replace(queued.call, queued_at=now, seq=self._seq)
            lane.append((queued.call.queued_at, queued.call.seq, call_id))
        heapq.heapify(lane)

    def suspend(self) -> None:
        """The AMI link is down: offers wait (they could not reach Asterisk)."""
        self.suspended = True

    def resume(self, now: float) -> list[AcdEffect]:
        """The link is up and the model resynchronised: every ready agent gets a call now."""
        self.suspended = False
        return self.dispatch(now)

    def timer(self, key: TimerKey, now: float) -> list[AcdEffect]:
        kind, ident, generation = key
        if kind == "wrap_up":
            agent = self.agents.get(ident)
            if agent is None or agent.state is not AgentState.WRAP_UP or agent.wrap_up_generation != generation:
                return []
            return [self._move(agent, "wrap_up_done", now), *self.dispatch(now)]
        if kind == "overflow":
            queued = self.queue.get(ident)
            if queued is None:
                return []
            effects: list[AcdEffect] = []
            upcoming = next_overflow_at(queued.call, self.policies[queued.call.desk], now)
            if upcoming is not None:
                effects.append(SetTimer(upcoming, ("overflow", ident, 0)))
            return effects + self.dispatch(now)
        return []

    def ready_agent_for(self, desk: str) -> LiveAgent | None:
        """The ready agent the desk's routing would choose first (a warm transfer's consult):
        the highest level of the desk's skill, then the longest idle."""
        skill = self.config.desk(desk).skill
        ready = [(agent_order(ReadyAgent(a.config.agent_id, a.config.skills, a.idle_since), a.config.skills[skill]), a)
                 for a in self.agents.values() if a.state is AgentState.READY and a.reachable
                 and skill in a.config.skills]
        return min(ready, key=lambda pair: pair[0])[1] if ready else None

    # ---- the decision ----
    def dispatch(self, now: float) -> list[AcdEffect]:
        if self.suspended:
            return []
        ready = [ReadyAgent(a.config.agent_id, a.config.skills, a.idle_since)
                 for a in self.agents.values() if a.state is AgentState.READY and a.reachable]
        if not ready:
            return []
        effects: list[AcdEffect] = []
        while ready:
            waiting = [q.call for q in self.queue.values() if q.offered_to is None] + self._lane_heads()
            matches = assign(waiting, ready, self.policies, now)
            taken: set[str] = set()
            for call, chosen in matches:
                queued = self._queued(call.call_id)
                assert queued is not None
                effects += self._offer(queued, self.agents[chosen.agent_id], now)
                taken.add(chosen.agent_id)
                if call.call_id in self.callbacks:
                    break  # its lane has a new head, which may come before the remaining matches
            else:
                break  # every match was a live caller's: done
            ready = [a for a in ready if a.agent_id not in taken]
        return effects

    def _offer(self, queued: QueuedCall, agent: LiveAgent, now: float) -> list[AcdEffect]:
        if self.suspended:
            return []
        queued.offered_to = agent.config.agent_id
        agent.call_id = queued.call.call_id
        agent.offer_generation += 1
        deadline = now + self.config.ring_timeout + OFFER_GRACE
        return [self._move(agent, "offer", now, queued.call.desk),
                OfferCall(queued.call.call_id, queued.channel, agent.config.agent_id, self.device(agent.config.agent_id),
                          queued.call.desk),
                SetTimer(deadline, ("offer", agent.config.agent_id, agent.offer_generation))]

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


def _phone_number(phone: str) -> bool:
    """An ordinary phone's number an agent may log in on: 3 to 20 digits."""
    return phone.isascii() and phone.isdigit() and 3 <= len(phone) <= 20
