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
