"""Retention carried out on a real store (SQLite and PostgreSQL) and real files: on the day after
its last day a recording's files are gone and the audit says why; a complaint's calls, a legal
hold's and fresh ones stay; a dry run only says what would go."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from recordings.config import RecordingsConfig
from recordings.purge import purge
from recordings.store import DELETED, DONE, FAILED, ALREADY_HELD, NOT_HELD, UNKNOWN_ORDER, Candidate, RecordingStoreError
from tests.recordings.world import CITY, UTC, World, call_record

LATE_EVENING = datetime(2026, 3, 1, 23, 30, tzinfo=CITY)  # 15:30 UTC, March 1 in both
JUST_AFTER_MIDNIGHT = datetime(2026, 2, 28, 16, 30, tzinfo=UTC)  # 00:30 on March 1 in the city
CITY_MIDNIGHT = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)  # 00:00 on March 2 in the city


def at_purge_time(day: int, month: int = 8) -> datetime:
    return datetime(2026, month, day, 3, 30, tzinfo=CITY)  # [recordings] purge_at, city time


@pytest.fixture
async def world(tmp_path: Path, store_url: str) -> AsyncIterator[World]:
    opened = await World(tmp_path, store_url).open()
    yield opened
    await opened.close()


async def deletions(world: World) -> list[tuple[str, str]]:
    return sorted((e.target, e.actor) for e in await world.store.audit() if e.action == "deleted")


async def test_the_day_after_its_last_day_exactly_the_expired_recordings_go_with_an_audit_entry_each(
        world: World) -> None:
    await world.recorded_call("plain", LATE_EVENING)
    await world.recorded_call("early", JUST_AFTER_MIDNIGHT)
    await world.recorded_call("next-day", CITY_MIDNIGHT)
    await world.recorded_call("complaint", LATE_EVENING)
    await world.order("complaint", "complaint", LATE_EVENING)
    await world.recorded_call("held", LATE_EVENING)
    await world.store.hold(await world.order("held", "consultation", LATE_EVENING), "chen.li", "行政复议", LATE_EVENING)
    await world.recorded_call("fresh", datetime(2026, 8, 20, 9, 0, tzinfo=CITY))

    last_day = await purge(world.store, world.config, CITY, at_purge_time(28))
    assert last_day.deleted == [] and last_day.held == [] and await deletions(world) == []

    report = await purge(world.store, world.config, CITY, at_purge_time(29))
    assert sorted(report.deleted) == ["early", "plain"] and report.held == ["held"]
    assert report.files == 4  # the converted file and the original of each
    for gone in ("early", "plain"):
        assert world.files_of(gone) == []
        row = await world.store.get(gone)
        assert row is not None and row.state == DELETED and row.deleted_at == at_purge_time(29)
    for kept in ("next-day", "complaint", "held", "fresh"):
        assert len(world.files_of(kept)) == 2, kept
        row = await world.store.get(kept)
        assert row is not None and row.state == DONE and row.deleted_at is None
    assert await deletions(world) == [("early", "retention"), ("plain", "retention")]
    [entry] = [e for e in await world.store.audit() if e.target == "plain" and e.action == "deleted"]
    assert entry.at == at_purge_time(29) and "180 days" in entry.detail and "2026-08-28" in entry.detail

    again = await purge(world.store, world.config, CITY, at_purge_time(29) + timedelta(hours=1))
    assert again.deleted == [] and len(await deletions(world)) == 2

    next_day = await purge(world.store, world.config, CITY, at_purge_time(30).astimezone(UTC))
    assert next_day.deleted == ["next-day"] and world.files_of("next-day") == []


async def test_a_dry_run_says_what_would_go_and_deletes_nothing(world: World) -> None:
    await world.recorded_call("plain", LATE_EVENING)
    await world.recorded_call("fresh", datetime(2026, 8, 20, tzinfo=CITY))
    report = await purge(world.store, world.config, CITY, at_purge_time(29), dry_run=True)
    assert report.dry_run and report.deleted == ["plain"] and report.files == 0
    assert len(world.files_of("plain")) == 2
    row = await world.store.get("plain")
    assert row is not None and row.state == DONE and await deletions(world) == []


async def test_a_call_about_several_orders_is_kept_for_the_longest_and_a_short_type_goes_sooner(
        tmp_path: Path, store_url: str) -> None:
    config = RecordingsConfig(monitor_dir=str(tmp_path / "monitor"), store_dir=str(tmp_path / "store"),
                              keep_days={"consultation": 30, "complaint": 730})
    world = await World(tmp_path, store_url, config).open()
    await world.recorded_call("consultation", LATE_EVENING)
    await world.order("consultation", "consultation", LATE_EVENING)
    await world.recorded_call("both", LATE_EVENING)
    number = await world.order("both", "consultation", LATE_EVENING)
    complaint = await world.order("other-call", "complaint", LATE_EVENING)
    assert await world.orders.link_call(complaint, "both", at=LATE_EVENING + timedelta(days=2))
    await world.recorded_call("none", LATE_EVENING)
    assert (await purge(world.store, config, CITY, at_purge_time(31, 3))).deleted == []
    report = await purge(world.store, config, CITY, at_purge_time(1, 4))
    assert report.deleted == ["consultation"] and world.files_of("consultation") == []
    assert len(world.files_of("both")) == 2 and len(world.files_of("none")) == 2
    assert await world.store.orders_of("both") == sorted([number, complaint])
    assert (await purge(world.store, config, CITY, at_purge_time(29))).deleted == ["none"]
    assert (await purge(world.store, config, CITY, datetime(2028, 3, 1, 3, 30, tzinfo=CITY))).deleted == ["both"]
    await world.close()


async def test_a_recording_never_converted_is_deleted_by_its_original(world: World) -> None:
    await world.recorded_call("failed", LATE_EVENING, converted=False)
    row = await world.store.get("failed")
    assert row is not None and row.state == FAILED and world.files_of("failed") == ["failed.wav"]
    report = await purge(world.store, world.config, CITY, at_purge_time(29))
    assert report.deleted == ["failed"] and report.files == 1 and world.files_of("failed") == []


async def test_files_already_gone_are_no_obstacle(world: World) -> None:
    await world.recorded_call("plain", LATE_EVENING)
    world.original("plain").unlink()
    world.converted("plain").unlink()
    report = await purge(world.store, world.config, CITY, at_purge_time(29))
    assert report.deleted == ["plain"] and report.files == 0
    assert await deletions(world) == [("plain", "retention")]


async def test_a_released_hold_lets_the_next_purge_delete(world: World) -> None:
    await world.recorded_call("held", LATE_EVENING)
    number = await world.order("held", "suggestion", LATE_EVENING)
    hold = await world.store.hold(number, "chen.li", "诉讼", at_purge_time(1))
    assert hold.number == number and await world.store.is_held(number) and await world.store.call_held("held")
    assert (await purge(world.store, world.config, CITY, at_purge_time(29))).held == ["held"]
    await world.store.release(number, "chen.li", "诉讼结束", at_purge_time(29, 9))
    assert not await world.store.call_held("held")
    report = await purge(world.store, world.config, CITY, at_purge_time(30, 9))
    assert report.deleted == ["held"] and world.files_of("held") == []
    assert [e.action for e in reversed(await world.store.audit())] == ["hold", "release", "deleted"]


async def test_holds_are_on_real_orders_once_each(world: World) -> None:
    await world.recorded_call("c", LATE_EVENING)
    number = await world.order("c", "complaint", LATE_EVENING)
    with pytest.raises(RecordingStoreError) as unknown:
        await world.store.hold("3301-20260301-999999", "chen.li", "x", LATE_EVENING)
    await world.store.hold(number, "chen.li", "x", LATE_EVENING)
    with pytest.raises(RecordingStoreError) as twice:
        await world.store.hold(number, "liu.yang", "y", LATE_EVENING)
    await world.store.release(number, "chen.li", "done", LATE_EVENING)
    with pytest.raises(RecordingStoreError) as released:
        await world.store.release(number, "chen.li", "again", LATE_EVENING)
    assert (unknown.value.code, twice.value.code, released.value.code) == (UNKNOWN_ORDER, ALREADY_HELD, NOT_HELD)
    assert await world.store.holds() == []


class HeldMeanwhile:
    """A supervisor puts the order on hold after the purge has read its candidates."""

    def __init__(self, world: World, number: str) -> None:
        self.world, self.number = world, number

    def __getattr__(self, name: str) -> object:
        return getattr(self.world.store, name)

    async def candidates(self, ended_before: datetime) -> list[Candidate]:
        found: list[Candidate] = await self.world.store.candidates(ended_before)
        assert found and not any(c.held for c in found)
        await self.world.store.hold(self.number, "chen.li", "市民申请复核", at_purge_time(29))
        return found


async def test_a_hold_placed_while_the_purge_runs_keeps_the_recording(world: World) -> None:
    await world.recorded_call("disputed", LATE_EVENING)
    number = await world.order("disputed", "consultation", LATE_EVENING)
    report = await purge(HeldMeanwhile(world, number), world.config, CITY, at_purge_time(29))  # type: ignore[arg-type]
    assert report.deleted == [] and report.held == ["disputed"]
    assert len(world.files_of("disputed")) == 2 and await deletions(world) == []


async def test_a_name_that_leaves_the_folders_is_never_deleted(world: World, tmp_path: Path) -> None:
    outside = tmp_path / "precious.wav"
    outside.write_bytes(b"not ours")
    await world.records.write_many([call_record("escape", LATE_EVENING, "../precious.wav")])
    world.mark = await world.store.note_new_calls(world.mark, LATE_EVENING)
    await purge(world.store, world.config, CITY, at_purge_time(29))
    assert outside.read_bytes() == b"not ours"


async def test_a_file_that_will_not_go_keeps_its_recording_unaudited_and_the_others_still_go(world: World) -> None:
    await world.recorded_call("stuck", LATE_EVENING)
    await world.recorded_call("plain", LATE_EVENING)
    world.converted("stuck").unlink()
    world.converted("stuck").mkdir()  # something that unlink cannot remove (in production: a permission)
    (world.converted("stuck") / "x").write_bytes(b"")
    report = await purge(world.store, world.config, CITY, at_purge_time(29))
    assert report.deleted == ["plain"] and report.failed == ["stuck"]
    row = await world.store.get("stuck")
    assert row is not None and row.state == DONE and await deletions(world) == [("plain", "retention")]


async def test_progress_is_told_for_each_recording(world: World) -> None:
    for n in range(3):
        await world.recorded_call(f"c{n}", LATE_EVENING)
    number = await world.order("c1", "suggestion", LATE_EVENING)
    told: list[tuple[int, int]] = []
    report = await purge(HeldMeanwhile(world, number), world.config, CITY, at_purge_time(29),  # type: ignore[arg-type]
                         progress=lambda n, total: told.append((n, total)))
    assert told == [(1, 3), (2, 3), (3, 3)] and report.held == ["c1"]  # the one held meanwhile is told too


async def test_times_given_in_the_city_s_zone_are_the_same_instants_in_the_store(world: World) -> None:
    """Whoever calls the store may hold a city-zone time (a purge at 03:30 China time): SQLite
    keeps no zone, so the store must not keep the wall clock of another zone as if it were UTC."""
    await world.recorded_call("c", LATE_EVENING, converted=False)
    number = await world.order("c", "complaint", LATE_EVENING)
    await world.store.hold(number, "chen.li", "x", LATE_EVENING)
    [hold] = await world.store.holds()
    assert hold.held_at == LATE_EVENING
    asked = datetime(2026, 3, 2, 9, 0, tzinfo=CITY)  # 01:00 UTC
    assert await world.store.retry(["c"], asked, "chen.li") == 1
    assert [r.linkedid for r in await world.store.due(asked.astimezone(UTC), 10)] == ["c"]
    row = await world.store.get("c")
    assert row is not None and row.next_try_at == asked
    assert [e.at for e in await world.store.audit(since=asked)] == [asked]
