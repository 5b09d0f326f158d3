"""The engine: ONE task, ONE inbox, the single writer of live state.

AMI events, AGI outcomes, resync snapshots and (later) HTTP commands all arrive as messages in
the inbox; the engine applies each to the model in arrival order and hands the resulting effects
to the handlers it was given. Nothing else changes live state, so there are no locks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from acd.calls import CallView, LiveCalls
from acd.commands import Effect
from acd.events import EngineEvent

log = logging.getLogger("acd.engine")

EffectHandler = Callable[[Any], None]


class Engine:
    def __init__(self, handlers: Mapping[type, EffectHandler]) -> None:
        self.calls = LiveCalls()
        self._handlers = dict(handlers)
        self._inbox: asyncio.Queue[EngineEvent | None] = asyncio.Queue()
        self.processed = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, fact: EngineEvent) -> None:
        """Called from any task or callback: never blocks, never touches state."""
        self._idle.clear()
        self._inbox.put_nowait(fact)

    def snapshot(self) -> tuple[CallView, ...]:
        return self.calls.views()

    async def drained(self) -> None:
        """Wait until every fact submitted so far is applied (tests, shutdown)."""
        await self._idle.wait()

    async def run(self) -> None:
        while True:
            fact = await self._inbox.get()
            if fact is None:
                return
            try:
                effects = self.calls.apply(fact)
            except Exception:  # a bug must not stop the hotline: log the fact, keep going
                log.exception("engine could not apply %s", type(fact).__name__)
                effects = []
            self.processed += 1
            for effect in effects:
                self._carry_out(effect)
            if self._inbox.empty():
                self._idle.set()

    def stop(self) -> None:
        self._inbox.put_nowait(None)

    def _carry_out(self, effect: Effect) -> None:
        handler = self._handlers.get(type(effect))
        if handler is None:
            return
        try:
            handler(effect)
        except Exception:
            log.exception("effect handler failed for %s", type(effect).__name__)
