"""The engine: ONE task, ONE inbox, the single writer of live state.

AMI events, AGI outcomes, resync snapshots, timers and agent requests (HTTP, feature codes) all
arrive as messages in the inbox; the engine applies each to the call model and the ACD in
arrival order and hands the resulting effects to the handlers it was given. Nothing else
changes live state, so there are no locks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from acd import events as ev
from acd.acd import (Acd, AcdEffect, AcdError, AgentChanged, CallAbandoned, CallAnswered, OfferCall,
                     QueueRefused, SetTimer)
from acd.callbacks import CALL_PREFIX, CallbackBook, CallbackError, Entry, Loss, Outcome, entry_of
from acd.calls import CallView, LiveCalls
from acd.commands import Effect, WriteCallRecord
from acd.records import LOST, CallRecord, Disposition
from acd.desks import AcdConfig
from acd.figures import DeskFigures
from acd.routing import Priority
from acd.states import AgentState, PauseReason

log = logging.getLogger("acd.engine")

EffectHandler = Callable[[Any], None]
CALLBACK_TICK = ("callbacks", "tick")  # due entries are looked at after every step and on this timer
CITIZEN_OUTCOMES = {"ANSWER": Outcome.REACHED, "NOANSWER": Outcome.NO_ANSWER, "CANCEL": Outcome.NO_ANSWER,
                    "BUSY": Outcome.BUSY, "CHANUNAVAIL": Outcome.INVALID_NUMBER,
                    "CONGESTION": Outcome.INVALID_NUMBER, "AGENT_NOANSWER": Outcome.AGENT_NO_ANSWER,
                    "": Outcome.AGENT_NO_ANSWER}  # the agent hung up before the citizen was dialed
AGENTS_CONTEXT = "from-agents"  # where calls from agents' phones start (asterisk-conf/pjsip.conf)


@dataclass(frozen=True, slots=True)
class AgentRequest:
    """login | ready | pause | logout for one agent; the answer comes back on `reply`."""

    op: str
    agent_id: str
    reply: asyncio.Future[Any]
    reason: str = ""


@dataclass(frozen=True, slots=True)
class DoNotCall:
    """Put a number on (or take it off) the callback do-not-call list; the reply is the entry
    this closed, or None."""

    number: str
    add: bool
    reply: asyncio.Future[Any]


@dataclass(frozen=True, slots=True)
class DialCallback:
    """Ring the agent first (whisper: 回拨 and the desk), then the citizen through the trunk."""

    entry_id: int
    number: str
    agent_id: str
    device: str
    desk: str


@dataclass(frozen=True, slots=True)
class SaveCallback:
    """Persist this callback entry (the store keeps the last state of each)."""

    entry: Entry


@dataclass(frozen=True, slots=True)
class AgentView:
    agent_id: str
    name: str
    state: str
    reason: str
    since: float
    call_id: str | None


Message = ev.EngineEvent | AgentRequest | DoNotCall


class Engine:
    def __init__(self, handlers: Mapping[type, EffectHandler], acd: AcdConfig | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, callbacks: CallbackBook | None = None,
                 business_hours: Callable[[float], bool] = lambda _: True,
                 callback_tick: float = 5.0) -> None:
        self.calls = LiveCalls()
        self.callbacks = callbacks or CallbackBook()
        self._business_hours = business_hours
        self._callback_tick = callback_tick
        self.acd = Acd(acd or AcdConfig())
        self.figures = DeskFigures([d.name for d in self.acd.config.desks],
                                   {d.name: d.service_level for d in self.acd.config.desks})
        self._devices = {a.agent_id: f"{a.device}-" for a in self.acd.config.agents}
        self._handlers = dict(handlers)
        self._observers: dict[type, list[EffectHandler]] = {}
        self._clock = clock
        self._wall = wall
        self._inbox: asyncio.Queue[Message | None] = asyncio.Queue()
        self._caller_channel: dict[str, str] = {}  # queued linkedid -> the caller's uniqueid
        self._callback_agent: dict[str, str] = {}  # number being called back -> the agent
        self._queued_wall: dict[str, float] = {}  # queued linkedid -> epoch it joined (virtual hold)
        self._queued_callbacks: set[str] = set()  # callback:N put in the ACD queue (a few, not the storm)
        self._timers: set[asyncio.TimerHandle] = set()
        self.processed = 0
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

    async def request(self, op: str, agent_id: str, reason: str = "") -> Any:
        """An agent request answered by the engine task (raises its stable errors)."""
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.submit(AgentRequest(op, agent_id, reply, reason))
        return await reply

    async def do_not_call(self, number: str, add: bool = True) -> Entry | None:
        """Opt a number out of callbacks (or back in): answered by the engine task."""
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.submit(DoNotCall(number, add, reply))
        result: Entry | None = await reply
        return result

    async def drained(self) -> None:
        """Wait until every message submitted so far is applied (tests, shutdown)."""
        await self._idle.wait()

    def stop(self) -> None:
        self._inbox.put_nowait(None)
        for handle in self._timers:
            handle.cancel()

    # ---- reading (copies, never the engine's objects) ----
    def snapshot(self) -> tuple[CallView, ...]:
        return self.calls.views()

    def agents(self) -> tuple[AgentView, ...]:
        return tuple(AgentView(a.config.agent_id, a.config.name, a.state.value, a.reason, a.since,
                               a.call_id) for a in self.acd.agents.values())

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

    def desk_figures(self) -> dict[str, dict[str, Any]]:
        now = self._clock()
        return self.figures.snapshot(now, self.acd)

    # ---- the task ----
    async def run(self) -> None:
        self._schedule(SetTimer(self._clock() + self._callback_tick, CALLBACK_TICK))
        while True:
            message = await self._inbox.get()
            if message is None:
                return
            try:
                effects = self._apply(message)
            except Exception:  # a bug must not stop the hotline: log the fact, keep going
                log.exception("engine could not apply %s", type(message).__name__)
                effects = []
            self.processed += 1
            for effect in effects:
                self._carry_out(effect)
            if self._inbox.empty():
                self._idle.set()

    def _apply(self, message: Message) -> list[Any]:
        now = self._clock()
        if isinstance(message, AgentRequest):
            return self._dial_callbacks(self._agent_request(message, now) + self._callbacks_due(now))
        if isinstance(message, DoNotCall):
            closed = None
            if message.add:
                closed = self.callbacks.opt_out(message.number, self._wall())
            else:
                self.callbacks.opt_in(message.number)
            if not message.reply.done():
                message.reply.set_result(closed)
            saved: list[Any] = [SaveCallback(closed)] if closed is not None else []
            return saved + self._dial_callbacks(self._callbacks_due(now))  # a queued one leaves the queue
        # The ACD first, so that a call ending in this very step is recorded with what the ACD
        # made of it (abandoned in the queue, while ringing …).
        acd_effects = self._acd_apply(message, now)
        at = getattr(message, "at", None) or datetime.now(timezone.utc)
        effects: list[Any] = []
        for effect in acd_effects:
            if isinstance(effect, (CallAnswered, CallAbandoned, QueueRefused, OfferCall)):
                self.calls.note(effect, at)
            if isinstance(effect, CallAnswered):
                effects += self._served(effect.call_id)
        effects += self.calls.apply(message)
        self._mark_internal(message)
        for effect in list(effects):
            if isinstance(effect, WriteCallRecord):
                effects += self._book(effect.record)
        acd_effects += self._callbacks_due(now)
        return effects + self._dial_callbacks(acd_effects)

    # ---- callbacks: due entries wait in the ACD like callers; an offer dials the agent first ----
    def _callbacks_due(self, now: float) -> list[AcdEffect]:
        wall = self._wall()
        effects: list[AcdEffect] = []
        for call_id in list(self._queued_callbacks):  # not the whole queue: every step runs this
            entry_id = entry_of(call_id)
            if call_id not in self.acd.queue:
                self._queued_callbacks.discard(call_id)  # answered, or gone
            elif entry_id is None or self._closed(entry_id):
                self._queued_callbacks.discard(call_id)
                effects += self._withdraw(call_id, now)  # served, expired … while it waited in the queue
        for entry in self.callbacks.due(wall, self._business_hours(wall)):
            call_id = f"{CALL_PREFIX}{entry.entry_id}"
            if call_id in self.acd.queue:
                continue
            try:
                effects += self.acd.enqueue(call_id, "", entry.desk, entry.priority, now,
                                            queued_at=now - max(0.0, wall - entry.due_at))
                self._queued_callbacks.add(call_id)
            except AcdError as exc:  # the desk's queue is full: try again at the next tick
                log.info("callback %d not queued yet: %s", entry.entry_id, exc.code)
        return effects

    def _closed(self, entry_id: int) -> bool:
        entry = self.callbacks.entries.get(entry_id)
        return entry is None or not entry.open

    def _withdraw(self, call_id: str, now: float) -> list[AcdEffect]:
        """A queued callback whose entry closed leaves the queue; an agent it was being offered
        to is free again at once (no miss counted). Not a lost call: no CallAbandoned."""
        return [e for e in self.acd.call_left(call_id, now) if not isinstance(e, CallAbandoned)]

    def _dial_callbacks(self, effects: list[Any]) -> list[Any]:
        out: list[Any] = []
        pending = list(effects)
        while pending:
            effect = pending.pop(0)
            entry_id = entry_of(effect.call_id) if isinstance(effect, OfferCall) else None
            if entry_id is None:
                out.append(effect)
                continue
            try:
                entry = self.callbacks.start(entry_id)
            except CallbackError as exc:  # closed in this very step (its citizen was just served)
                log.info("callback %d withdrawn from %s: %s", entry_id, effect.agent_id, exc.code)
                pending[:0] = self._withdraw(effect.call_id, self._clock())
                continue
            self._callback_agent[entry.number] = effect.agent_id
            out += [SaveCallback(entry), DialCallback(entry_id, entry.number, effect.agent_id, effect.device,
                                                      effect.desk)]
        return out

    def _callback_dialed(self, fact: ev.CallbackDialed, now: float) -> list[Any]:
        entry = next((e for e in self.callbacks.entries.values() if e.dialing and e.number == fact.number), None)
        if entry is None:
            return []
        call_id = f"{CALL_PREFIX}{entry.entry_id}"
        agent_id = self._callback_agent.get(fact.number, "")
        if fact.status == "AGENT_ANSWERED":
            call = self.calls.calls.get(fact.linkedid)
            if call is not None:
                call.agent, call.desk = agent_id, entry.desk
            return list(self.acd.offer_answered(call_id, now))
        self._callback_agent.pop(fact.number, None)
        outcome = CITIZEN_OUTCOMES.get(fact.status, Outcome.NO_ANSWER)
        effects: list[Any] = [SaveCallback(self.callbacks.result(entry.entry_id, agent_id, outcome, self._wall()))]
        if fact.status == "AGENT_NOANSWER":  # back to its place; the next ready agent may take it
            effects += self._dial_callbacks(list(self.acd.offer_failed(call_id, now)))
        return effects

    def _served(self, call_id: str) -> list[SaveCallback]:
        """An agent answered the citizen: their callback entry is closed now, not when the call
        ends, so no agent is rung to call back a citizen who is on the line (or in the survey)."""
        call = self.calls.calls.get(call_id)
        if call is None or not call.caller_number:
            return []
        served = self.callbacks.served(call.caller_number, self._wall())
        return [SaveCallback(served)] if served is not None else []

    def _book(self, record: CallRecord) -> list[SaveCallback]:
        """Every lost call goes into the callback book; an answered call closes its number's entry."""
        if record.disposition not in LOST:
            self._queued_wall.pop(record.linkedid, None)
        if record.disposition is Disposition.ANSWERED:
            served = self.callbacks.served(record.caller_number, record.ended_at.timestamp())
            return [SaveCallback(served)] if served is not None else []
        if record.disposition not in LOST:
            return []
        waited = record.queue_wait or 0.0
        reason = record.disposition.value if record.left_in != "fallback" else "fallback_queue"
        virtual = record.callback == "accepted"
        queued_at = self._queued_wall.pop(record.linkedid, record.ended_at.timestamp() - waited)
        loss = Loss(record.linkedid, record.caller_number, record.desk or self._desk_of(record.dialed_number),
                    reason, waited, record.ended_at.timestamp(), virtual_hold=virtual,
                    queued_at=queued_at if virtual else None)
        entry = self.callbacks.lost(loss)
        return [SaveCallback(entry)] if entry is not None else []

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
                    channel.context == AGENTS_CONTEXT or self._agent_of_channel(channel.channel) is not None):
                self.calls.mark_internal(channel.linkedid)

    def _agent_request(self, req: AgentRequest, now: float) -> list[Any]:
        try:
            if req.op == "pause":
                effects: list[AcdEffect] = self.acd.pause(req.agent_id, PauseReason(req.reason or "break"), now)
            elif req.op in ("login", "ready", "logout"):
                effects = getattr(self.acd, req.op)(req.agent_id, now)
            else:
                raise ValueError(f"unknown-request: {req.op}")
        except Exception as exc:
            if not req.reply.done():
                req.reply.set_exception(exc)
            return []
        if not req.reply.done():
            req.reply.set_result(self.acd.agents[req.agent_id].state.value)
        return list(effects)

    def _agent_of_channel(self, channel: str) -> str | None:
        for agent_id, prefix in self._devices.items():
            if channel.startswith(prefix):
                return agent_id
        return None

    def _acd_apply(self, fact: ev.EngineEvent, now: float) -> list[AcdEffect]:
        acd = self.acd
        match fact:
            case ev.CallQueued():
                if fact.linkedid in acd.queue:
                    return []
                self._caller_channel[fact.linkedid] = fact.uniqueid
                self._queued_wall[fact.linkedid] = fact.queued_epoch or self._wall()
                queued_at = None
                if fact.queued_epoch is not None:  # keep the place it had before a restart
                    queued_at = now - max(0.0, self._wall() - fact.queued_epoch)
                try:
                    return acd.enqueue(fact.linkedid, fact.channel, fact.desk, Priority(fact.priority),
                                       now, queued_at=queued_at, preferred_agent=fact.preferred_agent)
                except AcdError as exc:
                    log.warning("could not queue call %s for desk %s: %s", fact.linkedid, fact.desk, exc)
                    del self._caller_channel[fact.linkedid]
                    return [QueueRefused(fact.linkedid, fact.channel, fact.desk, exc.code)]
            case ev.DialEnded():
                if self._caller_channel.get(fact.linkedid) != fact.uniqueid:
                    return []
                if fact.status == "ANSWER":
                    return acd.offer_answered(fact.linkedid, now)
                return acd.offer_failed(fact.linkedid, now)
            case ev.ChannelCreated():
                agent_id = self._agent_of_channel(fact.channel)
                if fact.exten.startswith("*"):
                    return []  # a feature code, not a call with anybody
                if agent_id is not None and acd.agents[agent_id].state is not AgentState.OFFERED:
                    return acd.agent_outbound(agent_id, now)
            case ev.ChannelHungUp():
                if self._caller_channel.get(fact.linkedid) == fact.uniqueid:
                    del self._caller_channel[fact.linkedid]
                    return acd.call_left(fact.linkedid, now)
                agent_id = self._agent_of_channel(self._channel_name(fact))
                if agent_id is not None:
                    return acd.agent_call_ended(agent_id, now)
            case ev.TimerFired() if fact.key == CALLBACK_TICK:
                return [SetTimer(now + self._callback_tick, CALLBACK_TICK)]  # due entries: after every step
            case ev.TimerFired():
                return acd.timer(fact.key, now)
            case ev.CallbackDialed():
                return self._callback_dialed(fact, now)
            case ev.ChannelsSnapshot():
                return self._acd_resync(fact, now)
        return []

    def _acd_resync(self, snap: ev.ChannelsSnapshot, now: float) -> list[AcdEffect]:
        """After an AMI outage: settle what the ACD missed, so no agent or call is left in a
        ghost state (a caller who left, an offer answered or refused, a call that ended)."""
        live = {c.uniqueid: c for c in snap.channels}
        effects: list[AcdEffect] = []
        for linkedid, uniqueid in list(self._caller_channel.items()):
            channel = live.get(uniqueid)
            queued = self.acd.queue.get(linkedid)
            if channel is None:
                del self._caller_channel[linkedid]
                effects += self.acd.call_left(linkedid, now)
            elif queued is not None and queued.offered_to is not None:
                if channel.bridge_id:
                    effects += self.acd.offer_answered(linkedid, now)
                elif channel.context != "hotline-connect":
                    effects += self.acd.offer_failed(linkedid, now)
        names = [c.channel for c in snap.channels]
        for agent_id, prefix in self._devices.items():
            agent = self.acd.agents[agent_id]
            if agent.state is AgentState.ON_CALL and not any(n.startswith(prefix) for n in names):
                effects += self.acd.agent_call_ended(agent_id, now)
        return effects

    def _channel_name(self, fact: ev.ChannelHungUp) -> str:
        channel = self.calls.channels.get(fact.uniqueid)  # still there: the model applies after
        return channel.name if channel is not None else self.calls.last_hung_up_name.get(fact.uniqueid, "")

    def _carry_out(self, effect: Effect | AcdEffect) -> None:
        if isinstance(effect, SetTimer):
            self._schedule(effect)
            return
        if isinstance(effect, (CallAnswered, CallAbandoned, AgentChanged)) \
                and not (isinstance(effect, CallAnswered) and effect.call_id.startswith(CALL_PREFIX)):
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
