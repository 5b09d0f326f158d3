"""The fact stream (issue 17): every fact the notifier publishes gets the next sequence number,
is kept in a bounded ring (so a client that reconnects resumes from its last number without
loss or duplicates), and every subscriber reads it from there at its own pace. A subscriber
that cannot keep up is cut off, never waited for: the engine must not slow down because a
wallboard's network is slow or a consumer died. Pure asyncio, no I/O: the websocket and MQTT
edges read subscriptions.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("events.stream")

RING_KEPT = 20_000  # facts kept for resuming (a busy hall's few minutes)
QUEUE_DEPTH = 5_000  # facts a subscriber may be behind before it is cut off
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
    """A consumer's view of the stream: an async iterator of facts, read from the stream's ring
    at the consumer's own pace, ended when the consumer closes it or when it fell more than
    `depth` facts behind (`cut` then says why)."""

    def __init__(self, stream: EventStream, depth: int, after: int | None = None) -> None:
        self._stream = stream
        self._depth = depth
        self.next = (stream.seq if after is None else after) + 1  # the sequence number of the next fact it reads
        self._ready = asyncio.Event()
        self.cut = ""
        self.closed = False

    def wake(self) -> None:
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._stream.unsubscribe(self)
        self._ready.set()

    def take(self, limit: int) -> list[EventFact]:
        """Up to `limit` facts that are there now, without waiting (a batch for the hub)."""
        facts: list[EventFact] = []
        while len(facts) < limit and self.next <= self._stream.seq and not self.closed:
            fact = self._stream.at(self.next)
            if fact is None:
                self._cut()
                break
            facts.append(fact)
            self.next += 1
        return facts

    async def wait(self) -> None:
        """Until there is a fact to read or the subscription ended."""
        while not self.closed and self.next > self._stream.seq:
            self._ready.clear()
            await self._ready.wait()

    @property
    def behind(self) -> int:
        return self._stream.seq - self.next + 1

    def _cut(self) -> None:
        self.cut = TOO_SLOW
        self.close()

    async def __aiter__(self) -> AsyncIterator[EventFact]:
        while not self.closed:
            if self.next > self._stream.seq:
                self._ready.clear()
                await self._ready.wait()
                continue
            fact = self._stream.at(self.next)
            if fact is None:  # no longer kept: it fell behind the ring itself
                self._cut()
                return
            self.next += 1
            yield fact


class EventStream:
    """Publishing costs the same whatever the number of consumers: the fact goes into the ring,
    and the consumers are woken once the engine's step is over (one callback for all the facts
    of the step); that wake-up also cuts off those too far behind."""

    def __init__(self, ring: int = RING_KEPT, depth: int = QUEUE_DEPTH, name: str = "") -> None:
        self.name = name or secrets.token_hex(6)  # this life's stream: sequence numbers of another do not resume
        self.seq = 0
        self._size = ring
        self._ring: list[EventFact | None] = [None] * ring
        self._subscribers: list[Subscription] = []
        self._listeners: list[Callable[[EventFact], None]] = []  # in-process and quick: the metrics
        self._depth = min(depth, ring)
        self._waking = False
        self.cut_off = 0  # subscribers cut off for being too slow, since start

    def publish(self, at: float, kind: str, agent_id: str = "", linkedid: str = "",
                data: Mapping[str, Any] | None = None) -> EventFact:
        fact = EventFact(self.seq + 1, at, kind, agent_id, linkedid, dict(data or {}))
        self.put(fact)
        return fact

    def put(self, fact: EventFact) -> None:
        """A fact numbered already (the hub's copy of the controller's stream): the next one, or
        any for a stream that has none yet (the hub starts with what the controller still keeps)."""
        if self.seq and fact.seq != self.seq + 1:
            raise ValueError(f"fact {fact.seq} after {self.seq}: the stream takes facts in order")
        self.seq = fact.seq
        self._ring[self.seq % self._size] = fact
        for listener in self._listeners:
            try:
                listener(fact)
            except Exception:  # a listener's bug must not stop the stream
                log.exception("event listener failed on %s", fact.kind)
        if self._subscribers and not self._waking:
            self._waking = True
            asyncio.get_running_loop().call_soon(self._wake)

    def _wake(self) -> None:
        self._waking = False
        for subscriber in list(self._subscribers):
            if subscriber.behind > subscriber._depth:
                subscriber._cut()
                self.cut_off += 1
            else:
                subscriber.wake()

    def at(self, seq: int) -> EventFact | None:
        fact = self._ring[seq % self._size]
        return fact if fact is not None and fact.seq == seq else None

    def listen(self, listener: Callable[[EventFact], None]) -> None:
        """Call `listener` with every fact as it is published (it must be quick: counters)."""
        self._listeners.append(listener)

    def subscribe(self, depth: int | None = None, after: int | None = None) -> Subscription:
        """Facts from `after` + 1 (default: from the next one published)."""
        subscription = Subscription(self, min(depth or self._depth, self._size), after)
        self._subscribers.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)

    def holds(self, seq: int) -> bool:
        """Whether every fact after `seq` is still kept, without copying them (the ring holds
        one unbroken run of numbers ending at the newest: its oldest one tells)."""
        return 0 <= seq <= self.seq and (seq == self.seq or self.at(seq + 1) is not None)

    def since(self, seq: int) -> list[EventFact] | None:
        """The facts after `seq`, or None when some of them are no longer kept (or `seq` is
        from another life of the controller): the client needs a fresh snapshot."""
        if seq > self.seq or seq < 0:
            return None
        facts = [self.at(n) for n in range(seq + 1, self.seq + 1)]
        return None if any(f is None for f in facts) else [f for f in facts if f is not None]

    @property
    def depth(self) -> int:
        """Facts a subscriber may be behind before it is cut off."""
        return self._depth

    @property
    def size(self) -> int:
        """Facts the ring keeps."""
        return self._size

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)
