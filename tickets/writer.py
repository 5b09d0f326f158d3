"""Writes call records off the hot path.

The engine calls `submit(record)`: synchronous, never blocks, never raises for a full queue (the
queue is unbounded). One background task takes records in batches — up to `batch_size`, or
whatever arrived within `max_delay` of the first — and hands each batch to the store in one
transaction. The store keeps one row per linkedid (a later, more complete record of the same
call replaces it), so a retry, a replay or a restart never makes a second row.

When the database fails:
- without a journal, the batch stays in memory and is retried, in order, with exponential
  backoff (`backoff_initial` doubling up to `backoff_max`); later records queue behind it;
- with a journal file, the batch and everything after it go, in order, to that file (JSON
  lines, fsynced, written in a worker thread) and a replay task writes them to the database
  when it is back — also after a controller restart, which finds the file and replays it first.
Nothing is dropped and nothing is reordered. `flush()` waits until everything submitted so far
is in the database; `close()` flushes (optionally with a timeout), then stops.

Personal data: log lines carry counts, linkedids and masked caller numbers only; the journal
and its .bad side file are 0600 in 0700 folders (tickets/files.py), whatever the umask.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from acd.privacy import mask_number
from acd.records import CallRecord, Disposition, legs_from_json, legs_json
from tickets.files import open_private, private_folder, tighten

log = logging.getLogger("tickets.writer")


class RecordSink(Protocol):
    """What the writer needs of a store (`CallRecordStore` is one)."""

    async def write_many(self, records: Sequence[CallRecord]) -> int: ...


class CallRecordWriter:
    def __init__(self, store: RecordSink, *, batch_size: int = 200, max_delay: float = 0.05,
                 backoff_initial: float = 0.1, backoff_max: float = 5.0,
                 journal: Path | None = None) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.store = store
        self.batch_size = batch_size
        self.max_delay = max_delay
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.journal = journal
        self._queue: asyncio.Queue[CallRecord] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._replayer: asyncio.Task[None] | None = None
        self._submitted = 0
        self._done = 0
        self._progress = asyncio.Condition()
        # the journal: records wait there, in order, while `_backlog` is set
        self._journal_lock = asyncio.Lock()
        self._backlog = False
        self._journaled_here = 0  # submitted here, waiting in the journal
        self._rejected_upto = 0  # journal offset up to which unreadable lines were set aside
        # counters for metrics
        self.written = 0  # rows inserted
        self.duplicates = 0  # records whose linkedid was already stored (or twice in a batch)
        self.errors = 0  # failed attempts to write to the database
        self.batches = 0  # successful write_many calls
        self.replayed = 0  # records written from the journal
        self.unreadable = 0  # journal lines that could not be read back (set aside in *.bad)

    # ---- the engine's side ----
    def submit(self, record: CallRecord) -> None:
        """Queue one record; never blocks, never waits for the database."""
        self._submitted += 1
        self._queue.put_nowait(record)

    @property
    def pending(self) -> int:
        """Records submitted but not yet in the database (queued, retried, or journaled)."""
        return self._submitted - self._done

    def stats(self) -> dict[str, int]:
        return {"pending": self.pending, "written": self.written, "duplicates": self.duplicates,
                "errors": self.errors, "batches": self.batches, "replayed": self.replayed,
                "journaled": self._journaled_here, "unreadable": self.unreadable}

    # ---- lifecycle ----
    async def start(self) -> None:
        if self._task is not None:
            return
        if self.journal is not None:  # callers' numbers: 0600, whatever made it before
            await asyncio.to_thread(_tighten_journal, self.journal)
        if self.journal is not None and self.journal.exists() and self.journal.stat().st_size:
            log.warning("call-record journal %s holds records from before: replaying", self.journal)
            await asyncio.to_thread(_end_with_newline, self.journal)  # a torn last line stays apart
            self._backlog = True
            self._start_replay()
        self._task = self._spawn(self._run(), "call-record-writer")

    async def flush(self) -> None:
        """Wait until everything submitted so far is stored."""
        target = self._submitted
        if self._done >= target:
            return
        if self._task is None or self._task.done():
            raise RuntimeError(f"call-record writer not running; {self.pending} record(s) wait")
        async with self._progress:
            await self._progress.wait_for(lambda: self._done >= target)

    async def close(self, timeout: float | None = None) -> None:
        """Flush, then stop. With a journal, what the database did not take stays in it for the
        next start; without one, records still pending after `timeout` are lost (logged)."""
        try:
            if self._task is not None and not self._task.done():
                await asyncio.wait_for(self.flush(), timeout)
        except TimeoutError:
            if self.journal is not None:
                log.error("closing with %d call record(s) not in the database; %d wait in the "
                          "journal %s", self.pending, self._journaled_here, self.journal)
            else:
                log.error("closing with %d call record(s) not in the database and no journal: "
                          "they are lost", self.pending)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._task = self._replayer = None

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_crash)
        return task

    # ---- the batching loop ----
    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            await self._write(batch)

    async def _next_batch(self) -> list[CallRecord]:
        loop = asyncio.get_running_loop()
        batch = [await self._queue.get()]
        deadline = loop.time() + self.max_delay
        while len(batch) < self.batch_size:
            while len(batch) < self.batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            remaining = deadline - loop.time()
            if len(batch) >= self.batch_size or remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _write(self, batch: list[CallRecord]) -> None:
        if self._backlog and await self._to_journal(batch):
            return  # behind the records already waiting there
        delay = self.backoff_initial
        attempt = 0
        while True:
            if self._backlog:  # the journal took earlier records but could not take these
                await asyncio.sleep(delay)
                delay = min(self.backoff_max, delay * 2)
                continue
            try:
                inserted = await self.store.write_many(batch)
            except Exception as exc:  # the database is away, locked, read-only …
                self.errors += 1
                attempt += 1
                if self.journal is not None:
                    _log_failure(batch, exc, attempt, None, self.journal)
                    self._backlog = True
                    if await self._to_journal(batch):
                        return
                    continue  # not even the journal: wait for the replay, then retry in memory
                _log_failure(batch, exc, attempt, delay, None)
                await asyncio.sleep(delay)
                delay = min(self.backoff_max, delay * 2)
                continue
            if attempt:
                log.warning("stored %d call record(s) (first %s) after %d failed attempt(s)",
                            len(batch), batch[0].linkedid, attempt)
            self._count(len(batch), inserted)
            await self._advance(len(batch))
            return

    def _count(self, total: int, inserted: int) -> None:
        self.batches += 1
        self.written += inserted
        self.duplicates += total - inserted

    async def _advance(self, n: int) -> None:
        async with self._progress:
            self._done += n
            self._progress.notify_all()

    # ---- the journal ----
    async def _to_journal(self, batch: list[CallRecord]) -> bool:
        """Append the batch (fsynced); False when the journal cannot be written."""
        assert self.journal is not None
        lines = "".join(json.dumps(_encode(r), ensure_ascii=False) + "\n" for r in batch)
        try:
            async with self._journal_lock:
                await asyncio.to_thread(_append, self.journal, lines.encode("utf-8"))
        except OSError as exc:
            self.errors += 1
            log.error("call-record journal %s cannot be written (%s): %d record(s) (first %s) "
                      "wait in memory", self.journal, exc, len(batch), batch[0].linkedid)
            self._start_replay()
            return False
        self._journaled_here += len(batch)
        self._start_replay()
        return True

    def _start_replay(self) -> None:
        if self._replayer is None or self._replayer.done():
            self._replayer = self._spawn(self._replay(), "call-record-replay")

    async def _replay(self) -> None:
        """Write the journal to the database, in order, until it is empty; then delete it.
        `offset` marks how far it is stored, so nothing is written (or counted) twice here."""
        assert self.journal is not None
        journal = self.journal
        delay = self.backoff_initial
        offset = 0
        failures = 0
        replayed_before = self.replayed
        while True:
            await asyncio.sleep(delay)
            async with self._journal_lock:
                data = await asyncio.to_thread(_read_from, journal, offset)
            entries = self._parse(data, offset)
            stored = 0
            try:
                for start in range(0, len(entries), self.batch_size):
                    chunk = entries[start:start + self.batch_size]
                    records = [r for r, _ in chunk if r is not None]
                    if records:
                        self._count(len(records), await self.store.write_many(records))
                        stored += len(records)
                    offset = chunk[-1][1]
            except Exception as exc:
                self.errors += 1
                failures += 1
                self.replayed += stored
                delay = min(self.backoff_max, max(delay, self.backoff_initial) * 2)
                if failures == 1 or delay >= self.backoff_max:
                    log.warning("call-record journal: database still unreachable (%s); records "
                                "wait in %s; next try in %.1fs", _summary(exc), journal, delay)
                continue
            self.replayed += stored
            if failures:
                log.warning("call-record journal: database back after %d failed attempt(s)", failures)
                failures = 0
            async with self._journal_lock:
                size = journal.stat().st_size if journal.exists() else 0
                if size != offset:
                    delay = 0  # more came in meanwhile: take it too
                    continue
                journal.unlink(missing_ok=True)
                self._backlog = False
                done, self._journaled_here = self._journaled_here, 0
            if self.replayed > replayed_before:  # a pass that found nothing to write says nothing
                log.info("call-record journal replayed; %d record(s) written from it in all",
                         self.replayed)
            await self._advance(done)
            return

    def _parse(self, data: bytes, offset: int) -> list[tuple[CallRecord | None, int]]:
        """Complete lines of `data` (read from `offset`) as (record or None, offset after it).
        A line that cannot be read back (a write torn by a crash) is set aside once, in
        `<journal>.bad`, so it cannot stop the records behind it."""
        assert self.journal is not None
        entries: list[tuple[CallRecord | None, int]] = []
        position = offset
        for line in data.split(b"\n")[:-1]:  # the last piece has no newline: not complete yet
            start, position = position, position + len(line) + 1
            if not line.strip():
                entries.append((None, position))
                continue
            try:
                entries.append((_decode(json.loads(line)), position))
            except (ValueError, TypeError, KeyError) as exc:
                entries.append((None, position))
                if start >= self._rejected_upto:
                    self._rejected_upto = position
                    self.unreadable += 1
                    bad = self.journal.with_name(self.journal.name + ".bad")
                    _append(bad, line + b"\n")
                    log.error("call-record journal: unreadable line at byte %d set aside in %s (%s)",
                              start, bad, type(exc).__name__)
        return entries


def _log_failure(batch: Sequence[CallRecord], exc: Exception, attempt: int, retry_in: float | None,
                 journal: Path | None) -> None:
    first = batch[0]
    then = f"to the journal {journal}" if journal is not None else f"retry in {retry_in:.1f}s"
    # the first failure is an error; while it goes on, one line per try at most every backoff_max
    level = logging.ERROR if attempt == 1 else logging.WARNING
    log.log(level, "could not store %d call record(s) (first %s from %s), attempt %d, %s: %s",
            len(batch), first.linkedid, mask_number(first.caller_number), attempt, then, _summary(exc))


def _summary(exc: BaseException) -> str:
    """The driver's message without the SQL and its parameters (they hold callers' numbers)."""
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).strip().splitlines()[0][:200] if str(inner).strip() else ""
    return f"{type(inner).__name__}: {text}" if text else type(inner).__name__


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("%s stopped: records are no longer written", task.get_name(),
                     exc_info=task.exception())


def _append(path: Path, data: bytes) -> None:
    """Append and fsync; the file (journal or its .bad) holds callers' numbers: 0600 in 0700
    folders, whatever the umask."""
    with os.fdopen(open_private(path, os.O_WRONLY | os.O_APPEND), "ab") as sink:
        sink.write(data)
        sink.flush()
        os.fsync(sink.fileno())


def _tighten_journal(journal: Path) -> None:
    private_folder(journal.parent)
    for path in (journal, journal.with_name(journal.name + ".bad")):
        tighten(path)


def _read_from(path: Path, offset: int) -> bytes:
    if not path.exists():
        return b""
    with path.open("rb") as source:
        source.seek(offset)
        return source.read()


def _end_with_newline(path: Path) -> None:
    with path.open("rb") as source:
        source.seek(-1, os.SEEK_END)
        last = source.read(1)
    if last != b"\n":
        _append(path, b"\n")


def _encode(record: CallRecord) -> dict[str, Any]:
    data = asdict(record)
    for key in ("arrived_at", "answered_at", "ended_at"):
        if data[key] is not None:
            data[key] = data[key].isoformat()
    data["disposition"] = Disposition(record.disposition).value
    data["legs"] = legs_json(record.legs)
    return data


def _decode(data: dict[str, Any]) -> CallRecord:
    for key in ("arrived_at", "answered_at", "ended_at"):
        if data.get(key) is not None:
            data[key] = datetime.fromisoformat(data[key])
    # lines journaled by a controller before the outcome columns: "abandoned" meant before any queue
    data["disposition"] = Disposition("abandoned_ivr" if data["disposition"] == "abandoned" else data["disposition"])
    data["legs"] = legs_from_json(data.get("legs"))  # lines from before issue 15 have none
    return CallRecord(**data)
