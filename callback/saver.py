"""The callback list's save loop: every entry the engine hands over goes to the store in order;
a failed save is retried with backoff, never dropped (the entries wait in memory meanwhile)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from callback.book import Entry
from callback.store import CallbackStore

log = logging.getLogger("callback.saver")


class CallbackSaver:
    def __init__(self, store: CallbackStore) -> None:
        self.store = store
        self._queue: asyncio.Queue[Entry] = asyncio.Queue()
        self.pending = 0
        self._saved = asyncio.Event()

    def submit(self, effect: Any) -> None:
        """The engine's SaveCallback effect: never blocks."""
        self.pending += 1
        self._saved.clear()
        self._queue.put_nowait(effect.entry)

    async def flush(self) -> None:
        """Until every entry handed over so far is in the store (tests, shutdown)."""
        while self.pending:
            await self._saved.wait()

    async def run(self) -> None:
        delay = 0.1
        while True:
            entries = [await self._queue.get()]
            while not self._queue.empty():
                entries.append(self._queue.get_nowait())
            while True:
                try:
                    await self.store.save(entries)
                    break
                except Exception as exc:
                    log.warning("callback list not saved (%d entries), retrying in %.1fs: %s", len(entries),
                                delay, type(exc).__name__)
                    await asyncio.sleep(delay)
                    delay = min(10.0, delay * 2)
            delay = 0.1
            self.pending -= len(entries)
            if not self.pending:
                self._saved.set()
