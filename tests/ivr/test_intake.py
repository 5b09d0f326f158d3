"""The intake flow through the real FastAGI server, Asterisk played by a client that answers
like Asterisk: desk by dialed number, and repeat callers linked to their open order."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, time, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import ivr.intake
from acd.desks import AcdConfig, Desk
from acd.events import CallQueued
from ivr.config import IntakeConfig, NightPlan
from ivr.intake import make_intake
from pbx.fastagi import FastAgiServer
from tests.host_tz import host_tz  # noqa: F401

from .asterisk_peer import converse

CONFIG = AcdConfig(desks=(Desk("general", "综合受理", "general"), Desk("market", "市场监管", "market")),
                   numbers={"12345": "general", "12315": "market"})


@dataclass
class Order:
    number: str


async def run(lookup: Any, dialed: str = "12315", caller: str = "13800138000",
              greeting_seconds: float = 0.0, record_notice: bool = False,
              acd: AcdConfig = CONFIG) -> tuple[list[str], list[CallQueued], list[tuple[str, str]]]:
    queued: list[Any] = []
    linked: list[tuple[str, str]] = []

    async def link(order: str, linkedid: str) -> None:
        linked.append((order, linkedid))

    server = FastAgiServer("127.0.0.1", 0)
    server.route("intake", make_intake(queued.append, acd, open_orders=lookup, link_repeat=link,
                                       record_notice=record_notice))
    await server.start()
    try:
        said = await converse(server.bound_port, f"intake?dialed={dialed}", caller=caller,
                              greeting_seconds=greeting_seconds)
    finally:
        await server.close()
    return said, queued, linked


async def test_a_repeat_caller_is_queued_with_the_newest_open_order_and_the_call_linked() -> None:
    asked: list[str] = []

    async def lookup(number: str) -> list[Order]:
        asked.append(number)
        return [Order("0571-20261122-000009"), Order("0571-20261120-000001")]

    said, [fact], linked = await run(lookup)
    assert asked == ["13800138000"]
    assert fact.desk == "market" and fact.open_order == "0571-20261122-000009"
    assert linked == [("0571-20261122-000009", "pbx-1.1")]
    assert 'SET VARIABLE HOTLINE_OPEN_ORDER 0571-20261122-000009' in said


async def test_a_caller_who_will_reach_an_agent_hears_the_call_is_recorded_after_the_greeting() -> None:
    async def none(number: str) -> list[Order]:
        return []

    said, [_fact], _ = await run(none, record_notice=True)
    played = [line for line in said if line.startswith("STREAM FILE")]
    assert [p.split()[2] for p in played[:2]] == ["hotline/greeting", "hotline/recorded-notice"]
    assert said.index(played[1]) < next(i for i, line in enumerate(said) if "HOTLINE_DESK" in line)
    said, _, _ = await run(none, record_notice=False)  # [recordings] notice = false
    assert not any("recorded-notice" in line for line in said)
    bare, queued, _ = await run(none, record_notice=True, acd=AcdConfig())  # no desks: nobody records
    assert queued == [] and not any("recorded-notice" in line for line in bare)


async def test_the_recording_is_filed_under_the_citys_day_not_the_utc_date() -> None:
    """20:00 UTC on 4 December is 04:00 on the 5th in the city: the folder is 20261205."""
    queued: list[Any] = []

    async def none(number: str) -> list[Order]:
        return []

    server = FastAgiServer("127.0.0.1", 0)
    server.route("intake", make_intake(queued.append, CONFIG, open_orders=none,
                                       clock=lambda: datetime(2026, 12, 4, 20, 0, tzinfo=timezone.utc)))
    await server.start()
    try:
        said = await converse(server.bound_port, "intake?dialed=12345")
    finally:
        await server.close()
    assert "SET VARIABLE HOTLINE_RECORDING 20261205/pbx-1.1.wav" in said, said
    assert queued[0].recording == "20261205/pbx-1.1.wav"


async def test_a_failing_or_slow_lookup_never_holds_the_caller_back() -> None:
    async def broken(number: str) -> list[Order]:
        raise ConnectionError("database away")

    async def slow(number: str) -> list[Order]:
        await asyncio.sleep(30)
        return [Order("never")]

    for lookup in (broken, slow):
        started = asyncio.get_running_loop().time()
        said, [fact], linked = await run(lookup)
        assert fact.open_order == "" and linked == []
        assert asyncio.get_running_loop().time() - started < 5
        assert not any("HOTLINE_OPEN_ORDER" in line for line in said)


async def test_the_lookup_runs_while_the_greeting_plays() -> None:
    async def takes_a_while(number: str) -> list[Order]:
        await asyncio.sleep(0.5)
        return [Order("0571-20261122-000010")]

    _, [fact], _ = await run(takes_a_while, greeting_seconds=0.8)  # slower than the grace alone
    assert fact.open_order == "0571-20261122-000010"


async def test_a_first_time_or_anonymous_caller_has_no_open_order() -> None:
    async def none(number: str) -> list[Order]:
        return []

    _, [fact], linked = await run(none)
    assert fact.open_order == "" and linked == []
    _, [anonymous], _ = await run(none, caller="unknown")
    assert anonymous.open_order == ""


async def test_a_site_menu_routes_by_key_retries_once_then_takes_its_default() -> None:
    from ivr.config import IntakeConfig, Menu

    menu = Menu("12345", "menu-example", (("1", "general"), ("2", "market")), timeout=2, default="general")
    for keys, desk, prompts in ((["2"], "market", []), (["9", "2"], "market", ["hotline/invalid-key"]),
                                (["", ""], "general", ["hotline/no-input"]), (["*", "#"], "general",
                                                                              ["hotline/invalid-key"])):
        queued: list = []
        server = FastAgiServer("127.0.0.1", 0)
        server.route("intake", make_intake(queued.append, CONFIG, IntakeConfig(menus=(menu,))))
        await server.start()
        try:
            said = await converse(server.bound_port, "intake?dialed=12345", caller="13800138000", keys=keys)
        finally:
            await server.close()
        assert [c for c in said if c.startswith("GET DATA")][0] == "GET DATA hotline/menu-example 2000 1"
        assert [c.split()[2] for c in said if c.startswith("STREAM FILE")][1:] == prompts
        assert [q.desk for q in queued] == [desk], keys


# ---- the night plan and days off on the city's clock (issue 13) ----

UTC = timezone.utc
NIGHT_PLAN = IntakeConfig(night=NightPlan(time(22), time(8), ("general",)))


async def desk_of_a_call(handler: Any, dialed: str = "12315") -> str:
    server = FastAgiServer("127.0.0.1", 0)
    server.route("intake", handler)
    await server.start()
    try:
        said = await converse(server.bound_port, f"intake?dialed={dialed}", caller="13800138000")
    finally:
        await server.close()
    [desk] = [line.split()[-1] for line in said if line.startswith("SET VARIABLE HOTLINE_DESK")]
    return desk


@pytest.mark.parametrize(("now_utc", "desk"), [
    (datetime(2026, 11, 24, 1, 0, tzinfo=UTC), "market"),    # Tue 09:00 in Beijing (01:00 UTC: night in London)
    (datetime(2026, 11, 24, 13, 0, tzinfo=UTC), "market"),   # Tue 21:00 in Beijing
    (datetime(2026, 11, 24, 14, 30, tzinfo=UTC), "general"),  # Tue 22:30 in Beijing (14:30 UTC: day)
    (datetime(2026, 11, 23, 23, 30, tzinfo=UTC), "general"),  # Tue 07:30 in Beijing
])
async def test_the_night_plan_runs_on_the_citys_clock_whatever_the_hosts_zone(
        host_tz: str, now_utc: datetime, desk: str) -> None:
    flow = make_intake(lambda _: None, CONFIG, NIGHT_PLAN, clock=lambda: now_utc, zone=ZoneInfo("Asia/Shanghai"))
    assert await desk_of_a_call(flow) == desk


async def test_the_days_off_are_the_citys_days() -> None:
    asked: list[Any] = []

    def is_day_off(day: Any) -> bool:
        asked.append(day)
        return False

    sunday_night_utc = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)  # Monday 07:00 in Beijing, 05:00 in Urumqi
    for zone in (ZoneInfo("Asia/Shanghai"), ZoneInfo("Asia/Urumqi")):
        await desk_of_a_call(make_intake(lambda _: None, CONFIG, NIGHT_PLAN, is_holiday=is_day_off,
                                         clock=lambda: sunday_night_utc, zone=zone))
    assert [d.isoformat() for d in asked] == ["2026-11-23", "2026-11-23"]
    await desk_of_a_call(make_intake(lambda _: None, CONFIG, NIGHT_PLAN, is_holiday=is_day_off,
                                     clock=lambda: sunday_night_utc, zone=UTC))
    assert asked[-1].isoformat() == "2026-11-22"


def frozen_at(moment: datetime) -> type[datetime]:
    class Frozen(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> Any:
            return moment.astimezone(tz) if tz is not None else moment.astimezone().replace(tzinfo=None)

    return Frozen


CONTROLLER_CONFIG = """
[store]
url = "sqlite+aiosqlite:///{db}"
journal = ""
[http]
port = 0
[acd]
numbers = {{ "12345" = "general", "12315" = "market" }}
[[acd.desks]]
name = "general"
label = "综合受理"
[[acd.desks]]
name = "market"
label = "市场监管"
[intake.night]
start = "22:00"
end = "08:00"
desks = ["general"]
"""


@pytest.mark.parametrize(("now_utc", "desk"), [
    (datetime(2026, 9, 20, 2, 0, tzinfo=UTC), "market"),    # Sun 20 Sep 10:00: a make-up working day
    (datetime(2026, 9, 13, 2, 0, tzinfo=UTC), "general"),   # Sun 13 Sep 10:00: an ordinary Sunday off
    (datetime(2026, 9, 27, 2, 0, tzinfo=UTC), "general"),   # Sun 27 Sep: Mid-Autumn (the old calendar worked it)
    (datetime(2026, 10, 1, 2, 0, tzinfo=UTC), "general"),   # Thu 1 Oct: National Day
    (datetime(2026, 2, 16, 2, 0, tzinfo=UTC), "general"),   # Mon 16 Feb: Spring Festival
    (datetime(2026, 2, 14, 2, 0, tzinfo=UTC), "market"),    # Sat 14 Feb: worked for the Spring Festival
    (datetime(2026, 9, 21, 23, 30, tzinfo=UTC), "general"),  # Tue 22 Sep 07:30 in Beijing: night
    (datetime(2026, 9, 22, 1, 0, tzinfo=UTC), "market"),    # Tue 22 Sep 09:00 in Beijing
])
async def test_the_controllers_intake_reads_the_deadlines_calendar_in_the_citys_zone(
        host_tz: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, now_utc: datetime, desk: str) -> None:
    import hotline_config
    import hotline_pbx

    path = tmp_path / "city.toml"
    path.write_text(CONTROLLER_CONFIG.format(db=tmp_path / "h.db"), encoding="utf-8")
    monkeypatch.setenv("HOTLINE_AMI_SECRET", "unused")
    controller = hotline_pbx.Controller(hotline_config.load(path, env={}))  # the shipped 2026 calendar
    monkeypatch.setattr(ivr.intake, "datetime", frozen_at(now_utc))
    assert await desk_of_a_call(controller.agi._routes["intake"]) == desk
