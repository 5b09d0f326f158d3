"""The FastAGI server on loopback, driven by a client that speaks the protocol as Asterisk does
(environment, then one reply line per command; HANGUP when the caller leaves)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from pbx.fastagi import AgiChannel, FastAgiServer, SessionOutcome

ENV = ("agi_network: yes\nagi_network_script: {script}\nagi_request: agi://127.0.0.1/{script}\n"
       "agi_channel: PJSIP/carrier-00000001\nagi_uniqueid: pbx-1.1\nagi_callerid: 13800138000\n"
       "agi_calleridname: 张三\nagi_extension: 12345\n\n")


class FakeAsterisk:
    """Plays Asterisk's side of one session: replies by command name."""

    def __init__(self, port: int, script: str, replies: dict[str, bytes]) -> None:
        self.port, self.script, self.replies = port, script, replies
        self.commands: list[str] = []

    async def run(self, hang_up_after: int | None = None) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(ENV.format(script=self.script).encode())
        try:
            while line := await reader.readline():
                command = line.decode().strip()
                self.commands.append(command)
                if hang_up_after is not None and len(self.commands) > hang_up_after:
                    writer.write(b"HANGUP\n")
                else:
                    writer.write(self.replies.get(command.split()[0], b"200 result=0\n"))
                await writer.drain()
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[tuple[FastAgiServer, list[SessionOutcome]]]:
    outcomes: list[SessionOutcome] = []
    srv = FastAgiServer("127.0.0.1", 0, command_timeout=0.5, header_timeout=0.5,
                        on_session_end=lambda env, outcome: outcomes.append(outcome))
    await srv.start()
    yield srv, outcomes
    await srv.close()


def route(srv: FastAgiServer, name: str, fn: Callable[[AgiChannel], Awaitable[None]]) -> None:
    srv.route(name, fn)


async def settle(outcomes: list[SessionOutcome], n: int) -> None:
    for _ in range(100):
        if len(outcomes) >= n:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"only {outcomes}")


async def test_routing_by_script_with_query_params_and_six_commands(server) -> None:
    srv, outcomes = server
    seen = {}

    async def flow(agi: AgiChannel) -> None:
        seen["params"] = agi.env.params
        seen["name"] = agi.env.calleridname
        await agi.answer()
        await agi.set_variable("HOTLINE_DESK", "general")
        seen["var"] = await agi.get_variable("HOTLINE_DESK")
        await agi.stream_file("hello-world")
        seen["digits"] = await agi.get_data("beep", 3000, 4)
        await agi.hangup()

    route(srv, "intake", flow)
    peer = FakeAsterisk(srv.bound_port, "intake?dialed=12315",
                        {"GET": b"200 result=1 (general)\n", "STREAM": b"200 result=0 endpos=8000\n"})
    peer.replies["GET"] = b"200 result=1 (general)\n"
    await peer.run()
    await settle(outcomes, 1)
    assert outcomes == [SessionOutcome("completed")]
    assert seen["params"] == {"dialed": "12315"} and seen["name"] == "张三" and seen["var"] == "general"
    assert [c.split()[0] for c in peer.commands] == ["ANSWER", "SET", "GET", "STREAM", "GET", "EXEC"]


async def test_a_caller_hanging_up_ends_the_flow_as_a_hangup(server) -> None:
    srv, outcomes = server

    async def flow(agi: AgiChannel) -> None:
        await agi.answer()
        await agi.stream_file("hello-world")
        raise AssertionError("not reached")

    route(srv, "intake", flow)
    await FakeAsterisk(srv.bound_port, "intake", {}).run(hang_up_after=1)
    await settle(outcomes, 1)
    assert outcomes[0].kind == "hangup"


async def test_playback_ending_with_result_minus_one_is_a_hangup(server) -> None:
    srv, outcomes = server

    async def flow(agi: AgiChannel) -> None:
        await agi.stream_file("hello-world")

    route(srv, "intake", flow)
    await FakeAsterisk(srv.bound_port, "intake", {"STREAM": b"200 result=-1 endpos=800\n"}).run()
    await settle(outcomes, 1)
    assert outcomes[0].kind == "hangup"


async def test_a_command_without_reply_times_out(server) -> None:
    srv, outcomes = server

    async def flow(agi: AgiChannel) -> None:
        await agi.answer()

    route(srv, "intake", flow)
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.bound_port)
    writer.write(ENV.format(script="intake").encode())
    await reader.readline()  # ANSWER, never answered
    await settle(outcomes, 1)
    assert outcomes[0].kind == "timeout"
    writer.close()


async def test_bad_peers_never_affect_a_good_session(server, caplog) -> None:
    srv, outcomes = server
    done = asyncio.Event()

    async def flow(agi: AgiChannel) -> None:
        await agi.answer()
        done.set()

    async def broken(agi: AgiChannel) -> None:
        raise RuntimeError("a bug in one call flow")

    route(srv, "intake", flow)
    route(srv, "broken", broken)
    # one peer leaves mid-header, one trickles its header forever, one is far too big
    r1, w1 = await asyncio.open_connection("127.0.0.1", srv.bound_port)
    w1.write(b"agi_network: yes\nagi_chan")
    await w1.drain()
    w1.close()
    r2, w2 = await asyncio.open_connection("127.0.0.1", srv.bound_port)
    w2.write(b"agi_network: yes\n")
    r3, w3 = await asyncio.open_connection("127.0.0.1", srv.bound_port)
    w3.write(b"agi_x: " + b"x" * 100_000 + b"\n")
    good = asyncio.create_task(FakeAsterisk(srv.bound_port, "intake", {}).run())
    await FakeAsterisk(srv.bound_port, "broken", {}).run()
    await FakeAsterisk(srv.bound_port, "nonsense", {}).run()
    await asyncio.wait_for(done.wait(), 2)
    await good
    await settle(outcomes, 3)
    kinds = sorted(o.kind for o in outcomes)
    assert kinds == ["completed", "error", "error"]
    assert any("agi-unknown-script" in o.detail for o in outcomes)
    assert any("a bug in one call flow" in o.detail for o in outcomes)
    await asyncio.sleep(0.7)  # the trickling peer is dropped after the header timeout
    assert await r2.read() == b""
    assert srv.sessions_failed >= 3
    for w in (w2, w3):
        w.close()
