"""A supervisor's figures: /api/desks (today, live) and /api/figures?day= (from the store's
records) give the same numbers for a day, counted as ../shared/MISSION.md says, and a
controller restart loses none of them. The engine is driven through its inbox as Asterisk
would (tests/acd/test_engine_promises.py's orders); its records go to a real SQLite store."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from acd import events as ev
from acd.commands import WriteCallRecord
from acd.engine import Engine
from acd.kpis import HOTLINE, local_day_bounds
from tests.acd.test_engine_promises import CFG, NOW, Hall, at
from tickets.store import CallRecordStore
from web.api import make_app

COUNTED = ("offered", "answered", "lost", "answer_rate_pct", "service_level_pct", "average_speed_of_answer",
           "short_abandons", "lost_by", "abandoned", "abandoned_while_ringing")
DAY = "2026-11-23"  # NOW is 09:30 in Beijing on that day (01:30 UTC)


async def a_morning(hall: Hall) -> None:
    """Answered in 6 s of arriving, answered late (after 30 s), gone in the queue after 20 s,
    gone while the phone rang, gone in the greeting after 2 s (秒挂)."""
    await hall.agents_ready("a1")
    engine = hall.engine

    def answer(uid: str, t: float) -> None:
        engine.submit(ev.ChannelCreated(at(t), f"{uid}-a", uid, f"PJSIP/agent1001-{uid}", 5, "1001", "", "s", "from-agents"))
        engine.submit(ev.DialEnded(at(t), uid, uid, f"PJSIP/agent1001-{uid}", "ANSWER"))

    def hang_up(uid: str, t: float, agent_leg: bool = True) -> None:
        if agent_leg:
            engine.submit(ev.ChannelHungUp(at(t), f"{uid}-a", uid, 16, ""))
        engine.submit(ev.ChannelHungUp(at(t), uid, uid, 16, ""))

    hall.caller_waits("C1", 0)  # queued at 1 s, offered to a1 at once
    await engine.drained()
    hall.t = 6
    answer("C1", 6)
    hall.t = 60
    hang_up("C1", 60)
    await engine.drained()
    hall.t = 61
    await engine.request("pause", "a1", "meal")
    hall.caller_waits("C2", 100)  # waits: nobody ready
    hall.caller_waits("C3", 101)
    await engine.drained()
    hall.t = 121
    hang_up("C3", 121, agent_leg=False)  # gave up in the queue after 20 s
    await engine.drained()
    hall.t = 130
    await engine.request("ready", "a1")  # C2 offered
    answer("C2", 132)  # 32 s after arriving
    engine.submit(ev.ChannelCreated(at(140), "C4", "C4", "PJSIP/carrier-C4", 6, "13900000004", "", "12345", "from-trunk"))
    hang_up("C4", 142, agent_leg=False)  # gone in the greeting after 2 s
    hall.t = 200
    hang_up("C2", 200)
    await engine.drained()


async def test_todays_figures_agree_with_the_days_records_and_survive_a_restart(tmp_path: Path) -> None:
    store = CallRecordStore(f"sqlite+aiosqlite:///{tmp_path}/calls.db")
    await store.open()
    written: list[asyncio.Task[int]] = []
    hall = Hall()
    hall.engine.observe(WriteCallRecord, lambda e: written.append(asyncio.ensure_future(store.write_many([e.record]))))
    await a_morning(hall)
    await asyncio.gather(*written)
    async with TestClient(TestServer(make_app(hall.engine, records=store), host="127.0.0.1")) as client:
        live = await (await client.get("/api/desks")).json()
        day = await (await client.get(f"/api/figures?day={DAY}")).json()
        assert (await client.get("/api/figures?day=yesterday")).status == 400
    whole = live[HOTLINE]
    assert (whole["offered"], whole["answered"], whole["short_abandons"]) == (3, 2, 1)
    assert whole["service_level_pct"] == 33.3  # C1 within 15 s of arriving; C2 late; C3 lost
    assert whole["answer_rate_pct"] == 66.7 and whole["lost_by"]["queue"] == 1
    assert whole["average_speed_of_answer"] == (6 + 32) / 2
    assert day["timezone"] == "Asia/Shanghai"
    for desk in (HOTLINE, "general"):
        assert {k: live[desk][k] for k in COUNTED} == {k: day["desks"][desk][k] for k in COUNTED}, desk
    await hall.close()

    # the controller restarts: a new engine, given the store's records of the day
    later = Engine({}, acd=CFG, clock=lambda: 0.0, wall=lambda: NOW.timestamp() + 300)
    runner = asyncio.create_task(later.run())
    zone = later.today.zone
    later.restore_records(await store.arrived_between(*local_day_bounds(NOW.astimezone(zone).date(), zone)))
    again = later.desk_figures()
    assert {k: again[HOTLINE][k] for k in COUNTED} == {k: whole[k] for k in COUNTED}
    later.stop()
    await runner
    await store.close()


async def test_a_call_in_talk_counts_as_answered_before_it_ends() -> None:
    hall = Hall()
    await hall.agents_ready("a1")
    hall.caller_waits("C1", 0)
    await hall.engine.drained()
    hall.engine.submit(ev.DialEnded(at(5), "C1", "C1", "PJSIP/agent1001-x", "ANSWER"))
    await hall.engine.drained()
    whole = hall.engine.desk_figures()[HOTLINE]
    assert (whole["offered"], whole["answered"], whole["service_level_pct"]) == (1, 1, 100.0)
    assert hall.engine.desk_figures()["general"]["waiting"] == 0
    await hall.close()
