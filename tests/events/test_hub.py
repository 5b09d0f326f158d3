"""The events hub (events/hub.py) as the hall sees it when something goes wrong: the hub's
process dies mid-shift, or is not up yet, or clients come and go all day long. A real engine, the
controller's HTTP app, the hub's real process and real websocket clients.

Promises: a wallboard whose hub died reconnects to a new one and resumes with every fact exactly
once; while no hub serves, a client gets a stable 503, never a hang; handing clients over leaks
no descriptor in the controller; the hub ends by itself when the controller goes.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import aiohttp

from events.hub import HUB_DOWN
from tests.events.test_websocket import Hotline, receive
from tests.waiting import wait_until


async def test_a_wallboard_whose_hub_died_resumes_through_the_next_one_with_every_fact_once(tmp_path: Path) -> None:
    async with Hotline(tmp_path, hub=True) as hotline:
        link = hotline.link
        assert link is not None and link.pid is not None
        await hotline.engine.request("login", "a1")
        socket = await hotline.connect("boss")
        first = await socket.receive_json()
        await hotline.engine.request("ready", "a1")
        await hotline.call("C1", 1, "13800138000")
        seen = await receive(socket, "call.answered")
        old_pid = link.pid
        os.kill(old_pid, signal.SIGKILL)  # the hub's process dies mid-call
        while (message := await socket.receive(timeout=10)).type is aiohttp.WSMsgType.TEXT:
            seen.append(message.json())  # what it had sent before dying
        await socket.close()
        await hotline.hang_up("C1", 30)  # the call ends while no hub serves
        await wait_until(lambda: link.restarts == 1 and link.ready.is_set(), what="a new hub")
        assert link.pid != old_pid
        async with hotline.connect("boss", stream=first["stream"], since=seen[-1]["seq"]) as again:
            back = await again.receive_json()
            assert back["type"] == "resumed"
            missed = await receive(again, "call.ended")
        seqs = [m["seq"] for m in seen + missed]
        assert seqs == list(range(first["seq"] + 1, first["seq"] + 1 + len(seqs)))  # none lost, none twice
        assert missed[-1]["data"]["disposition"] == "answered"


async def test_while_no_hub_serves_a_client_gets_a_stable_503(tmp_path: Path) -> None:
    async with Hotline(tmp_path, hub=True) as hotline:
        assert hotline.link is not None
        await hotline.link.stop()  # and not started again
        async with hotline.http.get(hotline.server.make_url("/api/events"), headers={
                "Authorization": f"Bearer {hotline.tokens['boss']}", "Connection": "Upgrade", "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}) as got:
            assert (got.status, (await got.json())["error"]) == (503, HUB_DOWN)
        await hotline.engine.request("login", "a1")  # the engine goes on regardless


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_clients_coming_and_going_all_day_leak_no_descriptor_in_the_controller(tmp_path: Path) -> None:
    async with Hotline(tmp_path, hub=True) as hotline:
        assert hotline.link is not None
        async with hotline.connect("boss") as warm:  # the session's own pool and the loop's, made once
            await warm.receive_json()
        await wait_until(lambda: hotline.cut_off()[1] == 0, what="the first client gone from the hub")
        before = _open_descriptors()
        for n in range(40):
            async with hotline.connect("a1" if n % 2 else "boss") as socket:
                assert (await socket.receive_json())["type"] == "snapshot"
        await wait_until(lambda: hotline.cut_off()[1] == 0, what="every client gone from the hub")
        await wait_until(lambda: _open_descriptors() <= before, timeout=5,
                         what=f"the controller's descriptors back to {before} (now {_open_descriptors()})")


async def test_the_hub_ends_by_itself_when_the_controller_goes(tmp_path: Path) -> None:
    async with Hotline(tmp_path, hub=True) as hotline:
        link = hotline.link
        assert link is not None and link._process is not None
        process = link._process
        assert link._channel is not None
        link._channel.close()  # the controller's end of the socket, as when the controller dies
        assert await asyncio.wait_for(process.wait(), 10) == 0  # it ended, it was not killed


def test_the_hand_over_works_on_uvloop_the_loop_the_controller_runs_on(tmp_path: Path) -> None:
    """uvloop's transports are not asyncio's (its socket is a stand-in): the controller's half of
    the hand-over must work there too."""
    import uvloop

    async def scenario() -> list[str]:
        async with Hotline(tmp_path, hub=True) as hotline:
            await hotline.engine.request("login", "a1")
            async with hotline.connect("boss") as socket:
                first = await socket.receive_json()
                await hotline.engine.request("ready", "a1")
                got = await receive(socket, "agent.state")
            async with hotline.connect("boss", stream=first["stream"], since=first["seq"]) as again:
                back = [(await again.receive_json())["type"], (await again.receive_json())["kind"]]
            return [first["type"], got[-1]["kind"], *back]

    assert uvloop.run(scenario()) == ["snapshot", "agent.state", "resumed", "agent.state"]
