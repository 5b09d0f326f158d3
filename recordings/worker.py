"""The converter: after each call, its recording is converted, verified, measured and hashed in
a pool of worker processes, never on the controller's event loop, and linked to the call.

Its queue is the store (table recordings), so a restart resumes whatever was unfinished: the
scan picks up call records written since the last one noted, and every pending row is tried
again. A failed attempt is retried after `retry_after` seconds, doubled each time; after
`max_attempts` the recording is marked failed (logged as an error, in the audit, on /metrics)
and waits for `hotline_pbx.py recordings retry`. MixMonitor's original is deleted only once the
store holds the verified result; until then it stays where Asterisk wrote it.

A WAV whose header MixMonitor has not closed yet (the sizes are written as it stops) is left
for the next look; one still unclosed `settle` seconds after the call (Asterisk died mid-call)
is converted as far as it goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from recordings import media
from recordings.config import RecordingsConfig
from recordings.naming import converted_name, under
from recordings.purge import purge
from recordings.store import Recording, RecordingStore, backoff

log = logging.getLogger("recordings.worker")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def make_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes at a lower priority (ffmpeg inherits it), forked by a fork server (the
    controller's threads are never forked) that has imported the conversion code once."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["recordings.media", "pydub"])
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=media.lower_priority)


def _start_workers(pool: ProcessPoolExecutor, workers: int) -> None:
    """Every worker started now, in the calling thread: the first submit to a new pool blocks
    its caller while the fork server starts and forks (35–90 ms measured: bench/recordings_convert.py)."""
    for started in [pool.submit(os.getpid) for _ in range(workers)]:
        started.result()


@dataclass
class ConverterFigures:
    converted: int = 0
    failed: int = 0  # given up after max_attempts
    retried: int = 0  # failed attempts that will be tried again
    silent: int = 0
    in_flight: int = 0


class Converter:
    def __init__(self, store: RecordingStore, config: RecordingsConfig, *, executor: Executor | None = None,
                 now: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self.config = config
        self._executor = executor
        self._own_executor = executor is None
        self._clock = now
        self._mark = 0
        self._running: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(config.workers)
        self.figures = ConverterFigures()

    def _now(self) -> datetime:
        """The clock in UTC, whatever zone it reads in: the store keeps UTC (SQLite no zone at all)."""
        return self._clock().astimezone(timezone.utc)


    def wake(self) -> None:
        """Look now (a call record was written, a retry asked for)."""
        self._wake.set()

    async def start(self) -> None:
        """The pool's processes started off the event loop (also after a worker died)."""
        if self._executor is None and self._own_executor:
            pool = make_pool(self.config.workers)
            await asyncio.to_thread(_start_workers, pool, self.config.workers)
            self._executor = pool

    async def run(self) -> None:
        await self.start()
        self._mark = await self._retrying(self.store.last_noted_call)
        while True:
            with contextlib.suppress(SQLAlchemyError, OSError):
                await self.look()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.poll)
            self._wake.clear()

    async def _retrying(self, ask: Callable[[], object]) -> int:
        while True:
            try:
                return await ask()  # type: ignore[no-any-return, misc]
            except (SQLAlchemyError, OSError) as exc:
                log.warning("recordings: the store is away (%s); trying again", exc)
                await asyncio.sleep(self.config.poll)

    async def look(self) -> None:
        """Note new calls' recordings and start those due (as many as there are free workers)."""
        try:
            self._mark = await self.store.note_new_calls(self._mark, self._now())
            # up to one more per worker waits its turn (for a slot), so a worker never waits on the store
            free = self.config.workers * 2 - len(self._running)
            if free <= 0:
                return
            due = await self.store.due(self._now(), free + len(self._running))
        except (SQLAlchemyError, OSError) as exc:
            log.warning("recordings: the store is away (%s); the converter waits", exc)
            raise
        for recording in due:
            if recording.linkedid not in self._running and len(self._running) < self.config.workers * 2:
                self._running.add(recording.linkedid)
                task = asyncio.create_task(self._convert(recording), name=f"convert-{recording.linkedid}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Until nothing is being converted (tests, the benchmark, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _convert(self, recording: Recording) -> None:
        try:
            async with self._slots:
                self.figures.in_flight += 1
                try:
                    await self._attempt(recording)
                finally:
                    self.figures.in_flight -= 1
        except (SQLAlchemyError, OSError) as exc:  # the result is not stored: the row stays pending
            log.warning("recording of call %s: not stored (%s); it is tried again", recording.linkedid, exc)
        except Exception as exc:  # a bug must not leave the row pending, retried unseen at every look
            log.exception("recording of call %s: unexpected error", recording.linkedid)
            with contextlib.suppress(SQLAlchemyError, OSError):
                await self._failed(recording, f"{type(exc).__name__}: {exc}")
        finally:
            self._running.discard(recording.linkedid)
            self._wake.set()

    async def _attempt(self, recording: Recording) -> None:
        config, now = self.config, self._now()
        try:
            original = under(config.monitor_dir, recording.original)
            target = under(config.converted_dir, converted_name(recording.original, config.suffix))
        except ValueError as exc:
            await self._failed(recording, str(exc), final=True)
            return
        try:
            info = await asyncio.to_thread(media.wav_info, original)
            unfinished = not info.closed
        except media.MediaError as exc:
            if exc.code != media.ORIGINAL_MISSING:
                await self._failed(recording, str(exc))
                return
            unfinished = True
        settled = now - recording.ended_at >= timedelta(seconds=config.settle)
        if unfinished and not settled:  # MixMonitor is still writing (or the file not yet synced)
            await self.store.wait_longer(recording.linkedid, now + timedelta(seconds=config.poll))
            return
        if unfinished and not original.exists():
            await self._failed(recording, f"{media.ORIGINAL_MISSING}: {recording.original}")
            return
        loop = asyncio.get_running_loop()
        await self.start()
        pool = self._executor
        assert pool is not None  # started above, or given
        try:
            done = await loop.run_in_executor(pool, media.convert, str(original), str(target),
                                              config.format, config.bitrate)
        except media.MediaError as exc:  # a header and no sound stays so: not tried again
            await self._failed(recording, str(exc), final=exc.code == media.EMPTY)
            return
        except BrokenProcessPool:  # a worker died (OOM killer, a signal): a new pool, and again later
            log.error("recordings: a conversion worker died; the pool is started again")
            if self._own_executor and self._executor is pool:  # not a new one another failure made
                pool.shutdown(wait=False, cancel_futures=True)
                self._executor = None
            await self._failed(recording, "worker-died")
            return
        except Exception as exc:  # anything else the conversion raised (ffmpeg missing, a full disk): an attempt
            await self._failed(recording, f"{media.CONVERSION_FAILED}: {type(exc).__name__}: {exc}")
            return
        silent = done.loudness < config.silence_floor
        if not await self.store.converted(recording.linkedid, file=converted_name(recording.original, config.suffix),
                                          fmt=config.format, duration=done.duration, loudness=done.loudness,
                                          silent=silent, sha256=done.sha256, size=done.size, now=self._now()):
            log.info("recording of call %s was deleted by retention while converting: the new file goes too",
                     recording.linkedid)
            await asyncio.to_thread(target.unlink, missing_ok=True)
            return
        self.figures.converted += 1
        if silent:
            self.figures.silent += 1
            log.warning("recording of call %s is silent (%.1f dBFS, floor %.1f): check the agent's phone "
                        "and the MixMonitor", recording.linkedid, done.loudness, config.silence_floor)
        if original != target:
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(os.unlink, original)
        log.info("recording of call %s: %s, %.1f s (talk %s s), %.1f dBFS", recording.linkedid, config.format,
                 done.duration, "?" if recording.talk_time is None else f"{recording.talk_time:.1f}", done.loudness)

    async def _failed(self, recording: Recording, error: str, *, final: bool = False) -> None:
        attempts = recording.attempts + 1
        give_up = final or attempts >= self.config.max_attempts
        retry_at = None if give_up else self._now() + backoff(attempts, self.config.retry_after)
        await self.store.attempt_failed(recording.linkedid, error, self._now(), retry_at)
        if give_up:
            self.figures.failed += 1
            log.error("recording of call %s: conversion failed %d time(s), given up: %s (the original is "
                      "kept; `hotline_pbx.py recordings retry` queues it again)", recording.linkedid, attempts, error)
        else:
            self.figures.retried += 1
            log.warning("recording of call %s: attempt %d failed: %s; next at %s", recording.linkedid, attempts,
                        error, retry_at)

    async def purge_daily(self, zone: ZoneInfo) -> None:
        """Retention once a day at `purge_at`, city time: each run's time follows from the last
        one's day, so a wake-up a hair early neither runs it twice nor skips a day."""
        day = self._now().astimezone(zone).date()
        if datetime.combine(day, self.config.purge_at, zone) <= self._now():
            day += timedelta(days=1)
        while True:
            at = datetime.combine(day, self.config.purge_at, zone)
            await asyncio.sleep(max(0.0, (at - self._now()).total_seconds()))
            day += timedelta(days=1)
            try:
                report = await purge(self.store, self.config, zone, self._now())
                log.info("retention: %d recording(s) deleted, %d expired but on legal hold, %d whose files "
                         "would not go", len(report.deleted), len(report.held), len(report.failed))
            except Exception as exc:  # noqa: BLE001 - tomorrow's run must not die with today's
                log.error("retention: not run today: %s", exc)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._own_executor and self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def health(self) -> dict[str, float]:
        """For /metrics (since the controller started)."""
        f = self.figures
        return {"recordings_converted": float(f.converted), "recordings_failed": float(f.failed),
                "recordings_silent": float(f.silent), "recordings_converting": float(f.in_flight)}
