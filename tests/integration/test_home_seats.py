"""A remote agent's softphone at home, on the real sandbox (issue 16): baresip runs in a
network namespace behind a NAT router of its own (devtools/netns.py: veths, addresses private
to the test, nftables masquerade in the router's namespace) and registers across it on a
transport Asterisk opens on the host's side of the home line, on a port nobody holds."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from acd.records import Disposition
from callback.book import Outcome
from callback.flow import DialCallback
from devtools import sandbox
from devtools.netns import HomeNetwork
from devtools.phones import PhoneBank, PhoneSpec
from hotline_config import Config

from .conftest import agent_view, hears, register_again, running, wait_until

pytestmark = pytest.mark.integration

CITIZEN_HZ, HOME_HZ, HALL_HZ = 500, 700, 1100


@pytest.fixture
def home(sandbox_paths: sandbox.SandboxPaths) -> Iterator[HomeNetwork]:
    """A home network, and agent1001's endpoint on a transport facing it (for this test)."""
    with HomeNetwork(0) as network:
        network.sip_port = network.free_port()
        transport = f"transport-home-{network.sip_port}"  # a new one each time: a bound transport is not rebound
        sandbox.lab_seat(sandbox_paths, "agent1001",
                         sections=f"[{transport}]\ntype = transport\nprotocol = udp\n"
                                  f"bind = {network.host_address}:{network.sip_port}\n",
                         endpoint={"transport": transport, "media_address": network.host_address})
        try:
            yield network
        finally:
            sandbox.lab_seat(sandbox_paths, None)


async def _home_phone(phones: PhoneBank, home: HomeNetwork, password: str):  # type: ignore[no-untyped-def]
    return await phones.add(PhoneSpec("agent1001", "agent1001", password=password, auto_answer=True,
                                      tone_hz=HOME_HZ, keep_audio=True, home=home,
                                      server=f"{home.host_address}:{home.sip_port}"))


async def test_a_home_seat_behind_nat_registers_and_takes_a_queued_call_with_audio_both_ways(
        acd_config: Config, phones: PhoneBank, sip_password: str, sandbox_paths: sandbox.SandboxPaths,
        home: HomeNetwork) -> None:
    async with running(acd_config) as ctl:
        agent = await _home_phone(phones, home, sip_password)
        _, listed = await ctl.ami.client.send_list_action("PJSIPShowContacts")
        uris = [e.get("Uri") for e in listed if e.name == "ContactList" and e.get("Endpoint") == "agent1001"]
        # the contact Asterisk keeps is the router's address (rewrite_contact), not the home's private one
        assert len(uris) == 1 and f"@{home.router_address}:" in uris[0], uris
        citizen = await phones.add(PhoneSpec("citizen", "13800138021", "张三", tone_hz=CITIZEN_HZ, keep_audio=True))
        await ctl.engine.do_not_call("13800138021")
        await wait_until(lambda: agent_view(ctl, "agent1001").reachable, what="the home phone reachable (qualified)")
        await ctl.engine.request("login", "agent1001")
        await ctl.engine.request("ready", "agent1001")
        await citizen.dial("12345")
        await agent.wait_event("CALL_ESTABLISHED", timeout=40)
        since = time.monotonic()
        await hears(citizen, since, 0.5, HOME_HZ)
        await hears(agent, since, 0.5, CITIZEN_HZ)
        await citizen.hangup()
        await wait_until(lambda: ctl.engine.snapshot() == (), what="the call to end")
        await ctl.writer.flush()
        [record] = await ctl.store.by_caller("13800138021")
        assert record.disposition is Disposition.ANSWERED and record.agent == "agent1001"
        [leg] = [leg for leg in record.legs if leg.who == "agent1001"]
        quality = dict(leg.quality)  # RTCP across the home line
        assert set(quality) >= {"jitter_ms", "loss_pct", "rtt_ms"} and quality["loss_pct"] < 50, quality


async def test_the_home_line_cut_mid_call_leaves_the_citizen_connected_for_the_next_agent(
        acd_config: Config, phones: PhoneBank, sip_password: str, home: HomeNetwork) -> None:
    async with running(acd_config) as ctl:
        agent = await _home_phone(phones, home, sip_password)
        hall = await phones.add(PhoneSpec("agent1002", "agent1002", password=sip_password, auto_answer=True,
                                          tone_hz=HALL_HZ))
        citizen = await phones.add(PhoneSpec("citizen", "13800138022", "李四", tone_hz=CITIZEN_HZ, keep_audio=True))
        await ctl.engine.do_not_call("13800138022")
        for agent_id in ("agent1001", "agent1002"):
            await wait_until(lambda: agent_view(ctl, agent_id).reachable, what=f"{agent_id}'s phone reachable")
            await ctl.engine.request("login", agent_id)
        await ctl.engine.request("ready", "agent1001")
        await citizen.dial("12345")
        await agent.wait_event("CALL_ESTABLISHED", timeout=40)
        await hears(citizen, time.monotonic(), 0.5, HOME_HZ)
        home.cut()  # the home router's line goes down
        await wait_until(lambda: agent_view(ctl, "agent1001").reason == "connection_lost", timeout=30,
                         what="the lost home connection noticed (rtp_timeout)")
        await ctl.engine.request("ready", "agent1002")
        await hall.wait_event("CALL_ESTABLISHED", timeout=30)
        await hears(citizen, time.monotonic(), 0.5, HALL_HZ)  # still on the line, now with agent1002
        await citizen.hangup()
        await wait_until(lambda: ctl.engine.snapshot() == (), what="the call to end")
        await ctl.writer.flush()
        [record] = await ctl.store.by_caller("13800138022")
        legs = [(leg.role, leg.who, leg.ended) for leg in record.legs]
        assert legs == [("citizen", "", ""), ("agent", "agent1001", "connection_lost"),
                        ("agent", "agent1002", "")], legs


async def test_by_config_the_citizen_cut_off_from_a_home_agent_is_told_and_called_back_first(
        acd_config: Config, phones: PhoneBank, sip_password: str, home: HomeNetwork,
        sandbox_paths: sandbox.SandboxPaths) -> None:
    """`[acd] lost_connection = "callback"`: the home line goes mid-call; the citizen hears
    that they will be called back and the line ends (no survey of a call cut off); the record
    says so; the next ready agent's phone rings first, then the citizen's, and they talk."""
    config = dataclasses.replace(acd_config, acd=dataclasses.replace(acd_config.acd, lost_connection="callback"))
    async with running(config) as ctl:
        agent = await _home_phone(phones, home, sip_password)
        hall = await phones.add(PhoneSpec("agent1002", "agent1002", password=sip_password, auto_answer=True,
                                          tone_hz=HALL_HZ))
        citizen = await phones.add(PhoneSpec("citizen", "13800138023", "王五", tone_hz=CITIZEN_HZ,
                                             keep_audio=True, auto_answer=True))
        # the carrier reaches the citizen when the callback dials their number
        sandbox.cli(sandbox_paths, f"database put sandbox-carrier {citizen.spec.user} 127.0.0.1:{citizen.spec.sip_port}")
        dials: list[DialCallback] = []
        ctl.engine.observe(DialCallback, dials.append)
        for agent_id in ("agent1001", "agent1002"):
            await wait_until(lambda: agent_view(ctl, agent_id).reachable, what=f"{agent_id}'s phone reachable")
            await ctl.engine.request("login", agent_id)
        await ctl.engine.request("ready", "agent1001")
        await citizen.dial("12345")
        await agent.wait_event("CALL_ESTABLISHED", timeout=40)
        await hears(citizen, time.monotonic(), 0.5, HOME_HZ)
        home.cut()
        await citizen.wait_event("CALL_CLOSED", timeout=40)  # rtp_timeout, the promise, then the line ends
        assert agent_view(ctl, "agent1001").reason == "connection_lost"
        await wait_until(lambda: ctl.engine.snapshot() == (), what="the cut-off call to end")
        await ctl.writer.flush()
        [record] = await ctl.store.by_caller(citizen.spec.user)
        assert (record.disposition, record.agent, record.callback, record.survey_score) == (
            Disposition.ANSWERED, "agent1001", "lost_connection", None)
        assert [(leg.who, leg.ended) for leg in record.legs] == [("", ""), ("agent1001", "connection_lost")]
        assert dials == []  # nobody ready yet
        await ctl.engine.request("ready", "agent1002")
        await wait_until(lambda: bool(dials), timeout=20, what="the callback dialed")
        assert [(d.number, d.agent_id) for d in dials] == [(citizen.spec.user, "agent1002")]
        await hall.wait_event("CALL_ESTABLISHED", timeout=30)
        await citizen.wait_event("CALL_ESTABLISHED", timeout=30)  # the citizen, after the agent
        await hears(citizen, time.monotonic(), 0.5, HALL_HZ)
        await citizen.hangup()
        await wait_until(lambda: ctl.engine.snapshot() == (), what="the callback to end")
        await ctl.flush_callbacks()
        [entry] = [e for e in await ctl.callback_store.listing(open_only=False) if e.number == citizen.spec.user]
        assert entry.outcome is Outcome.REACHED and [loss.reason for loss in entry.losses] == ["connection_lost"]
        await ctl.writer.flush()
        records = await ctl.store.by_caller(citizen.spec.user)
        assert sorted(r.disposition.value for r in records) == ["answered", "called_back"]


def _register(sock: socket.socket, target: tuple[str, int], user: str) -> None:
    """A scanner's REGISTER (no credentials) for an account name it guesses."""
    call = uuid.uuid4().hex
    sock.sendto((f"REGISTER sip:{target[0]}:{target[1]} SIP/2.0\r\n"
                 f"Via: SIP/2.0/UDP 192.168.77.2:5099;branch=z9hG4bK{call};rport\r\nMax-Forwards: 70\r\n"
                 f"From: <sip:{user}@{target[0]}>;tag={call[:8]}\r\nTo: <sip:{user}@{target[0]}>\r\n"
                 f"Call-ID: {call}\r\nCSeq: 1 REGISTER\r\nContact: <sip:{user}@192.168.77.2:5099>\r\n"
                 f"Expires: 60\r\nContent-Length: 0\r\n\r\n").encode(), target)


def _answered(sock: socket.socket) -> bool:
    try:
        return sock.recv(4096).startswith(b"SIP/2.0 ")
    except socket.timeout:
        return False


async def test_a_registration_flood_from_another_home_is_blocked_while_the_agent_works_and_the_block_expires(
        acd_config: Config, phones: PhoneBank, sip_password: str, home: HomeNetwork,
        sandbox_paths: sandbox.SandboxPaths) -> None:
    config = dataclasses.replace(acd_config, security=dataclasses.replace(
        acd_config.security, threshold=5, window=60.0, block_for=6.0, firewall="nft"))
    with HomeNetwork(1) as elsewhere:
        async with running(config) as ctl:
            agent = await _home_phone(phones, home, sip_password)
            await wait_until(lambda: agent_view(ctl, "agent1001").reachable, what="the home phone reachable")
            scanner = elsewhere.udp_inside()
            scanner.settimeout(1.0)
            target = (home.host_address, home.sip_port)
            tried = 0
            while elsewhere.router_address not in ctl.engine.guard.blocked:
                assert tried < 20, "never blocked"
                _register(scanner, target, f"scan{tried}")
                assert _answered(scanner)  # Asterisk refuses (401) until the block
                tried += 1
                await asyncio.sleep(0.05)
            assert tried <= 5 + 2, tried  # the threshold (5), and the events' way to the controller
            await wait_until(lambda: elsewhere.router_address in subprocess.run(
                ["nft", "list", "set", "inet", "hotline_guard", "blocked"], capture_output=True, text=True).stdout,
                what="the address in the firewall's set")  # added off the engine
            _register(scanner, target, "scan-after")
            assert not _answered(scanner)  # dropped by the firewall
            await register_again(agent, sandbox_paths)  # the agent at home keeps working meanwhile
            await wait_until(lambda: agent_view(ctl, "agent1001").reachable, what="the home phone registered and qualified")
            await wait_until(lambda: elsewhere.router_address not in ctl.engine.guard.blocked, timeout=15,
                             what="the block to expire")
            answered = False
            for _ in range(10):  # the kernel's element timeout and the controller's both over
                _register(scanner, target, "scan-later")
                answered = _answered(scanner)
                if answered:
                    break
            assert answered
            scanner.close()
