"""The engine fed the AMI stream recorded on the sandbox (`hotline_pbx.py sandbox record-ami
--scenario threeway`): 1. a citizen answered by agent1001 through the ACD; agent1001 brings 110
in; all three talk; agent1001 hangs up; the citizen and 110 talk on; the citizen hangs up.
2. another citizen answered by agent1001 is sent cold to the market desk and answered there by
agent1003. The recording marks (UserEvent ScenarioMark) where the scene asked the controller
for something; the replay asks its engine the same there.

What the records and the desks must see: one record per citizen's call with every leg in it
(the 110 leg is born in the citizen's call, never a call of its own), the first handed to 110
once agent1001 left, the second handed to the market desk at the place the citizen had;
agent1001 free (wrap-up) as soon as their leg is gone, never while the citizen still talks.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

import pytest

import hotline_config
from acd import events as ev
from acd.acd import OfferCall
from acd.commands import CallEnded, WriteCallRecord
from acd.engine import Engine
from acd.handover import HandoverPlan, Kind, MoveLegs
from hotline_pbx import SANDBOX_CONFIG
from pbx.ami import AmiParser, Event
from pbx.translate import translate

RECORDING = Path(__file__).resolve().parent.parent / "fixtures" / "ami" / "threeway_transfer.raw"


def _events() -> list[Event]:
    parser = AmiParser()
    parser.receive_data(RECORDING.read_bytes())
    return [m for m in parser.messages() if isinstance(m, Event)]


@pytest.mark.parametrize("early", [False, True], ids=["as-recorded", "asked-before-the-bridge-event"])
async def test_a_three_way_with_110_and_a_cold_transfer_leave_one_record_each_with_every_leg(early: bool) -> None:
    """`early`: the agent asks the moment their answer is known (DialEnd), before Asterisk's
    event of the citizen entering the agent's bridge is read (seen on the sandbox: the citizen's
    later leaving of that bridge was taken for their hang-up, and the agent's leaving never
    handed the citizen to 110)."""
    config = hotline_config.load(SANDBOX_CONFIG, env={})
    seen: list[object] = []
    engine = Engine({OfferCall: seen.append, WriteCallRecord: seen.append, MoveLegs: seen.append,
                     CallEnded: seen.append}, acd=config.acd,
                    handover_plan=HandoverPlan(dict(config.dialplan.emergency)))
    runner = asyncio.create_task(engine.run())
    await engine.request("login", "agent1001")
    await engine.request("ready", "agent1001")
    events = _events()
    citizens = [e.get("Linkedid") for e in events if e.name == "Newchannel" and e.get("Context") == "from-trunk"
                and e.get("Exten") == "12345"]
    assert len(citizens) == 2, citizens
    queued: set[str] = set()
    now = lambda: datetime.now(timezone.utc)  # noqa: E731
    place_kept = None
    for event in events:
        uniqueid = event.get("Uniqueid")
        if event.name == "MusicOnHoldStart" and uniqueid in citizens and uniqueid not in queued:
            queued.add(uniqueid)  # the intake's CallQueued (FastAGI, not in the AMI stream)
            engine.submit(ev.CallQueued(now(), uniqueid, uniqueid, event.get("Channel"), "general"))
        if event.name == "UserEvent" and event.get("UserEvent") == "ScenarioMark":
            await engine.drained()
            op, agent, *rest = event.get("Mark").split()
            if op == "threeway" and not early:
                view = await engine.handover("threeway", agent, kind=Kind(rest[0]), target=rest[1])
                assert view["stage"] == "dialing"
            elif op == "threeway":
                pass  # asked already
            elif op == "transfer":
                before = engine._queued[citizens[1]].queued_epoch
                await engine.handover("transfer", agent, kind=Kind(rest[0]), target=rest[1])
                waiting = engine.acd.queue[citizens[1]].call
                place_kept = (waiting.desk, round(engine._queued[citizens[1]].queued_epoch - before, 3))
            else:
                await engine.request("login", agent)
                await engine.request("ready", agent)
            continue
        fact = translate(event, now)
        if fact is None:
            continue
        engine.submit(fact)
        await engine.drained()
        if early and event.name == "DialEnd" and event.get("DialStatus") == "ANSWER" \
                and event.get("Uniqueid") == citizens[0] and engine.handover_of("agent1001") is None:
            await engine.handover("threeway", "agent1001", kind=Kind.EMERGENCY, target="110")
        if event.name == "Hangup" and event.get("Channel", "").startswith("PJSIP/agent1001-") \
                and event.get("Linkedid") == citizens[0]:
            # agent1001 left the three-way: free, while the citizen and 110 talk on
            assert engine.acd.agents["agent1001"].state.value == "wrap_up"
            assert engine.handover_of("agent1001")["stage"] == "handed_over"  # type: ignore[index]
            [live] = [v for v in engine.snapshot() if v.linkedid == citizens[0]]
            assert len(live.channels) == 2 and all(c.startswith("PJSIP/carrier-") for c in live.channels)
    engine.stop()
    await runner
    records = {e.record.linkedid: e.record for e in seen if isinstance(e, WriteCallRecord)}
    assert sorted(records) == sorted(citizens)  # one record per call: the 110 leg made none
    first, second = records[citizens[0]], records[citizens[1]]
    assert (first.disposition.value, first.transferred_to, first.agent) == ("transferred_to_110", "110", "agent1001")
    assert [(leg.role, leg.who) for leg in first.legs] == [("citizen", ""), ("agent", "agent1001"),
                                                           ("emergency", "110")]
    assert all(leg.left_at is not None for leg in first.legs)
    assert place_kept == ("market", 0.0)  # queued again at market, at the moment it first queued
    assert (second.disposition.value, second.transferred_to) == ("transferred_desk", "market")
    assert [leg.who for leg in second.legs if leg.role == "agent"] == ["agent1001", "agent1003"]
    ended = {e.linkedid: e.disposition for e in seen if isinstance(e, CallEnded)}
    assert ended == {citizens[0]: "transferred_to_110", citizens[1]: "transferred_desk"}  # as the records say
    moves = [e for e in seen if isinstance(e, MoveLegs)]
    assert [m.moves[0][1] for m in moves] == ["hotline-conference", "hotline-wait"]
