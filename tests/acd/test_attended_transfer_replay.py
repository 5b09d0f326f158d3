"""The engine fed the AMI stream recorded on the sandbox (`hotline_pbx.py sandbox record-ami
--scenario atxfer`): a citizen answered by agent1001 through the ACD; agent1001's softphone
holds them and calls seat 1004 (a consult: a call with a linkedid of its own), then transfers
the citizen to that consult by SIP REFER with Replaces (an attended transfer; the sandbox lets
agent1001's phone transfer for this scene only, real seats may not). Asterisk puts the citizen
into the consult's bridge in place of agent1001's second channel (BridgeEnter with
SwapUniqueid): agent1004's channel takes the citizen's linkedid there and then, and no event
says so until agent1004's own BridgeLeave at the end. agent1001's two channels hang up; the
citizen and agent1004 talk; the citizen hangs up.

What a supervisor and the records must see: from the transfer on, agent1004 is on the
citizen's call (the live view shows the leg there, the agent is on that call); the consult
ends when agent1001's consult channel hangs up — its last own channel, as Asterisk's linkedid
ends then — not when agent1004 hangs up later; the citizen's call ends when the citizen hangs
up; one record per call, with every leg.
"""

from __future__ import annotations

import asyncio

import pytest

import hotline_config
from acd import events as ev
from acd.acd import OfferCall
from acd.commands import WriteCallRecord
from acd.engine import Engine
from acd.records import CallRecord, Disposition
from hotline_pbx import SANDBOX_CONFIG
from pbx.ami import Event
from pbx.translate import translate
from tests.acd.recordings import event_at, recorded

RECORDING = "attended_transfer.raw"


def _swap_leave_after_enter(events: list[Event]) -> list[Event]:
    """The same stream with the swapped-out channel's BridgeLeave read after the citizen's
    BridgeEnter that replaced it (both are published as one move; their order is Asterisk's
    threads' to choose)."""
    enter = next(i for i, e in enumerate(events) if e.name == "BridgeEnter" and e.get("SwapUniqueid"))
    swapped = events[enter].get("SwapUniqueid")
    leave = next(i for i, e in enumerate(events) if e.name == "BridgeLeave" and e.get("Uniqueid") == swapped)
    assert leave < enter, "as recorded, the swapped channel leaves first"
    reordered = events[:leave] + events[leave + 1:enter + 1] + [events[leave]] + events[enter + 1:]
    assert len(reordered) == len(events)
    return reordered


async def _replay(events: list[Event]) -> tuple[list[CallRecord], dict[str, str], list[str]]:
    """Feed the stream to an engine with agent1001 ready and agent1004 logged in (paused: it
    takes the consult on its own phone). Returns the records, the event after which each was
    written, and what the checks at the transfer found wrong."""
    acd_config = hotline_config.load(SANDBOX_CONFIG, env={}).acd
    seen: list[object] = []
    engine = Engine({OfferCall: seen.append, WriteCallRecord: seen.append}, acd=acd_config)
    runner = asyncio.create_task(engine.run())
    for agent in ("agent1001", "agent1004"):
        await engine.request("login", agent)
        await engine.request("ready", agent)
    await engine.request("pause", "agent1004", "meeting")
    citizen_id = next(e.get("Linkedid") for e in events if e.name == "Newchannel" and "carrier" in e.get("Channel"))
    dialed: dict[str, str] = {}
    written_after: dict[str, str] = {}
    problems: list[str] = []
    checked = False
    for event in (e for e in events if e.get("Timestamp")):  # FullyBooted has none
        if event.name == "Newchannel" and event.get("Context") == "from-trunk":
            dialed[event.get("Uniqueid")] = event.get("Exten")
        uniqueid = event.get("Uniqueid")
        if event.name == "MusicOnHoldStart" and dialed.pop(uniqueid, None):  # the wait's music, not the hold's
            engine.submit(ev.CallQueued(event_at(event), uniqueid, event.get("Linkedid"), event.get("Channel"),
                                        acd_config.numbers["12345"]))
        at = event_at(event)
        fact = translate(event, lambda: at)
        if fact is None:
            continue
        engine.submit(fact)
        await engine.drained()
        for record in (e.record for e in seen if isinstance(e, WriteCallRecord)):
            written_after.setdefault(record.linkedid, f"{event.name} {event.get('Channel')}")
        if event.name == "BridgeEnter" and event.get("SwapUniqueid") and not checked:
            checked = True  # the transfer: the citizen takes agent1001's place in the consult
            for view in engine.snapshot():
                fours = [c for c in view.channels if c.startswith("PJSIP/agent1004-")]
                if view.linkedid == citizen_id and not fours:
                    problems.append(f"agent1004's leg is not in the citizen's call: {view.channels}")
                if view.linkedid != citizen_id and fours:
                    problems.append(f"agent1004's leg is still in call {view.linkedid}")
            four = engine.acd.agents["agent1004"]
            if (four.state.value, four.call_id) != ("on_call", citizen_id):
                problems.append(f"agent1004 is {four.state.value} on {four.call_id}")
    engine.stop()
    await runner
    assert checked, "the recording holds the transfer"
    return [e.record for e in seen if isinstance(e, WriteCallRecord)], written_after, problems


@pytest.mark.parametrize("reorder", [False, True], ids=["as-recorded", "swapped-channel-leaves-after"])
async def test_an_attended_transfer_moves_the_target_into_the_citizens_call_and_each_call_ends_when_asterisk_says(
        reorder: bool) -> None:
    events = recorded(RECORDING)
    if reorder:
        events = _swap_leave_after_enter(events)
    citizen_id = next(e.get("Linkedid") for e in events if e.name == "Newchannel" and "carrier" in e.get("Channel"))
    consult_id = next(e.get("Linkedid") for e in events if e.name == "Newchannel" and e.get("Exten") == "1004")
    assert consult_id != citizen_id
    # the recording is what the test says: agent1004 is born in the consult and is reported in
    # the citizen's call only by its last events
    fours = [e for e in events if e.get("Channel", "").startswith("PJSIP/agent1004-")]
    assert fours[0].get("Linkedid") == consult_id and fours[-1].get("Linkedid") == citizen_id
    hangups = {e.get("Channel"): event_at(e) for e in events if e.name == "Hangup"}

    records, written_after, problems = await _replay(events)

    assert problems == []
    assert sorted(r.linkedid for r in records) == sorted({citizen_id, consult_id})  # one record per call
    [citizen] = [r for r in records if r.linkedid == citizen_id]
    [consult] = [r for r in records if r.linkedid == consult_id]
    consult_channel = next(e.get("Channel") for e in events if e.name == "Newchannel" and e.get("Exten") == "1004")
    assert written_after[consult_id] == f"Hangup {consult_channel}"  # its last own channel
    assert consult.ended_at == hangups[consult_channel]
    assert written_after[citizen_id].startswith("Hangup PJSIP/carrier-")
    assert citizen.ended_at == hangups[next(c for c in hangups if c.startswith("PJSIP/carrier-"))]
    assert citizen.disposition is Disposition.ANSWERED and citizen.agent == "agent1001"
    assert consult.disposition is Disposition.INTERNAL
    # every leg of the citizen's call: the citizen, agent1001 (gone at the transfer) and agent1004
    # (joined at the transfer, there to the end)
    numbers = [(leg.role, leg.who) for leg in citizen.legs]
    assert numbers[0][0] == "citizen" and ("agent", "agent1001") in numbers and ("agent", "agent1004") in numbers, numbers
    transfer_at = event_at(next(e for e in events if e.name == "BridgeEnter" and e.get("SwapUniqueid")))
    [four] = [leg for leg in citizen.legs if leg.who == "agent1004"]
    assert four.joined_at == transfer_at and four.left_at == hangups[fours[0].get("Channel")]
    [first] = [leg for leg in citizen.legs if leg.who == "agent1001"]
    assert first.left_at is not None and first.left_at < citizen.ended_at
