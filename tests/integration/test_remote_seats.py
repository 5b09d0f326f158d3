"""Remote seats on the real sandbox (issue 16): phones Asterisk cannot reach (a frozen baresip —
SIGSTOP: no answer to Asterisk's qualify — is what a phone whose network went looks like from
the PBX), an Asterisk restart, and an agent on an ordinary phone behind the trunk. Home seats
behind NAT are tests/integration/test_home_seats.py."""

from __future__ import annotations

import asyncio
import time

import pytest

from acd.acd import OfferCall
from acd.records import Disposition
from devtools import sandbox
from devtools.phones import PhoneBank, PhoneSpec
from hotline_config import Config

from .conftest import agent_view, hears, register_again, running, wait_until

pytestmark = pytest.mark.integration

CITIZEN_HZ, HOME_HZ, HALL_HZ = 500, 700, 1100


async def test_no_call_is_offered_to_a_phone_asterisk_cannot_reach(
        acd_config: Config, phones: PhoneBank, sip_password: str) -> None:
    """agent1001's phone is qualified every 2 s for the test (a site's is every 30 s)."""
    sandbox.lab_seat(sandbox.SandboxPaths(), "agent1001", aor={"qualify_frequency": "2", "qualify_timeout": "1"})
    try:
        async with running(acd_config) as ctl:
            home = await phones.add(PhoneSpec("agent1001", "agent1001", password=sip_password, auto_answer=True,
                                              tone_hz=HOME_HZ))
            citizen = await phones.add(PhoneSpec("citizen", "13800138012", "李四", keep_audio=True))
            await ctl.engine.do_not_call("13800138012")
            await wait_until(lambda: agent_view(ctl, "agent1001").reachable, what="agent1001's phone reachable")
            await ctl.engine.request("login", "agent1001")
            await ctl.engine.request("ready", "agent1001")
            home.freeze()
            await wait_until(lambda: not agent_view(ctl, "agent1001").reachable, what="agent1001's phone unreachable")
            await citizen.dial("12345")
            await wait_until(lambda: any(v.desk for v in ctl.engine.snapshot()) and ctl.engine.acd.queue != {},
                             timeout=30, what="the citizen queued")
            assert (agent_view(ctl, "agent1001").state, agent_view(ctl, "agent1001").reachable) == ("ready", False)
            home.thaw()
            await home.wait_event("CALL_ESTABLISHED", timeout=30)  # offered once reachable again
            await hears(citizen, time.monotonic(), 0.5, HOME_HZ)  # a moment of talk: RTCP has figures
            await citizen.hangup()
            await wait_until(lambda: ctl.engine.snapshot() == (), what="the call to end")
            await ctl.writer.flush()
            [record] = await ctl.store.by_caller("13800138012")
            [leg] = [leg for leg in record.legs if leg.who == "agent1001"]
            quality = dict(leg.quality)  # the agent's leg's RTCP at its end
            assert set(quality) >= {"jitter_ms", "loss_pct", "rtt_ms"} and 0 <= quality["loss_pct"] < 50, quality
            assert agent_view(ctl, "agent1001").poor_quality == ""  # loopback audio is fine
    finally:
        sandbox.lab_seat(sandbox.SandboxPaths(), None)


async def test_after_asterisk_restarts_an_agent_is_offered_calls_only_once_their_phone_is_back(
        acd_config: Config, phones: PhoneBank, sip_password: str, sandbox_paths: sandbox.SandboxPaths) -> None:
    """Asterisk restores its contacts from its database at boot, but does not know whether
    the phones behind them still answer until it qualifies them again (on the AOR's timer) or
    they register again: until then no call is offered to them."""
    async with running(acd_config) as ctl:
        home = await phones.add(PhoneSpec("agent1001", "agent1001", password=sip_password, auto_answer=True))
        citizen = await phones.add(PhoneSpec("citizen", "13800138013", "王五"))
        await ctl.engine.do_not_call("13800138013")
        await wait_until(lambda: agent_view(ctl, "agent1001").reachable, what="agent1001's phone reachable")
        await ctl.engine.request("login", "agent1001")
        await ctl.engine.request("ready", "agent1001")
        resyncs = ctl.ami.resyncs
        await asyncio.to_thread(sandbox.stop, sandbox_paths, echo=False)
        await asyncio.to_thread(sandbox.start, sandbox_paths, echo=False)
        await wait_until(lambda: ctl.ami.resyncs > resyncs, timeout=60, what="the resync after the restart")
        reachable_after_restart = agent_view(ctl, "agent1001").reachable
        offers: list[OfferCall] = []
        ctl.engine.observe(OfferCall, offers.append)
        await citizen.dial("12345")
        await wait_until(lambda: bool(ctl.engine.acd.queue) or bool(offers), timeout=30, what="the citizen queued")
        if not agent_view(ctl, "agent1001").reachable:
            assert offers == []  # waits: nobody is rung on a phone not heard from since the restart
            await register_again(home, sandbox_paths)  # the phone's own registration timer
        await home.wait_event("CALL_ESTABLISHED", timeout=30)
        assert agent_view(ctl, "agent1001").reachable and [o.agent_id for o in offers] == ["agent1001"]
        await citizen.hangup()
        await wait_until(lambda: ctl.engine.snapshot() == (), what="the call to end")
    # Asterisk's first qualify of a restored contact came only later (NonQualified at the resync)
    assert reachable_after_restart is False


async def test_an_agent_on_an_ordinary_phone_takes_a_citizen_only_after_pressing_1(
        acd_config: Config, phones: PhoneBank, sandbox_paths: sandbox.SandboxPaths) -> None:
    """agent1006 logs in with a mobile number; the mobile (a baresip behind the sandbox's
    trunk) is answered — as a voicemail or a family member would — and nobody presses 1: the
    citizen goes back to their place (and is offered again at once); the agent answers the next
    ring and presses 1, and the two talk."""
    async with running(acd_config) as ctl:
        mobile = await phones.add(PhoneSpec("mobile", "13900001111", tone_hz=HALL_HZ))
        sandbox.carrier_put(sandbox_paths, "13900001111", mobile.spec.sip_port)
        try:
            citizen = await phones.add(PhoneSpec("citizen", "13800138014", "赵六", tone_hz=CITIZEN_HZ,
                                                 keep_audio=True))
            await ctl.engine.do_not_call("13800138014")
            offers: list[OfferCall] = []
            ctl.engine.observe(OfferCall, offers.append)
            await ctl.engine.request("login", "agent1006", phone="13900001111")
            await ctl.engine.request("ready", "agent1006")
            await citizen.dial("12345")
            await mobile.wait_event("CALL_INCOMING", timeout=30)
            [linkedid] = {o.call_id for o in offers}
            queued_at = ctl.engine.acd.queue[linkedid].call.queued_at
            assert offers[0].device == "Local/13900001111@hotline-seat-phone/n"
            await mobile.answer()  # answered, and no key pressed
            await wait_until(lambda: len(offers) == 2, timeout=20, what="the offer again, after the unaccepted one")
            queued = ctl.engine.acd.queue.get(linkedid)
            assert queued is not None and queued.call.queued_at == queued_at  # it kept its place
            assert ctl.engine.calls.calls[linkedid].agent == ""  # nobody answered it
            await mobile.wait_event("CALL_INCOMING", timeout=20)
            await mobile.answer()
            await mobile.wait_event("CALL_ESTABLISHED", timeout=10)
            await mobile.send_dtmf("1")
            await wait_until(lambda: agent_view(ctl, "agent1006").state == "on_call", timeout=15,
                             what="agent1006 on the call after pressing 1")
            await hears(citizen, time.monotonic(), 0.5, HALL_HZ)
            await citizen.hangup()
            await wait_until(lambda: ctl.engine.snapshot() == (), what="the call to end")
            await ctl.writer.flush()
            [record] = await ctl.store.by_caller("13800138014")
            assert record.disposition is Disposition.ANSWERED and record.agent == "agent1006"
        finally:
            sandbox.carrier_forget(sandbox_paths, "13900001111")


async def test_an_agent_on_a_persistent_line_presses_1_once_and_takes_citizen_after_citizen_on_it(
        acd_config: Config, phones: PhoneBank, sip_password: str, sandbox_paths: sandbox.SandboxPaths) -> None:
    """agent1006 logs in on a persistent line to their mobile (a baresip behind the trunk). The
    first time the mobile is answered and no key is pressed (a voicemail would do so): no line,
    and the citizen calling meanwhile is put through to nobody. Ready dials it again; the agent
    presses 1; the waiting citizen is put through at once and the two hear each other; * ends
    that citizen's call while the line stays; the next citizen is put through on the same line,
    with no ring; then the carrier drops the mobile mid-call (cause 38, as its BYE's Q.850 reason
    would say) and that citizen is not lost: agent1002 answers them."""
    from acd.lines import DialLine
    from devtools.scenarios import carrier_drops

    async with running(acd_config) as ctl:
        mobile = await phones.add(PhoneSpec("mobile", "13900001111", tone_hz=HALL_HZ, keep_audio=True))
        sandbox.carrier_put(sandbox_paths, "13900001111", mobile.spec.sip_port)
        try:
            hall = await phones.add(PhoneSpec("agent1002", "agent1002", password=sip_password, auto_answer=True,
                                              tone_hz=HOME_HZ))
            first = await phones.add(PhoneSpec("citizen", "13800138015", "钱七", tone_hz=CITIZEN_HZ, keep_audio=True))
            second = await phones.add(PhoneSpec("citizen2", "13800138016", "孙八", tone_hz=CITIZEN_HZ,
                                                keep_audio=True))
            for citizen in (first, second):
                await ctl.engine.do_not_call(citizen.spec.user)
            lines: list[DialLine] = []
            offers: list[OfferCall] = []
            ctl.engine.observe(DialLine, lines.append)
            ctl.engine.observe(OfferCall, offers.append)
            await ctl.engine.request("login", "agent1002")
            await ctl.engine.request("login", "agent1006", phone="13900001111", persistent=True)
            await ctl.engine.request("ready", "agent1006")
            await mobile.wait_event("CALL_INCOMING", timeout=20)
            await first.dial("12345")
            await mobile.answer()  # answered, no key pressed
            await mobile.wait_event("CALL_CLOSED", timeout=30)  # the prompt twice, then the line is refused
            await wait_until(lambda: agent_view(ctl, "agent1006").line == "down", what="no line without the 1")
            assert offers == [] and ctl.engine.acd.queue  # the citizen waits, offered to nobody
            await ctl.engine.request("pause", "agent1006", "break")
            await ctl.engine.request("ready", "agent1006")  # dials the line again
            await mobile.wait_event("CALL_INCOMING", timeout=20)
            await mobile.answer()
            await mobile.wait_event("CALL_ESTABLISHED", timeout=10)
            await mobile.send_dtmf("1")
            await wait_until(lambda: agent_view(ctl, "agent1006").state == "on_call", timeout=15,
                             what="the waiting citizen put through once the agent pressed 1")
            since = time.monotonic()
            await hears(first, since, 0.5, HALL_HZ)
            await hears(mobile, since, 0.5, CITIZEN_HZ)
            await mobile.send_dtmf("*")  # the agent ends this citizen's call
            await wait_until(lambda: agent_view(ctl, "agent1006").state == "wrap_up", timeout=10,
                             what="the citizen's call ended by the agent's *")
            await first.hangup()  # in the survey
            await wait_until(lambda: agent_view(ctl, "agent1006").state == "ready", timeout=20,
                             what="agent1006 ready again after the wrap-up")
            assert agent_view(ctl, "agent1006").line == "up"  # the line stayed
            await second.dial("12345")
            await wait_until(lambda: agent_view(ctl, "agent1006").state == "on_call", timeout=40,
                             what="the second citizen put through on the same line")
            await hears(second, time.monotonic(), 0.5, HALL_HZ)
            assert len(lines) == 2  # the refused line and the line of the shift: none per call
            await carrier_drops(ctl, "agent1006", 38)
            await wait_until(lambda: agent_view(ctl, "agent1006").reason == "connection_lost", timeout=15,
                             what="agent1006 paused: their line went")
            await ctl.engine.request("ready", "agent1002")
            await hall.wait_event("CALL_ESTABLISHED", timeout=30)
            await hears(second, time.monotonic(), 0.5, HOME_HZ)
            await second.hangup()
            await wait_until(lambda: ctl.engine.snapshot() == (), what="the calls to end")
            await ctl.writer.flush()
            [one] = await ctl.store.by_caller("13800138015")
            [two] = await ctl.store.by_caller("13800138016")
            assert (one.disposition, one.agent) == (Disposition.ANSWERED, "agent1006")
            assert (two.disposition, two.agent) == (Disposition.ANSWERED, "agent1006")
            assert [(leg.who, leg.ended) for leg in two.legs if leg.role == "agent"] == [
                ("agent1006", "connection_lost"), ("agent1002", "")]
            assert [o.device for o in offers] == ["Local/agent1006@hotline-seat-join/n"] * 2 + ["PJSIP/agent1002"]
        finally:
            sandbox.carrier_forget(sandbox_paths, "13900001111")
