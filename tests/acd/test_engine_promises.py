"""The engine driven through its inbox with the event orders Asterisk produces (the orders of
tests/fixtures/ami/ringing_fallback.raw, recorded on the sandbox), each promise stated as what
the people on the line would see."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from acd import events as ev
from acd.acd import AgentChanged, AgentSession, OfferCall
from acd.commands import SaveAgentSession, WriteCallRecord
from acd.desks import AcdConfig, AgentConfig, Desk
from acd.engine import OFFERS_HELD, Engine
from acd.records import Disposition

NOW = datetime(2026, 11, 23, 1, 30, tzinfo=timezone.utc)  # 09:30 in Beijing, a Monday
CFG = AcdConfig(desks=(Desk("general", "综合", "general", wrap_up=0),),
                agents=(AgentConfig("a1", "甲", "PJSIP/agent1001", "1001", "1", {"general": 3}),
                        AgentConfig("a2", "乙", "PJSIP/agent1002", "1002", "1", {"general": 2})),
                numbers={"12345": "general"}, max_misses=2)


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


class Hall:
    """A running engine and what it asked the edges to do."""

    def __init__(self, sessions: list[AgentSession] | None = None) -> None:
        """`sessions`: a restarted controller, given what the store kept of the agents."""
        self.seen: list[object] = []
        self.t = 0.0
        self.engine = Engine({OfferCall: self.seen.append, WriteCallRecord: self.seen.append,
                              AgentChanged: self.seen.append, SaveAgentSession: self.seen.append},
                             acd=CFG, clock=lambda: self.t,
                             wall=lambda: NOW.timestamp() + self.t, wait_for_link=sessions is not None)
        if sessions is not None:
            self.engine.restore_agents(sessions)
        self.task = asyncio.create_task(self.engine.run())

    def kept_sessions(self) -> list[AgentSession]:
        """What the store holds: the last session saved of each agent."""
        return list({e.session.agent_id: e.session for e in self.seen if isinstance(e, SaveAgentSession)}.values())

    async def agents_ready(self, *agents: str) -> None:
        for agent_id in agents:
            await self.engine.request("login", agent_id)
            await self.engine.request("ready", agent_id)

    def caller_waits(self, uid: str, t: float, number: str = "13800000001") -> None:
        self.engine.submit(ev.ChannelCreated(at(t), uid, uid, f"PJSIP/carrier-{uid}", 6, number, "", "12345",
                                             "from-trunk"))
        self.engine.submit(ev.CallQueued(at(t + 1), uid, uid, f"PJSIP/carrier-{uid}", "general"))

    def offers(self) -> list[tuple[str, str]]:
        return [(e.call_id, e.agent_id) for e in self.seen if isinstance(e, OfferCall)]

    def records(self) -> dict[str, object]:
        return {e.record.linkedid: e.record for e in self.seen if isinstance(e, WriteCallRecord)}

    def agent(self, agent_id: str) -> tuple[str, int]:
        live = self.engine.acd.agents[agent_id]
        return live.state.value, live.misses

    async def close(self) -> None:
        await self.engine.drained()
        self.engine.stop()
        await self.task


async def test_a_caller_who_hangs_up_while_the_phone_rings_is_never_the_agents_miss() -> None:
    """Asterisk's order (recorded): DialEnd with DialStatus CANCEL on the caller's channel, the
    agent's channel hangs up, then the caller's Hangup. Two such callers in a row used to
    auto-pause the agent, and the dying channel was offered to the next agent."""
    hall = Hall()
    await hall.agents_ready("a1", "a2")
    for n, uid in enumerate(("C1", "C2")):
        t = 20.0 * n
        hall.caller_waits(uid, t)
        await hall.engine.drained()
        assert hall.offers()[-1] == (uid, "a1")
        leg = f"{uid}-agent"
        hall.engine.submit(ev.ChannelCreated(at(t + 2), leg, uid, f"PJSIP/agent1001-{n:08x}", 5, "1001", "", "s",
                                             "from-agents"))
        hall.engine.submit(ev.DialEnded(at(t + 6), uid, uid, f"PJSIP/agent1001-{n:08x}", "CANCEL"))
        hall.engine.submit(ev.ChannelHungUp(at(t + 6), leg, uid, 16, ""))
        hall.engine.submit(ev.ChannelHungUp(at(t + 6), uid, uid, 16, ""))
        await hall.engine.drained()
        assert hall.agent("a1") == ("ready", 0)
    assert hall.offers() == [("C1", "a1"), ("C2", "a1")]  # never re-offered to a2
    records = hall.records()
    assert [records[u].disposition for u in ("C1", "C2")] == [Disposition.ABANDONED_RINGING] * 2
    assert [records[u].left_in for u in ("C1", "C2")] == ["ringing"] * 2
    figures = hall.engine.desk_figures()["general"]
    assert (figures["abandoned"], figures["abandoned_while_ringing"], figures["answered"]) == (2, 2, 0)
    await hall.close()


async def test_a_caller_answered_in_the_fallback_queue_leaves_the_acd_and_is_not_abandoned() -> None:
    """The heartbeat went stale while the controller lived (its AMI link was down) and an
    app_queue member answered: the ACD must not offer that caller to the next ready agent
    (which would redirect them out of a conversation) nor count them abandoned."""
    hall = Hall()
    hall.caller_waits("F", 0)
    hall.engine.submit(ev.CallFellBack(at(4), "F", "F", "general"))
    hall.engine.submit(ev.ChannelCreated(at(5), "F-m", "F", "PJSIP/agent1002-0000000a", 5, "1002", "", "s",
                                         "from-agents"))
    hall.engine.submit(ev.DialEnded(at(7), "F", "F", "PJSIP/agent1002-0000000a", "ANSWER"))  # app_queue's
    hall.engine.submit(ev.BridgeEntered(at(8), "b1", "F", "F"))
    hall.engine.submit(ev.BridgeEntered(at(8), "b1", "F-m", "F"))
    await hall.engine.drained()
    assert "F" not in hall.engine.acd.queue
    await hall.agents_ready("a1")
    await hall.engine.drained()
    assert hall.offers() == []
    hall.engine.submit(ev.ChannelHungUp(at(60), "F-m", "F", 16, ""))
    hall.engine.submit(ev.ChannelHungUp(at(60), "F", "F", 16, ""))
    await hall.engine.drained()
    assert hall.records()["F"].disposition is Disposition.FALLBACK_QUEUE
    assert hall.engine.desk_figures()["general"]["abandoned"] == 0
    await hall.close()


async def test_a_caller_waiting_in_the_fallback_queue_is_still_served_by_the_controller() -> None:
    """The heartbeat went stale while the controller lived (a loaded machine): callers in the
    fallback queue whose app_queue members do not answer are not stranded there — the ACD still
    offers them, an app_queue ring that is cancelled by that is not the caller's abandon, and
    the call is answered by the controller's agent."""
    hall = Hall()
    hall.caller_waits("G", 0)
    hall.engine.submit(ev.CallFellBack(at(4), "G", "G", "general"))
    hall.engine.submit(ev.DialEnded(at(6), "G", "G", "PJSIP/agent1012-0000000b", "NOANSWER"))  # a member
    await hall.agents_ready("a1")
    await hall.engine.drained()
    assert hall.offers() == [("G", "a1")]
    hall.engine.submit(ev.DialEnded(at(9), "G", "G", "PJSIP/agent1012-0000000c", "CANCEL"))  # pulled out of Queue
    hall.engine.submit(ev.ChannelCreated(at(9), "G-a", "G", "PJSIP/agent1001-0000000d", 5, "1001", "", "s",
                                         "from-agents"))
    hall.engine.submit(ev.DialEnded(at(11), "G", "G", "PJSIP/agent1001-0000000d", "ANSWER"))
    hall.engine.submit(ev.ChannelHungUp(at(40), "G-a", "G", 16, ""))
    hall.engine.submit(ev.ChannelHungUp(at(41), "G", "G", 16, ""))
    await hall.engine.drained()
    record = hall.records()["G"]
    assert record.disposition is Disposition.ANSWERED and record.agent == "a1"
    figures = hall.engine.desk_figures()["general"]
    assert (figures["answered"], figures["abandoned"]) == (1, 0)
    await hall.close()


async def test_offers_failed_during_an_outage_are_retried_after_the_resync_without_a_miss() -> None:
    """In the storm the link dropped: offers failed with ami-disconnected. After the resync no
    caller may wait while an agent who could take them is ready, and nobody is charged a miss."""
    hall = Hall()
    await hall.agents_ready("a1")
    hall.caller_waits("S1", 0)
    await hall.engine.drained()
    assert hall.offers() == [("S1", "a1")]
    hall.engine.submit(ev.AmiLinkDown(at(2), "connection lost"))
    hall.engine.submit(ev.OfferNotSent(at(2), "S1", "a1", "ami-disconnected"))
    hall.caller_waits("S2", 3, number="13800000002")
    await hall.engine.request("login", "a2")
    await hall.engine.request("ready", "a2")
    await hall.engine.drained()
    assert hall.offers() == [("S1", "a1")] and hall.agent("a1") == ("ready", 0)  # waiting for the link
    hall.engine.submit(ev.AmiLinkUp(at(10)))
    hall.engine.submit(ev.ChannelsSnapshot(at(11), tuple(
        ev.ChannelSnapshot(u, u, f"PJSIP/carrier-{u}", 6, n, "", "12345", "hotline-wait", "", 10)
        for u, n in (("S1", "13800000001"), ("S2", "13800000002")))))
    await hall.engine.drained()
    assert sorted(hall.offers()[1:]) == [("S1", "a1"), ("S2", "a2")]
    assert hall.agent("a1") == ("offered", 0) and hall.agent("a2") == ("offered", 0)
    await hall.close()


async def test_a_resync_finding_an_offered_caller_back_in_the_wait_charges_no_miss() -> None:
    """Whether the agent's phone rang while the controller was blind is unknown: not a miss."""
    hall = Hall()
    await hall.agents_ready("a1")
    hall.caller_waits("R1", 0)
    await hall.engine.drained()
    hall.engine.submit(ev.AmiLinkDown(at(2), "connection lost"))
    hall.engine.submit(ev.AmiLinkUp(at(30)))
    hall.engine.submit(ev.ChannelsSnapshot(at(31), (
        ev.ChannelSnapshot("R1", "R1", "PJSIP/carrier-R1", 6, "13800000001", "", "12345", "hotline-wait", "", 31),)))
    await hall.engine.drained()
    assert hall.agent("a1") == ("offered", 0) and hall.offers() == [("R1", "a1"), ("R1", "a1")]
    await hall.close()


# ---- a stateful property: random hall life with AMI outages and reconnects ----

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from acd.routing import ReadyAgent, agent_level  # noqa: E402

hall_ops = st.lists(st.tuples(
    st.sampled_from(["call", "ready", "pause", "answer", "no_answer", "cancel", "leave", "down", "resync",
                     "not_sent", "hang_up_agent", "hold_ends", "ghost", "restart", "asterisk_restart"]),
    st.integers(0, 3)), max_size=40)


def listing(asterisk: dict[str, str]) -> tuple[ev.ChannelSnapshot, ...]:
    """What CoreShowChannels lists for the model of Asterisk: a citizen waiting, or bridged to
    the agent who answered (both channels in one bridge)."""
    channels = []
    for u, ctx in asterisk.items():
        agent_id = ctx.partition(":")[2]
        bridge = f"b-{u}" if agent_id else ""
        channels.append(ev.ChannelSnapshot(u, u, f"PJSIP/carrier-{u}", 6, "138", "", "12345",
                                           "hotline-connect" if agent_id else ctx, bridge, 5, "general"))
        if agent_id:
            channels.append(ev.ChannelSnapshot(f"{u}-a", u, f"PJSIP/agent100{agent_id[-1]}-{u}", 6, "1", "", "s",
                                               "from-agents", bridge, 4))
    return tuple(channels)


async def live_a_hall(ops: list[tuple[str, int]]) -> None:
    hall = Hall()
    for agent_id in ("a1", "a2"):
        await hall.engine.request("login", agent_id)
    asterisk: dict[str, str] = {}  # what Asterisk has: caller uniqueid -> context
    n = 0
    link_up = True
    store: dict[str, AgentSession] = {}  # the agent_sessions table
    for op, k in ops:
        engine = hall.engine
        acd = engine.acd
        offered = {q.offered_to: cid for cid, q in acd.queue.items() if q.offered_to}
        pick = sorted(asterisk)[k % len(asterisk)] if asterisk else None
        hall.t += 1.0
        if op == "call":
            n += 1
            uid = f"C{n}"
            asterisk[uid] = "hotline-wait"
            hall.caller_waits(uid, hall.t, number=f"1380000{n:04d}")
        elif op in ("ready", "pause"):
            agent_id = ("a1", "a2")[k % 2]
            try:
                await engine.request(op, agent_id, "break" if op == "pause" else "")
            except Exception:
                pass  # refused (409): changes nothing
        elif op in ("answer", "no_answer", "cancel") and offered and link_up:
            agent_id, uid = sorted(offered.items())[k % len(offered)]
            status = {"answer": "ANSWER", "no_answer": "NOANSWER", "cancel": "CANCEL"}[op]
            device = f"PJSIP/agent100{agent_id[-1]}-{n:04x}"
            engine.submit(ev.DialEnded(at(hall.t), uid, uid, device, status))
            if op == "answer":
                asterisk[uid] = f"bridged:{agent_id}"
            elif op == "cancel":
                engine.submit(ev.ChannelHungUp(at(hall.t), uid, uid, 16, ""))
                asterisk.pop(uid)
        elif op == "leave" and pick is not None and link_up:
            engine.submit(ev.ChannelHungUp(at(hall.t), pick, pick, 16, ""))
            asterisk.pop(pick)
        elif op == "leave" and pick is not None:
            asterisk.pop(pick)  # the caller left while the controller was blind
        elif op == "hang_up_agent":
            for agent in acd.agents.values():
                if agent.state.value == "on_call" and agent.call_id in asterisk and link_up:
                    engine.submit(ev.ChannelHungUp(at(hall.t), agent.call_id, agent.call_id, 16, ""))
                    asterisk.pop(agent.call_id)
                    break
        elif op == "not_sent" and offered:
            agent_id, uid = sorted(offered.items())[k % len(offered)]
            engine.submit(ev.OfferNotSent(at(hall.t), uid, agent_id, "ami-disconnected"))
        elif op == "down" and link_up:
            link_up = False
            engine.submit(ev.AmiLinkDown(at(hall.t), "connection lost"))
        elif op == "resync":
            link_up = True
            engine.submit(ev.AmiLinkUp(at(hall.t)))
            engine.submit(ev.ChannelsSnapshot(at(hall.t), listing(asterisk), ()))
            for u, ctx in asterisk.items():  # the link re-adopts the waiting callers, as pbx/link.py does
                if ctx == "hotline-wait":
                    engine.submit(ev.CallQueued(at(hall.t), u, u, f"PJSIP/carrier-{u}", "general",
                                                queued_epoch=NOW.timestamp()))
        elif op == "hold_ends":
            engine.submit(ev.TimerFired(OFFERS_HELD))
        elif op == "ghost":  # a local process speaks FastAGI for a channel Asterisk does not have
            engine.submit(ev.CallQueued(at(hall.t), f"ghost{k}", f"ghost{k}", "PJSIP/nobody", "general"))
        elif op == "restart":  # SIGKILL: a new process, given the store; the link is not up yet
            before = {a: (live.state.value, live.reason) for a, live in acd.agents.items()}
            store.update({kept.agent_id: kept for kept in hall.kept_sessions()})  # outlives the process
            await hall.close()
            t = hall.t
            hall = Hall(list(store.values()))
            hall.t = t
            link_up = False
            restored = {a: (live.state.value, live.reason) for a, live in hall.engine.acd.agents.items()}
            for agent_id, was in before.items():  # nobody logs in again; an offer comes back ready
                assert restored[agent_id] == (was if was[0] != "offered" else ("ready", "")), (agent_id, was)
        elif op == "asterisk_restart":  # every call is gone; phones stay registered
            asterisk.clear()
            if link_up:
                link_up = False
                engine.submit(ev.AmiLinkDown(at(hall.t), "connection lost"))
        engine, acd = hall.engine, hall.engine.acd
        await engine.drained()
        assert not [c for c in acd.queue if c.startswith("ghost")]  # a stranger's session is no caller
        # no ghost: an agent is OFFERED exactly when a waiting call is offered to them
        offered_now = {q.offered_to for q in acd.queue.values() if q.offered_to}
        assert offered_now == {a for a, live in acd.agents.items() if live.state.value == "offered"}
        # no caller of a gone channel is still waiting once Asterisk has been heard again
        if link_up and op == "resync":
            assert set(acd.queue) <= set(asterisk)
        # the dispatch invariant: with the link up, nobody waits while an eligible agent is ready
        if not acd.suspended:
            for queued in acd.queue.values():
                if queued.offered_to is None:
                    for agent in acd.agents.values():
                        if agent.state.value == "ready":
                            me = ReadyAgent(agent.config.agent_id, agent.config.skills, agent.idle_since)
                            assert agent_level(me, queued.call, acd.policies[queued.call.desk], hall.t) is None
        # a miss is counted only for a ring the agent let go unanswered
        assert all(live.misses <= sum(1 for o, _ in ops if o == "no_answer") for live in acd.agents.values())
        # an agent talking to a citizen (as Asterisk has it), once it has been heard, is on that call
        if link_up and op == "resync":
            for u, ctx in asterisk.items():
                if ctx.startswith("bridged:"):
                    assert acd.agents[ctx.partition(":")[2]].state.value == "on_call", (u, ctx)
    await hall.close()


@settings(max_examples=150)
@given(hall_ops)
def test_whatever_the_hall_lives_through_no_ghost_no_idle_agent_beside_a_waiting_caller(ops: list[tuple[str, int]]) -> None:
    asyncio.run(live_a_hall(ops))
