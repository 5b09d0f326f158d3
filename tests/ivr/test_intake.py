"""The intake flow through the real FastAGI server, Asterisk played by a client that answers
like Asterisk: desk by dialed number, and repeat callers linked to their open order."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from acd.desks import AcdConfig, Desk
from acd.events import CallQueued
from ivr.intake import make_intake
from pbx.fastagi import FastAgiServer

from .asterisk_peer import converse

CONFIG = AcdConfig(desks=(Desk("general", "综合受理", "general"), Desk("market", "市场监管", "market")),
                   numbers={"12345": "general", "12315": "market"})


@dataclass
class Order:
    number: str


async def run(lookup: Any, dialed: str = "12315", caller: str = "13800138000",
              greeting_seconds: float = 0.0) -> tuple[list[str], list[CallQueued], list[tuple[str, str]]]:
    queued: list[Any] = []
    linked: list[tuple[str, str]] = []

    async def link(order: str, linkedid: str) -> None:
        linked.append((order, linkedid))

    server = FastAgiServer("127.0.0.1", 0)
    server.route("intake", make_intake(queued.append, CONFIG, open_orders=lookup, link_repeat=link))
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
