"""Issue 12: the hall keeps working across controller restarts, Asterisk restarts and strangers
on the FastAGI port. Each promise is what an agent, a citizen or a supervisor would see; the
engine is driven through its inbox (timers fire as the facts they are)."""

from __future__ import annotations

import asyncio
import dataclasses

from acd import events as ev
from acd.acd import OFFER_GRACE, AgentChanged, AgentSession, OfferCall
from acd.commands import SaveAgentSession, WriteCallRecord
from acd.engine import CHANNEL_WAIT, OFFER_RETRY_AFTER, OFFERS_HELD, Engine
from acd.handover import HangUpLeg
from acd.desks import AgentConfig, Desk
from acd.records import Disposition
from callback.book import CallbackBook, call_id_of
from callback.flow import CallbackFlow, DialCallback

from .test_engine_promises import CFG, NOW, Hall, at

# the hall of the engine's promises, with a third agent and a desk whose wrap-up is 10 s
CFG3 = dataclasses.replace(CFG, desks=(Desk("general", "综合", "general", wrap_up=10),),
                           agents=(*CFG.agents, AgentConfig("a3", "丙", "PJSIP/agent1003", "1003", "1", {"general": 1})))


_SEEN = (OfferCall, WriteCallRecord, AgentChanged, SaveAgentSession)


class Controller(Hall):
    """A controller process: its engine, started `started` seconds after NOW (wall clock), with
    the edges it was given (a callback feature, its effect handlers)."""

    def __init__(self, started: float = 0.0, *, callbacks: CallbackFlow | None = None,
                 handlers: dict[type, object] | None = None, wait_for_link: bool = False) -> None:
        self.seen, self.t = [], 0.0
        self.engine = Engine(handlers or {}, acd=CFG3, clock=lambda: self.t,  # type: ignore[arg-type]
                             wall=lambda: NOW.timestamp() + started + self.t, callbacks=callbacks,
                             wait_for_link=wait_for_link)
        for kind in _SEEN:
            self.engine.observe(kind, self.seen.append)
        self.task = asyncio.create_task(self.engine.run())

    def sessions(self) -> list[AgentSession]:
        """What the store keeps: the last session saved of each agent."""
        return list({e.session.agent_id: e.session for e in self.seen if isinstance(e, SaveAgentSession)}.values())


def ready_at(epoch: float, *agents: str) -> list[AgentSession]:
    return [AgentSession(agent_id, "ready", "", epoch) for agent_id in agents]


def snapshot(t: float, *channels: ev.ChannelSnapshot) -> ev.ChannelsSnapshot:
    return ev.ChannelsSnapshot(at(t), channels, ())


def channel(uid: str, name: str, context: str, bridge: str = "", linkedid: str = "", up: int = 30,
            desk: str = "", number: str = "13800000001") -> ev.ChannelSnapshot:
    return ev.ChannelSnapshot(uid, linkedid or uid, name, 6, number, "", "s", context, bridge, up, desk)


async def test_agents_come_back_as_they_were_after_a_controller_restart() -> None:
    """Paused for a meal, ready, in wrap-up with 5 s left: after a SIGKILL and a restart 3 s
    later nobody is logged out; the meal pause keeps its reason and its start, the wrap-up ends
    when it would have, and the ready agent is offered the next caller after the first resync."""
    first = Controller()
    await first.engine.request("login", "a1")
    first.t = 5.0
    await first.engine.request("pause", "a1", "meal")
    await first.agents_ready("a2")
    await first.close()
    kept = first.sessions()
    assert {s.agent_id: (s.state, s.reason, s.since) for s in kept} == {
        "a1": ("paused", "meal", NOW.timestamp() + 5), "a2": ("ready", "", NOW.timestamp() + 5)}
    # the store also holds a wrap-up that ends 10 s after NOW (an agent hung up just before)
    wrap = AgentSession("a3", "wrap_up", "general", NOW.timestamp() + 2, "general", "", NOW.timestamp() + 10)
    later = Controller(started=5.0 + 3.0, wait_for_link=True)
    later.engine.restore_agents([*kept, wrap])
    assert later.agent("a1") == ("paused", 0) and later.engine.acd.agents["a1"].reason == "meal"
    assert {v.agent_id: v.since for v in later.engine.agents()}["a1"] == -3.0  # 3 s before the restart
    later.engine.submit(snapshot(0.5))  # the first resync: nothing on the phones
    later.caller_waits("C1", 1)
    await later.engine.drained()
    assert later.offers() == [("C1", "a2")]
    assert later.agent("a3") == ("wrap_up", 0)
    assert later.engine.acd.agents["a3"].wrap_up_until == 2.0  # NOW + 10 on the new clock
    later.t = 2.0
    later.engine.submit(ev.TimerFired(("wrap_up", "a3", later.engine.acd.agents["a3"].wrap_up_generation)))
    await later.engine.drained()
    assert later.agent("a3") == ("ready", 0)
    await later.close()


async def test_a_starting_controller_offers_nobody_before_its_first_resync_then_at_once() -> None:
    later = Controller(started=60.0, wait_for_link=True)
    later.engine.restore_agents(ready_at(NOW.timestamp(), "a1"))
    later.caller_waits("C1", 0.1)
    await later.engine.drained()
    assert later.offers() == []  # the link is not up: an offer could not reach Asterisk
    later.engine.submit(snapshot(0.2, channel("C1", "PJSIP/carrier-C1", "hotline-wait")))
    await later.engine.drained()
    assert later.offers() == [("C1", "a1")]
    await later.close()


async def test_an_agent_found_talking_at_resync_is_on_that_call_and_the_call_is_answered_not_called_back() -> None:
    """A restart during a conversation: the snapshot shows the citizen bridged to agent1001's
    phone in [hotline-connect]. The agent is on that call (not offered another), the record says
    answered by a1 on its desk, and no callback is booked for a citizen already served."""
    flow = CallbackFlow(CallbackBook())
    hall = Controller(callbacks=flow, wait_for_link=True)
    hall.engine.restore_agents(ready_at(NOW.timestamp(), "a1", "a2"))
    hall.engine.submit(snapshot(1, channel("C1", "PJSIP/carrier-C1", "hotline-connect", "B1", up=60, desk="general"),
                                channel("C1-a", "PJSIP/agent1001-0001", "from-agents", "B1", linkedid="C1", up=40)))
    hall.caller_waits("C2", 2)
    await hall.engine.drained()
    assert hall.agent("a1") == ("on_call", 0)
    assert hall.offers() == [("C2", "a2")]  # the talking agent is not rung for the next caller
    hall.engine.submit(ev.ChannelHungUp(at(30), "C1-a", "C1", 16, ""))
    hall.engine.submit(ev.ChannelHungUp(at(30), "C1", "C1", 16, ""))
    await hall.engine.drained()
    record = hall.records()["C1"]
    assert (record.disposition, record.agent, record.desk) == (Disposition.ANSWERED, "a1", "general")
    assert record.talk_time == 40 + 29  # from the agent's leg (a bound: its ring included)
    assert hall.agent("a1")[0] == "wrap_up"  # the desk's wrap-up, after the call it was on
    assert flow.book.entries == {}  # served: nobody is rung with 回拨 for this citizen
    await hall.close()


async def test_an_asterisk_that_refuses_offers_is_nobodys_miss_and_no_agent_is_rung_into_the_refusal() -> None:
    """Asterisk shutting down refuses every Redirect. One offer is refused; offers wait (no loop
    of refusals, no miss, nobody paused) until the link is back and resynchronised."""
    hall = Controller()
    await hall.agents_ready("a1", "a2")
    hall.caller_waits("C1", 0)
    await hall.engine.drained()
    assert hall.offers() == [("C1", "a1")]
    hall.engine.submit(ev.OfferNotSent(at(1), "C1", "a1", "Asterisk is shutting down"))
    await hall.engine.drained()
    assert hall.offers() == [("C1", "a1")]  # not a2 straight into the same refusal
    assert (hall.agent("a1"), hall.agent("a2")) == (("ready", 0), ("ready", 0))
    hall.engine.submit(ev.AmiLinkDown(at(1.5), "connection lost"))
    hall.t = 1.0 + OFFER_RETRY_AFTER
    hall.engine.submit(ev.TimerFired(OFFERS_HELD))  # the hold ends while the link is down: still none
    await hall.engine.drained()
    assert len(hall.offers()) == 1
    hall.engine.submit(snapshot(20, channel("C1", "PJSIP/carrier-C1", "hotline-wait")))  # Asterisk is back
    await hall.engine.drained()
    assert hall.offers()[1][0] == "C1"
    assert all(hall.engine.acd.agents[a].misses == 0 for a in ("a1", "a2"))
    await hall.close()


async def test_a_refusal_while_the_link_stays_up_holds_offers_only_briefly() -> None:
    hall = Controller()
    await hall.agents_ready("a1")
    hall.caller_waits("C1", 0)
    await hall.engine.drained()
    hall.engine.submit(ev.OfferNotSent(at(1), "C1", "a1", "Permission denied"))
    await hall.engine.drained()
    assert len(hall.offers()) == 1
    hall.engine.submit(ev.TimerFired(OFFERS_HELD))
    await hall.engine.drained()
    assert hall.offers() == [("C1", "a1"), ("C1", "a1")]  # tried again, after the hold
    await hall.close()


async def test_a_callback_asterisk_could_not_dial_spends_no_attempt_and_pauses_nobody() -> None:
    flow = CallbackFlow(CallbackBook())
    dials: list[DialCallback] = []
    hall = Controller(callbacks=flow, handlers={DialCallback: dials.append})
    hall.caller_waits("C1", 0, number="13900000009")
    hall.engine.submit(ev.ChannelHungUp(at(5), "C1", "C1", 16, ""))  # gave up in the queue
    await hall.engine.drained()
    [entry] = flow.book.entries.values()
    await hall.agents_ready("a1", "a2")
    hall.t = entry.due_at - NOW.timestamp() + 1
    hall.engine.submit(ev.TimerFired(("callbacks", "tick", 0)))
    await hall.engine.drained()
    assert [d.agent_id for d in dials] == ["a1"]
    for status in ("NOT_SENT",):  # "Asterisk is shutting down", then "not connected"
        hall.engine.submit(ev.CallbackDialed(at(hall.t), "13900000009", status))
    await hall.engine.drained()
    assert len(dials) == 1  # not re-offered into the same refusal
    assert flow.book.entries[entry.entry_id].attempts[-1].outcome.value == "not_dialed"
    assert all(hall.engine.acd.agents[a].state.value == "ready" for a in ("a1", "a2"))
    hall.engine.submit(ev.AmiLinkDown(at(hall.t), "connection lost"))
    hall.engine.submit(snapshot(hall.t + 30))
    await hall.engine.drained()
    assert len(dials) == 2 and call_id_of(entry.entry_id) in hall.engine.acd.callbacks
    await hall.close()


async def test_a_stranger_speaking_fastagi_never_puts_a_ghost_in_the_queue() -> None:
    """A local process sends an intake session for a channel Asterisk does not have: it is held,
    never offered, and dropped after CHANNEL_WAIT; the next real caller is offered at once."""
    hall = Controller()
    await hall.agents_ready("a1")
    hall.engine.submit(ev.CallQueued(at(0), "ghost", "ghost", "PJSIP/nobody-1", "general"))
    await hall.engine.drained()
    assert hall.offers() == [] and "ghost" not in hall.engine.acd.queue
    hall.t = CHANNEL_WAIT + 0.01
    hall.engine.submit(ev.TimerFired(("unseen", "ghost", 0)))
    hall.caller_waits("C1", 6)
    await hall.engine.drained()
    assert hall.offers() == [("C1", "a1")]
    await hall.close()


async def test_an_intake_session_read_before_its_channel_event_is_queued_when_the_channel_shows() -> None:
    hall = Controller()
    await hall.agents_ready("a1")
    hall.engine.submit(ev.CallQueued(at(1), "C1", "C1", "PJSIP/carrier-C1", "general"))  # FastAGI first
    hall.engine.submit(ev.ChannelCreated(at(0), "C1", "C1", "PJSIP/carrier-C1", 6, "1", "", "12345", "from-trunk"))
    await hall.engine.drained()
    assert hall.offers() == [("C1", "a1")]
    await hall.close()


async def test_an_offer_racing_the_callers_hang_up_frees_the_agent_at_once_and_rings_nobody_else() -> None:
    hall = Controller()
    await hall.agents_ready("a1", "a2")
    hall.caller_waits("C1", 0)
    await hall.engine.drained()
    hall.engine.submit(ev.OfferNotSent(at(2), "C1", "a1", "Channel does not exist", caller_gone=True))
    await hall.engine.drained()
    assert hall.offers() == [("C1", "a1")] and hall.agent("a1") == ("ready", 0)
    hall.engine.submit(ev.ChannelHungUp(at(2), "C1", "C1", 16, ""))
    hall.caller_waits("C2", 3)
    await hall.engine.drained()
    assert hall.offers()[-1][0] == "C2"
    assert hall.records()["C1"].disposition is Disposition.ABANDONED_QUEUE  # the caller's, not a ring
    await hall.close()


async def test_every_offer_has_a_deadline_unless_the_agents_phone_is_still_ringing() -> None:
    hall = Controller()
    await hall.agents_ready("a1", "a2")
    hall.caller_waits("C1", 0)
    await hall.engine.drained()
    deadline = 1 + CFG.ring_timeout + OFFER_GRACE
    hall.engine.submit(ev.ChannelCreated(at(2), "C1-a", "C1", "PJSIP/agent1001-0001", 5, "1001", "", "s", "from-agents"))
    hall.t = deadline
    hall.engine.submit(ev.TimerFired(("offer", "a1", 1)))
    await hall.engine.drained()
    assert hall.agent("a1") == ("offered", 0)  # its phone rings: the DialEnd will tell
    hall.engine.submit(ev.ChannelHungUp(at(deadline), "C1-a", "C1", 16, ""))  # … but it never does
    hall.t = deadline + CFG.ring_timeout
    hall.engine.submit(ev.TimerFired(("offer", "a1", 1)))
    await hall.engine.drained()
    back = [e for e in hall.seen if isinstance(e, AgentChanged) and e.agent_id == "a1" and e.at == hall.t]
    assert [e.state.value for e in back] == ["ready", "offered"]  # freed, and (best skill) offered anew
    assert hall.agent("a1") == ("offered", 0)  # not the agent's miss
    assert hall.offers() == [("C1", "a1"), ("C1", "a1")]  # the caller offered again at once
    await hall.close()



async def test_a_ring_that_began_before_a_restart_and_is_answered_after_it_is_that_agents_answered_call() -> None:
    """The caller was in [hotline-connect] ringing agent1001 when the controller died; after the
    restart the agent picks up (DialEnd ANSWER names their phone). The agent is on that call and
    the record says answered by them, not a caller lost in the IVR."""
    hall = Controller(wait_for_link=True)
    hall.engine.restore_agents([AgentSession("a1", "offered", "general", NOW.timestamp()),
                                *ready_at(NOW.timestamp(), "a2")])
    hall.engine.submit(snapshot(1, channel("C1", "PJSIP/carrier-C1", "hotline-connect", up=20),
                                channel("C1-a", "PJSIP/agent1001-0001", "from-agents", linkedid="C1", up=3)))
    hall.engine.submit(ev.DialEnded(at(2), "C1", "C1", "PJSIP/agent1001-0001", "ANSWER"))
    hall.caller_waits("C2", 3)
    await hall.engine.drained()
    assert hall.agent("a1") == ("on_call", 0) and hall.offers() == [("C2", "a2")]
    hall.engine.submit(ev.ChannelHungUp(at(40), "C1-a", "C1", 16, ""))
    hall.engine.submit(ev.ChannelHungUp(at(40), "C1", "C1", 16, ""))
    await hall.engine.drained()
    record = hall.records()["C1"]
    assert (record.disposition, record.agent, record.talk_time) == (Disposition.ANSWERED, "a1", 38)
    await hall.close()


async def test_a_call_between_two_seats_stays_internal() -> None:
    hall = Controller()
    await hall.agents_ready("a1", "a2")
    hall.engine.submit(ev.ChannelCreated(at(0), "I1", "I1", "PJSIP/agent1001-0009", 6, "1001", "", "1002", "from-agents"))
    hall.engine.submit(ev.ChannelCreated(at(1), "I1-b", "I1", "PJSIP/agent1002-0009", 5, "1002", "", "s", "from-agents"))
    hall.engine.submit(ev.DialEnded(at(2), "I1", "I1", "PJSIP/agent1002-0009", "ANSWER"))
    for uid in ("I1-b", "I1"):
        hall.engine.submit(ev.ChannelHungUp(at(9), uid, "I1", 16, ""))
    await hall.engine.drained()
    assert hall.records()["I1"].disposition is Disposition.INTERNAL
    await hall.close()


async def test_a_burst_of_strangers_is_counted_and_logged_once(caplog) -> None:  # type: ignore[no-untyped-def]
    hall = Controller()
    for n in range(50):
        hall.engine.submit(ev.CallQueued(at(0), f"ghost{n}", f"ghost{n}", "PJSIP/nobody", "general"))
    hall.t = CHANNEL_WAIT
    for n in range(50):
        hall.engine.submit(ev.TimerFired(("unseen", f"ghost{n}", 0)))
    with caplog.at_level("INFO", logger="acd.engine"):
        await hall.engine.drained()
    assert hall.engine.ghosts_dropped == 50 and not hall.engine.acd.queue
    assert len([r for r in caplog.records if r.levelname == "WARNING"]) == 1
    await hall.close()


async def test_an_agent_on_a_call_of_a_desk_since_removed_still_wraps_up_and_is_ready_again() -> None:
    hall = Controller(wait_for_link=True)
    hall.engine.restore_agents([AgentSession("a1", "on_call", "heating", NOW.timestamp(), "heating", "old-call")])
    hall.engine.submit(snapshot(1))  # the call ended while the controller was away
    await hall.engine.drained()
    assert hall.agent("a1")[0] in ("wrap_up", "ready")
    hall.caller_waits("C1", 2)
    await hall.engine.drained()
    assert hall.offers() == [("C1", "a1")]
    await hall.close()


async def test_what_a_supervisor_sees_of_an_agent_found_on_a_call_at_resync() -> None:
    """The wallboard names the desk of the call the agent was found on (not "outbound"), the
    call, and when; the wrap-up after it is that desk's 10 s. A restored call id and desk give
    way to what Asterisk shows; a desk no longer configured is no desk."""
    hall = Controller(wait_for_link=True)
    hall.engine.restore_agents([AgentSession("a1", "on_call", "general", NOW.timestamp(), "general", "old-call"),
                                *ready_at(NOW.timestamp(), "a2", "a3")])
    hall.t = 1.0
    hall.engine.submit(snapshot(1, channel("C1", "PJSIP/carrier-C1", "hotline-connect", "B1", desk="general"),
                                channel("C1-a", "PJSIP/agent1001-0001", "from-agents", "B1", linkedid="C1"),
                                channel("C2", "PJSIP/carrier-C2", "hotline-fallback", "B2", desk="gone"),
                                channel("C2-a", "PJSIP/agent1002-0002", "from-agents", "B2", linkedid="C2"),
                                channel("X3", "PJSIP/agent1003-0003", "from-agents", up=5)))  # a3 dialed out
    await hall.engine.drained()
    agents = hall.engine.acd.agents
    assert (agents["a1"].call_id, agents["a1"].desk) == ("C1", "general")
    assert (agents["a2"].state.value, agents["a2"].reason, agents["a2"].call_id, agents["a2"].desk) == (
        "on_call", "outbound", "C2", None)
    changed = {e.agent_id: e for e in hall.seen if isinstance(e, AgentChanged) and e.at == 1.0}
    assert (changed["a3"].state.value, changed["a3"].reason) == ("on_call", "outbound")
    hall.t = 30.0
    hall.engine.submit(ev.ChannelHungUp(at(30), "C1-a", "C1", 16, ""))
    await hall.engine.drained()
    assert (agents["a1"].state.value, agents["a1"].reason, agents["a1"].wrap_up_until) == ("wrap_up", "general", 40.0)
    await hall.close()


async def test_a_stale_offer_deadline_never_ends_a_later_offer() -> None:
    """a1's first ring goes unanswered and the caller is offered to a1 again: the first offer's
    deadline, firing later, leaves the second offer ringing; a deadline of an offer that
    ended leaves the agent alone."""
    hall = Controller()
    await hall.agents_ready("a1")
    hall.caller_waits("C1", 0)
    await hall.engine.drained()
    hall.engine.submit(ev.DialEnded(at(9), "C1", "C1", "PJSIP/agent1001-1", "NOANSWER"))
    await hall.engine.drained()
    assert hall.offers() == [("C1", "a1"), ("C1", "a1")] and hall.agent("a1") == ("offered", 1)
    hall.t = 100.0
    hall.engine.submit(ev.TimerFired(("offer", "a1", 1)))
    await hall.engine.drained()
    assert hall.agent("a1") == ("offered", 1) and len(hall.offers()) == 2
    hall.engine.submit(ev.DialEnded(at(12), "C1", "C1", "PJSIP/agent1001-2", "ANSWER"))
    hall.engine.submit(ev.TimerFired(("offer", "a1", 2)))
    await hall.engine.drained()
    assert hall.agent("a1") == ("on_call", 0)
    await hall.close()


async def test_an_offer_not_sent_sends_the_agent_to_the_back_of_the_idle_line() -> None:
    """Two agents of the same level: the one whose offer Asterisk refused is not the next one
    rung; the caller who raced the hang-up is recorded with the time they waited."""
    equal = dataclasses.replace(CFG3, agents=(
        AgentConfig("a1", "甲", "PJSIP/agent1001", "1001", "1", {"general": 2}),
        AgentConfig("a2", "乙", "PJSIP/agent1002", "1002", "1", {"general": 2})))
    hall = Controller()
    hall.engine = Engine({}, acd=equal, clock=lambda: hall.t, wall=lambda: NOW.timestamp() + hall.t)
    for kind in _SEEN:
        hall.engine.observe(kind, hall.seen.append)
    hall.task = asyncio.create_task(hall.engine.run())
    await hall.agents_ready("a1")
    hall.t = 1.0
    await hall.agents_ready("a2")  # a1 has been idle longest
    hall.caller_waits("C1", 2)
    await hall.engine.drained()
    assert hall.offers() == [("C1", "a1")]
    hall.t = 4.0
    hall.engine.submit(ev.OfferNotSent(at(4), "C1", "a1", "Channel does not exist", caller_gone=True))
    hall.engine.submit(ev.ChannelHungUp(at(4), "C1", "C1", 16, ""))
    hall.caller_waits("C2", 5)
    await hall.engine.drained()
    assert hall.offers()[-1] == ("C2", "a2")  # a1 went to the back of the line
    record = hall.records()["C1"]
    assert (record.queue_wait, record.left_in) == (3.0, "queue")  # queued at 1 s, gone at 4 s, never rung
    await hall.close()


async def test_a_persistent_line_survives_a_controller_restart_and_its_loss_while_away_costs_no_citizen() -> None:
    """agent a1 talks to a citizen over their persistent line when the controller is killed.
    Restarted, the first resync lists the line (in a1's conference) and its trunk leg: a1 is on
    their line again, and neither channel becomes a call. Then the line goes while the
    controller is away again: the next resync finds the citizen's leg to the conference with no
    line behind it and ends it with a network's cause, so the citizen is not left with music
    and nobody (the survey step's apology and the head of the queue follow)."""
    first = Controller()
    await first.engine.request("login", "a1", phone="13900001111", persistent=True)
    line = first.engine.acd.agents["a1"].line_id
    first.engine.submit(ev.BridgeEntered(at(1), "seat-a1", line, line, "base"))
    await first.engine.request("ready", "a1")
    kept = first.sessions()
    await first.close()
    assert [(s.agent_id, s.phone, s.persistent) for s in kept] == [("a1", "13900001111", True)]

    cut: list[HangUpLeg] = []
    hall = Controller(3.0, wait_for_link=True, handlers={HangUpLeg: cut.append})
    hall.engine.restore_agents(kept)
    talking = (channel("C1", "PJSIP/carrier-C1", "hotline-connect", "B1", desk="general"),
               channel("C1-j1", "Local/a1@hotline-seat-join-0001;1", "hotline-seat-join", "B1", linkedid="C1"),
               channel("C1-j2", "Local/a1@hotline-seat-join-0001;2", "hotline-seat-join", "seat-a1", linkedid="C1"))
    line_channels = (channel(line, "Local/13900001111@hotline-seat-line-dial-0000;1", "hotline-seat-line", "seat-a1"),
                     channel(f"{line}-far", "Local/13900001111@hotline-seat-line-dial-0000;2",
                             "hotline-seat-line-dial", "B0", linkedid=line),
                     channel("T0", "PJSIP/carrier-T0", "from-trunk", "B0", linkedid=line))
    hall.engine.submit(snapshot(4, *talking, *line_channels))
    await hall.engine.drained()
    a1 = next(a for a in hall.engine.agents() if a.agent_id == "a1")
    assert (a1.state, a1.call_id, a1.line, a1.reachable) == ("on_call", "C1", "up", True)
    assert [v.linkedid for v in hall.engine.snapshot()] == ["C1"]  # the line is nobody's call
    hall.engine.submit(ev.AmiLinkDown(at(5), "connection lost"))
    hall.engine.submit(ev.AmiLinkUp(at(6)))
    hall.engine.submit(snapshot(6, *talking))  # the line went while we were blind
    await hall.engine.drained()
    assert [(c.call_id, c.channel, c.cause) for c in cut] == [("C1", "Local/a1@hotline-seat-join-0001;1", 41)]
    a1 = next(a for a in hall.engine.agents() if a.agent_id == "a1")
    assert (a1.line, a1.reachable) == ("down", False)
    await hall.close()
