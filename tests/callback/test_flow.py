"""Callbacks inside the engine: lost calls queue as callers at their due time, an offer dials
the agent first, outcomes close or retry the entry, a virtual-hold caller keeps their place."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from acd import events as ev
from acd.acd import OfferCall
from acd.desks import AcdConfig, AgentConfig, Desk
from acd.engine import Engine
from callback.book import Entry, Outcome
from callback.flow import CallbackFlow, DialCallback, SaveCallback

NOW = datetime(2026, 11, 22, 9, tzinfo=timezone.utc)
CFG = AcdConfig(desks=(Desk("general", "综合", "general", wrap_up=0),),
                agents=(AgentConfig("a1", "甲", "PJSIP/agent1001", "1001", "1", {"general": 3}),
                        AgentConfig("a2", "乙", "PJSIP/agent1002", "1002", "1", {"general": 3})),
                numbers={"12345": "general"})


class Clock:
    """The engine's two clocks kept in step, and with the facts' times (at(t))."""

    def __init__(self) -> None:
        self.t = 0.0

    def mono(self) -> float:
        return self.t

    def wall(self) -> float:
        return NOW.timestamp() + self.t


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


async def started(config: AcdConfig = CFG, business_hours: Callable[[float], bool] = lambda _: True,
                  ) -> tuple[Engine, list[object], Clock, asyncio.Task[None]]:
    seen: list[object] = []
    clock = Clock()
    engine = Engine({DialCallback: seen.append, OfferCall: seen.append, SaveCallback: seen.append}, acd=config,
                    clock=clock.mono, wall=clock.wall, callbacks=CallbackFlow(business_hours=business_hours))
    return engine, seen, clock, asyncio.create_task(engine.run())


def saved(seen: list[object]) -> dict[int, Entry]:
    """The callback list as the store would hold it: the last saved state of each entry."""
    return {e.entry.entry_id: e.entry for e in seen if isinstance(e, SaveCallback)}


async def due_with_a1_ready(engine: Engine, clock: Clock, uid: str, number: str) -> None:
    """A citizen's lost call is due a minute later, when a1 logs in and becomes ready."""
    lose(engine, uid, number, 0)
    clock.t = 60
    await engine.request("login", "a1")
    await engine.request("ready", "a1")
    await engine.drained()


def lose(engine: Engine, uid: str, number: str, t: float, accepted: bool = False) -> None:
    engine.submit(ev.ChannelCreated(at(t), uid, uid, f"PJSIP/carrier-{uid}", 6, number, "", "12345", "from-trunk"))
    engine.submit(ev.CallQueued(at(t + 5), uid, uid, f"PJSIP/carrier-{uid}", "general"))
    if accepted:
        engine.submit(ev.CallbackChoice(at(t + 30), uid, uid, "accepted"))
    engine.submit(ev.ChannelHungUp(at(t + 40), uid, uid, 16, ""))


async def test_an_offer_of_a_callback_dials_the_agent_first_and_a_reached_citizen_closes_it() -> None:
    engine, seen, clock, runner = await started()
    lose(engine, "L1", "13800000001", 0)
    clock.t = 60  # the hang-up (at 40) is in the past now: the callback is due
    await engine.drained()
    [entry] = saved(seen).values()
    assert entry.open and [loss.reason for loss in entry.losses] == ["abandoned_queue"]
    await engine.request("login", "a1")
    await engine.request("ready", "a1")
    await engine.drained()
    [dial] = [e for e in seen if isinstance(e, DialCallback)]
    assert (dial.number, dial.agent_id, dial.device) == ("13800000001", "a1", "PJSIP/agent1001")
    assert not [e for e in seen if isinstance(e, OfferCall)]  # no Redirect of a channel that is gone
    engine.submit(ev.CallbackDialed(at(100), "13800000001", "AGENT_ANSWERED", "cb-1"))
    await engine.drained()
    assert {a.agent_id: a.state for a in engine.agents()}["a1"] == "on_call"
    engine.submit(ev.CallbackDialed(at(160), "13800000001", "ANSWER", "cb-1"))
    await engine.drained()
    assert saved(seen)[entry.entry_id].outcome is Outcome.REACHED
    assert isinstance(seen[-1], SaveCallback) and seen[-1].entry.outcome is Outcome.REACHED
    engine.stop()
    await runner


async def test_an_agent_who_does_not_answer_hands_the_callback_to_the_next_agent() -> None:
    engine, seen, clock, runner = await started()
    lose(engine, "L2", "13800000002", 0)
    clock.t = 60
    for agent_id in ("a1", "a2"):
        await engine.request("login", agent_id)
    await engine.request("ready", "a1")
    clock.t += 1
    await engine.request("ready", "a2")
    clock.t += 15  # a1's phone rang 15 s: a1 goes to the back of the idle line
    engine.submit(ev.CallbackDialed(at(100), "13800000002", "AGENT_NOANSWER"))
    await engine.drained()
    dials = [e.agent_id for e in seen if isinstance(e, DialCallback)]
    assert dials == ["a1", "a2"]
    [entry] = saved(seen).values()
    assert entry.dialing and [a.outcome for a in entry.attempts] == [Outcome.AGENT_NO_ANSWER]
    engine.stop()
    await runner


async def test_a_virtual_hold_caller_is_called_back_at_their_place_between_live_callers() -> None:
    engine, seen, clock, runner = await started()
    engine.submit(ev.ChannelCreated(at(0), "B", "B", "PJSIP/carrier-B", 6, "139", "", "12345", "from-trunk"))
    engine.submit(ev.CallQueued(at(1), "B", "B", "PJSIP/carrier-B", "general"))  # before
    clock.t += 10
    lose(engine, "V", "13800000003", 10, accepted=True)  # queued at 15, hung up at 50 after accepting
    await engine.drained()
    clock.t += 40
    engine.submit(ev.ChannelCreated(at(60), "A", "A", "PJSIP/carrier-A", 6, "137", "", "12345", "from-trunk"))
    engine.submit(ev.CallQueued(at(61), "A", "A", "PJSIP/carrier-A", "general"))  # after
    await engine.drained()
    await engine.request("login", "a1")
    served: list[str] = []
    for _ in range(3):
        await engine.request("ready", "a1")
        await engine.drained()
        last = [e for e in seen if isinstance(e, (OfferCall, DialCallback))][-1]
        served.append(last.call_id if isinstance(last, OfferCall) else f"callback {last.number}")
        if isinstance(last, OfferCall):
            engine.submit(ev.DialEnded(at(70), last.call_id, last.call_id, "PJSIP/agent1001-1", "ANSWER"))
            engine.submit(ev.ChannelHungUp(at(80), last.call_id, last.call_id, 16, ""))
            engine.submit(ev.ChannelCreated(at(70), f"{last.call_id}2", last.call_id, "PJSIP/agent1001-1", 6, "1001", "",
                                            "s", "from-agents"))
            engine.submit(ev.ChannelHungUp(at(80), f"{last.call_id}2", last.call_id, 16, ""))
        else:
            engine.submit(ev.CallbackDialed(at(90), last.number, "AGENT_ANSWERED", "cb"))
            engine.submit(ev.ChannelCreated(at(90), "cb", "cb", "PJSIP/agent1001-2", 6, "1001", "", "s", "hotline-callback"))
            engine.submit(ev.CallbackDialed(at(95), last.number, "ANSWER", "cb"))
            engine.submit(ev.ChannelHungUp(at(99), "cb", "cb", 16, ""))
        await engine.drained()
    assert served == ["B", "callback 13800000003", "A"]
    engine.stop()
    await runner


async def test_a_queued_callback_whose_citizen_is_answered_meanwhile_is_withdrawn_and_rings_nobody() -> None:
    """The callback waits at the general desk (nobody ready there); the citizen calls 12315 and
    the market desk's agent answers: the entry closes as served at once and leaves the queue;
    when a general agent becomes ready nothing is dialed and the agent stays ready."""
    two_desks = AcdConfig(desks=(Desk("general", "综合", "general", wrap_up=0), Desk("market", "市场", "market", wrap_up=0)),
                          agents=(AgentConfig("a1", "甲", "PJSIP/agent1001", "1001", "1", {"general": 3}),
                                  AgentConfig("a2", "乙", "PJSIP/agent1002", "1002", "1", {"market": 3})),
                          numbers={"12345": "general", "12315": "market"})
    engine, seen, clock, runner = await started(two_desks)
    lose(engine, "L1", "13800000009", 0)
    clock.t = 60
    await engine.drained()
    [entry] = saved(seen).values()
    assert f"callback:{entry.entry_id}" in engine.acd.callbacks  # due, waiting for a general agent
    await engine.request("login", "a2")
    await engine.request("ready", "a2")
    engine.submit(ev.ChannelCreated(at(61), "R", "R", "PJSIP/carrier-R", 6, "13800000009", "", "12315", "from-trunk"))
    engine.submit(ev.CallQueued(at(62), "R", "R", "PJSIP/carrier-R", "market"))
    await engine.drained()
    [offer] = [e for e in seen if isinstance(e, OfferCall)]
    assert (offer.call_id, offer.agent_id) == ("R", "a2")
    engine.submit(ev.DialEnded(at(63), "R", "R", "PJSIP/agent1002-1", "ANSWER"))
    await engine.drained()
    # closed when the agent answers, not when the call ends (the citizen may stay for the survey)
    assert saved(seen)[entry.entry_id].outcome is Outcome.SERVED
    assert not engine.acd.callbacks
    engine.submit(ev.ChannelHungUp(at(90), "R", "R", 16, ""))
    await engine.drained()
    await engine.request("login", "a1")
    await engine.request("ready", "a1")
    await engine.drained()
    assert not [e for e in seen if isinstance(e, DialCallback)]
    assert {a.agent_id: a.state for a in engine.agents()}["a1"] == "ready"
    assert not engine.acd.callbacks
    engine.stop()
    await runner


async def test_an_offer_of_a_callback_closed_in_the_same_step_is_withdrawn_and_the_agent_stays_ready(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="callback.flow")
    engine, seen, clock, runner = await started()
    lose(engine, "L3", "13800000004", 0)
    clock.t = 60
    await engine.request("login", "a1")
    await engine.drained()
    [entry] = saved(seen).values()
    assert f"callback:{entry.entry_id}" in engine.acd.callbacks
    # closed between two steps, as when the same step that frees the agent also serves the citizen
    engine.callbacks.book.served("13800000004", clock.wall())
    await engine.request("ready", "a1")
    await engine.drained()
    assert not [e for e in seen if isinstance(e, DialCallback)]
    assert {a.agent_id: a.state for a in engine.agents()}["a1"] == "ready"
    assert f"callback:{entry.entry_id}" not in engine.acd.callbacks
    assert "engine could not apply" not in caplog.text and "withdrawn" in caplog.text
    engine.stop()
    await runner


async def test_opting_a_number_out_closes_its_queued_callback_and_takes_it_out_of_the_queue() -> None:
    engine, seen, clock, runner = await started()
    lose(engine, "L4", "13800000007", 0)
    clock.t = 60
    await engine.request("login", "a1")
    await engine.drained()
    [entry] = saved(seen).values()
    assert f"callback:{entry.entry_id}" in engine.acd.callbacks
    closed = await engine.do_not_call("13800000007")
    assert closed is not None and closed.outcome is Outcome.OPTED_OUT
    assert f"callback:{entry.entry_id}" not in engine.acd.callbacks
    assert [e.entry.outcome for e in seen if isinstance(e, SaveCallback)][-1] is Outcome.OPTED_OUT
    await engine.request("ready", "a1")
    lose(engine, "L5", "13800000007", 100)  # lost again while opted out: recorded, closed at once
    clock.t = 200
    await engine.drained()
    assert not [e for e in seen if isinstance(e, DialCallback)]
    assert await engine.do_not_call("13800000007", add=False) is None
    lose(engine, "L6", "13800000007", 300)  # back in: called back as usual
    clock.t = 400
    await engine.drained()
    [dial] = [e for e in seen if isinstance(e, DialCallback)]
    assert dial.number == "13800000007"
    assert [e.outcome for e in saved(seen).values()] == [Outcome.OPTED_OUT, Outcome.OPTED_OUT, None]
    engine.stop()
    await runner


# ---- item 4 of issue 11: consistent through restarts and outages ----

def evening(wall: float) -> bool:
    """Business hours 08:00-20:00 on the test clock (NOW is 09:00 UTC; 11 h later it is 20:00)."""
    return wall - NOW.timestamp() < 11 * 3600


async def test_a_callback_queued_before_closing_time_is_not_dialed_after_it() -> None:
    engine, seen, clock, runner = await started(business_hours=evening)
    lose(engine, "N1", "13800000021", 0)
    clock.t = 11 * 3600 - 60  # 19:59: due, queued in its lane; nobody is ready
    await engine.drained()
    assert len(engine.acd.callbacks) == 1
    clock.t = 14 * 3600  # 23:00: an agent becomes ready
    await engine.request("login", "a1")
    await engine.request("ready", "a1")
    await engine.drained()
    assert not [e for e in seen if isinstance(e, DialCallback)]
    engine.stop()
    await runner


async def test_a_citizen_served_while_their_callback_is_dialed_is_never_dialed_again() -> None:
    engine, seen, clock, runner = await started()
    await due_with_a1_ready(engine, clock, "D1", "13800000022")
    [dial] = [e for e in seen if isinstance(e, DialCallback)]
    engine.submit(ev.CallbackDialed(at(61), dial.number, "AGENT_ANSWERED", "cb-1"))
    # meanwhile the citizen calls 12345 and a2 answers them
    await engine.request("login", "a2")
    await engine.request("ready", "a2")
    engine.submit(ev.ChannelCreated(at(62), "D2", "D2", "PJSIP/carrier-D2", 6, "13800000022", "", "12345", "from-trunk"))
    engine.submit(ev.CallQueued(at(63), "D2", "D2", "PJSIP/carrier-D2", "general"))
    engine.submit(ev.DialEnded(at(65), "D2", "D2", "PJSIP/agent1002-1", "ANSWER"))
    await engine.drained()
    assert saved(seen)[dial.entry_id].outcome is Outcome.SERVED
    engine.submit(ev.CallbackDialed(at(90), dial.number, "BUSY", "cb-1"))  # the line was busy: it was them
    clock.t = 10_000
    await engine.drained()
    assert len([e for e in seen if isinstance(e, DialCallback)]) == 1
    entry = saved(seen)[dial.entry_id]
    assert entry.outcome is Outcome.SERVED and not entry.dialing and [a.outcome for a in entry.attempts] == [Outcome.BUSY]
    engine.stop()
    await runner


async def test_an_outage_while_a_callback_rings_the_agent_leaves_no_ghost_and_costs_nothing() -> None:
    engine, seen, clock, runner = await started()
    await due_with_a1_ready(engine, clock, "O1", "13800000023")
    assert {a.agent_id: a.state for a in engine.agents()}["a1"] == "offered"
    engine.submit(ev.AmiLinkDown(at(61), "connection lost"))
    engine.submit(ev.AmiLinkUp(at(70)))
    engine.submit(ev.ChannelsSnapshot(at(71), ()))  # no phone of the attempt is left
    await engine.drained()
    dials = [e for e in seen if isinstance(e, DialCallback)]
    assert len(dials) == 2 and dials[1].agent_id == "a1"  # dialed again after the resync: never reached
    entry = saved(seen)[dials[0].entry_id]
    assert entry.dialing and [a.outcome for a in entry.attempts] == [Outcome.NOT_DIALED]
    assert entry.citizen_attempts == 0
    engine.stop()
    await runner


async def test_a_restart_while_an_attempt_is_in_flight_starts_no_second_attempt() -> None:
    """The store gives the entry back as being dialed; the first resync finds the agent's phone
    still on the call: nothing is dialed until its outcome comes; without a phone, the attempt
    counts as interrupted and is retried after the spacing."""
    engine, seen, clock, runner = await started()
    await due_with_a1_ready(engine, clock, "X1", "13800000024")
    stored = saved(seen)
    engine.stop()
    await runner
    for phone_left, expect_dials in ((True, 0), (False, 0)):
        flow = CallbackFlow()
        flow.book.restore([e for e in stored.values() if e.open], max(stored))
        seen2: list[object] = []
        engine2 = Engine({DialCallback: seen2.append, SaveCallback: seen2.append}, acd=CFG,
                         clock=clock.mono, wall=clock.wall, callbacks=flow)
        task = asyncio.create_task(engine2.run())
        await engine2.request("login", "a1")
        await engine2.request("ready", "a1")
        channels = (ev.ChannelSnapshot("cb", "cb", "PJSIP/agent1001-0000001", 6, "1001", "", "13800000024",
                                       "hotline-callback", "b", 30),) if phone_left else ()
        engine2.submit(ev.AmiLinkUp(at(61)))
        engine2.submit(ev.ChannelsSnapshot(at(62), channels))
        await engine2.drained()
        assert len([e for e in seen2 if isinstance(e, DialCallback)]) == expect_dials
        if not phone_left:
            [entry] = saved(seen2).values()
            assert [a.outcome for a in entry.attempts] == [Outcome.INTERRUPTED] and entry.citizen_attempts == 1
            assert entry.due_at > clock.wall() + 500  # after the spacing, not now
        engine2.stop()
        await task


async def test_a_key_enterprise_caller_who_accepted_virtual_hold_is_called_back_as_a_key_enterprise() -> None:
    engine, seen, clock, runner = await started()
    engine.submit(ev.ChannelCreated(at(0), "K", "K", "PJSIP/carrier-K", 6, "13800000025", "", "12345", "from-trunk"))
    engine.submit(ev.CallQueued(at(1), "K", "K", "PJSIP/carrier-K", "general", priority=1))
    engine.submit(ev.CallbackChoice(at(30), "K", "K", "accepted"))
    engine.submit(ev.ChannelHungUp(at(31), "K", "K", 16, ""))
    await engine.drained()
    [entry] = saved(seen).values()
    from acd.routing import Priority
    assert entry.priority is Priority.KEY_ENTERPRISE and entry.virtual_hold
    engine.stop()
    await runner


async def test_an_entry_expires_at_the_end_of_its_window_without_a_new_loss() -> None:
    engine, seen, clock, runner = await started(business_hours=lambda _: False)  # never dialed
    lose(engine, "E1", "13800000026", 0)
    await engine.drained()
    clock.t = 40 + 86_400  # the window after the loss (at 40)
    engine.submit(ev.TimerFired(("callbacks", "tick", 0)))
    await engine.drained()
    [entry] = saved(seen).values()
    assert entry.outcome is Outcome.EXPIRED and not engine.acd.callbacks
    engine.stop()
    await runner


def test_only_a_number_a_callback_can_reach_is_promised_one() -> None:
    """The engine asks before it tells a citizen whose agent's connection went that they will be
    called back: never an anonymous caller, nor a number on the do-not-call list."""
    flow = CallbackFlow()
    flow.do_not_call("13800000009", True, NOW.timestamp())
    assert flow.can_call_back("13800000001")
    assert not flow.can_call_back("") and not flow.can_call_back("  ") and not flow.can_call_back("13800000009")
    flow.do_not_call("13800000009", False, NOW.timestamp())
    assert flow.can_call_back("13800000009")
