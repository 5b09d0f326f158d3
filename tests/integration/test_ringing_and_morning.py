"""Issue 11 on the real sandbox with baresip phones: a caller who gives up while the agent's
phone rings, and the morning after a night of lost calls."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from acd.acd import OfferCall
from acd.records import Disposition
from callback.flow import DialCallback
from devtools import sandbox
from devtools.phones import PhoneSpec
from hotline_config import CallbacksConfig
from hotline_pbx import Controller

from .conftest import agent, running, wait_until


def live_agent(ctl: Controller, agent_id: str) -> tuple[str, int]:
    agent_state = ctl.engine.acd.agents[agent_id]
    return agent_state.state.value, agent_state.misses


async def test_a_caller_who_hangs_up_while_the_agents_phone_rings_is_never_the_agents_miss(
        acd_controller, phones, sip_password, sandbox_paths) -> None:
    """Twice in a row (max_misses is 2: two misses would auto-pause the agent) a citizen gives
    up while agent1003's phone rings. Each call is the caller's ringing abandon; the agent stays
    ready with no miss counted, and the dying call is not offered to anyone else."""
    ctl = acd_controller
    assert "HOTLINE_RING_TIMEOUT=8" in sandbox.cli(sandbox_paths, "dialplan show globals").replace(" ", "")
    offers: list[tuple[str, str]] = []
    ctl.engine.observe(OfferCall, lambda o: offers.append((o.call_id, o.agent_id)))
    desk_agent = await agent(phones, 1003, sip_password, auto_answer=False)  # market 3, lets it ring
    await ctl.engine.request("login", "agent1003")
    await ctl.engine.request("ready", "agent1003")
    numbers = ["13855550001", "13855550002"]
    for number in numbers:  # lost calls, but no callback should ring agent1003 between the two
        await ctl.engine.do_not_call(number)
    for n, number in enumerate(numbers):
        citizen = await phones.add(PhoneSpec(f"citizen-{n}", number, "孙八"))
        await citizen.dial("12315")
        await desk_agent.wait_event("CALL_INCOMING", timeout=30)  # greeted, queued, offered: it rings
        await wait_until(lambda: live_agent(ctl, "agent1003")[0] == "offered", what="agent1003 rung by the ACD")
        await citizen.hangup()
        await desk_agent.wait_event("CALL_CLOSED", timeout=10)  # Asterisk cancels the agent's leg
        await wait_until(lambda: ctl.engine.snapshot() == (), timeout=15, what="the call to end")
        assert live_agent(ctl, "agent1003") == ("ready", 0)
    assert [agent_id for _, agent_id in offers] == ["agent1003", "agent1003"]  # one offer per call
    await ctl.writer.flush()
    for number in numbers:
        [record] = await ctl.store.by_caller(number)
        assert record.disposition is Disposition.ABANDONED_RINGING and record.left_in == "ringing"
    figures = ctl.engine.desk_figures()["market"]
    assert (figures["abandoned"], figures["abandoned_while_ringing"], figures["answered"]) == (2, 2, 0)


def opening_soon(zone: str = "Asia/Shanghai") -> str:
    """Business hours that open at the next minute at least 30 s away (the city's local time,
    [city] time_zone, as the callback rule reads it) and run six hours."""
    now = datetime.now(ZoneInfo(zone))
    opening = (now + timedelta(seconds=90)).replace(second=0, microsecond=0)
    if (opening - now).total_seconds() > 90:
        opening -= timedelta(minutes=1)
    closing = opening + timedelta(hours=6)
    return f"{opening:%H:%M}-{closing:%H:%M}"


async def test_the_morning_after_a_night_of_lost_calls_every_live_caller_is_queued_and_served_in_turn(
        acd_config, phones, sip_password, sandbox_paths) -> None:
    """Two citizens gave up at night; the general desk takes only two waiting callers. Before
    opening a citizen already waits; the hours open; another citizen calls. Both live callers
    are queued (the callbacks never take their slots), and the one agent serves: the caller who
    waited since before opening, then the two callbacks (dialable from the opening), then the
    caller who came after it."""
    general = dataclasses.replace(acd_config.acd.desk("general"), max_queue=2)
    desks = tuple(general if d.name == "general" else d for d in acd_config.acd.desks)
    config = dataclasses.replace(
        acd_config, acd=dataclasses.replace(acd_config.acd, desks=desks),
        callbacks=CallbacksConfig(business_hours=opening_soon(acd_config.city.time_zone)),
        intake=dataclasses.replace(acd_config.intake, survey=False, callback_offer_after=0.0))
    night = [await phones.add(PhoneSpec(f"night-{n}", f"1386666000{n}", "夜间", auto_answer=True)) for n in range(2)]
    for phone in night:  # the carrier reaches them when the callback dials their number
        sandbox.cli(sandbox_paths, f"database put sandbox-carrier {phone.spec.user} 127.0.0.1:{phone.spec.sip_port}")
    try:
        async with running(config) as ctl:
            served: list[str] = []
            ctl.engine.observe(OfferCall, lambda o: served.append(o.call_id))
            ctl.engine.observe(DialCallback, lambda d: served.append(f"callback {d.number}"))
            assert not ctl.engine.acd.business_hours or ctl.engine.acd.callbacks == {}
            for phone in night:  # given up in the greeting at night
                await phone.dial("12345")
                await phone.wait_event("CALL_ESTABLISHED", timeout=10)
                await wait_until(lambda: any(c.caller_number == phone.spec.user and c.stage == "intake"
                                             for c in ctl.engine.calls.calls.values()), what="the greeting begun")
                await phone.hangup()
                await phone.wait_event("CALL_CLOSED", timeout=10)
            await wait_until(lambda: len(ctl.engine.acd.callbacks) == 2, timeout=20, what="two callbacks due")
            assert not ctl.engine.acd.business_hours, "the test's night ended too early"
            desk_agent = await agent(phones, 1001, sip_password)
            await ctl.engine.request("login", "agent1001")
            early = await phones.add(PhoneSpec("early", "13866661111", "早到"))
            await early.dial("12345")
            await wait_until(lambda: len(ctl.engine.acd.queue) == 1, timeout=30, what="the early caller queued")
            [early_call] = list(ctl.engine.acd.queue)
            await wait_until(lambda: ctl.engine.acd.business_hours, timeout=120, what="opening time")
            later = await phones.add(PhoneSpec("later", "13866662222", "晚到"))
            await later.dial("12345")
            await wait_until(lambda: len(ctl.engine.acd.queue) == 2, timeout=30, what="the later caller queued too")
            [later_call] = [c for c in ctl.engine.acd.queue if c != early_call]
            assert not [c for c in ctl.engine.calls.calls.values() if c.fell_back]  # nobody refused
            await ctl.engine.request("ready", "agent1001")
            for turn in range(4):  # serve, hang up, wrap up (2 s), next
                await desk_agent.wait_event("CALL_ESTABLISHED", timeout=40)
                if served[-1].startswith("callback"):
                    phone = next(p for p in night if served[-1].endswith(p.spec.user))
                    await phone.wait_event("CALL_ESTABLISHED", timeout=30)  # the citizen, after the agent
                await wait_until(lambda: live_agent(ctl, "agent1001")[0] == "on_call", what="agent1001 on the call")
                await desk_agent.hangup()
                await desk_agent.wait_event("CALL_CLOSED", timeout=10)
            assert served[:4] == [early_call, f"callback {night[0].spec.user}", f"callback {night[1].spec.user}",
                                  later_call]
            for phone in (early, later):
                await phone.hangup()
    finally:
        sandbox.cli(sandbox_paths, "database deltree sandbox-carrier")
