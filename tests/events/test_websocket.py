"""The live events websocket, as a wallboard or an agent's desk sees it: a real engine driven
through its inbox, the controller's HTTP app with its token file, a real websocket client. Every
promise holds both ways the controller serves it: from its own process (`[events] hub = false`)
and through the events hub's process (the default), which the client cannot tell apart.

Promises: a snapshot on connect, then every fact in order; a client that reconnects with its
last sequence number gets each fact exactly once; an agent's socket never carries another
agent's call nor a caller's full number; a client too slow to read is cut off, and the engine
never waits for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from acd import events as ev
from acd.desks import AcdConfig, AgentConfig, Desk
from acd.engine import Engine
from events.metrics import Metrics
from events.hub import HubLink
from events.notifier import Notifier
from events.stream import EventStream
from events.websocket import add_events
from tests.acd.test_engine_promises import at
from tests.waiting import wait_until
from web.access import Role, TokenFile, add_token
from web.api import make_app

CONFIG = AcdConfig(desks=(Desk("general", "综合", "general", wrap_up=0),),
                   agents=(AgentConfig("a1", "甲", "PJSIP/agent1001", "1001", "1", {"general": 1}),
                           AgentConfig("a2", "乙", "PJSIP/agent1002", "1002", "1", {"general": 1})))


@pytest.fixture(params=["inline", "hub"])
def fanout(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Hotline:
    """An engine, its notifier and the HTTP app serving the websocket, with three tokens; with
    `hub`, the events hub's process serves the clients."""

    def __init__(self, tmp: Path, stream: EventStream | None = None,
                 health: Callable[[], dict[str, float]] | None = None, hub: bool = False) -> None:
        self.notifier = Notifier(stream)
        self.engine = Engine({}, acd=CONFIG)
        for kind in self.notifier.kinds:
            self.engine.observe(kind, self.notifier)
        path = str(tmp / "tokens")
        self.tokens = {name: add_token(path, role, name) for name, role in
                       (("boss", Role.SUPERVISOR), ("a1", Role.AGENT), ("a2", Role.AGENT))}
        app = make_app(self.engine, tokens=TokenFile(path))
        self.link = HubLink(self.notifier.stream) if hub else None
        add_events(app, self.notifier.stream, self.engine, hub=self.link)
        if health is not None:  # /metrics too (tests/events/test_metrics.py)
            self.metrics = Metrics(self.engine, self.notifier.stream, health)
            self.engine.step_observer = self.metrics.step.observe
            self.metrics.serve(app)
        self.server = TestServer(app, host="127.0.0.1", port=0)

    async def __aenter__(self) -> Hotline:
        self.task = asyncio.create_task(self.engine.run())
        if self.link is not None:
            self.hub_task = asyncio.create_task(self.link.run())
            await asyncio.wait_for(self.link.ready.wait(), 10)
        await self.server.start_server()
        self.http = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.close()
        await self.server.close()
        if self.link is not None:
            await self.link.stop()
            await self.hub_task
        self.engine.stop()
        await self.task

    def cut_off(self) -> tuple[int, int]:
        """Clients cut off for being slow, and clients now: the hub's figures when it serves them."""
        if self.link is not None:
            return int(self.link.figures.get("cut_off", 0)), int(self.link.figures.get("subscribers", 0))
        return self.notifier.stream.cut_off, self.notifier.stream.subscribers

    def connect(self, who: str, **query: Any) -> Any:
        return self.http.ws_connect(self.server.make_url("/api/events").with_query(query),
                                    headers={"Authorization": f"Bearer {self.tokens[who]}"})

    async def call(self, uid: str, t: float, number: str) -> None:
        """A citizen arrives and queues; a ready agent is offered them and answers."""
        self.engine.submit(ev.ChannelCreated(at(t), uid, uid, f"PJSIP/carrier-{uid}", 6, number, "", "12345",
                                             "from-trunk"))
        self.engine.submit(ev.CallQueued(at(t), uid, uid, f"PJSIP/carrier-{uid}", "general"))
        await self.engine.drained()
        offered = self.engine.acd.queue[uid].offered_to
        leg = f"PJSIP/agent100{offered[-1]}-{uid}"
        self.engine.submit(ev.ChannelCreated(at(t), f"{uid}-a", uid, leg, 0, "", "", "s", "from-agents"))
        self.engine.submit(ev.DialEnded(at(t + 1), uid, uid, leg, "ANSWER"))
        await self.engine.drained()

    async def hang_up(self, uid: str, t: float) -> None:
        """The citizen hangs up (and the agent's leg with them, if they had one)."""
        for channel in (uid, f"{uid}-a"):
            self.engine.submit(ev.ChannelHungUp(at(t), channel, uid, 16, "Normal Clearing"))
        await self.engine.drained()


async def receive(socket: Any, until: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Messages up to and including the first event of kind `until`."""
    got: list[dict[str, Any]] = []
    while not got or got[-1].get("kind") != until:
        got.append(await asyncio.wait_for(socket.receive_json(), timeout))
    return got


async def test_a_supervisor_gets_the_snapshot_then_each_fact_in_order_and_resumes_without_loss(
        tmp_path: Path, fanout: str) -> None:
    async with Hotline(tmp_path, hub=fanout == "hub") as hotline:
        await hotline.engine.request("login", "a1")
        async with hotline.connect("boss") as socket:
            first = await socket.receive_json()
            assert first["type"] == "snapshot" and first["seq"] == hotline.notifier.stream.seq
            assert [a["agent_id"] for a in first["agents"]] == ["a1", "a2"] and first["calls"] == []
            await hotline.engine.request("ready", "a1")
            await hotline.call("C1", 1, "13800138000")
            seen = await receive(socket, "call.answered")
            kinds = [m["kind"] for m in seen]
            # a1 ready; the citizen arrives and queues; a1 offered it, then on it
            assert kinds == ["agent.state", "call.arrived", "call.queued", "agent.state", "call.offered", "agent.state",
                             "call.answered"], kinds
            arrived = next(m for m in seen if m["kind"] == "call.arrived")
            assert arrived["data"]["number"] != "13800138000" and arrived["data"]["number"].endswith("8000")
            seqs = [m["seq"] for m in seen]
            assert seqs == list(range(first["seq"] + 1, first["seq"] + 1 + len(seqs)))  # none lost, in order
            last = seqs[-1]
        # the socket is gone: the call ends meanwhile; the client comes back with its last number
        await hotline.hang_up("C1", 30)
        async with hotline.connect("boss", stream=first["stream"], since=last) as socket:
            back = await socket.receive_json()
            assert (back["type"], back["seq"]) == ("resumed", last)
            missed = await receive(socket, "call.ended")
            assert [m["seq"] for m in missed] == list(range(last + 1, last + 1 + len(missed)))  # exactly once
            assert missed[-1]["data"]["disposition"] == "answered" and missed[-1]["agent"] == "a1"
        # another controller life (or a number too old): a fresh snapshot, not a wrong resume
        async with hotline.connect("boss", stream="someone-else", since=last) as socket:
            assert (await socket.receive_json())["type"] == "snapshot"


async def test_an_agents_socket_never_carries_another_agents_call(tmp_path: Path, fanout: str) -> None:
    async with Hotline(tmp_path, hub=fanout == "hub") as hotline:
        for agent_id in ("a1", "a2"):
            await hotline.engine.request("login", agent_id)
        async with hotline.connect("a2") as mine:
            snap = await mine.receive_json()
            assert [a["agent_id"] for a in snap["agents"]] == ["a2"] and snap["desks"] == {}
            await hotline.engine.request("ready", "a1")
            await hotline.call("C1", 1, "13800138001")  # a1's call
            await hotline.hang_up("C1", 10)
            await hotline.engine.request("ready", "a2")
            await hotline.call("C2", 11, "13800138002")  # a2's call
            seen = await receive(mine, "call.answered")
            assert {m["agent"] for m in seen} == {"a2"}
            assert all(m["linkedid"] in ("", "C2") for m in seen), seen
            # ready, offered, on the call: its own seat and call only
            assert [m["kind"] for m in seen] == ["agent.state", "agent.state", "call.offered", "agent.state", "call.answered"]


async def test_a_client_too_slow_to_read_is_cut_off_and_the_engine_does_not_wait(tmp_path: Path,
                                                                                  fanout: str) -> None:
    async with Hotline(tmp_path, EventStream(depth=5), hub=fanout == "hub") as hotline:
        await hotline.engine.request("login", "a1")
        async with hotline.connect("boss") as socket:
            await socket.receive_json()  # the snapshot; then it stops reading
            stream = hotline.notifier.stream
            for n in range(20_000):  # facts a wallboard cannot take in (the socket's buffers fill)
                stream.publish(float(n), "desk.figures", data={"desk": "general", "pad": "x" * 1000})
                if n % 100 == 0:
                    await asyncio.sleep(0)  # the socket's task runs between the engine's steps
                if hotline.cut_off()[0]:
                    break
            await wait_until(lambda: hotline.cut_off() == (1, 0), what="the slow client cut off")  # not waited for
            await hotline.engine.request("ready", "a1")  # the engine goes on
            while (message := await socket.receive(timeout=5)).type is aiohttp.WSMsgType.TEXT:
                pass  # what was sent before the cut
            assert message.type is aiohttp.WSMsgType.CLOSE and (message.data, message.extra) == (1013, "too-slow")


@pytest.mark.parametrize(("who", "query", "status"), [(None, {}, 401), ("boss", {"since": "-1"}, 400),
                                                      ("boss", {"since": "x"}, 400)])
async def test_a_bad_connect_is_refused_with_a_stable_answer(tmp_path: Path, who: str | None, query: dict[str, str],
                                                             status: int, fanout: str) -> None:
    async with Hotline(tmp_path, hub=fanout == "hub") as hotline:
        headers = {"Authorization": f"Bearer {hotline.tokens[who]}"} if who else {}
        async with hotline.http.get(hotline.server.make_url("/api/events").with_query(query), headers=headers) as got:
            assert got.status == status
            assert (await got.json())["error"] == {401: "unauthorized", 400: "bad-resume"}[status]
        async with hotline.http.get(hotline.server.make_url("/api/events"),
                                    headers={"Authorization": f"Bearer {hotline.tokens['a1']}"}) as plain:
            assert (plain.status, (await plain.json())["error"]) == (400, "websocket-required")
