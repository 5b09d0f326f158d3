import asyncio
from datetime import datetime, timezone

from acd import events as ev
from acd.commands import CallArrived, CallEnded, WriteCallRecord
from acd.engine import Engine

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)


async def test_given_facts_in_the_inbox_then_effects_reach_their_handlers_in_order() -> None:
    seen: list[object] = []
    engine = Engine({WriteCallRecord: seen.append, CallEnded: seen.append})
    runner = asyncio.create_task(engine.run())
    engine.submit(ev.ChannelCreated(NOW, "u1", "u1", "PJSIP/a", 4, "1", "", "12345", "c"))
    engine.submit(ev.ChannelHungUp(NOW, "u1", "u1", 16, "Normal Clearing"))
    await engine.drained()
    assert [type(x) for x in seen] == [WriteCallRecord, CallEnded]
    engine.stop()
    await runner


async def test_given_a_failing_handler_then_the_engine_keeps_running() -> None:
    def broken(_: object) -> None:
        raise RuntimeError("boom")

    seen: list[object] = []
    engine = Engine({CallArrived: broken, WriteCallRecord: seen.append})
    runner = asyncio.create_task(engine.run())
    for uid in ("u1", "u2"):
        engine.submit(ev.ChannelCreated(NOW, uid, uid, "PJSIP/a", 4, "1", "", "12345", "c"))
        engine.submit(ev.ChannelHungUp(NOW, uid, uid, 16, ""))
    await engine.drained()
    assert len(seen) == 2 and engine.processed == 4
    engine.stop()
    await runner


async def test_given_an_ami_outage_then_the_acd_settles_what_it_missed() -> None:
    from acd.acd import CallAbandoned, OfferCall
    from acd.desks import AcdConfig, AgentConfig, Desk

    cfg = AcdConfig(desks=(Desk("general", "综合", "general", wrap_up=60),),
                    agents=(AgentConfig("agent1001", "甲", "PJSIP/agent1001", "1001", "1", {"general": 3}),
                            AgentConfig("agent1002", "乙", "PJSIP/agent1002", "1002", "1", {"general": 3})))
    seen: list[object] = []
    engine = Engine({CallAbandoned: seen.append, OfferCall: seen.append}, acd=cfg)
    runner = asyncio.create_task(engine.run())
    for agent_id in ("agent1001", "agent1002"):
        await engine.request("login", agent_id)
    await engine.request("ready", "agent1001")
    # caller A reaches agent1001; caller B waits
    for uid in ("A", "B"):
        engine.submit(ev.ChannelCreated(NOW, uid, uid, f"PJSIP/carrier-{uid}", 6, "1", "", "12345", "from-trunk"))
        engine.submit(ev.CallQueued(NOW, uid, uid, f"PJSIP/carrier-{uid}", "general"))
    engine.submit(ev.ChannelCreated(NOW, "A2", "A", "PJSIP/agent1001-01", 6, "1001", "", "s", "from-agents"))
    engine.submit(ev.DialEnded(NOW, "A", "A", "PJSIP/agent1001-01", "ANSWER"))
    await engine.drained()
    assert {a.agent_id: a.state for a in engine.agents()} == {"agent1001": "on_call", "agent1002": "paused"}
    # blind: A's call ended and B hung up; after the reconnect Asterisk lists nothing
    engine.submit(ev.AmiLinkUp(NOW))
    engine.submit(ev.ChannelsSnapshot(NOW, ()))
    await engine.drained()
    assert {a.agent_id: a.state for a in engine.agents()}["agent1001"] == "wrap_up"
    assert [type(x).__name__ for x in seen].count("CallAbandoned") == 1
    assert engine.acd.queue == {}
    engine.stop()
    await runner


async def test_given_a_full_queue_then_the_caller_is_refused_not_forgotten() -> None:
    from acd.acd import QueueRefused
    from acd.desks import AcdConfig, Desk

    seen: list[object] = []
    engine = Engine({QueueRefused: seen.append}, acd=AcdConfig(desks=(Desk("general", "综合", "general", max_queue=1),)))
    runner = asyncio.create_task(engine.run())
    for uid in ("A", "B", "C"):  # real callers: Asterisk shows their channels
        engine.submit(ev.ChannelCreated(NOW, uid, uid, f"PJSIP/carrier-{uid}", 6, "1", "", "12345", "from-trunk"))
    for uid in ("A", "B"):
        engine.submit(ev.CallQueued(NOW, uid, uid, f"PJSIP/carrier-{uid}", "general"))
    engine.submit(ev.CallQueued(NOW, "C", "C", "PJSIP/carrier-C", "nowhere"))
    await engine.drained()
    assert seen == [QueueRefused("B", "PJSIP/carrier-B", "general", "queue-full"),
                    QueueRefused("C", "PJSIP/carrier-C", "nowhere", "unknown-desk")]
    assert list(engine.acd.queue) == ["A"]
    engine.stop()
    await runner


async def test_given_the_engine_then_records_say_queued_lost_answered_or_internal() -> None:
    from datetime import timedelta

    from acd.desks import AcdConfig, AgentConfig, Desk
    from acd.records import Disposition

    cfg = AcdConfig(desks=(Desk("general", "综合", "general"),),
                    agents=(AgentConfig("agent1001", "甲", "PJSIP/agent1001", "1001", "1", {"general": 3}),))
    written: list[WriteCallRecord] = []
    engine = Engine({WriteCallRecord: written.append}, acd=cfg)  # no callback feature: L is only recorded
    runner = asyncio.create_task(engine.run())

    def at(seconds: float) -> datetime:
        return NOW + timedelta(seconds=seconds)

    # L waits and hangs up in the queue: the record is written in the same step as the ACD's verdict
    engine.submit(ev.ChannelCreated(at(0), "L", "L", "PJSIP/carrier-L", 6, "138", "", "12345", "from-trunk"))
    engine.submit(ev.CallQueued(at(3), "L", "L", "PJSIP/carrier-L", "general", open_order="3301-20261122-000001"))
    engine.submit(ev.ChannelHungUp(at(20), "L", "L", 16, ""))
    # I: an agent dials a seat from the phone (no ACD involved)
    engine.submit(ev.ChannelCreated(at(0), "I", "I", "PJSIP/agent1001-05", 6, "1001", "", "1002", "from-agents"))
    engine.submit(ev.ChannelHungUp(at(5), "I", "I", 16, ""))
    # A: queued, offered to agent1001 (ready), answered, talks 30 s
    await engine.request("login", "agent1001")
    await engine.request("ready", "agent1001")
    engine.submit(ev.ChannelCreated(at(0), "A", "A", "PJSIP/carrier-A", 6, "139", "", "12345", "from-trunk"))
    engine.submit(ev.CallQueued(at(3), "A", "A", "PJSIP/carrier-A", "general"))
    engine.submit(ev.ChannelCreated(at(4), "A2", "A", "PJSIP/agent1001-06", 6, "1001", "", "s", "from-agents"))
    engine.submit(ev.DialEnded(at(6), "A", "A", "PJSIP/agent1001-06", "ANSWER"))
    engine.submit(ev.ChannelHungUp(at(36), "A2", "A", 16, ""))
    engine.submit(ev.ChannelHungUp(at(36.5), "A", "A", 16, ""))
    await engine.drained()
    records = {w.record.linkedid: w.record for w in written}
    lost, internal, answered = records["L"], records["I"], records["A"]
    assert lost.disposition is Disposition.ABANDONED_QUEUE and lost.desk == "general"
    assert lost.queue_wait is not None and lost.repeat_caller and lost.order_number == "3301-20261122-000001"
    assert internal.disposition is Disposition.INTERNAL
    assert answered.disposition is Disposition.ANSWERED and answered.agent == "agent1001"
    assert answered.talk_time == 30.5 and answered.queue_wait is not None
    engine.stop()
    await runner
