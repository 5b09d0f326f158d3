"""An agent calling a citizen back sees, on their call's screen, the calls the citizen lost (呼损回拨):
GET /api/agents/{id}/call during the callback lists them; an ordinary call lists none."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from acd import events as ev
from tests.callback.test_flow import at, lose, started
from web.api import make_app


async def test_a_callback_call_shows_the_citizens_lost_calls_and_an_ordinary_call_none() -> None:
    engine, seen, clock, runner = await started()
    lose(engine, "L1", "13800000001", 0)
    clock.t = 60
    await engine.request("login", "a1")
    await engine.request("ready", "a1")
    await engine.drained()
    # the callback: the agent's leg first, in a call of its own, then the dialplan's word
    engine.submit(ev.ChannelCreated(at(90), "cb-a", "cb-1", "PJSIP/agent1001-0001", 0, "", "", "s", "hotline-callback"))
    engine.submit(ev.CallbackDialed(at(100), "13800000001", "AGENT_ANSWERED", "cb-1"))
    await engine.drained()
    async with TestClient(TestServer(make_app(engine), host="127.0.0.1")) as client:
        answer = await (await client.get("/api/agents/a1/call")).json()
        assert answer["call"] is not None, answer
        [loss] = answer["call"]["callback_losses"]
        assert (loss["linkedid"], loss["reason"]) == ("L1", "abandoned_queue") and loss["at"] > 0
        ordinary = await (await client.get("/api/agents/a2/call")).json()
        assert ordinary["call"] is None
    engine.stop()
    await runner
