"""The engine fed the AMI stream recorded on the sandbox (`hotline_pbx.py sandbox record-ami
--scenario bridge`): a citizen answered by agent1001 through the ACD, a consult call from
agent1003 to agent1004, then AMI `Bridge` puts the citizen with agent1004. Asterisk's
BridgeEnter then names agent1004's channel with the citizen's linkedid (the oldest channel's);
agent1001 and agent1003, each left alone, hang up; at last the citizen and agent1004.

What a supervisor and the records must see: agent1004's leg is part of the citizen's call
from the bridge on (the live view shows it there, and agent1004 is on that call); the consult
call ends when its last own channel (agent1003) hangs up, as Asterisk's linkedid does, not when
agent1004 hangs up later; one record per call.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

import hotline_config
from acd import events as ev
from acd.acd import OfferCall
from acd.commands import WriteCallRecord
from acd.engine import Engine
from acd.records import Disposition
from hotline_pbx import SANDBOX_CONFIG
from pbx.ami import AmiParser, Event
from pbx.translate import translate

RECORDING = Path(__file__).resolve().parent.parent / "fixtures" / "ami" / "bridge_linkedid.raw"


def _events() -> list[Event]:
    parser = AmiParser()
    parser.receive_data(RECORDING.read_bytes())
    return [m for m in parser.messages() if isinstance(m, Event)]


async def test_a_leg_bridged_into_a_citizens_call_follows_its_linkedid_and_each_call_ends_when_asterisk_says() -> None:
    acd_config = hotline_config.load(SANDBOX_CONFIG, env={}).acd
    seen: list[object] = []
    engine = Engine({OfferCall: seen.append, WriteCallRecord: seen.append}, acd=acd_config)
    runner = asyncio.create_task(engine.run())
    for agent in ("agent1001", "agent1004"):
        await engine.request("login", agent)
        await engine.request("ready", agent)
    await engine.request("pause", "agent1004", "meeting")  # on a consult, not taking calls
    events = _events()
    citizen_id = next(e.get("Linkedid") for e in events if e.name == "Newchannel" and "carrier" in e.get("Channel"))
    consult_id = next(e.get("Linkedid") for e in events if e.name == "Newchannel" and "agent1003" in e.get("Channel"))
    dialed: dict[str, str] = {}
    now = lambda: datetime.now(timezone.utc)  # noqa: E731
    written_after: dict[str, str] = {}  # linkedid -> the event after which its record was written
    moved_seen = False
    for event in events:
        if event.name == "Newchannel" and event.get("Context") == "from-trunk":
            dialed[event.get("Uniqueid")] = event.get("Exten")
        if event.name == "MusicOnHoldStart" and event.get("Uniqueid") in dialed:
            uniqueid = event.get("Uniqueid")
            engine.submit(ev.CallQueued(now(), uniqueid, event.get("Linkedid"), event.get("Channel"),
                                        acd_config.numbers[dialed[uniqueid]]))
        fact = translate(event, now)
        if fact is None:
            continue
        engine.submit(fact)
        await engine.drained()
        for record in (e.record for e in seen if isinstance(e, WriteCallRecord)):
            written_after.setdefault(record.linkedid, f"{event.name} {event.get('Channel')}")
        if event.name == "BridgeEnter" and "agent1004" in event.get("Channel") and event.get("Linkedid") == citizen_id:
            moved_seen = True
            [citizen] = [v for v in engine.snapshot() if v.linkedid == citizen_id]
            assert any(c.startswith("PJSIP/agent1004-") for c in citizen.channels), citizen
            [consult] = [v for v in engine.snapshot() if v.linkedid == consult_id]
            assert not any(c.startswith("PJSIP/agent1004-") for c in consult.channels), consult
            four = engine.acd.agents["agent1004"]
            assert (four.state.value, four.call_id) == ("on_call", citizen_id)
    engine.stop()
    await runner
    assert moved_seen, "the recording holds the move of agent1004's channel"
    records = [e.record for e in seen if isinstance(e, WriteCallRecord)]
    assert sorted(r.linkedid for r in records) == sorted({citizen_id, consult_id})  # one record per call
    assert written_after[consult_id].startswith("Hangup PJSIP/agent1003-")  # its last own channel
    assert written_after[citizen_id].startswith("Hangup PJSIP/carrier-")
    [citizen] = [r for r in records if r.linkedid == citizen_id]
    [consult] = [r for r in records if r.linkedid == consult_id]
    assert citizen.disposition is Disposition.ANSWERED and citizen.agent == "agent1001"
    assert consult.disposition is Disposition.INTERNAL and consult.ended_at < citizen.ended_at
