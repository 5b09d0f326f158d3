"""Writes call records off the hot path: the engine submits without waiting; a background task
writes in batches, and on a database error keeps the batch, in order, and retries with backoff.
Nothing is dropped or reordered; the store's one-row-per-linkedid rule makes retries safe."""

from __future__ import annotations

import asyncio
import logging

from acd.privacy import mask_number
from acd.records import CallRecord
from tickets.store import CallRecordStore

log = logging.getLogger("tickets.writer")


class CallRecordWriter:
    def __init__(self, store: CallRecordStore, *, batch_size: int = 200, max_delay: float = 0.05,
                 backoff_initial: float = 0.1, backoff_max: float = 5.0) -> None:
        self.store = store
        self.batch_size = batch_size
        self.max_delay = max_delay
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self._queue: asyncio.Queue[CallRecord] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._submitted = 0
        self._done = 0
        self._progress = asyncio.Condition()
        self.written = 0
        self.duplicates = 0
        self.errors = 0

    @property
    def pending(self) -> int:
        return self._submitted - self._done

    def submit(self, record: CallRecord) -> None:
        """Never blocks: called from the engine task."""
        self._submitted += 1
        self._queue.put_nowait(record)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="call-record-writer")

    async def flush(self) -> None:
        """Wait until everything submitted so far is stored."""
        target = self._submitted
        async with self._progress:
            await self._progress.wait_for(lambda: self._done >= target)

    async def close(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.max_delay
            while len(batch) < self.batch_size:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except asyncio.TimeoutError:
                    break
            await self._write(batch)
            async with self._progress:
                self._done += len(batch)
                self._progress.notify_all()

    async def _write(self, batch: list[CallRecord]) -> None:
        delay = self.backoff_initial
        while True:
            try:
                inserted = await self.store.write_many(batch)
            except Exception as exc:  # the database went away: keep the batch, retry
                self.errors += 1
                log.error("could not store %d call record(s) (first %s from %s): %s; retrying in %.1fs",
                          len(batch), batch[0].linkedid, mask_number(batch[0].caller_number),
                          str(exc).splitlines()[0][:200], delay)
                await asyncio.sleep(delay)
                delay = min(self.backoff_max, delay * 2)
                continue
            self.written += inserted
            self.duplicates += len(batch) - inserted
            return
