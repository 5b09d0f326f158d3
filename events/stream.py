"""The fact stream (issue 17): every fact the notifier publishes gets the next sequence number,
is kept in a bounded ring (so a client that reconnects resumes from its last number without
loss or duplicates) and is offered to every subscriber without waiting. A subscriber that
cannot keep up is cut off, never waited for: the engine must not slow down because a
wallboard's network is slow or a consumer died. Pure asyncio, no I/O: the websocket and MQTT
edges read subscriptions.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("events.stream")

RING_KEPT = 20_000  # facts kept for resuming (a busy hall's few minutes)
QUEUE_DEPTH = 2_000  # facts a subscriber may be behind before it is cut off
TOO_SLOW = "too-slow"  # why a subscriber was cut off (the websocket's close reason)


@dataclass(frozen=True, slots=True)
class EventFact:
    """One published fact. `agent_id`: the seat it concerns (an agent's socket carries only
    these); `data` is JSON-ready and may hold a caller's number under "number" (the edges mask
    it or leave it out)."""

    seq: int
    at: float  # epoch seconds
    kind: str  # e.g. call.arrived, call.offered, call.answered, call.ended, agent.state, desk.figures
    agent_id: str = ""
    linkedid: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


class Subscription:
    """A consumer's view of the stream: an async iterator of facts, ended when the consumer
    closes it or when it fell too far behind (`cut` then says why)."""

    def __init__(self, stream: EventStream, depth: int) -> None:
        self._stream = stream
        self._queue: asyncio.Queue[EventFact | None] = asyncio.Queue(depth)
        self.cut: str = ""

    def offer(self, fact: EventFact) -> bool:
        """Never blocks: False (and cut off) when the consumer is too far behind."""
        try:
            self._queue.put_nowait(fact)
            return True
        except asyncio.QueueFull:
            self.cut = TOO_SLOW
            self._end()
            return False

    def _end(self) -> None:
        """Wake the consumer with the end (room is made: a full queue cannot take it)."""
        while True:
            try:
                self._queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()

    def close(self) -> None:
        self._stream.unsubscribe(self)
        self._end()

    @property
    def behind(self) -> int:
        return self._queue.qsize()

    async def __aiter__(self) -> AsyncIterator[EventFact]:
        while True:
            fact = await self._queue.get()
            if fact is None:
                return
            yield fact


class EventStream:
    def __init__(self, ring: int = RING_KEPT, depth: int = QUEUE_DEPTH) -> None:
        self.name = secrets.token_hex(6)  # this life's stream: sequence numbers of another do not resume
        self.seq = 0
        self._ring: deque[EventFact] = deque(maxlen=ring)
        self._subscribers: list[Subscription] = []
        self._listeners: list[Callable[[EventFact], None]] = []  # in-process and quick: the metrics
        self._depth = depth
        self.cut_off = 0  # subscribers cut off for being too slow, since start

    def publish(self, at: float, kind: str, agent_id: str = "", linkedid: str = "",
                data: Mapping[str, Any] | None = None) -> EventFact:
        self.seq += 1
        fact = EventFact(self.seq, at, kind, agent_id, linkedid, dict(data or {}))
        self._ring.append(fact)
        for listener in self._listeners:
            try:
                listener(fact)
            except Exception:  # a listener's bug must not stop the stream
                log.exception("event listener failed on %s", kind)
        for subscriber in list(self._subscribers):
            if not subscriber.offer(fact):
                self._subscribers.remove(subscriber)
                self.cut_off += 1
        return fact

    def listen(self, listener: Callable[[EventFact], None]) -> None:
        """Call `listener` with every fact as it is published (it must be quick: counters)."""
        self._listeners.append(listener)

    def subscribe(self, depth: int | None = None) -> Subscription:
        subscription = Subscription(self, depth or self._depth)
        self._subscribers.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)

    def since(self, seq: int) -> list[EventFact] | None:
        """The facts after `seq`, or None when some of them are no longer kept (or `seq` is
        from another life of the controller): the client needs a fresh snapshot."""
        if seq > self.seq:
            return None
        oldest = self._ring[0].seq if self._ring else self.seq + 1
        if seq + 1 < oldest:
            return None
        return [f for f in self._ring if f.seq > seq]

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)
