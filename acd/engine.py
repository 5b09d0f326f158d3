"""The engine: ONE task, ONE inbox, the single writer of live state.

AMI events, AGI outcomes, resync snapshots, timers and agent requests (HTTP, feature codes) all
arrive as messages in the inbox; the engine applies each to the call model and the ACD in
arrival order and hands the resulting effects to the handlers it was given. Nothing else
changes live state, so there are no locks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from datetime import datetime, timedelta, timezone
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

from acd import events as ev
from acd import supervision as sv
from acd.acd import (UNKNOWN_AGENT, Acd, AcdEffect, AcdError, AgentChanged, AgentSession, CallAbandoned, CallAnswered,
                     OfferCall, QueueRefused, SetTimer)
from acd.calls import CallView, LiveCalls
from acd.commands import CallEnded, CallWaiting, Effect, SaveAgentSession, WriteCallRecord
from acd.desks import AcdConfig, device_prefix
from acd.figures import DeskFigures
from acd.handover import (AGENT_NOT_READY, NO_AGENT_READY, SAME_DESK, SELF_TRANSFER, UNKNOWN_AGENT, UNKNOWN_DESK,
                          UNKNOWN_TARGET_AGENT,
                          AgentKeys, CallLegs, Handover, HandoverChanged, HandoverError, HandoverPlan, Handovers,
                          HangUpLeg, Kind, MoveLegs, handover_disposition)
from acd.kpis import HOTLINE, DayFigures, ServiceFigures
from acd.lines import FAR_SUFFIX, line_agent
from acd.records import CALLBACK_AFTER_LOST_CONNECTION, CallRecord
from acd.reachability import Contacts, pjsip_endpoint
from acd.security import BlockView, FloodGuard, UnblockAddress
from acd.ports import CallbackPort, NoCallbacks, Queued
from acd.routing import Priority
from acd.states import AgentState, HandoverStage, PauseReason, next_agent_state

log = logging.getLogger("acd.engine")

EffectHandler = Callable[[Any], None]
# due callbacks are looked at after every step; this timer also widens the overflow of callbacks
# waiting in their lanes (they carry no timer of their own) and follows business hours
CALLBACK_TICK = ("callbacks", "tick", 0)
AGENTS_CONTEXT = "from-agents"  # where calls from agents' phones start (asterisk-conf/pjsip.conf)
CONNECT_CONTEXT = "hotline-connect"
FALLBACK_CONTEXT = "hotline-fallback"
CANCEL = "CANCEL"  # DialEnd's status when the dialing side (the caller) hung up
# Asterisk refused an offer's action (shutting down, overloaded …): offers wait this long (or,
# if the link drops, until the resync) instead of ringing the next agent into the same refusal
OFFERS_HELD = ("offers", "held", 0)
OFFER_RETRY_AFTER = 2.0
# a FastAGI session whose channel the AMI has not shown yet is held this long, then dropped: a
# session Asterisk does not know (a local process speaking FastAGI) never becomes a caller
CHANNEL_WAIT = 5.0


@dataclass(frozen=True, slots=True)
class AgentRequest:
    """login | ready | pause | logout for one agent; the answer comes back on `reply`."""

    op: str
    agent_id: str
    reply: asyncio.Future[Any]
    reason: str = ""
    phone: str = ""  # login: on an ordinary phone with this number
    persistent: bool = False  # login: on one line to that phone for the shift (acd.lines)


@dataclass(frozen=True, slots=True)
class DoNotCall:
    """Put a number on (or take it off) the callback do-not-call list; the reply is the entry
    this closed, or None."""

    number: str
    add: bool
    reply: asyncio.Future[Any]


@dataclass(frozen=True, slots=True)
class AgentView:
    agent_id: str
    name: str
    state: str
    reason: str
    since: float
    call_id: str | None
    reachable: bool = True  # its phone can be rung (PJSIP contacts); not: offered no call
    poor_quality: str = ""  # what RTCP said was wrong with their last call's audio
    line: str = ""  # a persistent line's state (acd.lines: down, dialing, up); "" when not on one


@dataclass(frozen=True, slots=True)
class HandoverRequest:
    """An agent's three-way call or transfer (`op` threeway | transfer | step); the reply is
    the handover's view, or a HandoverError."""

    op: str
    agent_id: str
    reply: asyncio.Future[Any]
    kind: Kind = Kind.EMERGENCY
    target: str = ""
    private: bool = False  # threeway: consult first; transfer: warm
    step: str = ""


@dataclass(frozen=True, slots=True)
class NoteHandover:
    """The work orders linked to this call note where the citizen was handed (to whom, when)."""

    call_id: str
    note: str
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class SupervisorRequest:
    """Supervision (acd/supervision.py): monitor | mode | stop | force | hangup, with its
    arguments; the answer (or a stable error) comes back on `reply`."""

    op: str
    args: Mapping[str, str]
    reply: asyncio.Future[Any]


@dataclass(frozen=True, slots=True)
class AfterAgent:
    """What the citizen's line does now that the agent's leg has ended (the survey asks, before
    it plays): `lost` (the agent's connection went: the apology, then the queue again),
    `lost-callback` (it went, and by config the citizen is told they will be called back
    first) or `survey`. Answered once the engine has heard how the agent's leg ended."""

    linkedid: str
    reply: asyncio.Future[str]


@dataclass(frozen=True, slots=True)
class RequeueLost:
    """The citizen whose agent's connection went has heard the apology: back to the head of
    their desk's queue. The reply is whether they were queued."""

    linkedid: str
    reply: asyncio.Future[bool]


# Hang-up causes of an agent's leg that ended without the agent hanging up: Asterisk's
# rtp_timeout (no audio from the phone: its network went) hangs up with 44; the others are
# what a SIP stack reports for a peer that cannot be reached any more.
LOST_CONNECTION_CAUSES = frozenset({27, 38, 41, 44, 102})  # out of order, network, temporary, unavailable, timer
AFTER_AGENT_LOST, AFTER_AGENT_CALLBACK, AFTER_AGENT_SURVEY = "lost", "lost-callback", "survey"
HEAD_OF_QUEUE = 0.001  # seconds ahead of the longest-waiting caller of the desk
UNBLOCK = ("security", "unblock", 0)  # the timer that lifts expired blocks of flooding addresses
# a call's audio is poor beyond these (ITU-T G.114 and common VoIP practice: past them people
# hear gaps, echo and talk over each other)
POOR_JITTER_MS, POOR_LOSS_PCT, POOR_RTT_MS = 30.0, 3.0, 300.0

Message = (ev.EngineEvent | AgentRequest | DoNotCall | HandoverRequest | SupervisorRequest | sv.SupervisionFact
           | AfterAgent | RequeueLost)
SUPERVISION_FACTS = (sv.SpyStarted, sv.SpyStopped, sv.DtmfReceived, sv.SpyNotAnswered)


class Engine:
    def __init__(self, handlers: Mapping[type, EffectHandler], acd: AcdConfig | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, callbacks: CallbackPort | None = None,
                 callback_tick: float = 5.0, wait_for_link: bool = False, city_tz: str = "Asia/Shanghai",
                 handover_plan: HandoverPlan | None = None,
                 supervisors: tuple[sv.SupervisorConfig, ...] = (), guard: FloodGuard | None = None) -> None:
        """`wait_for_link`: no offer before the first resync (a starting controller does not
        know yet which agents are on calls, nor can it reach Asterisk)."""
        self.calls = LiveCalls()
        self.guard = guard or FloodGuard()
        self.handovers = Handovers(handover_plan)
        self.agent_keys = AgentKeys(tuple(self.handovers.plan.emergency))
        self.callbacks: Any = callbacks or NoCallbacks()  # the feature's own object (tests, API read it)
        self._port: CallbackPort = self.callbacks
        self._callback_tick = callback_tick
        self.acd = Acd(acd or AcdConfig(), suspended=wait_for_link)
        self.link_down = wait_for_link  # from AmiLinkDown until the next resync
        self._unseen: dict[str, ev.CallQueued] = {}  # uniqueid -> a queued session AMI has not shown
        self.ghosts_dropped = 0
        self._ghost_warned_at = float("-inf")
        self.figures = DeskFigures([d.name for d in self.acd.config.desks])
        self.today = DayFigures(ZoneInfo(city_tz), self._desk_of, {d.name: d.service_level for d in self.acd.config.desks},
                                self.acd.config.short_abandon)
        self._devices = {a.agent_id: device_prefix(a.device) for a in self.acd.config.agents}
        self.contacts = Contacts()
        self._lost: dict[str, str] = {}  # linkedid -> the agent whose connection went mid-call
        self._line_legs: dict[str, str] = {}  # uniqueid -> the agent: the trunk legs of persistent lines
        self._trunk_causes: dict[str, tuple[int | None, str]] = {}  # agent -> how their line's trunk leg ended
        self._line_gone: dict[str, ev.ChannelHungUp] = {}  # agent -> a line ended mid-call, its trunk leg not yet
        self._after_agent: dict[str, list[asyncio.Future[str]]] = {}
        self._phones: dict[str, list[str]] = {}  # PJSIP endpoint -> the agents it rings
        for a in self.acd.config.agents:
            endpoint = pjsip_endpoint(a.device)
            if endpoint is not None:
                self._phones.setdefault(endpoint, []).append(a.agent_id)
        self.supervision = sv.Supervision(supervisors)
        self._handlers = dict(handlers)
        self._observers: dict[type, list[EffectHandler]] = {}
        self._clock = clock
        self._wall = wall
        self._inbox: asyncio.Queue[Message | None] = asyncio.Queue()
        self._caller_channel: dict[str, str] = {}  # queued linkedid -> the caller's uniqueid
        self._queued: dict[str, Queued] = {}  # queued linkedid -> when it joined, its class
        self._timers: set[asyncio.TimerHandle] = set()
        self.processed = 0
        self.step_observer: Callable[[float], None] | None = None  # each step's seconds (the metrics)
        self._idle = asyncio.Event()
        self._idle.set()

    def observe(self, effect_type: type, observer: EffectHandler) -> None:
        """Also hand effects of this type to `observer` (tests, dashboards), after the handler."""
        self._observers.setdefault(effect_type, []).append(observer)

    # ---- the inbox ----
    def submit(self, fact: Message) -> None:
        """Called from any task or callback: never blocks, never touches state."""
        self._idle.clear()
        self._inbox.put_nowait(fact)

    async def request(self, op: str, agent_id: str, reason: str = "", phone: str = "",
                      persistent: bool = False) -> Any:
        """An agent request answered by the engine task (raises its stable errors)."""
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.submit(AgentRequest(op, agent_id, reply, reason, phone, persistent))
        return await reply

    async def after_agent(self, linkedid: str) -> str:
        """`lost` (apology, then the queue: `requeue_lost`), `lost-callback` (told they will be
        called back; then the line ends) or `survey`: what the citizen's line does now that the
        agent's leg ended."""
        reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.submit(AfterAgent(linkedid, reply))
        return await reply

    async def requeue_lost(self, linkedid: str) -> bool:
        reply: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.submit(RequeueLost(linkedid, reply))
        return await reply

    async def handover(self, op: str, agent_id: str, *, kind: Kind = Kind.EMERGENCY, target: str = "",
                       private: bool = False, step: str = "") -> Any:
        """A three-way call or a transfer for the agent's current call (raises HandoverError)."""
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.submit(HandoverRequest(op, agent_id, reply, kind, target, private, step))
        return await reply

    def handover_of(self, agent_id: str) -> dict[str, Any] | None:
        """The agent's latest handover on their current call, as the desk shows it."""
        agent = self.acd.agents.get(agent_id)
        current = self.handovers.by_call.get(agent.call_id or "") if agent is not None else None
        if current is not None and current.agent_id == agent_id:
            return current.view()
        latest = max((h for h in self.handovers.by_call.values() if h.agent_id == agent_id),
                     key=lambda h: h.started, default=None)
        return latest.view() if latest is not None else None

    async def do_not_call(self, number: str, add: bool = True) -> Any:
        """Opt a number out of callbacks (or back in): answered by the engine task; the entry
        this closed, or None."""
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.submit(DoNotCall(number, add, reply))
        return await reply

    async def supervise(self, op: str, /, **args: str) -> Any:
        """A supervisor's request answered by the engine task (raises its stable errors)."""
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.submit(SupervisorRequest(op, args, reply))
        return await reply

    async def drained(self) -> None:
        """Wait until every message submitted so far is applied (tests, shutdown)."""
        await self._idle.wait()

    def restore_agents(self, sessions: list[AgentSession]) -> None:
        """The agents' sessions the store kept (before `run`): nobody logs in again after a
        restart; the first resync reconciles them with what Asterisk shows."""
        for effect in self.acd.restore(sessions, self._clock(), self._wall()):
            self._carry_out(effect)
        # an agent on an ordinary phone or a persistent line: their calls' channels are named so
        self._devices.update({a: device_prefix(self.acd.device(a)) for a in self.acd.agents})

    def stop(self) -> None:
        self._inbox.put_nowait(None)
        for handle in self._timers:
            handle.cancel()

    @property
    def inbox_depth(self) -> int:
        return self._inbox.qsize()

    # ---- reading (copies, never the engine's objects) ----
    def snapshot(self) -> tuple[CallView, ...]:
        return self.calls.views()

    def wall_time(self, monotonic: float) -> float:
        """An instant of the engine's monotonic clock as epoch seconds (what readers are shown)."""
        return round(self._wall() - (self._clock() - monotonic), 3)

    def agent_views(self) -> tuple[AgentView, ...]:
        """The agents as readers see them: `since` in epoch seconds."""
        return tuple(dataclasses.replace(a, since=self.wall_time(a.since)) for a in self.agents())

    def agents(self) -> tuple[AgentView, ...]:
        """`since` on the engine's monotonic clock."""
        return tuple(AgentView(a.config.agent_id, a.config.name, a.state.value, a.reason, a.since,
                               a.call_id, a.reachable, a.poor_quality, a.line.value if a.persistent else "")
                     for a in self.acd.agents.values())

    def blocks(self) -> tuple[BlockView, ...]:
        """The addresses the flood guard blocks now, oldest first (kept in memory only: after a
        controller restart the firewall's set still expires its own, but they are not listed)."""
        return self.guard.views()

    def queue_position(self, linkedid: str) -> tuple[int, float] | None:
        """(callers ahead, estimated seconds to an agent) for a waiting call, or None."""
        now = self._clock()
        queued = self.acd.queue.get(linkedid)
        position = self.acd.position(linkedid, now)
        if queued is None or position is None:
            return None
        desk = self.acd.config.desk(queued.call.desk)
        serving = sum(1 for a in self.acd.agents.values() if desk.skill in a.config.skills
                      and a.state not in (AgentState.LOGGED_OUT, AgentState.PAUSED))
        return position - 1, self.figures.estimated_wait(desk.name, position - 1, serving)

    def callback_due(self, linkedid: str, after: float) -> bool:
        """A waiting caller who has waited `after` seconds and was not offered a callback yet."""
        queued = self.acd.queue.get(linkedid)
        call = self.calls.calls.get(linkedid)
        if queued is None or call is None or call.callback or after <= 0 or queued.offered_to is not None:
            return False
        return self._clock() - queued.call.queued_at >= after

    def live_figures(self) -> dict[str, dict[str, Any]]:
        """Per desk, now: who waits, the longest wait, agents by state."""
        return self.figures.snapshot(self._clock(), self.acd)

    def desk_figures(self) -> dict[str, dict[str, Any]]:
        """Per desk and for the whole hotline (acd.kpis.HOTLINE): today's figures as the
        records count them (the calls in talk now included), and who waits now."""
        live = self.figures.snapshot(self._clock(), self.acd)
        at = datetime.fromtimestamp(self._wall(), timezone.utc)
        talking = [c.record(at) for c in self.calls.calls.values()
                   if c.agent_answered_at is not None and not c.callback_of and not c.internal]
        counted = self.today.figures(at, talking)
        empty = ServiceFigures(self._desk_of).figures()[HOTLINE]
        return {desk: {**live.get(desk, {}), **counted.get(desk, empty)} for desk in [*live, *counted]}

    def restore_records(self, records: list[CallRecord]) -> None:
        """Today's call records from the store (at start): the day's figures go on counting."""
        for record in records:
            self.today.add(record)

    # ---- the task ----
    async def run(self) -> None:
        self._schedule(SetTimer(self._clock() + self._callback_tick, CALLBACK_TICK))
        while True:
            message = await self._inbox.get()
            if message is None:
                return
            started = time.perf_counter()
            try:
                effects = self._apply(message)
            except Exception:  # a bug must not stop the hotline: log the fact, keep going
                log.exception("engine could not apply %s", type(message).__name__)
                effects = []
            self.processed += 1
            for effect in effects:
                self._carry_out(effect)
            if self.step_observer is not None:
                self.step_observer(time.perf_counter() - started)
            if self._inbox.empty():
                self._idle.set()

    def _apply(self, message: Message) -> list[Any]:
        now, wall = self._clock(), self._wall()
        effects: list[Any]
        if isinstance(message, AgentRequest):
            effects = self._agent_request(message, now)
        elif isinstance(message, HandoverRequest):
            effects = self._handover_request(message, now, wall)
        elif isinstance(message, SupervisorRequest):
            effects = self._supervisor_request(message, now, wall)
        elif isinstance(message, SUPERVISION_FACTS):
            effects = self._supervision_fact(message, wall) + self._agent_key(message, now, wall)
        elif isinstance(message, AfterAgent):
            self._after_agent.setdefault(message.linkedid, []).append(message.reply)
            effects = []
            self._settle_after_agent()
        elif isinstance(message, RequeueLost):
            effects = self._requeue_lost(message, now, wall)
        elif isinstance(message, DoNotCall):
            closed = self._port.do_not_call(message.number, message.add, wall)
            if not message.reply.done():
                message.reply.set_result(closed)
            effects = []
        else:
            effects = self._apply_fact(message, now, wall) + self._supervision_fact(message, wall)
        effects += self._forces_due(now, wall)
        effects += self._port.step(self.acd, now, wall)
        out = self._route_offers(effects, now, wall) + self._port.saves()
        for stage in [e for e in out if isinstance(e, HandoverChanged)]:
            log.info("call %s: %s's %s handover to %s is %s%s", stage.call_id, stage.agent_id, stage.kind.value,
                     stage.target, stage.stage.value, f" ({stage.reason})" if stage.reason else "")
            if stage.stage in (HandoverStage.HANDED_OVER, HandoverStage.REQUEUED):
                out.append(self._handover_note(stage, wall))
        changed = dict.fromkeys(e.agent_id for e in out if isinstance(e, AgentChanged))
        return out + [SaveAgentSession(self.acd.session(agent_id, now, wall)) for agent_id in changed]

    def _apply_fact(self, fact: ev.EngineEvent, now: float, wall: float) -> list[Any]:
        lines = self._line_fact(fact, now)
        if lines is not None:
            return lines
        line_effects: list[Any] = []
        if isinstance(fact, ev.ChannelsSnapshot):
            fact, line_effects = self._lines_listed(fact, now)
        # The ACD first, so that a call ending in this very step is recorded with what the ACD
        # made of it (abandoned in the queue, while ringing …).
        acd_effects: list[Any] = line_effects + self._acd_apply(fact, now, wall)
        at = getattr(fact, "at", None) or datetime.now(timezone.utc)
        effects: list[Any] = []
        for effect in acd_effects:
            if isinstance(effect, (CallAnswered, CallAbandoned, QueueRefused, OfferCall)):
                self.calls.note(effect, at)
            if isinstance(effect, CallAnswered) and not self._port.is_callback(effect.call_id):
                call = self.calls.calls.get(effect.call_id)
                if call is not None:
                    effects += self._port.citizen_answered(call.caller_number, wall)
        effects += self._handover_fact(fact, wall)
        effects += self.calls.apply(fact)
        if self._after_agent and isinstance(fact, ev.ChannelHungUp):
            self._settle_after_agent()
        if isinstance(fact, ev.ChannelHungUp) and fact.linkedid in self._lost and fact.linkedid not in self.calls.calls:
            del self._lost[fact.linkedid]  # the citizen left before the apology
        self._mark_internal(fact)
        effects += self._handover_after(fact, now, wall)
        self._name_agent_legs(fact)
        if isinstance(fact, ev.ChannelsSnapshot):
            effects += self._note_talking(fact, wall)
        elif isinstance(fact, ev.DialEnded) and fact.status == "ANSWER":
            self._note_answered_unseen(fact)
        for uniqueid in self._now_seen(fact):
            held = self._unseen.pop(uniqueid, None)
            if held is not None:  # its channel appeared: the caller is queued now
                acd_effects += self._apply_fact(held, now, wall)
        for index, effect in enumerate(list(effects)):
            if isinstance(effect, WriteCallRecord):
                record = self._with_handovers(effect.record)
                effects[index] = WriteCallRecord(record)
                effects = [CallEnded(e.linkedid, record.disposition.value)
                           if isinstance(e, CallEnded) and e.linkedid == record.linkedid else e for e in effects]
                self.today.add(record)
                queued = self._queued.pop(record.linkedid, None)
                if record.callback == CALLBACK_AFTER_LOST_CONNECTION:
                    queued = self._called_back_first(record, queued, now, wall)
                effects += self._port.call_ended(record, queued, self._desk_of(record.dialed_number), wall)
        return effects + acd_effects

    # ---- three-way calls and transfers (acd/handover.py decides; here the engine's part) ----
    def _handover_request(self, req: HandoverRequest, now: float, wall: float) -> list[Any]:
        try:
            handover, effects = self._handover_effects(req, now, wall)
        except (HandoverError, AcdError) as exc:
            if not req.reply.done():
                req.reply.set_exception(exc)
            return []
        if not req.reply.done():
            req.reply.set_result(handover.view())
        return effects

    def _agent_key(self, fact: Any, now: float, wall: float) -> list[Any]:
        """A key pressed on an agent's phone during a citizen's call (*7110, *1, *0, *9, *8):
        the same requests as the API's, answered in the log (the desk shows the stage)."""
        if not isinstance(fact, sv.DtmfReceived):
            return []
        channel = self.calls.channels.get(fact.uniqueid)
        agent_id = self._agent_of_channel(channel.name) if channel is not None else None
        if agent_id is None:
            return []
        asked = self.agent_keys.key(fact.uniqueid, fact.digit)
        if asked is None:
            return []
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        request = HandoverRequest(asked.op, agent_id, reply, Kind.EMERGENCY, asked.target, False, asked.step)
        effects = self._handover_request(request, now, wall)
        if reply.done() and reply.exception() is not None:
            log.warning("%s's keys asked for %s %s: %s", agent_id, asked.op, asked.target or asked.step,
                        reply.exception())
        return effects

    def _handover_effects(self, req: HandoverRequest, now: float, wall: float) -> tuple[Handover, list[Any]]:
        if req.agent_id not in self.acd.agents:
            raise HandoverError(UNKNOWN_AGENT, req.agent_id)
        legs = self._legs_of(req.agent_id)
        if req.op == "step":
            return self.handovers.step(req.agent_id, legs.call_id if legs else None, req.step, wall)
        if req.op == "threeway":
            return self._in_bridge(legs, *self.handovers.three_way(req.agent_id, legs, req.kind, req.target,
                                                                   req.private, wall))
        if req.kind is Kind.DESK:
            if req.target not in self.acd.policies:
                raise HandoverError(UNKNOWN_DESK, req.target)
            desk, label, agent = req.target, self.acd.config.desk(req.target).label or req.target, None
        elif req.kind is Kind.AGENT:
            agent = self.acd.agents.get(req.target)
            if agent is None:
                raise HandoverError(UNKNOWN_TARGET_AGENT, f"no agent {req.target!r}")
            if agent.config.agent_id == req.agent_id:
                raise HandoverError(SELF_TRANSFER, "an agent cannot transfer a call to themself")
            desk, label = (legs.desk if legs else ""), agent.config.name or agent.config.agent_id
        else:
            raise HandoverError(UNKNOWN_DESK, f"{req.kind.value} is a three-way call, not a transfer")
        if legs is not None and req.kind is Kind.DESK and desk == legs.desk and not req.private:
            raise HandoverError(SAME_DESK, f"the call is at desk {desk} already")
        if req.private:  # warm: consult the agent first (the desk's next ready agent)
            if agent is None:
                agent = self.acd.ready_agent_for(desk)
                if agent is None:
                    raise HandoverError(NO_AGENT_READY, f"nobody at desk {desk} is ready; transfer cold to queue")
            if agent.state is not AgentState.READY:
                raise HandoverError(AGENT_NOT_READY, f"{agent.config.agent_id} is {agent.state.value}")
            return self._in_bridge(legs, *self.handovers.warm_transfer(
                req.agent_id, legs, req.kind, agent.config.agent_id, label, self.acd.device(agent.config.agent_id), wall))
        handover, effects = self.handovers.cold_transfer(req.agent_id, legs, req.kind, req.target, label,
                                                         desk, wall)
        queued = self.acd.queue.get(handover.call_id)
        if queued is None:
            effects += self._requeue(handover.call_id, desk, now, wall,
                                     preferred=req.target if req.kind is Kind.AGENT else "")
        return handover, self._skip_wait_if_offered(handover.call_id, effects)

    def _in_bridge(self, legs: CallLegs | None, handover: Handover, effects: list[Any]) -> tuple[Handover, list[Any]]:
        """A citizen already in their conference stays in that bridge: it is the one whose
        leaving is their hang-up."""
        if legs is not None and legs.in_conference:
            citizen = self.calls.channels.get(self.calls.calls[legs.call_id].first_uniqueid)
            handover.citizen_bridge = citizen.bridge_id if citizen is not None else ""
        return handover, effects

    def _requeue(self, call_id: str, desk: str, now: float, wall: float, preferred: str = "",
                 head: bool = False) -> list[Any]:
        """Back to waiting at `desk`, at the place the citizen had (their arrival in the queue
        and their priority), not at the end; `head`: ahead of every caller of the desk (their
        priority class still counts)."""
        call = self.calls.calls.get(call_id)
        if call is None:
            return []
        citizen = call.channels.get(call.first_uniqueid)
        if citizen is None:
            return []
        first = self._queued.get(call_id) or Queued(wall, Priority.NORMAL)
        self._queued[call_id] = first
        self._caller_channel[call_id] = citizen.uniqueid
        call.stage, call.queued, call.desk = "queue", True, desk
        queued_at = now - max(0.0, wall - first.queued_epoch)
        if head:
            queued_at = self._head_of_queue(desk, queued_at)
        try:
            return self.acd.enqueue(call_id, citizen.name, desk, first.priority, now,
                                    queued_at=queued_at, preferred_agent=preferred)
        except AcdError as exc:
            log.warning("could not queue call %s again at desk %s: %s", call_id, desk, exc)
            del self._caller_channel[call_id]
            return [QueueRefused(call_id, citizen.name, desk, exc.code)]

    @staticmethod
    def _skip_wait_if_offered(call_id: str, effects: list[Any]) -> list[Any]:
        """Offered at once: the citizen goes straight to the agent's ring, not to the wait."""
        if not any(isinstance(e, OfferCall) and e.call_id == call_id for e in effects):
            return effects
        return [MoveLegs(e.call_id, tuple(m for m in e.moves if m[1] != "hotline-wait"), e.variables)
                if isinstance(e, MoveLegs) and e.call_id == call_id else e for e in effects]

    def _legs_of(self, agent_id: str) -> CallLegs | None:
        """The citizen's call the agent talks on: its citizen's leg and the agent's own."""
        agent = self.acd.agents[agent_id]
        call = self.calls.calls.get(agent.call_id or "")
        if agent.state is not AgentState.ON_CALL or call is None or call.internal or call.callback_of:
            return None
        citizen = call.channels.get(call.first_uniqueid)
        prefix = self._devices[agent_id]
        own = next((c for c in call.channels.values() if c.name.startswith(prefix)), None)
        if citizen is None or own is None:
            return None
        latest = self.handovers.by_call.get(call.linkedid)
        in_conference = latest is not None and latest.stage.value in ("returned", "joined")
        return CallLegs(call.linkedid, call.desk, citizen.name, own.name, own.uniqueid, in_conference)

    def _name_agent_legs(self, fact: ev.EngineEvent) -> None:
        channels: tuple[ev.ChannelCreated | ev.ChannelSnapshot, ...] = ()
        if isinstance(fact, ev.ChannelCreated):
            channels = (fact,)
        elif isinstance(fact, ev.ChannelsSnapshot):
            channels = fact.channels
        for channel in channels:
            agent_id = self._agent_of_channel(channel.channel)
            if agent_id is not None and channel.channel.startswith("Local/") and channel.channel.endswith(";2"):
                self.calls.drop_leg(channel.uniqueid)  # the far half of an agent's Local device: nobody
            elif agent_id is not None:
                self.calls.name_leg(channel.uniqueid, "agent", agent_id)

    def _handover_fact(self, fact: ev.EngineEvent, wall: float) -> list[Any]:
        """Before the call model applies a fact (the channel it names is still there)."""
        if not self.handovers.by_call:
            return []
        if isinstance(fact, ev.DialEnded) and fact.linkedid in self.handovers.by_call:
            dest = next((c for c in self.calls.channels.values() if c.name == fact.dest_channel), None)
            handover = self.handovers.by_call[fact.linkedid]
            effects = self.handovers.on_dial_end(fact.linkedid, fact.uniqueid, dest.uniqueid if dest else "",
                                                 fact.dest_channel, fact.status, wall)
            if effects and dest is not None and fact.status == "ANSWER":
                role = "agent" if handover.kind in (Kind.DESK, Kind.AGENT) else handover.kind.value
                self.calls.name_leg(dest.uniqueid, role, handover.target)
            return effects
        if isinstance(fact, (ev.BridgeEntered, ev.BridgeLeft)):
            # the citizen leaving their conference is their hang-up (the conference then lets
            # the others go, and Asterisk tells of those first): the handover stays as it was;
            # the agent leaving it while all three talk is the agent's leaving (their hang-up
            # follows)
            known = self.calls.channels.get(fact.uniqueid)
            linkedid = known.linkedid if known is not None else (fact.linkedid or "")
            call = self.calls.calls.get(linkedid)
            current = self.handovers.by_call.get(linkedid)
            if call is None or current is None or not current.open:
                return []
            # the bridge the citizen enters after leaving the one they talked in is the conference
            # (the event of entering the agent's bridge may come after the request: not that one)
            if fact.uniqueid == call.first_uniqueid and isinstance(fact, ev.BridgeEntered):
                if current.citizen_moved and not current.citizen_bridge:
                    current.citizen_bridge = fact.bridge_id
            elif fact.uniqueid == call.first_uniqueid and not current.citizen_bridge:
                current.citizen_moved = True
            elif fact.uniqueid == call.first_uniqueid and fact.bridge_id == current.citizen_bridge:
                log.info("call %s: the citizen left the conference", call.linkedid)
                return self.handovers.on_leg_gone(call.linkedid, fact.uniqueid, wall, citizen=True)
            elif isinstance(fact, ev.BridgeLeft) and fact.uniqueid == current.agent_uniqueid \
                    and current.citizen_bridge and fact.bridge_id == current.citizen_bridge \
                    and current.stage is HandoverStage.JOINED:
                return self.handovers.on_leg_gone(call.linkedid, fact.uniqueid, wall)
            return []
        if isinstance(fact, ev.ChannelHungUp):
            channel = self.calls.channels.get(fact.uniqueid)
            call = self.calls.calls.get(channel.linkedid) if channel is not None else None
            if channel is not None:
                return self.handovers.on_leg_gone(channel.linkedid, fact.uniqueid, wall,
                                                  citizen=call is not None and call.first_uniqueid == fact.uniqueid)
        return []

    def _handover_after(self, fact: ev.EngineEvent, now: float, wall: float) -> list[Any]:
        """Only the citizen is left on a call that went through a handover: the third party had
        them and left (the call ends, with the survey), or nobody had them yet (back to their
        desk's queue at their old place). The citizen never sits alone in a conference."""
        if not isinstance(fact, ev.ChannelHungUp) or fact.linkedid not in self.handovers.by_call:
            return []
        call = self.calls.calls.get(fact.linkedid)
        if call is None or call.first_uniqueid not in call.channels:
            return []
        citizen = call.channels[call.first_uniqueid]
        others = any(uid != call.first_uniqueid for uid in call.channels)
        what = self.handovers.alone_effects(call.linkedid, citizen.name, others)
        if what == "end":
            return [MoveLegs(call.linkedid, ((citizen.name, "hotline-survey", "s"),))]
        if what == "requeue" and call.linkedid not in self.acd.queue:
            handover = self.handovers.by_call[call.linkedid]
            handover.reason = handover.reason or "agent-left"
            return self._skip_wait_if_offered(call.linkedid, [
                MoveLegs(call.linkedid, ((citizen.name, "hotline-wait", "s"),),
                         ((citizen.name, "HOTLINE_DESK", call.desk),)),
                *self._requeue(call.linkedid, call.desk, now, wall)])
        return []

    def _handover_note(self, changed: HandoverChanged, wall: float) -> NoteHandover:
        handover = self.handovers.by_call[changed.call_id]
        how = {Kind.EMERGENCY: "三方通话转", Kind.DEPARTMENT: "三方通话转", Kind.DESK: "转接至", Kind.AGENT: "转接至"}
        return NoteHandover(changed.call_id, f"{how[handover.kind]} {handover.label}（{handover.target}）",
                            changed.agent_id, datetime.fromtimestamp(wall, timezone.utc))

    def _with_handovers(self, record: CallRecord) -> CallRecord:
        """The record says where the citizen was handed: the disposition and to whom."""
        handovers = self.handovers.ended(record.linkedid)
        final = next((h for h in reversed(handovers) if h.stage.value in ("handed_over", "requeued")), None)
        if final is None:
            return record
        return dataclasses.replace(record, disposition=handover_disposition(final),
                                   transferred_to=final.target)

    def _route_offers(self, effects: list[Any], now: float, wall: float) -> list[Any]:
        """An offer of a callback is the callback feature's to carry out (it dials the agent
        first, or withdraws it); what that brings about is routed the same way."""
        out: list[Any] = []
        pending = list(effects)
        while pending:
            effect = pending.pop(0)
            if isinstance(effect, OfferCall) and self._port.is_callback(effect.call_id):
                pending[:0] = self._port.offered(effect, self.acd, now, wall)
            else:
                out.append(effect)
        return out

    def _desk_of(self, dialed: str) -> str:
        return self.acd.config.numbers.get(dialed, self.acd.config.desks[0].name if self.acd.config.desks else "")

    def _mark_internal(self, fact: ev.EngineEvent) -> None:
        """A call whose first channel is an agent's phone is the agent's own, not a citizen's."""
        firsts: tuple[ev.ChannelCreated | ev.ChannelSnapshot, ...] = ()
        if isinstance(fact, ev.ChannelCreated):
            firsts = (fact,)
        elif isinstance(fact, ev.ChannelsSnapshot):
            firsts = fact.channels
        for channel in firsts:
            if channel.uniqueid == channel.linkedid and (
                    channel.context == AGENTS_CONTEXT or self._agent_of_channel(channel.channel) is not None
                    or self.supervision.supervisor_of_channel(channel.channel) is not None):
                self.calls.mark_internal(channel.linkedid)

    def _agent_request(self, req: AgentRequest, now: float) -> list[Any]:
        try:
            if req.op == "pause":
                effects: list[AcdEffect] = self.acd.pause(req.agent_id, PauseReason(req.reason or "break"), now)
            elif req.op == "login":
                effects = self.acd.login(req.agent_id, now, req.phone, req.persistent)
                self._devices[req.agent_id] = device_prefix(self.acd.device(req.agent_id))
            elif req.op in ("ready", "logout"):
                effects = getattr(self.acd, req.op)(req.agent_id, now)
                self._devices[req.agent_id] = device_prefix(self.acd.device(req.agent_id))
            else:
                raise ValueError(f"unknown-request: {req.op}")
        except Exception as exc:
            if not req.reply.done():
                req.reply.set_exception(exc)
            return []
        if not req.reply.done():
            req.reply.set_result(self.acd.agents[req.agent_id].state.value)
        return list(effects)

    # ---- supervision (acd/supervision.py): requests, ChanSpy facts, forced steps ----
    def _supervisor_request(self, req: SupervisorRequest, now: float, wall: float) -> list[Any]:
        try:
            answer, effects = self._supervise(req.op, req.args, now, wall)
        except Exception as exc:  # a stable error: nothing changed
            if not req.reply.done():
                req.reply.set_exception(exc)
            return []
        if not req.reply.done():
            req.reply.set_result(answer)
        return effects

    def _supervise(self, op: str, a: Mapping[str, str], now: float, wall: float) -> tuple[Any, list[Any]]:
        book = self.supervision
        if op == "monitor":
            agent = self.acd.agents.get(a["agent"])
            if agent is None:
                raise AcdError(UNKNOWN_AGENT, a["agent"])
            channel = self._agent_channel(agent.config.agent_id) if agent.state is AgentState.ON_CALL else None
            supervisor = (book.supervisor(a["supervisor"]) if a.get("supervisor")
                          else book.supervisor_of_channel(a.get("phone_channel", "")))
            if supervisor is None:
                raise sv.SupervisionError(sv.UNKNOWN_SUPERVISOR, "the phone is no supervisor's")
            mode = sv.mode_of(a["mode"])
            session = book.begin(supervisor.supervisor_id, agent.config.agent_id,
                                 agent.call_id or (channel.linkedid if channel else None),
                                 channel.name if channel else None, mode, a.get("source", "api"),
                                 a.get("by", supervisor.supervisor_id), wall)
            effects: list[Any] = [sv.SaveMonitorSession(session.record())]
            if session.source == "api":
                effects.append(sv.OriginateSpy(session.session_id, supervisor.device, mode, session.agent_channel,
                                               sv.chanspy_options(mode)))
            return session, effects
        if op == "mode":
            session, restart = book.switch(a["session"], sv.mode_of(a["mode"]), wall)
            effects = [sv.SaveMonitorSession(session.record())]
            if restart:
                effects.append(sv.RedirectSpy(session.session_id, session.spyer_channel, session.mode))
            return session.record(), effects
        if op == "stop":
            session = book.session(a["session"])
            if session.spyer_channel:  # the Hangup ends the session
                return session.record(), [sv.HangupChannels((session.spyer_channel,))]
            ringing = tuple(c.name for c in self.calls.channels.values()
                            if c.name.startswith(f"{session.supervisor.device}-"))
            record = book.end(session, wall, "stopped before it began").record()
            return record, [sv.SaveMonitorSession(record)] + ([sv.HangupChannels(ringing)] if ringing else [])
        if op == "force":
            agent = self.acd.agents.get(a["agent"])
            if agent is None:
                raise AcdError(UNKNOWN_AGENT, a["agent"])
            busy = agent.state in (AgentState.ON_CALL, AgentState.OFFERED)
            if not busy and a["op"] in sv.FORCE_OPS:  # an illegal step raises here, before anything is kept
                next_agent_state(agent.state, a["op"])
            kind = a.get("pause", "break") if a["op"] == "pause" else a["op"]
            status = book.force(agent.config.agent_id, a["op"], kind, a["reason"], a["by"], busy)
            effects = self._force_now(agent.config.agent_id, a["op"], kind, a["by"], now) if not busy else []
            entry = sv.AuditEntry(wall, a["by"], f"force_{a['op']}", agent.config.agent_id, a["reason"],
                                  f"{status}: {kind}")
            return status, effects + [sv.SaveAudit(entry)]
        if op == "hangup":
            channels = tuple(c.name for c in self.calls.channels.values() if c.linkedid == a["linkedid"])
            if a["linkedid"] not in self.calls.calls or not channels:
                raise sv.SupervisionError(sv.UNKNOWN_CALL, a["linkedid"])
            entry = sv.AuditEntry(wall, a["by"], "hangup_call", a["linkedid"], a["reason"],
                                  f"{len(channels)} channel(s) ended")
            return channels, [sv.HangupChannels(channels), sv.SaveAudit(entry)]
        if op == "unblock":
            view = self.guard.lift(a["address"])
            if view is None:
                raise sv.SupervisionError(sv.NOT_BLOCKED, f"{a['address']} is not blocked")
            entry = sv.AuditEntry(wall, a["by"], "unblock_address", a["address"], a["reason"],
                                  f"lifted {max(0.0, view.until - wall):.0f} s before its time")
            log.warning("SECURITY: the block of %s lifted by %s", a["address"], a["by"])
            return view, [UnblockAddress(view.address), sv.SaveAudit(entry)]
        raise ValueError(f"unknown-request: {op}")

    def _supervision_fact(self, fact: Any, wall: float) -> list[Any]:
        book = self.supervision
        ended: list[sv.MonitorSession | None] = []
        if isinstance(fact, sv.SpyStarted):
            ended = [book.spy_started(fact, wall)]
        elif isinstance(fact, sv.DtmfReceived):
            ended = [book.dtmf(fact, wall)]
        elif isinstance(fact, sv.SpyNotAnswered):
            ended = [book.not_answered(fact, wall)]
        elif isinstance(fact, ev.ChannelHungUp) and book.live:
            ended = [book.hung_up(fact.uniqueid, wall, self._channel_name(fact))]
        elif isinstance(fact, ev.ChannelsSnapshot) and book.live:
            ended = list(book.phone_call_gone((c.channel for c in fact.channels), wall))
        return [sv.SaveMonitorSession(s.record()) for s in ended if s is not None]

    def _forces_due(self, now: float, wall: float) -> list[Any]:
        """A forced pause or logout kept while the agent was on a call: applied once it ends."""
        if not self.supervision.pending_force:
            return []
        free = [agent_id for agent_id in self.supervision.pending_force
                if self.acd.agents[agent_id].state not in (AgentState.ON_CALL, AgentState.OFFERED)]
        effects: list[Any] = []
        for agent_id, op, kind, why, by in self.supervision.due_forces(free):
            try:
                effects += self._force_now(agent_id, op, kind, by, now)
            except Exception as exc:  # e.g. the agent logged out meanwhile
                log.info("forced %s of %s not applied: %s", op, agent_id, exc)
                continue
            effects.append(sv.SaveAudit(sv.AuditEntry(wall, by, f"force_{op}", agent_id, why,
                                                      f"applied after the call: {kind}")))
        return effects

    def _force_now(self, agent_id: str, op: str, kind: str, by: str, now: float) -> list[Any]:
        if op == "pause":
            pause = PauseReason(kind) if kind in {r.value for r in PauseReason} else PauseReason.BREAK
            effects: list[Any] = list(self.acd.pause(agent_id, pause, now))
        else:
            effects = list(self.acd.logout(agent_id, now))
        text = sv.forced_reason(kind, by)  # the agent's state says who forced it
        agent = self.acd.agents[agent_id]
        agent.reason = text
        return [replace(e, reason=text) if isinstance(e, AgentChanged) and e.agent_id == agent_id else e
                for e in effects]

    def _agent_channel(self, agent_id: str) -> Any:
        prefix = self._devices.get(agent_id, "\0")
        found = [c for c in self.calls.channels.values() if c.name.startswith(prefix)]
        bridged = [c for c in found if c.bridge_id]
        return (bridged or found)[0] if found else None

    def monitor_sessions(self) -> list[sv.SessionRecord]:
        return [s.record() for s in self.supervision.live.values()]

    def _agent_of_channel(self, channel: str) -> str | None:
        for agent_id, prefix in self._devices.items():
            if channel.startswith(prefix):
                return agent_id
        return None

    def _acd_apply(self, fact: ev.EngineEvent, now: float, wall: float) -> list[Any]:
        acd = self.acd
        match fact:
            case ev.CallQueued():
                if fact.linkedid in acd.queue:
                    return []
                if fact.uniqueid not in self.calls.channels:
                    return self._hold_unseen(fact, now)
                self._caller_channel[fact.linkedid] = fact.uniqueid
                epoch = fact.queued_epoch or wall
                self._queued[fact.linkedid] = Queued(epoch, Priority(fact.priority))
                queued_at = None
                if fact.queued_epoch is not None:  # keep the place it had before a restart
                    queued_at = now - max(0.0, wall - fact.queued_epoch)
                try:
                    offered = acd.enqueue(fact.linkedid, fact.channel, fact.desk, Priority(fact.priority),
                                          now, queued_at=queued_at, preferred_agent=fact.preferred_agent)
                    return [CallWaiting(fact.linkedid, fact.desk, int(fact.priority)), *offered]
                except AcdError as exc:
                    log.warning("could not queue call %s for desk %s: %s", fact.linkedid, fact.desk, exc)
                    del self._caller_channel[fact.linkedid]
                    return [QueueRefused(fact.linkedid, fact.channel, fact.desk, exc.code)]
            case ev.DialEnded():
                if self._caller_channel.get(fact.linkedid) != fact.uniqueid:
                    return []
                queued = acd.queue.get(fact.linkedid)
                offered_to = queued.offered_to if queued is not None else None
                if offered_to is None or self._agent_of_channel(fact.dest_channel) != offered_to:
                    # not the ACD's offer: app_queue ringing its members ([hotline-fallback]);
                    # a member who answers has taken the caller, who leaves the ACD, not lost
                    if fact.status == "ANSWER" and queued is not None:
                        return acd.withdraw(fact.linkedid, now)
                    return []
                if fact.status == "ANSWER":
                    return acd.offer_answered(fact.linkedid, now)
                if fact.status == CANCEL:  # the caller hung up while the agent's phone rang
                    return acd.call_left(fact.linkedid, now)
                return acd.offer_failed(fact.linkedid, now)
            case ev.OfferNotSent() if fact.caller_gone:  # raced with the caller's hang-up
                self._caller_channel.pop(fact.call_id, None)
                return acd.offer_not_sent(fact.call_id, now, caller_gone=True)
            case ev.OfferNotSent():
                return self._hold_offers(now) + acd.offer_not_sent(fact.call_id, now)
            case ev.ChannelCreated():
                agent_id = self._agent_of_channel(fact.channel)
                if fact.exten.startswith("*"):
                    return []  # a feature code, not a call with anybody
                if agent_id is not None and acd.agents[agent_id].state is not AgentState.OFFERED:
                    # rung by another agent's leg of a citizen's call (a warm transfer): that call
                    joined = self.calls.calls.get(fact.linkedid) if fact.linkedid != fact.uniqueid else None
                    if joined is not None and not joined.internal and not joined.callback_of:
                        return acd.agent_outbound(agent_id, now, joined.linkedid, joined.desk)
                    return acd.agent_outbound(agent_id, now)
            case ev.ChannelHungUp():
                if self._caller_channel.get(fact.linkedid) == fact.uniqueid:
                    del self._caller_channel[fact.linkedid]
                    return acd.call_left(fact.linkedid, now)
                agent_id = self._agent_of_channel(self._channel_name(fact))
                if agent_id is not None:
                    ended = acd.agent_call_ended(agent_id, now)
                    return ended + self._connection_lost(agent_id, fact, now) if ended else ended
            case ev.BridgeEntered():
                # an agent's channel handed into a citizen's call (its linkedid moves there,
                # whether the agent entered the citizen's bridge or the citizen the agent's):
                # the agent is on that call now, with its desk
                effects: list[Any] = []
                for uniqueid, linkedid in self.calls.linkedid_moves(fact):
                    agent_id = self._agent_of_channel(self.calls.channels[uniqueid].name)
                    joined = self.calls.calls[linkedid]
                    if agent_id is not None and not joined.internal:
                        effects += acd.agent_outbound(agent_id, now, joined.linkedid, joined.desk)
                return effects
            case ev.ContactChanged():
                return self._reachable(self.contacts.apply(fact.endpoint, fact.uri, fact.status), now)
            case ev.LegQuality():
                measured = self._agent_of_channel(self._channel_name(fact))
                if measured is not None:
                    self._note_quality(measured, fact)
            case ev.TimerFired() if fact.key == CALLBACK_TICK:
                return [SetTimer(now + self._callback_tick, CALLBACK_TICK), *acd.dispatch(now)]
            case ev.TimerFired() if fact.key == OFFERS_HELD:
                return [] if self.link_down else acd.resume(now)
            case ev.TimerFired() if fact.key[0] == "offer":
                _, agent_id, generation = fact.key
                if self._phone_busy(agent_id):  # ringing or talking: its DialEnd will tell
                    return [SetTimer(now + acd.config.ring_timeout, fact.key)]
                expired = acd.offer_expired(agent_id, generation, now)
                if expired:
                    log.warning("offer to %s: no word from Asterisk within its deadline; the call "
                                "goes back to its place", agent_id)
                return expired
            case ev.SecurityFailure():
                block = self.guard.failure(fact.address, fact.account, now, wall)
                if block is None:
                    return []
                log.warning("SECURITY: %s blocked for %.0f s after %d refused requests in %.0f s (accounts tried: "
                            "%s); supervisors alerted", block.address, block.seconds, block.failures,
                            self.guard.window, ", ".join(block.accounts))
                entry = sv.AuditEntry(wall, "flood-guard", "block_address", block.address,
                                      f"{block.failures} refused requests in {self.guard.window:.0f} s",
                                      f"blocked for {block.seconds:.0f} s; accounts tried: {', '.join(block.accounts)}")
                return [block, sv.SaveAudit(entry), SetTimer(now + block.seconds, UNBLOCK)]
            case ev.TimerFired() if fact.key == UNBLOCK:
                lifted = self.guard.expired(now)
                for unblock in lifted:
                    log.info("SECURITY: the block of %s expired", unblock.address)
                return lifted
            case ev.TimerFired() if fact.key[0] == "unseen":
                return self._drop_unseen(fact.key[1], now)
            case ev.TimerFired():
                return acd.timer(fact.key, now)
            case ev.CallbackDialed():
                held = self._hold_offers(now) if fact.status == "NOT_SENT" else []
                return held + self._port.dialed(fact, acd, self.calls, now, wall)
            case ev.AmiLinkDown():
                self.link_down = True
                acd.suspend()
            case ev.ChannelsSnapshot():
                return self._acd_resync(fact, now, wall)
        return []

    def _acd_resync(self, snap: ev.ChannelsSnapshot, now: float, wall: float) -> list[Any]:
        """After a (re)connect: settle what the ACD missed, so no agent or call is left in a
        ghost state (a caller who left, an offer answered or never rung, a call that ended),
        then offer again: no caller waits while an agent who could take them is ready."""
        live = {c.uniqueid: c for c in snap.channels}
        effects: list[Any] = []
        if snap.contacts is not None:  # phones that came or went while we were blind
            effects += self._reachable(self.contacts.reset(snap.contacts, tuple(self._phones)), now, resync=True)
        for linkedid, uniqueid in list(self._caller_channel.items()):
            channel = live.get(uniqueid)
            queued = self.acd.queue.get(linkedid)
            if channel is None:
                del self._caller_channel[linkedid]
                effects += self.acd.call_left(linkedid, now)
            elif channel.context == FALLBACK_CONTEXT and channel.bridge_id:
                del self._caller_channel[linkedid]  # an app_queue member answered while we were away
                effects += self.acd.withdraw(linkedid, now)
            elif queued is not None and queued.offered_to is not None:
                if channel.bridge_id:
                    effects += self.acd.offer_answered(linkedid, now)
                elif channel.context != CONNECT_CONTEXT:  # whether the agent was rung is unknown
                    effects += self.acd.offer_not_sent(linkedid, now)
        names = [c.channel for c in snap.channels]
        for agent_id, prefix in self._devices.items():
            agent = self.acd.agents[agent_id]
            if agent.state is AgentState.ON_CALL and not any(n.startswith(prefix) for n in names):
                effects += self.acd.agent_call_ended(agent_id, now)
        citizens = self._talking_citizens(snap)
        for channel in snap.channels:  # an agent whose phone is on a call is on that call
            on_phone = self._agent_of_channel(channel.channel)
            if on_phone is not None:
                citizen = citizens.get(channel.bridge_id)
                effects += (self.acd.agent_outbound(on_phone, now, citizen.linkedid, citizen.desk)
                            if citizen is not None else self.acd.agent_outbound(on_phone, now))
        effects += self._port.resynced(snap, self.acd, now, wall)
        for uniqueid in [u for u in self._unseen if u not in live]:
            effects += self._drop_unseen(uniqueid, now)
        self.link_down = False
        return effects + self.acd.resume(now)

    def _connection_lost(self, agent_id: str, fact: ev.ChannelHungUp, now: float) -> list[Any]:
        """The agent's leg of a citizen's call ended by its network (a home connection gone,
        RTP timed out), not by the agent hanging up: the citizen is not hung up — the survey
        step gives them the apology and the head of their queue (RequeueLost) — and the agent
        is paused until they say they are back (a phone whose network just went must not be
        rung for the next caller)."""
        channel = self.calls.channels.get(fact.uniqueid)
        call = self.calls.calls.get(channel.linkedid) if channel is not None else None
        if (fact.cause not in LOST_CONNECTION_CAUSES or call is None or fact.uniqueid == call.first_uniqueid
                or call.first_uniqueid not in call.channels or call.agent_answered_at is None
                or call.callback_of or self._handover_open(call.linkedid)):
            return []
        self._lost[call.linkedid] = agent_id
        self.calls.mark_leg_ended(fact.uniqueid, "connection_lost")
        # by config the citizen is promised a callback instead (marked now: they are called back
        # even if they hang up before the apology); not to a number no callback can reach
        call_back = self.acd.config.lost_connection == "callback" and self._port.can_call_back(call.caller_number)
        if call_back:
            call.callback = CALLBACK_AFTER_LOST_CONNECTION
        log.warning("call %s: %s's connection was lost mid-call (cause %s %s); the citizen %s of the %s queue",
                    call.linkedid, agent_id, fact.cause, fact.cause_text,
                    "will be called back ahead" if call_back else "goes back to the head", call.desk)
        return self.acd.pause(agent_id, PauseReason.CONNECTION_LOST, now)

    # ---- persistent lines (acd/lines.py): the line's channels are nobody's call ----
    def _line_owner(self, fact: ev.EngineEvent) -> str | None:
        """The agent whose line a fact is about (its halves by their names, the trunk leg its far
        half dials by its linkedid), or None: not a line's."""
        uniqueid = getattr(fact, "uniqueid", "")
        if not isinstance(uniqueid, str):
            return None
        owner = line_agent(uniqueid) or self._line_legs.get(uniqueid)
        if owner is None and isinstance(fact, ev.ChannelCreated):
            owner = line_agent(fact.linkedid)
            if owner is not None:
                self._line_legs[uniqueid] = owner
        return owner

    def _line_fact(self, fact: ev.EngineEvent, now: float) -> list[Any] | None:
        """A fact about an agent's persistent line, or None. In their conference (BridgeEnter)
        the line is up; hung up, it is down, and a citizen on it is not left with nobody."""
        agent_id = self._line_owner(fact)
        if agent_id is None:
            return None
        uniqueid = getattr(fact, "uniqueid", "")
        near = line_agent(uniqueid) is not None and not uniqueid.endswith(FAR_SUFFIX)
        if agent_id not in self.acd.agents:
            return []
        if isinstance(fact, ev.BridgeEntered) and near:
            return self.acd.line_up(agent_id, uniqueid, now)
        if not isinstance(fact, ev.ChannelHungUp) or not (near or uniqueid in self._line_legs):
            return []  # the far half: the near half and the trunk leg tell the rest
        if not near:  # the trunk leg: its cause is the line's (Local's halves may say 16)
            del self._line_legs[uniqueid]
            self._trunk_causes[agent_id] = (fact.cause, fact.cause_text)
            pending = self._line_gone.pop(agent_id, None)
            if pending is None or agent_id in self._line_legs.values():
                return []
            return self._line_gone_mid_call(agent_id, replace(pending, cause=fact.cause, cause_text=fact.cause_text),
                                            now)
        cause, text = self._trunk_causes.pop(agent_id, (fact.cause, fact.cause_text))
        effects = self.acd.line_down(agent_id, uniqueid, now, cause)
        if not effects:
            return []
        log.info("%s's persistent line is down (cause %s %s)", agent_id, cause, text)
        if agent_id in self._line_legs.values():  # the trunk leg's end, with the real cause, comes next
            self._line_gone[agent_id] = fact
            return effects
        return self._line_gone_mid_call(agent_id, replace(fact, cause=cause, cause_text=text), now) + effects

    def _lines_listed(self, snap: ev.ChannelsSnapshot, now: float) -> tuple[ev.ChannelsSnapshot, list[Any]]:
        """A resync's lines go to the ACD (found again after a restart, or gone); the rest of
        the snapshot goes on without them."""
        found: dict[str, tuple[str, bool]] = {}
        others = []
        for channel in snap.channels:
            owner = line_agent(channel.uniqueid) or self._line_legs.get(channel.uniqueid)
            if owner is None and line_agent(channel.linkedid) and self._agent_of_channel(channel.channel) is None:
                owner = line_agent(channel.linkedid)  # the trunk leg of a line (a citizen's leg to it is not)
                self._line_legs[channel.uniqueid] = owner  # type: ignore[assignment]
            if owner is None:
                others.append(channel)
            elif line_agent(channel.uniqueid) and not channel.uniqueid.endswith(FAR_SUFFIX):
                found[owner] = (channel.uniqueid, bool(channel.bridge_id))
        listed = {c.uniqueid for c in snap.channels}
        self._line_legs = {u: a for u, a in self._line_legs.items() if u in listed}
        effects: list[Any] = list(self.acd.lines_found(found, now))
        # an agent on a citizen's call whose line is gone: the citizen is not left with nobody
        for agent in self.acd.agents.values():
            if agent.persistent and agent.config.agent_id not in found and agent.state is AgentState.ON_CALL:
                leg = self._joining_leg(agent.config.agent_id)
                if leg is not None:
                    effects.append(HangUpLeg(leg.linkedid, leg.name, "the agent's persistent line is gone", 41))
        return replace(snap, channels=tuple(others)), effects

    def _joining_leg(self, agent_id: str) -> Any:
        """The citizen's side of the Local channel that joins them to the agent's conference."""
        prefix = self._devices.get(agent_id, "\0")
        return next((c for c in self.calls.channels.values() if c.name.startswith(prefix) and c.name.endswith(";1")),
                    None)

    def _line_gone_mid_call(self, agent_id: str, gone: ev.ChannelHungUp, now: float) -> list[Any]:
        """The line hung up while the agent talked to a citizen: the citizen's leg to the
        conference is ended with the line's cause, so the citizen is treated as for any agent's
        leg (the network's cause: the apology and the head of the queue, or the callback; the
        agent's own hang-up: the survey). `gone` is the line's end, with the trunk leg's cause."""
        leg = self._joining_leg(agent_id)
        if leg is None or self.acd.agents[agent_id].state is not AgentState.ON_CALL:
            return []
        ended = self.acd.agent_call_ended(agent_id, now)
        lost = self._connection_lost(agent_id, replace(gone, uniqueid=leg.uniqueid, linkedid=leg.linkedid), now)
        cause = gone.cause if gone.cause is not None else 16
        return [*ended, *lost, HangUpLeg(leg.linkedid, leg.name, "the agent's persistent line hung up", cause)]

    def _head_of_queue(self, desk: str, queued_at: float) -> float:
        """A queue time (monotonic) ahead of `queued_at` and of every call waiting at the desk,
        live or callback (the priority class still counts)."""
        waiting = [q.call.queued_at for q in (*self.acd.queue.values(), *self.acd.callbacks.values())
                   if q.call.desk == desk]
        return min([queued_at, *waiting]) - HEAD_OF_QUEUE

    def _called_back_first(self, record: CallRecord, queued: Queued | None, now: float, wall: float) -> Queued:
        """The place of a callback promised after the agent's connection went: the head of the
        desk's queue as the call ends, on the wall clock (the book's), with the citizen's class."""
        first = queued or Queued(wall, Priority.NORMAL)
        head = self._head_of_queue(record.desk, now - max(0.0, wall - first.queued_epoch))
        return Queued(wall - (now - head), first.priority)

    def _note_quality(self, agent_id: str, quality: ev.LegQuality) -> None:
        """A poor-quality alert on the agent from their last call's RTCP (a home seat's line)."""
        agent = self.acd.agents[agent_id]
        problems = [f"{name} {value:g}{unit}" for name, value, limit, unit in (
            ("jitter", quality.jitter_ms, POOR_JITTER_MS, " ms"), ("loss", quality.loss_pct, POOR_LOSS_PCT, "%"),
            ("round trip", quality.rtt_ms, POOR_RTT_MS, " ms")) if value > limit]
        if problems and not agent.poor_quality:
            log.warning("%s's call audio was poor: %s", agent_id, ", ".join(problems))
        agent.poor_quality = ", ".join(problems)

    def _handover_open(self, linkedid: str) -> bool:
        handover = self.handovers.by_call.get(linkedid)
        return handover is not None and handover.open

    def _settle_after_agent(self) -> None:
        """Answer the survey's questions whose agent leg has ended (or whose call is gone)."""
        for linkedid, replies in list(self._after_agent.items()):
            call = self.calls.calls.get(linkedid)
            agent_legs = [] if call is None else [
                c for u, c in call.channels.items() if u != call.first_uniqueid and self._agent_of_channel(c.name)]
            if linkedid not in self._lost and agent_legs:
                continue  # Asterisk has not yet said how the agent's leg ended
            verdict = AFTER_AGENT_SURVEY
            if linkedid in self._lost:
                verdict = AFTER_AGENT_CALLBACK if call is not None and call.callback == CALLBACK_AFTER_LOST_CONNECTION \
                    else AFTER_AGENT_LOST
            for reply in replies:
                if not reply.done():
                    reply.set_result(verdict)
            del self._after_agent[linkedid]

    def _requeue_lost(self, req: RequeueLost, now: float, wall: float) -> list[Any]:
        agent_id = self._lost.pop(req.linkedid, None)
        call = self.calls.calls.get(req.linkedid)
        effects = [] if agent_id is None or call is None or call.callback == CALLBACK_AFTER_LOST_CONNECTION \
            else self._requeue(req.linkedid, call.desk, now, wall, head=True)
        queued = req.linkedid in self.acd.queue
        if not req.reply.done():
            req.reply.set_result(queued)
        return effects

    def _reachable(self, endpoints: dict[str, bool], now: float, resync: bool = False) -> list[Any]:
        effects: list[Any] = []
        for endpoint, reachable in endpoints.items():
            for agent_id in self._phones.get(endpoint, ()):
                changed = self.acd.set_reachable(agent_id, reachable, now)
                if changed and not resync:
                    log.info("%s's phone is %s", agent_id, "reachable" if reachable else
                             "unreachable: offered no call until it is back")
                effects += changed
        if resync:
            agents = [self.acd.agents[a] for phones in self._phones.values() for a in phones]
            log.info("resync: %d of %d agents' phones reachable", sum(a.reachable for a in agents), len(agents))
        return effects

    def _talking_citizens(self, snap: ev.ChannelsSnapshot) -> dict[str, ev.ChannelSnapshot]:
        """Citizens' channels (the first of their call, not an agent's phone) in a bridge, by
        bridge: the agent's channel in the same bridge is talking to them."""
        return {c.bridge_id: c for c in snap.channels
                if c.bridge_id and c.uniqueid == c.linkedid and self._agent_of_channel(c.channel) is None
                and c.context in (CONNECT_CONTEXT, FALLBACK_CONTEXT)}

    def _note_talking(self, snap: ev.ChannelsSnapshot, wall: float) -> list[Any]:
        """A citizen found talking to an agent at resync (the call began before a restart) is an
        answered call of that agent and desk: recorded so, and never called back."""
        citizens = self._talking_citizens(snap)
        effects: list[Any] = []
        for channel in snap.channels:
            agent_id = self._agent_of_channel(channel.channel)
            citizen = citizens.get(channel.bridge_id)
            call = self.calls.calls.get(citizen.linkedid) if citizen is not None else None
            if agent_id is None or citizen is None or call is None or call.agent or call.callback_of:
                continue
            answered = snap.at - timedelta(seconds=channel.seconds_up)  # the agent's leg: a bound
            self.calls.found_talking(call.linkedid, agent_id, citizen.desk, answered,
                                     by_fallback=citizen.context == FALLBACK_CONTEXT)
            if not self._port.is_callback(call.linkedid):
                effects += self._port.citizen_answered(call.caller_number, wall)
        return effects

    def _note_answered_unseen(self, fact: ev.DialEnded) -> None:
        """An agent answered a citizen the ACD did not offer (app_queue's member, or a ring
        that began before a restart): the call is that agent's, whoever rang them."""
        call = self.calls.calls.get(fact.linkedid)
        agent_id = self._agent_of_channel(fact.dest_channel)
        if call is None or agent_id is None or call.agent or call.internal or call.callback_of \
                or fact.uniqueid != call.first_uniqueid:
            return
        self.calls.found_talking(call.linkedid, agent_id, call.desk, fact.at, by_fallback=call.fell_back)

    def _now_seen(self, fact: ev.EngineEvent) -> list[str]:
        if not self._unseen:
            return []
        if isinstance(fact, ev.ChannelCreated):
            return [fact.uniqueid]
        if isinstance(fact, ev.ChannelsSnapshot):
            return [c.uniqueid for c in fact.channels]
        return []

    def _hold_unseen(self, fact: ev.CallQueued, now: float) -> list[Any]:
        if self.calls.hung_up(fact.uniqueid):
            log.info("queued session on a channel that already hung up: not queued")
            return []
        self._unseen[fact.uniqueid] = fact
        return [SetTimer(now + CHANNEL_WAIT, ("unseen", fact.uniqueid, 0))]

    def _drop_unseen(self, uniqueid: str, now: float) -> list[Any]:
        held = self._unseen.get(uniqueid)
        if held is None:
            return []
        if self.link_down:  # the resync decides (the channel may be in its snapshot)
            return [SetTimer(now + CHANNEL_WAIT, ("unseen", uniqueid, 0))]
        del self._unseen[uniqueid]
        self.ghosts_dropped += 1
        warn = now - self._ghost_warned_at >= 60.0  # a burst of strangers is one warning a minute
        if warn:
            self._ghost_warned_at = now
        (log.warning if warn else log.info)(
            "FastAGI intake for a channel Asterisk does not show (%s): not queued (%d so far)",
            held.channel[:40] or "no channel name", self.ghosts_dropped)
        return []

    def _hold_offers(self, now: float) -> list[Any]:
        """Asterisk refused an action: no offer for a moment (nor one into the same refusal)."""
        if self.acd.suspended:
            return []
        self.acd.suspend()
        return [SetTimer(now + OFFER_RETRY_AFTER, OFFERS_HELD)]

    def _phone_busy(self, agent_id: str) -> bool:
        prefix = self._devices.get(agent_id, "\0")
        return any(c.name.startswith(prefix) for c in self.calls.channels.values())

    def _channel_name(self, fact: ev.ChannelHungUp | ev.LegQuality) -> str:
        channel = self.calls.channels.get(fact.uniqueid)  # still there: the model applies after
        return channel.name if channel is not None else self.calls.last_hung_up_name.get(fact.uniqueid, "")

    def _carry_out(self, effect: Effect | AcdEffect) -> None:
        if isinstance(effect, SetTimer):
            self._schedule(effect)
            return
        if isinstance(effect, (CallAnswered, CallAbandoned, AgentChanged)) \
                and not (isinstance(effect, (CallAnswered, CallAbandoned)) and self._port.is_callback(effect.call_id)):
            self.figures.record(effect)  # the live callers' figures; callbacks have their own
        for handler in (self._handlers.get(type(effect)), *self._observers.get(type(effect), ())):
            if handler is None:
                continue
            try:
                handler(effect)
            except Exception:
                log.exception("effect handler failed for %s", type(effect).__name__)

    def _schedule(self, timer: SetTimer) -> None:
        loop = asyncio.get_running_loop()
        delay = max(0.0, timer.at - self._clock())

        def fire() -> None:
            self._timers.discard(handle)
            self.submit(ev.TimerFired(timer.key))

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)


__all__ = ["Engine", "AgentRequest", "AgentView", "OfferCall"]
