"""The engine fed the AMI stream recorded on the sandbox (`hotline_pbx.py sandbox record-ami
--scenario supervise`): a citizen answered by agent1001 through the ACD; supervisor super2001
asks to listen (from the API: the controller originates the supervisor's phone into
[hotline-spy]); ChanSpyStart; the supervisor keys 5 (whisper) then 6 (barge); ChanSpyStop and
the supervisor's Hangup; then the citizen hangs up.

What the supervisor and the monitoring log must see: the session begins in listen at
ChanSpyStart, each key switches the mode at the time Asterisk says, the session ends with the
supervisor's hang-up with its duration; the supervisor's own channel is no citizen's call, and
the citizen's call is recorded once, answered by agent1001."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

import hotline_config
from acd import events as ev
from acd import supervision as sv
from acd.commands import WriteCallRecord
from acd.engine import Engine
from acd.records import Disposition
from hotline_pbx import SANDBOX_CONFIG
from pbx.ami import AmiParser, Event
from pbx.translate import translate

RECORDING = Path(__file__).resolve().parent.parent / "fixtures" / "ami" / "supervise_chanspy.raw"


def _events() -> list[Event]:
    parser = AmiParser()
    parser.receive_data(RECORDING.read_bytes())
    return [m for m in parser.messages() if isinstance(m, Event)]


async def test_a_recorded_chanspy_session_with_dtmf_switches_is_logged_listen_whisper_barge() -> None:
    config = hotline_config.load(SANDBOX_CONFIG, env={})
    seen: list[object] = []
    handlers = {t: seen.append for t in (WriteCallRecord, sv.OriginateSpy, sv.SaveMonitorSession)}
    clock = [1_000_000.0]  # the wall clock follows Asterisk's event times
    engine = Engine(handlers, acd=config.acd, supervisors=config.supervisors, wall=lambda: clock[0])
    runner = asyncio.create_task(engine.run())
    await engine.request("login", "agent1001")
    await engine.request("ready", "agent1001")
    events = _events()
    now = lambda: datetime.now(timezone.utc)  # noqa: E731
    dialed: dict[str, str] = {}
    requested = False
    modes_after: list[tuple[str, str]] = []
    for event in events:
        if event.get("Timestamp"):
            clock[0] = float(event.get("Timestamp"))
        if event.name == "Newchannel" and event.get("Context") == "from-trunk":
            dialed[event.get("Uniqueid")] = event.get("Exten")
        if event.name == "MusicOnHoldStart" and event.get("Uniqueid") in dialed:
            uniqueid = event.get("Uniqueid")
            engine.submit(ev.CallQueued(now(), uniqueid, event.get("Linkedid"), event.get("Channel"),
                                        config.acd.numbers[dialed[uniqueid]]))
        if event.name == "Newchannel" and event.get("Channel").startswith("PJSIP/super2001-") and not requested:
            # the API's request came just before Asterisk rang the supervisor's phone
            session = await engine.supervise("monitor", agent="agent1001", mode="listen", supervisor="super2001")
            requested = True
            [originate] = [e for e in seen if isinstance(e, sv.OriginateSpy)]
            assert originate.target_channel.startswith("PJSIP/agent1001-") and originate.options == "qdES"
            assert (originate.device, originate.mode) == ("PJSIP/super2001", sv.Mode.LISTEN)
            assert session.started_at is None  # not spying until ChanSpyStart
        fact = translate(event, now)
        if fact is None:
            continue
        engine.submit(fact)
        await engine.drained()
        if event.name in ("ChanSpyStart", "DTMFEnd"):
            [live] = engine.supervision.live.values()
            modes_after.append((event.name, live.mode.value))
    engine.stop()
    await runner
    assert requested, "the recording holds the supervisor's channel"
    assert modes_after == [("ChanSpyStart", "listen"), ("DTMFEnd", "whisper"), ("DTMFEnd", "barge")]
    assert engine.supervision.live == {}
    saved = [e.record for e in seen if isinstance(e, sv.SaveMonitorSession)]
    final = saved[-1]
    assert (final.supervisor, final.agent, final.source, final.end_reason) == ("super2001", "agent1001", "api", "ended")
    stamps = {e.name: float(e.get("Timestamp")) for e in events if e.name in ("ChanSpyStart",)}
    assert final.started_at == stamps["ChanSpyStart"]
    hangup = next(float(e.get("Timestamp")) for e in events
                  if e.name == "Hangup" and e.get("Channel").startswith("PJSIP/super2001-"))
    assert final.ended_at == hangup and final.duration == hangup - stamps["ChanSpyStart"] and final.duration > 2
    dtmf = [float(e.get("Timestamp")) for e in events if e.name == "DTMFEnd"]
    assert [(m.mode, m.began_at) for m in final.modes] == [
        ("listen", stamps["ChanSpyStart"]), ("whisper", dtmf[0]), ("barge", dtmf[1])]
    citizen = next(e.get("Linkedid") for e in events if e.name == "Newchannel" and "carrier" in e.get("Channel"))
    assert final.linkedid == citizen
    records = {e.record.linkedid: e.record for e in seen if isinstance(e, WriteCallRecord)}
    assert records[citizen].disposition is Disposition.ANSWERED and records[citizen].agent == "agent1001"
    assert all(r.disposition is Disposition.INTERNAL for lid, r in records.items() if lid != citizen)


async def test_during_the_recorded_call_refusals_change_nothing_and_a_forced_logout_waits_for_the_call_end() -> None:
    """Replaying the same stream: while the session runs, a second request of the same supervisor
    for that call is `already-monitoring`; agent1002 (not on a call) is `agent-not-on-call`; a
    forced logout of agent1001 is pending while they talk and applied when their channel hangs
    up, the reason naming who forced it; an emergency hang-up names the call's channels."""
    config = hotline_config.load(SANDBOX_CONFIG, env={})
    seen: list[object] = []
    handlers = {t: seen.append for t in (sv.OriginateSpy, sv.SaveAudit, sv.HangupChannels)}
    engine = Engine(handlers, acd=config.acd, supervisors=config.supervisors)
    runner = asyncio.create_task(engine.run())
    for agent in ("agent1001", "agent1002"):
        await engine.request("login", agent)
    await engine.request("ready", "agent1001")
    now = lambda: datetime.now(timezone.utc)  # noqa: E731
    dialed: dict[str, str] = {}
    checked = False
    for event in _events():
        if event.name == "Newchannel" and event.get("Context") == "from-trunk":
            dialed[event.get("Uniqueid")] = event.get("Exten")
        if event.name == "MusicOnHoldStart" and event.get("Uniqueid") in dialed:
            uniqueid = event.get("Uniqueid")
            engine.submit(ev.CallQueued(now(), uniqueid, event.get("Linkedid"), event.get("Channel"),
                                        config.acd.numbers[dialed[uniqueid]]))
        if event.name == "Newchannel" and event.get("Channel").startswith("PJSIP/super2001-"):
            await engine.supervise("monitor", agent="agent1001", mode="listen", supervisor="super2001")
        fact = translate(event, now)
        if fact is None:
            continue
        engine.submit(fact)
        await engine.drained()
        if event.name == "ChanSpyStart":
            checked = True
            before = dict(engine.supervision.live)
            for args, code in ((dict(agent="agent1001", mode="barge", supervisor="super2001"), sv.ALREADY_MONITORING),
                               (dict(agent="agent1002", mode="listen", supervisor="super2002"), sv.AGENT_NOT_ON_CALL),
                               (dict(agent="agent1001", mode="listen", supervisor="nobody"), sv.UNKNOWN_SUPERVISOR)):
                try:
                    await engine.supervise("monitor", **args)
                except sv.SupervisionError as exc:
                    assert exc.code == code
                else:
                    raise AssertionError(f"{args} was not refused")
            assert engine.supervision.live == before and len([e for e in seen if isinstance(e, sv.OriginateSpy)]) == 1
            assert await engine.supervise("force", agent="agent1001", op="logout", reason="下班", by="super2001") == "pending"
            assert engine.acd.agents["agent1001"].state.value == "on_call"
            [call] = [v for v in engine.snapshot() if any(c.startswith("PJSIP/agent1001-") for c in v.channels)]
            channels = await engine.supervise("hangup", linkedid=call.linkedid, reason="测试", by="super2001")
            assert sorted(channels) == sorted(call.channels) and len(channels) == 2
    engine.stop()
    await runner
    assert checked
    agent = engine.acd.agents["agent1001"]
    assert (agent.state.value, agent.reason) == ("logged_out", "logout (forced: super2001)")
    audit = [e.entry for e in seen if isinstance(e, sv.SaveAudit)]
    assert [(a.action, a.detail.split(":")[0]) for a in audit] == [
        ("force_logout", "pending"), ("hangup_call", "2 channel(s) ended"), ("force_logout", "applied after the call")]
    assert all(a.actor == "super2001" for a in audit) and audit[0].reason == "下班"
