"""The engine fed the AMI stream recorded on the sandbox (`hotline_pbx.py sandbox record-ami
--scenario lost-connection`): a citizen answered by agent1001 through the ACD; agent1001's
phone freezes (its network gone: no audio), and after rtp_timeout Asterisk hangs its leg up
with cause 44 — the citizen's line is not hung up; the survey step asks the engine what now
(`after_agent`), plays the apology and puts the citizen back (`requeue_lost`); agent1002 goes
ready and answers; the citizen hangs up.

What the citizen, the agents and the record must see: a home connection gone never drops the
citizen — they are answered by the next agent; the lost agent is not offered the next call
(paused, "connection_lost", until they are back); one record, with agent1001's leg marked as
lost and agent1002's leg after it. And a normal hang-up is still the survey's.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest

import hotline_config
from acd import events as ev
from acd.acd import OfferCall
from acd.commands import WriteCallRecord
from acd.desks import AcdConfig
from acd.engine import Engine
from acd.records import Disposition
from callback.book import CallbackBook
from callback.flow import CallbackFlow, DialCallback
from hotline_pbx import SANDBOX_CONFIG
from pbx.ami import Event
from pbx.translate import translate
from tests.acd.recordings import event_at, recorded

RECORDING = "lost_connection.raw"


@pytest.mark.parametrize("asks_first", [True, False], ids=["survey-asks-before-the-hangup-event",
                                                           "survey-asks-after"])
async def test_an_agent_whose_connection_goes_mid_call_never_costs_the_citizen_their_call(asks_first: bool) -> None:
    acd_config = hotline_config.load(SANDBOX_CONFIG, env={}).acd
    seen: list[object] = []
    engine = Engine({OfferCall: seen.append, WriteCallRecord: seen.append}, acd=acd_config)
    runner = asyncio.create_task(engine.run())
    await engine.request("login", "agent1001")
    await engine.request("ready", "agent1001")
    await engine.request("login", "agent1002")
    events = recorded(RECORDING)
    citizen_id = next(e.get("Linkedid") for e in events if e.name == "Newchannel" and "carrier" in e.get("Channel"))
    verdict: asyncio.Task[str] | None = None
    queued = False
    for event in events:
        lost_hangup = event.name == "Hangup" and event.get("Cause") == "44"
        if lost_hangup and asks_first:
            # the citizen's Dial returned and the survey started before this event was read
            verdict = asyncio.create_task(engine.after_agent(citizen_id))
            await engine.drained()
            assert not verdict.done()  # it waits for Asterisk's word on the agent's leg
        if event.name == "UserEvent" and event.get("Mark") == "ready agent1002":
            await engine.request("ready", "agent1002")
            assert verdict is not None and await verdict == "lost"
            before = len([e for e in seen if isinstance(e, OfferCall)])
            assert await engine.requeue_lost(citizen_id) is True
            [offer] = [e for e in seen if isinstance(e, OfferCall)][before:]
            assert (offer.call_id, offer.agent_id) == (citizen_id, "agent1002")  # the next agent, at once
        if event.name == "MusicOnHoldStart" and not queued:
            queued = True
            engine.submit(ev.CallQueued(event_at(event), event.get("Uniqueid"), event.get("Linkedid"),
                                        event.get("Channel"), acd_config.numbers["12345"]))
        at = event_at(event)
        fact = translate(event, lambda: at)
        if fact is not None:
            engine.submit(fact)
        await engine.drained()
        if lost_hangup:
            if not asks_first:
                verdict = asyncio.create_task(engine.after_agent(citizen_id))
            [one] = [a for a in engine.agents() if a.agent_id == "agent1001"]
            assert (one.state, one.reason) == ("paused", "connection_lost")  # not rung for the next caller
            assert [v.linkedid for v in engine.snapshot()] == [citizen_id]  # the citizen is still there
    engine.stop()
    await runner
    [record] = [e.record for e in seen if isinstance(e, WriteCallRecord)]
    assert record.linkedid == citizen_id and record.disposition is Disposition.ANSWERED
    # the call was answered once, by agent1001 (its wait and answer time are that answer's, for
    # the KPIs); the legs say who else had it
    first_answer = next(event_at(e) for e in events if e.name == "DialEnd" and e.get("DialStatus") == "ANSWER")
    assert record.agent == "agent1001" and record.queue_wait is not None and record.queue_wait < 1.0
    assert record.talk_time == round((record.ended_at - first_answer).total_seconds(), 3)
    legs = [(leg.role, leg.who, leg.ended) for leg in record.legs]
    assert legs == [("citizen", "", ""), ("agent", "agent1001", "connection_lost"), ("agent", "agent1002", "")], legs
    offers = [(e.call_id, e.agent_id) for e in seen if isinstance(e, OfferCall)]
    assert offers == [(citizen_id, "agent1001"), (citizen_id, "agent1002")]


async def _up_to_agent1002s_ready(engine: Engine, events: list[Event], acd_config: AcdConfig,
                                  hung_up_instead: bool = False, wall: list[float] | None = None) -> None:
    """Feed the recording up to the mark where agent1002 goes ready; `hung_up_instead`: with
    agent1001's leg ended by a hang-up (cause 16) rather than its lost connection (44); `wall`:
    the engine's wall clock, moved to each event's time."""
    queued = False
    for event in events:
        if wall is not None:
            wall[0] = event_at(event).timestamp()
        if event.name == "UserEvent" and event.get("Mark") == "ready agent1002":
            return
        if event.name == "MusicOnHoldStart" and not queued:
            queued = True
            engine.submit(ev.CallQueued(event_at(event), event.get("Uniqueid"), event.get("Linkedid"),
                                        event.get("Channel"), acd_config.numbers["12345"]))
        at = event_at(event)
        fact = translate(event, lambda: at)
        if hung_up_instead and isinstance(fact, ev.ChannelHungUp) and fact.cause == 44:
            fact = ev.ChannelHungUp(fact.at, fact.uniqueid, fact.linkedid, 16, "Normal Clearing")
        if fact is not None:
            engine.submit(fact)
        await engine.drained()


async def test_an_agent_who_hangs_up_leaves_the_citizen_to_the_survey() -> None:
    """The recorded stream with agent1001's leg ended by a hang-up (cause 16) instead."""
    acd_config = hotline_config.load(SANDBOX_CONFIG, env={}).acd
    engine = Engine({}, acd=acd_config)
    runner = asyncio.create_task(engine.run())
    await engine.request("login", "agent1001")
    await engine.request("ready", "agent1001")
    events = recorded(RECORDING)
    citizen_id = next(e.get("Linkedid") for e in events if e.name == "Newchannel" and "carrier" in e.get("Channel"))
    await _up_to_agent1002s_ready(engine, events, acd_config, hung_up_instead=True)
    assert await engine.after_agent(citizen_id) == "survey"
    assert await engine.requeue_lost(citizen_id) is False
    [one] = [a for a in engine.agents() if a.agent_id == "agent1001"]
    assert one.state == "wrap_up"
    engine.stop()
    await runner


async def test_the_citizen_goes_back_to_the_head_of_the_queue_ahead_of_anyone_waiting_longer() -> None:
    """As recorded, up to agent1002's ready; meanwhile another citizen waits who queued before
    the first did (a caller adopted after a restart, with their old queue time): the citizen
    whose agent was lost is still offered first."""
    acd_config = hotline_config.load(SANDBOX_CONFIG, env={}).acd
    seen: list[object] = []
    engine = Engine({OfferCall: seen.append}, acd=acd_config)
    runner = asyncio.create_task(engine.run())
    await engine.request("login", "agent1001")
    await engine.request("ready", "agent1001")
    await engine.request("login", "agent1002")
    events = recorded(RECORDING)
    citizen_id = next(e.get("Linkedid") for e in events if e.name == "Newchannel" and "carrier" in e.get("Channel"))
    await _up_to_agent1002s_ready(engine, events, acd_config)
    first = event_at(events[0])
    engine.submit(ev.ChannelCreated(first, "other-1", "other-1", "PJSIP/carrier-0000ffff", 6, "13900139000",
                                    "钱一", "12345", "from-trunk"))
    engine.submit(ev.CallQueued(first, "other-1", "other-1", "PJSIP/carrier-0000ffff", "general",
                                queued_epoch=first.timestamp() - 60))
    assert await engine.after_agent(citizen_id) == "lost"
    assert await engine.requeue_lost(citizen_id) is True
    before = len(seen)
    await engine.request("ready", "agent1002")
    assert [(e.call_id, e.agent_id) for e in seen[before:] if isinstance(e, OfferCall)] == [(citizen_id, "agent1002")]
    engine.stop()
    await runner


@dataclasses.dataclass
class CallingBack:
    """A site that calls back the citizens whose agent's connection went, with agent1001 ready
    and the recording at hand; its wall clock follows the recording (so the book's windows and
    due times are the call's)."""

    events: list[Event]
    wall: list[float]
    seen: list[object]
    engine: Engine
    flow: CallbackFlow
    acd_config: AcdConfig
    runner: asyncio.Task[None]
    citizen: Event


async def _calling_back() -> CallingBack:
    events = recorded(RECORDING)
    wall = [event_at(events[0]).timestamp()]
    seen: list[object] = []
    acd_config = dataclasses.replace(hotline_config.load(SANDBOX_CONFIG, env={}).acd, lost_connection="callback")
    flow = CallbackFlow(CallbackBook())
    engine = Engine({OfferCall: seen.append, WriteCallRecord: seen.append, DialCallback: seen.append},
                    acd=acd_config, callbacks=flow, wall=lambda: wall[0])
    runner = asyncio.create_task(engine.run())
    await engine.request("login", "agent1001")
    await engine.request("ready", "agent1001")
    citizen = next(e for e in events if e.name == "Newchannel" and "carrier" in e.get("Channel"))
    return CallingBack(events, wall, seen, engine, flow, acd_config, runner, citizen)


@pytest.mark.parametrize("survey_asks", [True, False], ids=["told-then-hangs-up", "hangs-up-before-the-apology"])
async def test_by_config_the_citizen_is_called_back_first_instead_of_waiting_on(survey_asks: bool) -> None:
    """As recorded up to agent1002's ready, at a site with `lost_connection = "callback"`;
    another citizen has waited longer than anyone. The citizen whose agent was lost is told they
    will be called back (or hangs up before hearing it: the promise stands) — the line then
    ends; the record says answered by agent1001, with the callback promised; and the first
    ready agent calls that citizen back before the one who waited longer."""
    site = await _calling_back()
    events, wall, seen, engine, flow, citizen = site.events, site.wall, site.seen, site.engine, site.flow, site.citizen
    await engine.request("login", "agent1002")
    citizen_id, number = citizen.get("Linkedid"), citizen.get("CallerIDNum")
    await _up_to_agent1002s_ready(engine, events, site.acd_config, wall=wall)
    first = event_at(events[0])
    engine.submit(ev.ChannelCreated(first, "other-1", "other-1", "PJSIP/carrier-0000ffff", 6, "13900139000",
                                    "钱一", "12345", "from-trunk"))
    engine.submit(ev.CallQueued(first, "other-1", "other-1", "PJSIP/carrier-0000ffff", "general",
                                queued_epoch=first.timestamp() - 60))
    if survey_asks:
        assert await engine.after_agent(citizen_id) == "lost-callback"
        assert await engine.requeue_lost(citizen_id) is False  # not put back in the queue
    assert citizen_id not in engine.acd.queue
    hung_up = event_at(events[14]) + timedelta(seconds=4)
    wall[0] = hung_up.timestamp()
    engine.submit(ev.ChannelHungUp(hung_up, citizen.get("Uniqueid"), citizen_id, 16, "Normal Clearing"))
    await engine.drained()
    [record] = [e.record for e in seen if isinstance(e, WriteCallRecord)]
    assert (record.disposition, record.agent, record.callback) == (Disposition.ANSWERED, "agent1001", "lost_connection")
    assert [(leg.who, leg.ended) for leg in record.legs] == [("", ""), ("agent1001", "connection_lost")]
    [entry] = [e for e in flow.book.entries.values() if e.number == number]
    assert entry.open and entry.virtual_hold and [loss.reason for loss in entry.losses] == ["connection_lost"]
    [one] = [a for a in engine.agents() if a.agent_id == "agent1001"]
    assert (one.state, one.reason) == ("paused", "connection_lost")  # the lost phone is not the one to call back
    before = len(seen)
    await engine.request("ready", "agent1002")
    offers = [(e.call_id, e.agent_id) for e in seen[before:] if isinstance(e, OfferCall)]
    dials = [(d.number, d.agent_id) for d in seen[before:] if isinstance(d, DialCallback)]
    assert dials == [(number, "agent1002")] and offers in ([], [(f"callback:{entry.entry_id}", "agent1002")]), offers
    assert "other-1" in engine.acd.queue  # waited longer, and still comes second
    engine.stop()
    await site.runner


async def test_a_number_that_cannot_be_called_back_waits_on_at_the_head_of_the_queue_instead() -> None:
    """`lost_connection = "callback"`, but the citizen's number is on the do-not-call list: no
    promise that cannot be kept; they hear the apology and go back to the head of the queue."""
    site = await _calling_back()
    engine, flow, citizen = site.engine, site.flow, site.citizen
    await engine.do_not_call(citizen.get("CallerIDNum"))
    await _up_to_agent1002s_ready(engine, site.events, site.acd_config, wall=site.wall)
    assert await engine.after_agent(citizen.get("Linkedid")) == "lost"
    assert await engine.requeue_lost(citizen.get("Linkedid")) is True
    assert [e.number for e in flow.book.entries.values() if e.open] == []
    engine.stop()
    await site.runner
