"""The engine fed the AMI stream recorded on the sandbox (`hotline_pbx.py sandbox record-ami
--scenario ringing-fallback`): the bytes Asterisk sent, through the parser and the translation,
into the engine's inbox in the order they came. Two scenes:

1. a citizen dials 12315, agent1003's phone rings, the citizen hangs up: Asterisk sends DialEnd
   (DialStatus CANCEL) on the caller's channel, the agent leg's Hangup, then the caller's;
2. the wait loop finds the heartbeat stale (the controller alive), the caller goes to the static
   app_queue, whose member agent1002 answers: UserEvent HotlineFallback, DialEnd ANSWER on the
   caller's channel, BridgeEnter of both.

The FastAGI intake's CallQueued does not travel over AMI: it is put in where the caller's music
on hold starts in [hotline-wait], as the intake's last step does.
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

RECORDING = Path(__file__).resolve().parent.parent / "fixtures" / "ami" / "ringing_fallback.raw"


async def test_the_recorded_ringing_abandon_and_fallback_answer_keep_their_promises() -> None:
    acd_config = hotline_config.load(SANDBOX_CONFIG, env={}).acd
    seen: list[object] = []
    parser = AmiParser()
    parser.receive_data(RECORDING.read_bytes())
    # the engine's wall clock is the recording's (the records are dated as Asterisk stamped the
    # events): "today's" figures are the recording's day, whatever day the test runs on
    stamps = [float(m.get("Timestamp")) for m in parser.messages() if isinstance(m, Event) and m.get("Timestamp")]
    parser = AmiParser()
    parser.receive_data(RECORDING.read_bytes())
    engine = Engine({OfferCall: seen.append, WriteCallRecord: seen.append}, acd=acd_config, wall=lambda: stamps[-1])
    runner = asyncio.create_task(engine.run())
    await engine.request("login", "agent1003")
    await engine.request("ready", "agent1003")
    dialed: dict[str, str] = {}
    now = lambda: datetime.now(timezone.utc)  # noqa: E731
    for message in parser.messages():
        if not isinstance(message, Event):
            continue
        if message.name == "Newchannel" and message.get("Context") == "from-trunk":
            dialed[message.get("Uniqueid")] = message.get("Exten")
        if message.name == "MusicOnHoldStart" and message.get("Context") == "hotline-wait":
            uniqueid = message.get("Uniqueid")
            engine.submit(ev.CallQueued(now(), uniqueid, message.get("Linkedid"), message.get("Channel"),
                                        acd_config.numbers[dialed[uniqueid]]))
        fact = translate(message, now)
        if fact is not None:
            engine.submit(fact)
        if message.name == "Hangup" and message.get("Context") == "hotline-connect":
            await engine.drained()  # scene 1 is over: agent1003 leaves, as in the recording
            assert engine.acd.agents["agent1003"].state.value == "ready"
            assert engine.acd.agents["agent1003"].misses == 0
            await engine.request("logout", "agent1003")
    await engine.drained()
    records = [e.record for e in seen if isinstance(e, WriteCallRecord)]
    citizen = [r for r in records if r.caller_number.startswith("1")]
    assert [r.disposition for r in citizen] == [Disposition.ABANDONED_RINGING, Disposition.FALLBACK_QUEUE]
    assert [(o.call_id, o.agent_id) for o in seen if isinstance(o, OfferCall)] == [
        (citizen[0].linkedid, "agent1003")]  # never re-offered, and the fallback caller never offered
    market, general = engine.desk_figures()["market"], engine.desk_figures()["general"]
    assert (market["abandoned"], market["abandoned_while_ringing"]) == (1, 1)
    assert (general["abandoned"], general["answered"]) == (0, 1)  # the fallback queue's member answered
    assert engine.acd.queue == {}
    engine.stop()
    await runner
