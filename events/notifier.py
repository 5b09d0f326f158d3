"""The fact stream out: one notifier, one method per fact (wazo-calld's shape: what a fact is
called on the wire lives here and in the edges, never in the engine). Each method logs the fact
(callers' numbers masked) and publishes it on the stream (events/stream.py), which the
websocket, MQTT and the metrics read. Publishing never waits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from acd.acd import AgentChanged, AgentReachable, CallAbandoned, CallAnswered, OfferCall
from acd.commands import CallArrived, CallEnded, CallWaiting, WriteCallRecord
from acd.handover import HandoverChanged
from acd.lines import LineChanged
from acd.privacy import mask_number
from events.stream import EventStream

log = logging.getLogger("events.notifier")
CALLS_REMEMBERED = 4096  # live calls' agents (an agent's socket carries the end of their own)


class Notifier:
    def __init__(self, stream: EventStream | None = None, *, wall: Callable[[], float] = time.time,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream or EventStream()
        self._wall, self._clock = wall, clock
        self._records: OrderedDict[str, WriteCallRecord] = OrderedDict()
        self._agents: OrderedDict[str, str] = OrderedDict()  # linkedid -> the agent it was offered to
        self._methods: dict[type, Callable[[Any], None]] = {
            CallArrived: self.call_arrived, CallWaiting: self.call_waiting, OfferCall: self.call_offered,
            CallAnswered: self.call_answered, CallAbandoned: self.call_abandoned,
            HandoverChanged: self.handover_changed, WriteCallRecord: self.record_written, CallEnded: self.call_ended,
            AgentChanged: self.agent_changed, AgentReachable: self.agent_reachable, LineChanged: self.line_changed}

    @property
    def kinds(self) -> tuple[type, ...]:
        """The engine effects it publishes (the composition root hands them over)."""
        return tuple(self._methods)

    def __call__(self, fact: object) -> None:
        """The engine's effect handler for every fact it publishes."""
        method = self._methods.get(type(fact))
        if method is not None:
            method(fact)

    def _epoch(self, monotonic: float) -> float:
        return round(self._wall() - (self._clock() - monotonic), 3)

    def _remember(self, linkedid: str, agent_id: str) -> None:
        self._agents[linkedid] = agent_id
        self._agents.move_to_end(linkedid)
        while len(self._agents) > CALLS_REMEMBERED:
            self._agents.popitem(last=False)

    # ---- calls ----
    def call_arrived(self, fact: CallArrived) -> None:
        log.info("call %s arrived: %s -> %s", fact.linkedid, mask_number(fact.caller_number), fact.dialed_number)
        self.stream.publish(self._wall(), "call.arrived", linkedid=fact.linkedid,
                            data={"number": fact.caller_number, "dialed": fact.dialed_number})

    def call_waiting(self, fact: CallWaiting) -> None:
        self.stream.publish(self._wall(), "call.queued", linkedid=fact.linkedid,
                            data={"desk": fact.desk, "priority": fact.priority})

    def call_offered(self, fact: OfferCall) -> None:
        self._remember(fact.call_id, fact.agent_id)
        self.stream.publish(self._wall(), "call.offered", fact.agent_id, fact.call_id,
                            {"desk": fact.desk, "agent": fact.agent_id})

    def call_answered(self, fact: CallAnswered) -> None:
        log.debug("call %s answered by %s after %.1f s", fact.call_id, fact.agent_id, fact.waited)
        self._remember(fact.call_id, fact.agent_id)
        self.stream.publish(self._wall(), "call.answered", fact.agent_id, fact.call_id,
                            {"desk": fact.desk, "agent": fact.agent_id, "waited": round(fact.waited, 3)})

    def call_abandoned(self, fact: CallAbandoned) -> None:
        self.stream.publish(self._wall(), "call.abandoned", self._agents.get(fact.call_id, "") if fact.while_ringing
                            else "", fact.call_id, {"desk": fact.desk, "waited": round(fact.waited, 3),
                                                    "while_ringing": fact.while_ringing})

    def handover_changed(self, fact: HandoverChanged) -> None:
        self.stream.publish(self._wall(), "call.handover", fact.agent_id, fact.call_id,
                            {"agent": fact.agent_id, "kind": fact.kind.value, "target": fact.target,
                             "stage": fact.stage.value, "reason": fact.reason})

    def record_written(self, fact: WriteCallRecord) -> None:
        """Kept for the call's end, which the engine announces right after its record."""
        self._records[fact.record.linkedid] = fact
        while len(self._records) > CALLS_REMEMBERED:
            self._records.popitem(last=False)

    def call_ended(self, fact: CallEnded) -> None:
        log.info("call %s ended: %s", fact.linkedid, fact.disposition)
        written = self._records.pop(fact.linkedid, None)
        record = written.record if written is not None else None
        agent_id = (record.agent if record is not None else "") or self._agents.get(fact.linkedid, "")
        self._agents.pop(fact.linkedid, None)
        data: dict[str, Any] = {"disposition": fact.disposition, "agent": agent_id}
        if record is not None:
            data |= {"desk": record.desk, "queue_wait": record.queue_wait, "talk_time": record.talk_time,
                     "number": record.caller_number}
        self.stream.publish(self._wall(), "call.ended", agent_id, fact.linkedid, data)

    # ---- agents ----
    def agent_changed(self, fact: AgentChanged) -> None:
        log.debug("agent %s: %s %s", fact.agent_id, fact.state.value, fact.reason)
        self.stream.publish(self._wall(), "agent.state", fact.agent_id,
                            data={"state": fact.state.value, "reason": fact.reason, "since": self._epoch(fact.at)})

    def agent_reachable(self, fact: AgentReachable) -> None:
        self.stream.publish(self._wall(), "agent.reachable", fact.agent_id, data={"reachable": fact.reachable})

    def line_changed(self, fact: LineChanged) -> None:
        self.stream.publish(self._wall(), "agent.line", fact.agent_id,
                            data={"line": fact.state.value, "cause": fact.cause})

    # ---- desks (the composition root publishes them on a beat: figures change with every call) ----
    def desk_figures(self, desk: str, figures: dict[str, Any]) -> None:
        self.stream.publish(self._wall(), "desk.figures", data={"desk": desk, **figures})

    async def desk_beat(self, figures: Callable[[], dict[str, dict[str, Any]]], every: float = 1.0) -> None:
        """Publish each desk's figures when they changed, at most every `every` seconds."""
        last: dict[str, dict[str, Any]] = {}
        while True:
            for desk, now in figures().items():
                if last.get(desk) != now:
                    last[desk] = now
                    self.desk_figures(desk, now)
            await asyncio.sleep(every)
