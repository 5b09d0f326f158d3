"""An agent's day through the API, kept from the engine's own word: every state change the
engine publishes goes to the store (agent_history), and GET /api/agents/{id}/day gives the
figures the engine's changes give when added up by hand. A change restored at a restart is
one row, not two; an agent may read their own day, not another's."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from acd.acd import AgentChanged
from acd.desks import AcdConfig, AgentConfig, Desk
from acd.engine import Engine
from acd.history import Transition
from events.notifier import Notifier
from tickets.agent_history import AgentHistoryStore
from tickets.saves import SaveLoop
from tickets.schema import agent_history
from tickets.store import CallRecordStore
from web.access import Role, TokenFile, add_token
from web.api import make_app

CITY = ZoneInfo("Asia/Shanghai")
CONFIG = AcdConfig(desks=(Desk("general", "综合", "general"),),
                   agents=(AgentConfig("a1", "甲", "PJSIP/agent1001", "1001", "1", {"general": 1}),
                           AgentConfig("a2", "乙", "PJSIP/agent1002", "1002", "1", {"general": 1})))
MORNING = datetime(2026, 12, 3, 8, 30, tzinfo=CITY).timestamp()  # 00:30 UTC: the UTC and local days differ


async def test_an_agents_day_is_what_their_state_changes_add_up_to(tmp_path: Path) -> None:
    records = CallRecordStore(f"sqlite+aiosqlite:///{tmp_path}/hotline.db")
    await records.open()
    history = AgentHistoryStore(records.engine)
    clock = [0.0]
    engine = Engine({}, acd=CONFIG, clock=lambda: clock[0], wall=lambda: MORNING + clock[0])
    notifier = Notifier(wall=lambda: MORNING + clock[0], clock=lambda: clock[0])
    saver = SaveLoop(history.save, "agents' history",
                     lambda f: (f.agent_id, Transition(f.data["since"], f.data["state"], f.data["reason"])))
    notifier.stream.listen(lambda f: saver.submit(f) if f.kind == "agent.state" else None)
    said: list[AgentChanged] = []
    for kind in notifier.kinds:
        engine.observe(kind, notifier)
    engine.observe(AgentChanged, said.append)
    tasks = [asyncio.create_task(engine.run()), asyncio.create_task(saver.run())]
    tokens = str(tmp_path / "tokens")
    boss, own, other = (add_token(tokens, role, name) for role, name in
                        ((Role.SUPERVISOR, "boss"), (Role.AGENT, "a1"), (Role.AGENT, "a2")))
    server = TestServer(make_app(engine, tokens=TokenFile(tokens), history=history), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        for t, op, reason in ((0, "login", ""), (60, "ready", ""), (600, "pause", "meal"), (900, "ready", ""),
                              (1500, "pause", "training"), (1700, "ready", ""), (2000, "logout", "")):
            clock[0] = float(t)
            await engine.request(op, "a1", reason)
        await saver.flush()
        # a restart restores the last change: written again, it stays one row
        notifier.stream.publish(MORNING, "agent.state", "a1",
                                data={"state": "logged_out", "reason": "", "since": MORNING + 2000})
        await saver.flush()
        async with records.engine.connect() as conn:
            rows = (await conn.execute(select(func.count()).select_from(agent_history))).scalar_one()
        assert rows == len(said) == 7

        by_hand: dict[str, float] = {}  # the engine's changes, added up: each lasts until the next
        for this, after in zip(said, said[1:]):
            key = f"paused:{this.reason}" if this.state.value == "paused" else this.state.value
            by_hand[key] = by_hand.get(key, 0.0) + after.at - this.at
        async with aiohttp.ClientSession() as http:
            url = server.make_url("/api/agents/a1/day").with_query(day="2026-12-03")
            async with http.get(url, headers={"Authorization": f"Bearer {boss}"}) as got:
                assert got.status == 200
                day = await got.json()
            assert (day["day"], day["timezone"]) == ("2026-12-03", "Asia/Shanghai")
            assert day["ready"] == by_hand["ready"] == 540 + 600 + 300
            assert day["paused"] == {"login": by_hand["paused:login"], "meal": by_hand["paused:meal"],
                                     "training": by_hand["paused:training"]}
            assert day["logged_in"] == sum(by_hand.values()) == 2000
            assert day["occupancy"] == 0.0  # no call that morning
            async with http.get(url, headers={"Authorization": f"Bearer {own}"}) as mine:
                assert mine.status == 200
            async with http.get(url, headers={"Authorization": f"Bearer {other}"}) as theirs:
                assert (theirs.status, (await theirs.json())["error"]) == (403, "forbidden")
            bad = server.make_url("/api/agents/a1/day").with_query(day="2026-13-03")
            async with http.get(bad, headers={"Authorization": f"Bearer {boss}"}) as wrong:
                assert wrong.status == 400
            nobody = server.make_url("/api/agents/zz/day").with_query(day="2026-12-03")
            async with http.get(nobody, headers={"Authorization": f"Bearer {boss}"}) as unknown:
                assert (unknown.status, (await unknown.json())["error"]) == (404, "unknown-agent")
            yesterday = server.make_url("/api/agents/a1/day").with_query(day="2026-12-02")
            async with http.get(yesterday, headers={"Authorization": f"Bearer {boss}"}) as before:
                assert (await before.json())["logged_in"] == 0.0  # the UTC day of 00:30 is not the city's
    finally:
        await server.close()
        engine.stop()
        for task in tasks[1:]:
            task.cancel()
        await tasks[0]
        await records.close()
