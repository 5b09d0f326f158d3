"""The engine fed the AMI stream recorded on the sandbox (`hotline_pbx.py sandbox record-ami
--scenario reachability`): agent1001's phone (qualified every 2 s for the scene) registers —
Asterisk says NonQualified, then Reachable — and the agent goes ready; the phone freezes (no
answer to the qualify: Unreachable); a citizen calls 12345 and waits; the phone thaws
(Reachable) and rings, is answered; the citizen hangs up; the phone quits (Removed).

What a citizen and a supervisor must see: no call is offered to a phone Asterisk cannot
reach — the citizen waits rather than ringing a dead phone — and the moment it is back, the
waiting citizen is offered to it; the agent stays ready throughout (shown unreachable, not
logged out), and a phone that unregisters is unreachable again.
"""

from __future__ import annotations

import asyncio

import hotline_config
from acd import events as ev
from acd.acd import AgentReachable, OfferCall
from acd.engine import Engine
from hotline_pbx import SANDBOX_CONFIG
from pbx.translate import translate
from tests.acd.recordings import event_at, recorded

RECORDING = "reachability.raw"


async def test_a_phone_asterisk_cannot_reach_is_offered_nothing_and_the_waiting_citizen_goes_to_it_once_back() -> None:
    acd_config = hotline_config.load(SANDBOX_CONFIG, env={}).acd
    seen: list[object] = []
    engine = Engine({OfferCall: seen.append, AgentReachable: seen.append}, acd=acd_config)
    runner = asyncio.create_task(engine.run())
    events = recorded(RECORDING)
    statuses = [e.get("ContactStatus") for e in events if e.name == "ContactStatus"]
    assert statuses == ["NonQualified", "Reachable", "Unreachable", "Reachable", "Removed"], statuses
    # the controller's resync before the scene: Asterisk listed no contact of any agent
    engine.submit(ev.ChannelsSnapshot(event_at(events[0]), (), (), contacts=()))
    await engine.drained()
    assert not any(a.reachable for a in engine.agents() if a.agent_id == "agent1001")
    offered_after: list[str] = []  # the event in whose step each offer was made
    reachable_when_offered: list[bool] = []
    queued = False
    for event in events:
        if event.name == "UserEvent" and event.get("Mark") == "ready agent1001":
            await engine.request("login", "agent1001")
            await engine.request("ready", "agent1001")
        if event.name == "MusicOnHoldStart" and not queued and "carrier" in event.get("Channel"):
            queued = True
            engine.submit(ev.CallQueued(event_at(event), event.get("Uniqueid"), event.get("Linkedid"),
                                        event.get("Channel"), acd_config.numbers["12345"]))
        before = len([e for e in seen if isinstance(e, OfferCall)])
        at = event_at(event)
        fact = translate(event, lambda: at)
        if fact is not None:
            engine.submit(fact)
        await engine.drained()
        offers = [e for e in seen if isinstance(e, OfferCall)]
        if len(offers) > before:
            offered_after.append(f"{event.name} {event.get('ContactStatus')}".strip())
            reachable_when_offered.append(next(a.reachable for a in engine.agents() if a.agent_id == "agent1001"))
        if event.name == "ContactStatus" and event.get("ContactStatus") == "Unreachable":
            [agent] = [a for a in engine.agents() if a.agent_id == "agent1001"]
            assert (agent.state, agent.reachable) == ("ready", False)  # shown so, still ready
    engine.stop()
    await runner
    assert queued, "the recording holds the citizen's wait"
    # one offer, made in the step of the phone's return (event-driven, not at some later tick)
    assert offered_after == ["ContactStatus Reachable"] and reachable_when_offered == [True]
    changes = [e.reachable for e in seen if isinstance(e, AgentReachable) and e.agent_id == "agent1001"]
    assert changes == [False, True, False, True, False]  # the resync, registered, frozen, thawed, unregistered
