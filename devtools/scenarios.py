"""Scripted call scenarios on the sandbox: the demo, and the AMI recordings the tests replay.

Both drive real baresip phones against the sandbox Asterisk with a real controller running;
the controller is handed in (built by the composition root), so this module never imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from acd.commands import CallArrived, CallEnded
from acd.handover import Kind
from acd.privacy import mask_number
from hotline_config import Config
from devtools import sandbox
from devtools.phones import BaresipPhone, PhoneBank, PhoneSpec
from devtools.recorder import AmiRecorder
from pbx.ami_client import ami_session

# (number, name): simulated citizens; names are Chinese as on real lines
CITIZENS = [
    ("13800138001", "张三"), ("13900139002", "李四"), ("15000150003", "王五"),
    ("18600186004", "赵六"), ("13700137005", "孙七"), ("15800158006", "周八"),
    ("13600136007", "吴九"), ("18900189008", "郑十"),
]

ControllerFactory = Callable[..., Any]


def _with_store(config: Config, url: str) -> Config:
    journal = url.rsplit("/", 1)[0].split(":///", 1)[-1] + "/journal.jsonl"
    return dataclasses.replace(config, store=dataclasses.replace(config.store, url=url, journal=journal))


async def citizen_call(phone: BaresipPhone, hang_up_after: float | None = None,
                       timeout: float = 30.0) -> str:
    """Dial 12345; optionally hang up after some seconds. Returns how the call closed."""
    await phone.dial("12345")
    if hang_up_after is not None:
        await phone.wait_event("CALL_ESTABLISHED", "CALL_CLOSED", timeout=timeout)
        await asyncio.sleep(hang_up_after)
        await phone.hangup()
    closed = await phone.wait_event("CALL_CLOSED", timeout=timeout)
    return str(closed.get("param", ""))


SCENARIOS = ("calls", "ringing-fallback", "bridge", "threeway", "supervise", "atxfer", "reachability",
             "lost-connection", "persistent-line")


@contextlib.asynccontextmanager
async def _recording(controller_factory: ControllerFactory, config: Config,
                     out: Path) -> AsyncIterator[tuple[Any, PhoneBank, AmiRecorder, str]]:
    """A controller on a throw-away store, a phone bank, and an AMI recorder (not yet started)."""
    # calls of earlier runs left in Asterisk's journal would be booked as lost calls and called
    # back in the middle of the scene
    sandbox.cli(sandbox.SandboxPaths(), "database deltree hotline-journal")
    with tempfile.TemporaryDirectory(prefix="hotline-rec-") as tmp:
        controller = controller_factory(_with_store(config, f"sqlite+aiosqlite:///{tmp}/rec.db"))
        await controller.start()
        recorder = AmiRecorder(config.asterisk.ami_host, config.asterisk.ami_port,
                               config.asterisk.ami_user, config.asterisk.ami_secret(), out)
        bank = PhoneBank(Path(tmp) / "phones")
        try:
            yield controller, bank, recorder, sandbox.sip_secret(sandbox.SandboxPaths())
        finally:
            await recorder.stop()
            await bank.close()
            await controller.stop()


async def record_ami(controller_factory: ControllerFactory, config: Config, out: Path,
                     scenario: str = "calls") -> None:
    """Record what the controller receives for a scenario: `calls` — a greeting heard to the
    end, a caller hanging up during the greeting, and a bridged call between two seats;
    `ringing-fallback` — a caller hanging up while the agent's phone rings, then a caller
    handed to the static app_queue while the controller lives (its heartbeat made stale) and
    answered there by a member."""
    if scenario == "ringing-fallback":
        await _record_ringing_fallback(controller_factory, config, out)
        return
    if scenario == "bridge":
        await _record_bridge(controller_factory, config, out)
        return
    if scenario == "threeway":
        await _record_threeway(controller_factory, config, out)
        return
    if scenario == "supervise":
        await _record_supervise(controller_factory, config, out)
        return
    if scenario == "atxfer":
        await _record_attended_transfer(controller_factory, config, out)
        return
    if scenario == "reachability":
        await _record_reachability(controller_factory, config, out)
        return
    if scenario == "lost-connection":
        await _record_lost_connection(controller_factory, config, out)
        return
    if scenario == "persistent-line":
        await _record_persistent_line(controller_factory, config, out)
        return
    async with _recording(controller_factory, config, out) as (_, bank, recorder, password):
        seat_a = await bank.add(PhoneSpec("agent1001", "agent1001", password=password))
        await bank.add(PhoneSpec("agent1002", "agent1002", password=password, auto_answer=True))
        citizen = await bank.add(PhoneSpec("citizen-1", CITIZENS[0][0], CITIZENS[0][1]))
        anonymous = await bank.add(PhoneSpec("citizen-2", CITIZENS[1][0], CITIZENS[1][1]))
        await recorder.start()
        await citizen_call(citizen)  # hears the whole greeting; the controller hangs up
        await citizen_call(anonymous, hang_up_after=0.5)  # gives up during the greeting
        await seat_a.dial("1002")
        await seat_a.wait_event("CALL_ESTABLISHED", timeout=10)
        await asyncio.sleep(1.5)  # the recording's seats talk a moment (a scene, not a test)
        await seat_a.hangup()
        await seat_a.wait_event("CALL_CLOSED", timeout=10)
        await asyncio.sleep(0.5)


async def _record_ringing_fallback(controller_factory: ControllerFactory, config: Config, out: Path) -> None:
    paths = sandbox.SandboxPaths()
    async with _recording(controller_factory, config, out) as (controller, bank, recorder, password):
        ringing = await bank.add(PhoneSpec("agent1003", "agent1003", password=password))  # lets it ring
        member = await bank.add(PhoneSpec("agent1002", "agent1002", password=password, auto_answer=True))
        first = await bank.add(PhoneSpec("citizen-1", CITIZENS[2][0], CITIZENS[2][1]))
        second = await bank.add(PhoneSpec("citizen-2", CITIZENS[3][0], CITIZENS[3][1]))
        await controller.ami.client.wait_connected(10)
        for phone in (first, second):  # no callback rings agent1003 between the two scenes
            await controller.engine.do_not_call(phone.spec.user)
        await controller.engine.request("login", "agent1003")
        await controller.engine.request("ready", "agent1003")
        await recorder.start()
        try:
            # 1. the caller gives up while agent1003's phone rings (12315: the market desk)
            await first.dial("12315")
            await ringing.wait_event("CALL_INCOMING", timeout=30)
            await first.hangup()
            await ringing.wait_event("CALL_CLOSED", timeout=10)
            await controller.engine.request("logout", "agent1003")
            # 2. the heartbeat looks stale to the wait loop: the caller falls back to app_queue
            sandbox.cli(paths, "dialplan set global HOTLINE_STALE_AFTER -100000")
            await second.dial("12345")
            await member.wait_event("CALL_ESTABLISHED", timeout=40)
            await second.hangup()
            await second.wait_event("CALL_CLOSED", timeout=10)
        finally:
            sandbox.cli(paths, "dialplan set global HOTLINE_STALE_AFTER 3")


async def _mark(controller: Any, mark: str) -> None:
    """A UserEvent in the recording where the scene asked the controller for something (the
    replay asks its engine the same there): ScenarioMark, Mark: <request>. Sent as the lab's AMI
    user: the controller's own may not raise UserEvents (asterisk-conf/manager.conf)."""
    ami = controller.config.asterisk
    async with ami_session(ami.ami_host, ami.ami_port, sandbox.LAB_AMI_USER, ami.ami_secret(), purpose="mark") as lab:
        await lab.send_action("UserEvent", {"UserEvent": "ScenarioMark", "Mark": mark})


async def _until_stage(controller: Any, agent_id: str, stage: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while (controller.engine.handover_of(agent_id) or {}).get("stage") != stage:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{agent_id}'s handover never reached {stage}")
        await asyncio.sleep(0.05)


async def _record_threeway(controller_factory: ControllerFactory, config: Config, out: Path) -> None:
    """1. A citizen answered by agent1001 through the ACD; agent1001 brings 110 in (the phone
    behind the sandbox's trunk answers as 110); all three talk; agent1001 hangs up; the citizen
    and 110 talk on; the citizen hangs up. 2. Another citizen answered by agent1001 is sent cold
    to the market desk and answered there by agent1003."""
    config = dataclasses.replace(config, acd=dataclasses.replace(config.acd, threeway_ring_timeout=10))
    async with _recording(controller_factory, config, out) as (controller, bank, recorder, password):
        agent = await bank.add(PhoneSpec("agent1001", "agent1001", password=password, auto_answer=True))
        market = await bank.add(PhoneSpec("agent1003", "agent1003", password=password, auto_answer=True))
        operator = await bank.add(PhoneSpec("operator-110", "110", auto_answer=True))
        sandbox.carrier_put(sandbox.SandboxPaths(), "110", operator.spec.sip_port)
        first = await bank.add(PhoneSpec("citizen-1", CITIZENS[5][0], CITIZENS[5][1]))
        second = await bank.add(PhoneSpec("citizen-2", CITIZENS[6][0], CITIZENS[6][1]))
        await controller.ami.client.wait_connected(10)
        for phone in (first, second):
            await controller.engine.do_not_call(phone.spec.user)
        await controller.engine.request("login", "agent1001")
        await controller.engine.request("ready", "agent1001")
        await recorder.start()
        await first.dial("12345")
        await agent.wait_event("CALL_ESTABLISHED", timeout=40)
        await asyncio.sleep(1.0)
        await _mark(controller, "threeway agent1001 emergency 110")
        await controller.engine.handover("threeway", "agent1001", target="110")
        await operator.wait_event("CALL_ESTABLISHED", timeout=20)
        await _until_stage(controller, "agent1001", "joined")
        await asyncio.sleep(1.5)  # the three talk
        await agent.hangup()
        await _until_stage(controller, "agent1001", "handed_over")
        await asyncio.sleep(1.5)  # the citizen and 110 talk on
        await first.hangup()
        await operator.wait_event("CALL_CLOSED", timeout=10)
        while controller.engine.snapshot():
            await asyncio.sleep(0.05)
        await controller.engine.request("ready", "agent1001")
        await second.dial("12345")
        await agent.wait_event("CALL_ESTABLISHED", timeout=40)
        await asyncio.sleep(1.0)
        await _mark(controller, "transfer agent1001 desk market")
        await controller.engine.handover("transfer", "agent1001", kind=Kind.DESK, target="market")
        await agent.wait_event("CALL_CLOSED", timeout=10)
        await _mark(controller, "ready agent1003")
        await controller.engine.request("login", "agent1003")
        await controller.engine.request("ready", "agent1003")
        await market.wait_event("CALL_ESTABLISHED", timeout=20)
        await asyncio.sleep(1.0)
        await second.hangup()
        await market.wait_event("CALL_CLOSED", timeout=10)
        await asyncio.sleep(0.5)
        sandbox.carrier_forget(sandbox.SandboxPaths(), "110")


async def _channel_of(controller: Any, predicate: Callable[[str], bool], timeout: float = 10.0) -> str:
    """The name of a live channel the engine knows, as soon as it knows it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for view in controller.engine.snapshot():
            for name in view.channels:
                if predicate(name):
                    return str(name)
        await asyncio.sleep(0.05)
    raise TimeoutError("no such channel")


async def _record_bridge(controller_factory: ControllerFactory, config: Config, out: Path) -> None:
    """A citizen answered by agent1001 through the ACD; agent1003 calls agent1004 (a consult);
    then AMI `Bridge` puts the citizen with agent1004 (the controller's way to hand a caller
    over): Asterisk moves agent1004's channel to the citizen's linkedid, agent1001 and agent1003
    are left alone and hang up; at last the citizen hangs up."""
    async with _recording(controller_factory, config, out) as (controller, bank, recorder, password):
        first = await bank.add(PhoneSpec("agent1001", "agent1001", password=password, auto_answer=True))
        consulting = await bank.add(PhoneSpec("agent1003", "agent1003", password=password))
        await bank.add(PhoneSpec("agent1004", "agent1004", password=password, auto_answer=True))
        citizen = await bank.add(PhoneSpec("citizen-1", CITIZENS[4][0], CITIZENS[4][1]))
        await controller.ami.client.wait_connected(10)
        await controller.engine.do_not_call(citizen.spec.user)
        await controller.engine.request("login", "agent1001")
        await controller.engine.request("ready", "agent1001")
        await recorder.start()
        await citizen.dial("12345")
        await first.wait_event("CALL_ESTABLISHED", timeout=40)
        await consulting.dial("1004")
        await consulting.wait_event("CALL_ESTABLISHED", timeout=15)
        caller = await _channel_of(controller, lambda name: "carrier" in name)
        consulted = await _channel_of(controller, lambda name: name.startswith("PJSIP/agent1004-"))
        await asyncio.sleep(1.0)  # the scene: both calls talk a moment
        await controller.ami.client.send_action("Bridge", {"Channel1": caller, "Channel2": consulted,
                                                           "Tone": "no"}, timeout=10)
        await first.wait_event("CALL_CLOSED", timeout=15)
        await consulting.wait_event("CALL_CLOSED", timeout=15)
        await asyncio.sleep(1.5)  # the citizen talks to agent1004 a moment
        await citizen.hangup()
        await citizen.wait_event("CALL_CLOSED", timeout=10)
        await asyncio.sleep(0.5)


async def replaces_header(ami: Any, channel: str) -> str:
    """The Replaces header naming the SIP dialog of one of Asterisk's PJSIP channels, as the
    phone at its other end would put it in an attended transfer's Refer-To (to-tag: Asterisk's
    tag, from-tag: the phone's). `ami` is a connected AMI client."""
    async def var(name: str) -> str:
        reply = await ami.send_action("Getvar", {"Channel": channel, "Variable": f"CHANNEL(pjsip,{name})"},
                                      timeout=5)
        return str(reply.get("Value"))
    return f"{await var('call-id')};to-tag={await var('local_tag')};from-tag={await var('remote_tag')}"


async def _record_attended_transfer(controller_factory: ControllerFactory, config: Config, out: Path) -> None:
    """A softphone's own attended transfer (SIP REFER with Replaces), on a sandbox seat let to
    transfer for this scene only: a citizen answered by agent1001 through the ACD; agent1001
    holds them and calls seat 1004 (a consult, a call of its own); agent1001's phone then
    refers the citizen's call to the consult's dialog. Asterisk bridges the citizen with
    agent1004 and moves agent1004's channel to the citizen's linkedid; agent1001's two
    channels hang up; the citizen and agent1004 talk, then the citizen hangs up."""
    paths = sandbox.SandboxPaths()
    sandbox.lab_seat(paths, "agent1001", endpoint={"allow_transfer": "yes"})
    try:
        async with _recording(controller_factory, config, out) as (controller, bank, recorder, password):
            first = await bank.add(PhoneSpec("agent1001", "agent1001", password=password, auto_answer=True))
            target = await bank.add(PhoneSpec("agent1004", "agent1004", password=password, auto_answer=True))
            citizen = await bank.add(PhoneSpec("citizen-1", CITIZENS[7][0], CITIZENS[7][1]))
            await controller.ami.client.wait_connected(10)
            await controller.engine.do_not_call(citizen.spec.user)
            await controller.engine.request("login", "agent1001")
            await controller.engine.request("ready", "agent1001")
            await recorder.start()
            await citizen.dial("12345")
            await first.wait_event("CALL_ESTABLISHED", timeout=40)
            held = await _channel_of(controller, lambda name: name.startswith("PJSIP/agent1001-"))
            await asyncio.sleep(1.0)  # the scene: they talk a moment
            await first.command("hold")
            await first.dial("1004")
            await target.wait_event("CALL_ESTABLISHED", timeout=15)
            consult = await _channel_of(controller, lambda name: name.startswith("PJSIP/agent1001-")
                                        and name != held)
            await asyncio.sleep(1.0)  # the consult
            replaces = await replaces_header(controller.ami.client, consult)
            await _mark(controller, "attended transfer agent1001 to agent1004")
            await first.transfer_attended(1, "1004", replaces)  # line 1: the citizen's call
            await first.wait_event("CALL_CLOSED", timeout=15)
            await asyncio.sleep(1.5)  # the citizen talks to agent1004 a moment
            await citizen.hangup()
            await target.wait_event("CALL_CLOSED", timeout=10)
            await asyncio.sleep(0.5)
    finally:
        sandbox.lab_seat(paths, None)


async def _until_reachable(controller: Any, agent_id: str, reachable: bool, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while next(a.reachable for a in controller.engine.agents() if a.agent_id == agent_id) != reachable:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{agent_id}'s phone never became {'reachable' if reachable else 'unreachable'}")
        await asyncio.sleep(0.05)


async def _record_reachability(controller_factory: ControllerFactory, config: Config, out: Path) -> None:
    """A home seat's phone that vanishes and comes back (agent1001, qualified every 2 s for the
    scene): it registers (ContactStatus Created, then Reachable) and its agent goes ready; the
    phone freezes (no answer to qualify: Unreachable); a citizen calls 12345 and waits; the
    phone thaws (Reachable) and is offered the citizen, answers, and they talk; the citizen
    hangs up; the phone quits (it unregisters: Removed)."""
    paths = sandbox.SandboxPaths()
    sandbox.lab_seat(paths, "agent1001", aor={"qualify_frequency": "2", "qualify_timeout": "1"})
    try:
        async with _recording(controller_factory, config, out) as (controller, bank, recorder, password):
            citizen = await bank.add(PhoneSpec("citizen-1", CITIZENS[1][0], CITIZENS[1][1]))
            await controller.ami.client.wait_connected(10)
            await controller.engine.do_not_call(citizen.spec.user)
            await recorder.start()
            await _mark(controller, "agent1001's phone starts")
            home = await bank.add(PhoneSpec("agent1001", "agent1001", password=password, auto_answer=True))
            await _until_reachable(controller, "agent1001", True)
            await _mark(controller, "ready agent1001")
            await controller.engine.request("login", "agent1001")
            await controller.engine.request("ready", "agent1001")
            home.freeze()
            await _until_reachable(controller, "agent1001", False)
            await citizen.dial("12345")
            await _channel_of(controller, lambda name: name.startswith("PJSIP/carrier-"))
            await asyncio.sleep(_greeting_seconds() + 2.0)  # the citizen waits; nobody is rung
            home.thaw()
            await home.wait_event("CALL_ESTABLISHED", timeout=30)
            await asyncio.sleep(1.0)
            await citizen.hangup()
            await home.wait_event("CALL_CLOSED", timeout=10)
            await _mark(controller, "agent1001's phone quits")
            await bank.close()
            await _until_reachable(controller, "agent1001", False)
            await asyncio.sleep(0.5)
    finally:
        sandbox.lab_seat(paths, None)


async def _record_lost_connection(controller_factory: ControllerFactory, config: Config, out: Path) -> None:
    """A home seat whose network goes mid-call: a citizen answered by agent1001 through the ACD;
    agent1001's phone freezes (no more audio: Asterisk's rtp_timeout hangs its leg up, cause
    44); the citizen hears the apology and waits at the head of the queue; agent1002 goes ready
    and answers; they talk; the citizen hangs up."""
    async with _recording(controller_factory, config, out) as (controller, bank, recorder, password):
        home = await bank.add(PhoneSpec("agent1001", "agent1001", password=password, auto_answer=True))
        hall = await bank.add(PhoneSpec("agent1002", "agent1002", password=password, auto_answer=True))
        citizen = await bank.add(PhoneSpec("citizen-1", CITIZENS[3][0], CITIZENS[3][1]))
        await controller.ami.client.wait_connected(10)
        await controller.engine.do_not_call(citizen.spec.user)
        await controller.engine.request("login", "agent1001")
        await controller.engine.request("ready", "agent1001")
        await controller.engine.request("login", "agent1002")
        await recorder.start()
        await citizen.dial("12345")
        await home.wait_event("CALL_ESTABLISHED", timeout=40)
        await asyncio.sleep(1.0)
        await _mark(controller, "agent1001's network goes")
        home.freeze()
        deadline = time.monotonic() + 30
        while next(a.reason for a in controller.engine.agents() if a.agent_id == "agent1001") != "connection_lost":
            if time.monotonic() > deadline:
                raise TimeoutError("agent1001's lost connection was never noticed")
            await asyncio.sleep(0.05)
        await asyncio.sleep(4.0)  # the apology
        await _mark(controller, "ready agent1002")
        await controller.engine.request("ready", "agent1002")
        await hall.wait_event("CALL_ESTABLISHED", timeout=30)
        await asyncio.sleep(1.0)
        await citizen.hangup()
        await hall.wait_event("CALL_CLOSED", timeout=10)
        await asyncio.sleep(0.5)


MOBILE = "13900001111"  # agent1006's own mobile, behind the sandbox's trunk


async def _until_agent(controller: Any, agent_id: str, what: str, test: Callable[[Any], bool],
                       timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not test(next(a for a in controller.engine.agents() if a.agent_id == agent_id)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{agent_id} never {what}")
        await asyncio.sleep(0.05)


async def carrier_drops(controller: Any, agent_id: str, cause: int) -> None:
    """The carrier ends an agent's persistent line with a Q.850 cause (as its BYE's Reason
    header would): an AMI Hangup of the trunk leg the line dialed, as the lab's AMI user."""
    line = controller.engine.acd.agents[agent_id].line_id
    ami = controller.config.asterisk
    async with ami_session(ami.ami_host, ami.ami_port, sandbox.LAB_AMI_USER, ami.ami_secret(),
                           purpose="carrier") as lab:
        _, channels = await lab.send_list_action("CoreShowChannels")
        [trunk] = [c.get("Channel") for c in channels
                   if c.get("Linkedid") == line and str(c.get("Channel", "")).startswith("PJSIP/")]
        await lab.send_action("Hangup", {"Channel": trunk, "Cause": str(cause)})


async def _record_persistent_line(controller_factory: ControllerFactory, config: Config, out: Path) -> None:
    """agent1006 on a persistent line to their mobile (a baresip behind the sandbox's trunk):
    login dials the mobile, which answers and keys 1; the agent goes ready; a citizen calls
    12345 and is put through at once; they talk; the agent keys * (the citizen's call ends, the
    citizen hangs up in the survey); a second citizen is put through; mid-call the carrier ends
    the mobile's call with cause 38 (network out of order: an AMI Hangup with that cause, as a
    carrier's BYE with a Q.850 reason does); the second citizen hears the apology and waits;
    agent1002 goes ready and answers; the citizen hangs up."""
    paths = sandbox.SandboxPaths()
    async with _recording(controller_factory, config, out) as (controller, bank, recorder, password):
        mobile = await bank.add(PhoneSpec("mobile", MOBILE))
        sandbox.carrier_put(paths, MOBILE, mobile.spec.sip_port)
        try:
            hall = await bank.add(PhoneSpec("agent1002", "agent1002", password=password, auto_answer=True))
            first = await bank.add(PhoneSpec("citizen-1", CITIZENS[6][0], CITIZENS[6][1]))
            second = await bank.add(PhoneSpec("citizen-2", CITIZENS[7][0], CITIZENS[7][1]))
            await controller.ami.client.wait_connected(10)
            for citizen in (first, second):
                await controller.engine.do_not_call(citizen.spec.user)
            await controller.engine.request("login", "agent1002")
            await recorder.start()
            await _mark(controller, "login agent1006 persistent")
            await controller.engine.request("login", "agent1006", phone=MOBILE, persistent=True)
            await mobile.wait_event("CALL_INCOMING", timeout=20)
            await mobile.answer()
            await mobile.wait_event("CALL_ESTABLISHED", timeout=10)
            await asyncio.sleep(1.0)  # the prompt begins
            await mobile.send_dtmf("1")
            await _until_agent(controller, "agent1006", "had a line", lambda a: a.line == "up")
            await _mark(controller, "ready agent1006")
            await controller.engine.request("ready", "agent1006")
            await first.dial("12345")
            await _until_agent(controller, "agent1006", "took the first citizen", lambda a: a.state == "on_call", 40)
            await asyncio.sleep(1.5)  # they talk
            await mobile.send_dtmf("*")  # the agent ends the citizen's call; the line stays
            await _until_agent(controller, "agent1006", "ended the call", lambda a: a.state == "wrap_up")
            await asyncio.sleep(1.0)  # the survey's question
            await first.hangup()
            await first.wait_event("CALL_CLOSED", timeout=10)
            await _until_agent(controller, "agent1006", "was ready again", lambda a: a.state == "ready", 30)
            await second.dial("12345")
            await _until_agent(controller, "agent1006", "took the second citizen", lambda a: a.state == "on_call", 40)
            await asyncio.sleep(1.5)
            await _mark(controller, "the carrier drops agent1006's mobile")
            await carrier_drops(controller, "agent1006", 38)
            await _until_agent(controller, "agent1006", "lost the line", lambda a: a.line == "down")
            await asyncio.sleep(4.0)  # the apology
            await _mark(controller, "ready agent1002")
            await controller.engine.request("ready", "agent1002")
            await hall.wait_event("CALL_ESTABLISHED", timeout=30)
            await asyncio.sleep(1.0)
            await second.hangup()
            await hall.wait_event("CALL_CLOSED", timeout=10)
            await asyncio.sleep(0.5)
        finally:
            sandbox.carrier_forget(paths, MOBILE)


async def _record_supervise(controller_factory: ControllerFactory, config: Config, out: Path) -> None:
    """A citizen answered by agent1001 through the ACD; supervisor super2001 monitors the call
    from the API (listen: the controller originates the supervisor's phone into [hotline-spy],
    ChanSpy on agent1001's channel), keys 5 (whisper) then 6 (barge) on the phone, hangs up;
    then the citizen hangs up."""
    async with _recording(controller_factory, config, out) as (controller, bank, recorder, password):
        first = await bank.add(PhoneSpec("agent1001", "agent1001", password=password, auto_answer=True))
        boss = await bank.add(PhoneSpec("super2001", "super2001", password=password, auto_answer=True))
        citizen = await bank.add(PhoneSpec("citizen-1", CITIZENS[5][0], CITIZENS[5][1]))
        await controller.ami.client.wait_connected(10)
        await controller.engine.do_not_call(citizen.spec.user)
        await controller.engine.request("login", "agent1001")
        await controller.engine.request("ready", "agent1001")
        await recorder.start()
        await citizen.dial("12345")
        await first.wait_event("CALL_ESTABLISHED", timeout=40)
        await _channel_of(controller, lambda name: name.startswith("PJSIP/agent1001-"))
        await asyncio.sleep(0.5)
        await controller.engine.supervise("monitor", agent="agent1001", mode="listen", supervisor="super2001")
        await boss.wait_event("CALL_ESTABLISHED", timeout=15)
        deadline = time.monotonic() + 10
        while not any(s.started_at for s in controller.engine.supervision.live.values()):
            if time.monotonic() > deadline:
                raise TimeoutError("no ChanSpyStart")
            await asyncio.sleep(0.05)
        for digit in "56":
            await asyncio.sleep(1.0)  # the scene: a moment in each mode
            await boss.send_dtmf(digit)
        await asyncio.sleep(1.0)
        await boss.hangup()
        await boss.wait_event("CALL_CLOSED", timeout=10)
        await asyncio.sleep(0.5)
        await citizen.hangup()
        await citizen.wait_event("CALL_CLOSED", timeout=10)
        await asyncio.sleep(0.5)


def _greeting_seconds() -> float:
    """How long the sandbox's greeting plays (the generated prompt), so citizens wait it out."""
    import wave

    path = sandbox.SandboxPaths().sounds / "hotline" / "greeting.wav"
    try:
        with wave.open(str(path)) as w:
            return w.getnframes() / w.getframerate()
    except (OSError, EOFError, wave.Error):
        return 8.0


async def _page_accounts(controller: Any, config: Config) -> tuple[tuple[str, str], tuple[str, str]]:
    """A supervisor's and the first agent's page accounts, with fresh passwords each run
    (printed: the demo is for looking at)."""
    import secrets

    from tickets.users import UserStore
    from web.login import hash_password

    users = UserStore(controller.store.engine)
    accounts = (("demo-supervisor", "supervisor", "值班长"), (config.acd.agents[0].agent_id, "agent",
                                                            config.acd.agents[0].name))
    made = []
    for name, role, display in accounts:
        password = secrets.token_urlsafe(12)
        if await users.get(name) is None:
            await users.add(name, role, hash_password(password), display, time.time())
        else:
            await users.set_password(name, hash_password(password), time.time())
        made.append((name, password))
    return made[0], made[1]


async def demo(controller_factory: ControllerFactory, config: Config, *, calls: int,
               citizens: int, screenshots: Path | None = None) -> None:
    """Auto-answering agents of several desks log in; citizens call 12345, 12315 and the
    enterprise line, overlapping; the ACD routes each call to a skilled agent, and every call
    ends as a record, listed at the end with the desks' live figures."""
    desks = {d.name: d.label for d in config.acd.desks}
    numbers = sorted(config.acd.numbers) or ["12345"]

    def show(effect: object) -> None:
        from acd.acd import AgentChanged, CallAnswered

        if isinstance(effect, CallArrived):
            _say(f"controller: call {effect.linkedid} from {mask_number(effect.caller_number)} "
                 f"to {effect.dialed_number}")
        elif isinstance(effect, CallEnded):
            _say(f"controller: call {effect.linkedid} ended ({effect.disposition}); record queued")
        elif isinstance(effect, CallAnswered):
            _say(f"ACD: {effect.agent_id} answered a {desks.get(effect.desk, effect.desk)} call "
                 f"after {effect.waited:.1f}s in queue")
        elif isinstance(effect, AgentChanged) and effect.state.value in ("offered", "wrap_up", "paused"):
            _say(f"ACD: {effect.agent_id} {effect.state.value} {effect.reason}".rstrip())

    controller = controller_factory(config, notify=show)
    await controller.start()
    pictures = None
    if config.http.port:
        supervisor, agent = await _page_accounts(controller, config)
        url = f"http://127.0.0.1:{config.http.port}"
        _say(f"demo: the pages: {url}/login as {supervisor[0]} / {supervisor[1]} (wallboard, console) "
             f"or {agent[0]} / {agent[1]} (the desk)")
        if screenshots is not None:
            from devtools.screenshots import take

            busy = lambda: any(a.state == "on_call" for a in controller.engine.agents())  # noqa: E731
            pictures = asyncio.create_task(take(url, screenshots, supervisor, agent, busy, _say))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hotline-demo-") as tmp:
        bank = PhoneBank(Path(tmp) / "phones")
        try:
            password = sandbox.sip_secret(sandbox.SandboxPaths())
            for agent in config.acd.agents:
                await bank.add(PhoneSpec(agent.agent_id, agent.agent_id, password=password, auto_answer=True))
                # a demo run before may have left the seat logged in (sessions survive a restart)
                state = {a.agent_id: a.state for a in controller.engine.agents()}[agent.agent_id]
                if state == "logged_out":
                    await controller.engine.request("login", agent.agent_id)
                if state != "ready":
                    await controller.engine.request("ready", agent.agent_id)
                skills = ", ".join(f"{k} {v}" for k, v in agent.skills.items())
                _say(f"agent {agent.name} ({agent.agent_id}: {skills}) logged in, auto-answering")
            # citizens answer callbacks; the sandbox's carrier directory tells Asterisk where they are
            phones = [await bank.add(PhoneSpec(f"citizen-{i + 1}", number, name, auto_answer=True))
                      for i, (number, name) in enumerate(CITIZENS[:max(1, citizens)])]
            for phone in phones:
                sandbox.cli(sandbox.SandboxPaths(), f"database put sandbox-carrier {phone.spec.user} "
                                                    f"127.0.0.1:{phone.spec.sip_port}")
            greeting = _greeting_seconds()
            _say(f"demo: {len(phones)} citizen phones (baresip) ready; placing {calls} calls")
            rng = random.Random(12345)
            queue: asyncio.Queue[int] = asyncio.Queue()
            for n in range(calls):
                queue.put_nowait(n)

            async def citizen_loop(phone: BaresipPhone) -> None:
                while not queue.empty():
                    n = queue.get_nowait()
                    number = numbers[n % len(numbers)]
                    gives_up = rng.random() < 0.15
                    talk = rng.uniform(1.5, 4.0)
                    _say(f"citizen {phone.spec.display_name} ({mask_number(phone.spec.user)}) dials "
                         f"{number} (call {n + 1}/{calls}{', will give up early' if gives_up else ''})")
                    try:
                        await phone.dial(number)
                        await phone.wait_event("CALL_ESTABLISHED", timeout=20)
                        await asyncio.sleep(0.8 if gives_up else greeting + talk + 1.5)  # greeting, then talk
                        await phone.hangup()
                        await phone.wait_event("CALL_CLOSED", timeout=10)
                    except (asyncio.TimeoutError, Exception) as exc:
                        _say(f"citizen {phone.spec.display_name}: {type(exc).__name__} {exc}")
                    await asyncio.sleep(rng.uniform(0.2, 1.0))

            await asyncio.gather(*(citizen_loop(p) for p in phones))
            if pictures is not None:
                await pictures  # its errors end the demo: a screenshot asked for and not made is a failure
            await asyncio.sleep(1.0)
        finally:
            await bank.close()
            await controller.engine.drained()
            await controller.writer.flush()
            figures = controller.engine.desk_figures()
            records = await controller.store.recent(calls + 5)
            await controller.stop()
    _say(f"demo: {calls} calls in {time.monotonic() - started:.1f}s; newest call records in "
         f"{config.store.url}:")
    for r in records[:calls]:
        answered = r.answered_at.strftime("%H:%M:%S") if r.answered_at else "--:--:--"
        _say(f"  {r.linkedid:28} {mask_number(r.caller_number):>12} → {r.dialed_number:6} "
             f"arrived {r.arrived_at:%H:%M:%S} answered {answered} ended {r.ended_at:%H:%M:%S} "
             f"{r.disposition.value:9} cause {r.hangup_cause} {r.hangup_cause_text}")
    _say("desk figures:")
    for desk, f in figures.items():
        if not f["answered"] and not f["abandoned"]:
            _say(f"  {desks.get(desk, desk)}: no calls")
            continue
        pct, asa = f["service_level_pct"], f["average_speed_of_answer"]  # of offered calls, from arrival
        _say(f"  {desks.get(desk, desk)}: answered {f['answered']}, abandoned {f['abandoned']}, "
             f"within 15 s {'-' if pct is None else f'{pct}%'}, average speed of answer "
             f"{'-' if asa is None else f'{asa}s'}")


def _say(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stdout, flush=True)
