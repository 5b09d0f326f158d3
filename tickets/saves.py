"""A save loop for what the engine hands over to keep (callback entries, agents' sessions):
in order, batched, a failed save retried with backoff and never dropped (the items wait in
memory meanwhile)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

log = logging.getLogger("tickets.saves")

T = TypeVar("T")


class SaveLoop(Generic[T]):
    def __init__(self, save: Callable[[list[T]], Awaitable[None]], what: str, item: Callable[[Any], T]) -> None:
        self._save = save
        self._what = what
        self._item = item  # the effect -> the thing to save
        self._queue: asyncio.Queue[T] = asyncio.Queue()
        self.pending = 0
        self._saved = asyncio.Event()

    def submit(self, effect: Any) -> None:
        """The engine's effect handler: never blocks."""
        self.pending += 1
        self._saved.clear()
        self._queue.put_nowait(self._item(effect))

    async def flush(self) -> None:
        """Until everything handed over so far is in the store (tests, shutdown)."""
        while self.pending:
            await self._saved.wait()

    async def run(self) -> None:
        delay = 0.1
        while True:
            items = [await self._queue.get()]
            while not self._queue.empty():
                items.append(self._queue.get_nowait())
            while True:
                try:
                    await self._save(items)
                    break
                except Exception as exc:
                    log.warning("%s not saved (%d item(s)), retrying in %.1fs: %s", self._what, len(items),
                                delay, type(exc).__name__)
                    await asyncio.sleep(delay)
                    delay = min(10.0, delay * 2)
            delay = 0.1
            self.pending -= len(items)
            if not self.pending:
                self._saved.set()
