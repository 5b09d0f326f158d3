"""The converter with its real process pool, on a real store and real WAVs: after a call the
supervisor finds its recording converted, verified, measured and hashed, and MixMonitor's
original gone only once that is stored; what fails is tried again, then given up on loudly
with the original kept; a recording still being written waits; a restart picks up where the
last run stopped; and the store going away never stops the converter."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import stat
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from recordings import media
from recordings.config import RecordingsConfig
from recordings.store import DONE, FAILED, PENDING, Recording, RecordingStore
from recordings.worker import Converter
from tests.recordings.sound import decoded_seconds, silence, tone, write_wav
from tests.recordings.world import CITY, UTC, call_record
from tests.waiting import wait_until
from tickets.store import CallRecordStore

ENDED = datetime(2026, 3, 1, 23, 30, tzinfo=CITY)  # 15:30 UTC: the recordings' folder is 20260301


class Clock:
    """The converter's clock, moved by the test (in the city's zone: the store must get UTC)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def later(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


class Site:
    def __init__(self, tmp_path: Path, url: str | None = None) -> None:
        self.root = tmp_path
        self.url = url or f"sqlite+aiosqlite:///{tmp_path}/db/hotline.db"
        self.records = CallRecordStore(self.url)
        self.store = RecordingStore(self.records.engine)
        self.clock = Clock(ENDED + timedelta(seconds=5))  # the converter looks just after the call
        self.converters: list[Converter] = []

    def config(self, **changes: Any) -> RecordingsConfig:
        settings: dict[str, Any] = dict(monitor_dir=str(self.root / "monitor"), store_dir=str(self.root / "store"),
                                        workers=2, poll=0.05, retry_after=30.0, settle=120.0, max_attempts=3)
        settings.update(changes)
        return RecordingsConfig(**settings)

    def converter(self, config: RecordingsConfig | None = None, store: RecordingStore | None = None) -> Converter:
        made = Converter(store or self.store, config or self.config(), now=self.clock)
        self.converters.append(made)
        return made

    def original(self, linkedid: str) -> Path:
        return self.root / "monitor" / f"20260301/{linkedid}.wav"

    def converted(self, linkedid: str, suffix: str = ".opus") -> Path:
        return self.root / "store" / f"20260301/{linkedid}{suffix}"

    async def call(self, linkedid: str, recording: bytes | None = None, *, closed: bool = True,
                   ended: datetime = ENDED, name: str | None = None) -> None:
        """A call record written by the controller; its WAV as MixMonitor left it (None: no
        file on disk yet; raw bytes of any kind are written as they are)."""
        name = name if name is not None else f"20260301/{linkedid}.wav"
        if recording is not None:
            write_wav(self.original(linkedid), recording, closed=closed)
        await self.records.write_many([call_record(linkedid, ended, name)])

    async def row(self, linkedid: str) -> Recording:
        found = await self.store.get(linkedid)
        assert found is not None, linkedid
        return found


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    made = Site(tmp_path)
    await made.records.open()
    yield made
    for converter in made.converters:
        await converter.close()
    await made.records.close()


async def once(converter: Converter) -> None:
    await converter.look()
    await converter.idle()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_after_a_call_its_recording_is_converted_verified_hashed_and_the_original_removed(site: Site) -> None:
    await site.call("1772380000.1", tone(6.0))
    converter = site.converter()
    await once(converter)
    row = await site.row("1772380000.1")
    converted = site.converted("1772380000.1")
    assert (row.state, row.file, row.format, row.error, row.attempts) == (DONE, "20260301/1772380000.1.opus", "opus", "", 1)
    assert row.original == "20260301/1772380000.1.wav" and row.agent == "agent1001" and row.talk_time == 60.0
    assert row.ended_at == ENDED and row.converted_at == site.clock()
    assert row.duration is not None and abs(row.duration - 6.0) <= media.TOLERANCE
    assert abs(decoded_seconds(converted) - 6.0) <= media.TOLERANCE
    assert row.sha256 == hashlib.sha256(converted.read_bytes()).hexdigest() and row.size == converted.stat().st_size
    assert row.loudness == pytest.approx(-23.0, abs=0.5) and not row.silent
    assert not site.original("1772380000.1").exists()
    assert mode(converted) == 0o600 and mode(converted.parent) == mode(site.root / "store") == 0o700
    assert converter.health() == {"recordings_converted": 1.0, "recordings_failed": 0.0, "recordings_silent": 0.0,
                                  "recordings_converting": 0.0}
    await once(converter)  # looking again changes nothing
    assert await site.row("1772380000.1") == row and converter.figures.converted == 1


async def test_on_either_database_the_recording_is_converted_and_its_times_are_the_call_s(
        tmp_path: Path, store_url: str) -> None:
    site = Site(tmp_path, store_url)
    await site.records.open()
    try:
        await site.call("1772380000.20", tone(1.0))
        await site.call("1772380000.21", tone(1.0), closed=False)
        converter = site.converter()
        await once(converter)
        done, waiting = await site.row("1772380000.20"), await site.row("1772380000.21")
        assert done.state == DONE and done.ended_at == ENDED and done.converted_at == site.clock()
        assert waiting.state == PENDING and waiting.next_try_at == site.clock() + timedelta(seconds=0.05)
        assert await site.store.next_due() == waiting.next_try_at
    finally:
        for converter in site.converters:
            await converter.close()
        await site.records.close()


async def test_a_dead_line_is_flagged_silent_for_the_supervisor(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    await site.call("1772380000.2", silence(3.0))
    converter = site.converter()
    with caplog.at_level(logging.WARNING, "recordings.worker"):
        await once(converter)
    row = await site.row("1772380000.2")
    assert row.state == DONE and row.silent and row.loudness == media.SILENCE
    assert converter.figures.silent == 1 and converter.health()["recordings_silent"] == 1.0
    assert any("1772380000.2 is silent" in r.getMessage() for r in caplog.records)


async def test_a_call_without_a_recording_is_not_the_converter_s_business(site: Site) -> None:
    await site.call("1772380000.3", name="")  # abandoned in the queue: no agent, no MixMonitor
    await site.call("1772380000.4", tone(1.0))
    converter = site.converter()
    await once(converter)
    assert await site.store.get("1772380000.3") is None
    assert await site.store.counts() == {DONE: 1}


@pytest.mark.parametrize("zone", [CITY, UTC])
async def test_a_file_that_is_no_wav_is_tried_again_later_then_given_up_with_the_original_kept(
        site: Site, caplog: pytest.LogCaptureFixture, zone: Any) -> None:
    site.clock.at = site.clock.at.astimezone(zone)
    site.original("1772380000.5").parent.mkdir(parents=True)
    site.original("1772380000.5").write_bytes(b"garbage where a WAV should be")
    await site.call("1772380000.5")
    converter = site.converter()
    await once(converter)
    row = await site.row("1772380000.5")
    assert (row.state, row.attempts) == (PENDING, 1) and row.error.startswith("not-wav: ")
    assert row.next_try_at == site.clock() + timedelta(seconds=30)
    site.clock.later(29)
    await once(converter)
    assert (await site.row("1772380000.5")).attempts == 1  # not before its time
    site.clock.later(1)
    await once(converter)
    row = await site.row("1772380000.5")
    assert row.attempts == 2 and row.next_try_at == site.clock() + timedelta(seconds=60)  # doubled
    site.clock.later(60)
    with caplog.at_level(logging.ERROR, "recordings.worker"):
        await once(converter)
    row = await site.row("1772380000.5")
    assert (row.state, row.attempts, row.next_try_at) == (FAILED, 3, None)
    assert site.original("1772380000.5").read_bytes() == b"garbage where a WAV should be"
    [entry] = await site.store.audit()
    assert (entry.actor, entry.action, entry.target, entry.at) == ("converter", "failed", "1772380000.5", site.clock())
    assert entry.detail.startswith("not-wav: ")
    assert (converter.figures.retried, converter.figures.failed) == (2, 1)
    assert any("given up" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    site.clock.later(3600)
    await once(converter)
    assert (await site.row("1772380000.5")).attempts == 3  # failed stays failed until someone asks

    write_wav(site.original("1772380000.5"), tone(2.0))  # the file is put right
    assert await site.store.retry(["1772380000.5"], site.clock().astimezone(UTC), "chen.li") == 1  # as the CLI does
    await once(converter)
    assert (await site.row("1772380000.5")).state == DONE and not site.original("1772380000.5").exists()


async def test_a_conversion_that_fails_in_a_worker_process_is_one_attempt_and_the_pool_goes_on(site: Site) -> None:
    write_wav(site.original("1772380000.6"), tone(1.0, channels=9), channels=9)  # the Opus encoder refuses 9
    await site.call("1772380000.6")
    await site.call("1772380000.7", tone(2.0))
    converter = site.converter(site.config(workers=1))
    await once(converter)
    bad, good = await site.row("1772380000.6"), await site.row("1772380000.7")
    assert bad.state == PENDING and bad.error.startswith("conversion-failed: ") and bad.attempts == 1
    assert good.state == DONE
    assert site.original("1772380000.6").exists()


async def test_a_recording_with_no_sound_at_all_is_given_up_at_once_and_said_to_be_empty(site: Site) -> None:
    await site.call("1772380000.8", b"")
    converter = site.converter()
    await once(converter)
    row = await site.row("1772380000.8")
    assert (row.state, row.attempts) == (FAILED, 1) and row.error.startswith("empty-recording: ")


async def test_a_wav_still_being_written_waits_and_after_settle_is_converted_to_its_end(site: Site) -> None:
    await site.call("1772380000.9", tone(4.0), closed=False)  # the call record is there; MixMonitor not closed
    converter = site.converter()
    await once(converter)
    row = await site.row("1772380000.9")
    assert (row.state, row.attempts, row.error) == (PENDING, 0, "") and row.next_try_at == site.clock() + timedelta(seconds=0.05)
    assert site.original("1772380000.9").exists() and not site.converted("1772380000.9").exists()
    site.clock.at = ENDED + timedelta(seconds=119)
    await once(converter)
    assert (await site.row("1772380000.9")).state == PENDING
    site.clock.at = ENDED + timedelta(seconds=120)  # settled: Asterisk will not close it any more
    await once(converter)
    row = await site.row("1772380000.9")
    assert row.state == DONE and row.attempts == 1 and abs(decoded_seconds(site.converted("1772380000.9")) - 4.0) <= 0.5
    assert not site.original("1772380000.9").exists()


async def test_a_wav_closed_before_settle_is_converted_at_the_next_look(site: Site) -> None:
    await site.call("1772380000.10", tone(2.0), closed=False)
    converter = site.converter()
    await once(converter)
    assert (await site.row("1772380000.10")).state == PENDING
    write_wav(site.original("1772380000.10"), tone(3.0))  # MixMonitor stopped and wrote the sizes
    site.clock.later(1)
    await once(converter)
    row = await site.row("1772380000.10")
    assert row.state == DONE and row.duration is not None and abs(row.duration - 3.0) <= media.TOLERANCE


async def test_a_recording_not_on_disk_yet_waits_then_is_an_attempt_like_any_failure(site: Site) -> None:
    await site.call("1772380000.11")  # the record is written; the WAV not (yet)
    converter = site.converter()
    await once(converter)
    assert (await site.row("1772380000.11")).attempts == 0
    site.clock.at = ENDED + timedelta(seconds=121)
    await once(converter)
    row = await site.row("1772380000.11")
    assert (row.state, row.attempts) == (PENDING, 1) and row.error.startswith("original-missing")


@pytest.mark.parametrize("name", ["../outside.wav", "/etc/hotline.wav", "20260301/../../outside.wav"])
async def test_a_name_leaving_the_monitor_folder_is_refused_and_nothing_there_is_touched(site: Site, name: str) -> None:
    outside = site.root / "outside.wav"
    write_wav(outside, tone(1.0))
    await site.call("1772380000.12", name=name)
    converter = site.converter()
    await once(converter)
    row = await site.row("1772380000.12")
    assert (row.state, row.attempts) == (FAILED, 1) and row.error.startswith("unsafe-recording-name")
    assert outside.exists() and not (site.root / "outside.opus").exists()


async def test_a_site_keeping_pcm_in_the_monitor_folder_keeps_its_one_file(site: Site) -> None:
    await site.call("1772380000.13", tone(2.0), closed=False)
    site.clock.later(200)
    converter = site.converter(site.config(format="wav", store_dir=""))
    await once(converter)
    row = await site.row("1772380000.13")
    assert (row.state, row.file, row.format) == (DONE, "20260301/1772380000.13.wav", "wav")
    kept = site.original("1772380000.13")
    assert kept.exists() and row.sha256 == hashlib.sha256(kept.read_bytes()).hexdigest()
    assert media.wav_info(kept).closed  # the converted file replaced MixMonitor's unclosed one


async def test_many_calls_are_all_converted_never_more_at_once_than_there_are_workers(site: Site) -> None:
    for n in range(8):
        await site.call(f"1772380001.{n}", tone(1.0 + n / 4))
    converter = site.converter(site.config(workers=2))
    seen: list[float] = []

    def all_done() -> bool:
        seen.append(converter.figures.in_flight)
        return converter.figures.converted == 8

    task = asyncio.create_task(converter.run())
    try:
        await wait_until(all_done, timeout=60, what="eight conversions")
    finally:
        task.cancel()
    assert max(seen) <= 2
    assert await site.store.counts() == {DONE: 8}


async def test_a_restart_goes_on_with_what_was_pending_and_never_converts_a_done_one_twice(site: Site) -> None:
    await site.call("1772380002.1", tone(1.0))
    await site.call("1772380002.2", tone(1.0), closed=False)  # still being written when the controller stops
    first = site.converter()
    await once(first)
    done_before = await site.row("1772380002.1")
    assert done_before.state == DONE and (await site.row("1772380002.2")).state == PENDING
    await first.close()

    write_wav(site.original("1772380002.2"), tone(2.5))  # Asterisk finished it meanwhile
    await site.call("1772380002.3", tone(1.5))  # and a call ended while the controller was down
    await site.call("1772380002.4", name="")
    site.clock.later(10)
    again = site.converter()
    task = asyncio.create_task(again.run())
    try:
        await wait_until(lambda: again.figures.converted == 2, what="the pending and the new recording")
    finally:
        task.cancel()
    assert (await site.row("1772380002.2")).state == DONE and (await site.row("1772380002.3")).state == DONE
    assert await site.row("1772380002.1") == done_before  # converted once, by the first run
    assert await site.store.counts() == {DONE: 3}


class StoreThatFailsOnce(RecordingStore):
    """The database refuses the result once (locked, a failover): nothing else changes."""

    failures = 1

    async def converted(self, linkedid: str, **result: Any) -> bool:
        if self.failures:
            self.failures -= 1
            raise OperationalError("UPDATE recordings", {}, Exception("database is locked"))
        return await super().converted(linkedid, **result)


async def test_the_original_stays_until_the_result_is_stored(site: Site) -> None:
    await site.call("1772380003.1", tone(2.0))
    converter = site.converter(store=StoreThatFailsOnce(site.records.engine))
    await once(converter)
    row = await site.row("1772380003.1")
    assert (row.state, row.attempts) == (PENDING, 0) and site.original("1772380003.1").exists()
    await once(converter)
    assert (await site.row("1772380003.1")).state == DONE and not site.original("1772380003.1").exists()


async def wait_for_warnings(caplog: pytest.LogCaptureFixture, count: int) -> None:
    def away() -> int:
        return sum("the store is away" in r.getMessage() for r in caplog.records)
    start = away()
    await wait_until(lambda: away() >= start + count, what=f"{count} looks at a store that is away")


async def test_a_store_away_when_the_converter_starts_is_waited_for(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    await site.call("1772380004.5", tone(1.0))
    await site.records.close()
    (site.root / "db").rename(site.root / "db.away")
    converter = site.converter()
    with caplog.at_level(logging.WARNING, "recordings.worker"):
        task = asyncio.create_task(converter.run())
        await wait_for_warnings(caplog, 2)
        assert not task.done()
        (site.root / "db.away").rename(site.root / "db")
        await wait_until(lambda: converter.figures.converted == 1, what="the recording once the store is there")
    task.cancel()


@pytest.mark.parametrize("away", ["engine disposed", "folder unmounted"])
async def test_the_store_going_away_does_not_stop_the_converter_and_it_goes_on_once_it_is_back(
        site: Site, caplog: pytest.LogCaptureFixture, away: str) -> None:
    converter = site.converter()
    task = asyncio.create_task(converter.run())
    with caplog.at_level(logging.WARNING, "recordings.worker"):
        await site.call("1772380004.1", tone(1.0))
        await wait_until(lambda: converter.figures.converted == 1, what="the first recording")
        await site.records.close()  # the engine disposed: the next look connects again
        if away == "folder unmounted":
            (site.root / "db").rename(site.root / "db.away")
            await wait_for_warnings(caplog, 3)
            assert not task.done()
            (site.root / "db.away").rename(site.root / "db")
        await site.call("1772380004.2", tone(1.0))
        await wait_until(lambda: converter.figures.converted == 2, what="a recording after the store came back")
    assert not task.done()
    task.cancel()
    assert (await site.row("1772380004.2")).state == DONE


async def test_a_store_whose_file_was_removed_does_not_stop_the_converter(
        site: Site, caplog: pytest.LogCaptureFixture) -> None:
    converter = site.converter()
    task = asyncio.create_task(converter.run())
    await site.records.close()
    for path in (site.root / "db").iterdir():
        path.unlink()  # the next connection finds an empty database: no tables
    with caplog.at_level(logging.WARNING, "recordings.worker"):
        await wait_for_warnings(caplog, 3)
    assert not task.done()
    task.cancel()


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def conversion_processes() -> list[int]:
    """The pool's worker processes (children of multiprocessing's fork server, which is ours)
    that are running an ffmpeg at the moment, and those ffmpegs."""
    found = []
    for server in children(os.getpid()):
        try:
            if b"forkserver" not in Path(f"/proc/{server}/cmdline").read_bytes():
                continue
        except OSError:
            continue
        for worker in children(server):
            ffmpegs = children(worker)
            if ffmpegs:
                found += [worker, *ffmpegs]
    return found


async def test_a_worker_process_killed_mid_conversion_costs_one_attempt_and_a_new_pool_converts_it(site: Site) -> None:
    await site.call("1772380005.1", tone(1.0) * 600)  # ten minutes: seconds of work for ffmpeg
    converter = site.converter(site.config(workers=1))
    await converter.look()
    await wait_until(conversion_processes, what="ffmpeg converting")
    for pid in conversion_processes():  # the OOM killer's way
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    await converter.idle()
    row = await site.row("1772380005.1")
    assert (row.state, row.attempts, row.error) == (PENDING, 1, "worker-died")
    assert site.original("1772380005.1").exists()
    site.clock.later(30)
    await once(converter)
    row = await site.row("1772380005.1")
    assert row.state == DONE and row.duration is not None and abs(row.duration - 600.0) <= media.TOLERANCE
    assert sorted(p.name for p in site.converted("1772380005.1").parent.iterdir()) == ["1772380005.1.opus"]


async def test_a_folder_where_the_wav_should_be_is_a_failed_attempt_not_a_silent_loop(site: Site) -> None:
    site.original("1772380006.1").mkdir(parents=True)
    await site.call("1772380006.1")
    converter = site.converter()
    await once(converter)
    row = await site.row("1772380006.1")
    assert (row.state, row.attempts) == (PENDING, 1) and row.error.startswith("original-unreadable: ")


async def test_woken_after_a_call_record_the_converter_looks_at_once(site: Site) -> None:
    converter = site.converter(site.config(poll=3600.0))  # without a wake it would look again in an hour
    task = asyncio.create_task(converter.run())
    try:
        await site.call("1772380007.1", tone(1.0))
        await wait_until(lambda: converter.figures.converted == 1, what="the first look")
        await converter.idle()
        await site.call("1772380007.2", tone(1.0))
        converter.wake()
        await wait_until(lambda: converter.figures.converted == 2, what="the woken converter")
    finally:
        task.cancel()


async def test_a_busy_day_s_backlog_is_worked_through_past_one_batch(site: Site) -> None:
    await site.records.write_many([call_record(f"1772380008.{n}", ENDED, "") for n in range(600)])
    await site.call("1772380008.600", tone(1.0))
    converter = site.converter()
    for _ in range(3):
        await once(converter)
    assert (await site.row("1772380008.600")).state == DONE


class StoreWhereRetentionWins(RecordingStore):
    """Retention deletes the recording while its conversion runs (the daily job and the
    converter work side by side)."""

    async def converted(self, linkedid: str, **result: Any) -> bool:
        await self.deleted(linkedid, result["now"], "kept 180 days")
        return await super().converted(linkedid, **result)


async def test_a_recording_retention_deleted_while_converting_stays_deleted_and_leaves_no_file(site: Site) -> None:
    await site.call("1772380009.1", tone(2.0))
    converter = site.converter(store=StoreWhereRetentionWins(site.records.engine))
    await once(converter)
    row = await site.row("1772380009.1")
    assert row.state == "deleted" and row.file == "" and row.sha256 == ""
    assert not site.converted("1772380009.1").exists()  # no voice kept past its time
    assert converter.figures.converted == 0
