"""The engine fed the AMI stream recorded on the sandbox (`hotline_pbx.py sandbox record-ami
--scenario persistent-line`): agent1006 logs in on a persistent line to their mobile (a baresip
behind the sandbox's trunk); the mobile answers and keys 1; agent1006 goes ready; a citizen is
put through at once; agent1006 keys * and that citizen's call ends (the line stays); a second
citizen is put through; mid-call the carrier ends the mobile's call with cause 38; the citizen
hears the apology, waits, and agent1002 answers.

What the agent and the citizens must see: the mobile is dialed once for the shift, not per call;
nobody is put through before the agent pressed 1; the line is nobody's call (no record of it);
a line the network drops mid-call never costs the citizen their call.

Asterisk reports the end of a line in any order: the trunk leg's Hangup (with the carrier's
cause) before or after the Local channel's two halves, and the halves carry that cause only
sometimes (16 otherwise). Two more recordings of the same scene, cut after the line's end,
hold the other orders seen on the sandbox; in each the citizen's leg must end with the network's
cause.
"""

from __future__ import annotations

import asyncio
import time
import pytest
from collections.abc import Callable

import hotline_config
from acd import events as ev
from acd.acd import AgentReachable, OfferCall
from acd.commands import WriteCallRecord
from acd.engine import AgentView, Engine
from acd.handover import HangUpLeg
from acd.lines import DialLine, HangUpLine, LineChanged, LineState
from acd.records import Disposition
from hotline_pbx import SANDBOX_CONFIG
from pbx.ami import Event
from pbx.translate import translate
from tests.acd.recordings import event_at, recorded

RECORDING = "persistent_line.raw"
DROPS = ("persistent_line.raw", "persistent_line_drop_trunk_first.raw", "persistent_line_drop_halves_16.raw")
MOBILE = "13900001111"


def agent(engine: Engine, agent_id: str) -> AgentView:
    return next(a for a in engine.agents() if a.agent_id == agent_id)


async def until(test: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not test():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


def renamed(event: Event, recorded_line: str, line: str) -> Event:
    """The recorded line was named by the recording's controller; the replay's engine names its own."""
    return Event(event.name, tuple((k, v.replace(recorded_line, line)) for k, v in event.headers))


async def test_an_agent_on_a_persistent_line_is_dialed_once_and_a_dropped_line_costs_no_citizen() -> None:
    acd_config = hotline_config.load(SANDBOX_CONFIG, env={}).acd
    seen: list[object] = []
    kinds = (OfferCall, WriteCallRecord, DialLine, HangUpLine, HangUpLeg, LineChanged, AgentReachable)
    engine = Engine({kind: seen.append for kind in kinds}, acd=acd_config)
    runner = asyncio.create_task(engine.run())
    await engine.request("login", "agent1002")
    events = recorded(RECORDING)
    recorded_line = next(e.get("Uniqueid") for e in events
                         if e.name == "Newchannel" and e.get("Uniqueid").startswith("hotline-line-"))
    citizens = [e.get("Linkedid") for e in events
                if e.name == "Newchannel" and e.get("Context") == "from-trunk" and e.get("Uniqueid") == e.get("Linkedid")]
    assert len(citizens) == 2
    line = ""
    queued: set[str] = set()
    verdict: asyncio.Task[str] | None = None
    for event in events:
        mark = event.get("Mark") if event.name == "UserEvent" else ""
        if mark == "login agent1006 persistent":
            await engine.request("login", "agent1006", phone=MOBILE, persistent=True)
            [dial] = [e for e in seen if isinstance(e, DialLine)]
            assert (dial.agent_id, dial.phone) == ("agent1006", MOBILE)
            line = dial.uniqueid
            assert (agent(engine, "agent1006").line, agent(engine, "agent1006").reachable) == ("dialing", False)
        elif mark == "ready agent1006":
            await engine.request("ready", "agent1006")
        elif mark == "ready agent1002":
            assert verdict is not None and await verdict == "lost"
            await engine.request("ready", "agent1002")
            assert await engine.requeue_lost(citizens[1]) is True
        if line:
            event = renamed(event, recorded_line, line)
        if event.name == "MusicOnHoldStart" and event.get("Linkedid") not in queued:
            queued.add(event.get("Linkedid"))
            if event.get("Linkedid") == citizens[1]:  # agent1006 wraps the first call up first (2 s)
                await until(lambda: agent(engine, "agent1006").state == "ready", "agent1006 ready again")
            engine.submit(ev.CallQueued(event_at(event), event.get("Uniqueid"), event.get("Linkedid"),
                                        event.get("Channel"), acd_config.numbers["12345"]))
        at = event_at(event)
        fact = translate(event, lambda: at)
        if fact is not None:
            engine.submit(fact)
        await engine.drained()
        if isinstance(fact, ev.BridgeEntered) and fact.uniqueid == line:  # the agent pressed 1
            assert (agent(engine, "agent1006").line, agent(engine, "agent1006").reachable) == ("up", True)
        if isinstance(fact, ev.ChannelHungUp) and fact.uniqueid == line:  # the line's near half
            assert (agent(engine, "agent1006").line, agent(engine, "agent1006").reachable) == ("down", False)
        if isinstance(fact, ev.ChannelHungUp) and fact.linkedid == line and not fact.uniqueid.startswith(line):
            # the last of the line: its trunk leg, ended by the carrier (its cause is the line's)
            one = agent(engine, "agent1006")
            assert (one.state, one.reason, one.line, one.reachable) == ("paused", "connection_lost", "down", False)
            [cut] = [e for e in seen if isinstance(e, HangUpLeg)]
            # the citizen's leg to the conference ends with the network's cause: the apology and
            # the head of the queue, as for any agent's lost connection
            assert cut.call_id == citizens[1] and cut.channel.startswith("Local/agent1006@hotline-seat-join-")
            assert cut.channel.endswith(";1") and cut.cause == 38
            assert [v.linkedid for v in engine.snapshot()] == [citizens[1]]  # the citizen is still there
            verdict = asyncio.create_task(engine.after_agent(citizens[1]))
    engine.stop()
    await runner

    offers = [(o.call_id, o.agent_id, o.device) for o in seen if isinstance(o, OfferCall)]
    joining = "Local/agent1006@hotline-seat-join/n"
    assert offers == [(citizens[0], "agent1006", joining), (citizens[1], "agent1006", joining),
                      (citizens[1], "agent1002", "PJSIP/agent1002")]
    assert len([e for e in seen if isinstance(e, DialLine)]) == 1  # one dial for the shift, none per call
    assert [e for e in seen if isinstance(e, HangUpLine)] == []
    # reachable only from the key press; unreachable from the drop
    assert [(r.agent_id, r.reachable) for r in seen if isinstance(r, AgentReachable)] == [
        ("agent1006", True), ("agent1006", False)]
    assert [(c.agent_id, c.state, c.cause) for c in seen if isinstance(c, LineChanged)] == [
        ("agent1006", LineState.DIALING, None), ("agent1006", LineState.UP, None), ("agent1006", LineState.DOWN, 38)]
    # the line is nobody's call: one record per citizen, none for it
    records = {e.record.linkedid: e.record for e in seen if isinstance(e, WriteCallRecord)}
    assert set(records) == set(citizens)
    first, second = records[citizens[0]], records[citizens[1]]
    assert (first.disposition, first.agent) == (Disposition.ANSWERED, "agent1006")  # ended by the agent's *
    # one leg per person: the far half of the Local channel into the conference is nobody
    assert [(leg.role, leg.who, leg.ended) for leg in first.legs] == [("citizen", "", ""), ("agent", "agent1006", "")]
    assert (second.disposition, second.agent) == (Disposition.ANSWERED, "agent1006")
    assert [(leg.role, leg.who, leg.ended) for leg in second.legs] == [
        ("citizen", "", ""), ("agent", "agent1006", "connection_lost"), ("agent", "agent1002", "")]


@pytest.mark.parametrize("recording", DROPS)
async def test_a_line_the_carrier_drops_mid_call_hands_the_citizen_back_in_whatever_order_asterisk_says_so(
        recording: str) -> None:
    acd_config = hotline_config.load(SANDBOX_CONFIG, env={}).acd
    cut: list[HangUpLeg] = []
    engine = Engine({HangUpLeg: cut.append}, acd=acd_config)
    runner = asyncio.create_task(engine.run())
    events = recorded(recording)
    recorded_line = next(e.get("Uniqueid") for e in events
                         if e.name == "Newchannel" and e.get("Uniqueid").startswith("hotline-line-"))
    line, queued, dropped = "", set(), False
    for event in events:
        mark = event.get("Mark") if event.name == "UserEvent" else ""
        if mark == "login agent1006 persistent":
            await engine.request("login", "agent1006", phone=MOBILE, persistent=True)
            line = engine.acd.agents["agent1006"].line_id
        elif mark == "ready agent1006":
            await engine.request("ready", "agent1006")
        elif mark.startswith("the carrier drops"):
            dropped = True
        elif mark == "ready agent1002":
            break
        if line:
            event = renamed(event, recorded_line, line)
        if event.name == "MusicOnHoldStart" and event.get("Linkedid") not in queued:
            if queued:
                await until(lambda: agent(engine, "agent1006").state == "ready", "agent1006 ready again")
            queued.add(event.get("Linkedid"))
            engine.submit(ev.CallQueued(event_at(event), event.get("Uniqueid"), event.get("Linkedid"),
                                        event.get("Channel"), acd_config.numbers["12345"]))
        at = event_at(event)
        fact = translate(event, lambda: at)
        if fact is not None:
            engine.submit(fact)
        await engine.drained()
        if dropped and not cut:
            # until the last of the line's channels has told its end, the citizen is left alone
            assert agent(engine, "agent1006").state == "on_call"
    engine.stop()
    await runner
    [leg] = cut
    assert leg.channel.startswith("Local/agent1006@hotline-seat-join-") and leg.cause == 38
    one = agent(engine, "agent1006")
    assert (one.state, one.reason, one.line, one.reachable) == ("paused", "connection_lost", "down", False)
