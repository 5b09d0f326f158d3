"""The HTTP API against a real engine task (no Asterisk needed: agent requests are engine
messages like any other)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from acd.desks import AcdConfig, AgentConfig, Desk
from acd.engine import Engine
from web.api import make_app

CONFIG = AcdConfig(desks=(Desk("general", "综合受理", "general"),),
                   agents=(AgentConfig("agent1001", "王芳", "PJSIP/agent1001", "1001", "1", {"general": 3}),))


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    engine = Engine({}, acd=CONFIG)
    runner = asyncio.create_task(engine.run())
    async with TestClient(TestServer(make_app(engine), host="127.0.0.1")) as c:
        yield c
    engine.stop()
    await runner


async def test_login_ready_pause_logout_through_the_api(client: TestClient) -> None:
    for op, expected in (("login", "paused"), ("ready", "ready")):
        resp = await client.post(f"/api/agents/agent1001/{op}")
        assert resp.status == 200 and (await resp.json())["state"] == expected
    resp = await client.post("/api/agents/agent1001/pause", json={"reason": "meal"})
    assert (await resp.json())["state"] == "paused"
    [agent] = await (await client.get("/api/agents")).json()
    assert agent["reason"] == "meal" and agent["name"] == "王芳"
    assert (await client.post("/api/agents/agent1001/logout")).status == 200


async def test_errors_are_4xx_with_stable_codes_and_change_nothing(client: TestClient) -> None:
    resp = await client.post("/api/agents/agent1001/pause", json={"reason": "meal"})
    assert resp.status == 409
    body = await resp.json()
    assert body["error"] == "illegal-transition" and "logged_out" in body["detail"]
    resp = await client.post("/api/agents/nobody/ready")
    assert resp.status == 404 and (await resp.json())["error"] == "unknown-agent"
    resp = await client.post("/api/agents/agent1001/dance")
    assert resp.status == 404 and (await resp.json())["error"] == "unknown-operation"
    await client.post("/api/agents/agent1001/login")
    resp = await client.post("/api/agents/agent1001/pause", json={"reason": "auto_no_answer"})
    assert resp.status == 400 and (await resp.json())["error"] == "validation-failed"
    resp = await client.post("/api/agents/agent1001/pause", data=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status == 400
    [agent] = await (await client.get("/api/agents")).json()
    assert agent["state"] == "paused" and agent["reason"] == "login"


async def test_desk_figures_and_calls_are_readable(client: TestClient) -> None:
    figures = await (await client.get("/api/desks")).json()
    assert figures["general"]["waiting"] == 0 and figures["general"]["answered"] == 0
    assert await (await client.get("/api/calls")).json() == []
