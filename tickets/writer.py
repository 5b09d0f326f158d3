"""Writes call records off the hot path: the engine submits without waiting; a background task
writes in batches. When the database is unreachable the batches go, in order, to an on-disk
journal (JSON lines, fsynced) and are replayed when it returns — also after a controller
restart. Nothing is dropped or reordered; the store's one-row-per-linkedid rule makes replays
safe. Without a journal file the batch is kept in memory and retried."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from acd.privacy import mask_number
from acd.records import CallRecord, Disposition
from tickets.store import CallRecordStore

log = logging.getLogger("tickets.writer")


class CallRecordWriter:
    def __init__(self, store: CallRecordStore, *, batch_size: int = 200, max_delay: float = 0.05,
                 backoff_initial: float = 0.1, backoff_max: float = 5.0,
                 journal: Path | None = None) -> None:
        self.store = store
        self.journal = journal
        self._backlog = False  # records wait in the journal: new ones go behind them
        self._journaled_here = 0
        self._replayer: asyncio.Task[None] | None = None
        self.replayed = 0
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
        if self.journal is not None and self.journal.exists() and self.journal.stat().st_size:
            log.warning("call-record journal %s holds records from before: replaying", self.journal)
            self._backlog = True
            self._start_replay()
        self._task = asyncio.create_task(self._run(), name="call-record-writer")

    async def flush(self) -> None:
        """Wait until everything submitted so far is stored."""
        target = self._submitted
        async with self._progress:
            await self._progress.wait_for(lambda: self._done >= target)

    async def close(self, timeout: float | None = None) -> None:
        """Flush, then stop. With a journal, records the database did not take stay there."""
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except asyncio.TimeoutError:
            log.error("closing with %d call record(s) in the journal %s", self.pending, self.journal)
        for task in (self._task, self._replayer):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

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
            await self._write(batch)  # counts itself done, or leaves it to the journal replay

    async def _write(self, batch: list[CallRecord]) -> None:
        if self._backlog:
            self._to_journal(batch)  # behind the records already waiting there
            return
        delay = self.backoff_initial
        while True:
            try:
                inserted = await self.store.write_many(batch)
            except Exception as exc:  # the database went away
                self.errors += 1
                log.error("could not store %d call record(s) (first %s from %s): %s", len(batch),
                          batch[0].linkedid, mask_number(batch[0].caller_number),
                          str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
                if self.journal is not None:
                    self._backlog = True
                    self._to_journal(batch)
                    self._start_replay()
                    return
                await asyncio.sleep(delay)
                delay = min(self.backoff_max, delay * 2)
                continue
            self._count(len(batch), inserted)
            async with self._progress:
                self._done += len(batch)
                self._progress.notify_all()
            return

    def _count(self, total: int, inserted: int) -> None:
        self.written += inserted
        self.duplicates += total - inserted

    # ---- the journal ----
    def _to_journal(self, batch: list[CallRecord]) -> None:
        assert self.journal is not None
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        with self.journal.open("a", encoding="utf-8") as sink:
            for record in batch:
                sink.write(json.dumps(_encode(record), ensure_ascii=False) + "\n")
            sink.flush()
            os.fsync(sink.fileno())
        self._journaled_here += len(batch)

    def _start_replay(self) -> None:
        if self._replayer is None or self._replayer.done():
            self._replayer = asyncio.create_task(self._replay(), name="call-record-replay")

    async def _replay(self) -> None:
        """Write the journal to the database, in order, until it is empty; then clear it."""
        assert self.journal is not None
        delay = self.backoff_initial
        while True:
            await asyncio.sleep(delay)
            size = self.journal.stat().st_size if self.journal.exists() else 0
            lines = self.journal.read_text(encoding="utf-8").splitlines() if size else []
            records = [_decode(json.loads(line)) for line in lines if line.strip()]
            try:
                for start in range(0, len(records), self.batch_size):
                    chunk = records[start:start + self.batch_size]
                    self._count(len(chunk), await self.store.write_many(chunk))
            except Exception as exc:
                delay = min(self.backoff_max, delay * 2)
                log.warning("call-record journal: database still unreachable (%s); %d record(s) wait; "
                            "next try in %.1fs", type(exc).__name__, len(records), delay)
                continue
            if (self.journal.stat().st_size if self.journal.exists() else 0) != size:
                continue  # more came in meanwhile: go again (the store ignores what it has)
            self.journal.unlink(missing_ok=True)  # nothing awaited since the size check
            self._backlog = False
            self.replayed += len(records)
            log.info("call-record journal replayed: %d record(s) now in the database", len(records))
            async with self._progress:
                self._done += self._journaled_here
                self._journaled_here = 0
                self._progress.notify_all()
            return


def _encode(record: CallRecord) -> dict[str, Any]:
    data = asdict(record)
    for key in ("arrived_at", "answered_at", "ended_at"):
        if data[key] is not None:
            data[key] = data[key].isoformat()
    data["disposition"] = record.disposition.value
    return data


def _decode(data: dict[str, Any]) -> CallRecord:
    for key in ("arrived_at", "answered_at", "ended_at"):
        if data.get(key) is not None:
            data[key] = datetime.fromisoformat(data[key])
    data["disposition"] = Disposition(data["disposition"])
    return CallRecord(**data)
