"""The FastAGI server on loopback, driven by a client that speaks the protocol as Asterisk 22 does
(environment, then one reply per command line; HANGUP when the caller leaves)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from pbx.agi import AgiEnvironment
from pbx.fastagi import (HEADER_TIMEOUT, SHUTTING_DOWN, UNKNOWN_SCRIPT, AgiChannel,
                         AgiCommandTimeout, AgiDeadChannel, AgiHangup, AgiInvalidCommand,
                         AgiUsageError, FastAgiServer, PeerWarnings, SessionOutcome)

DEAD = b"511 Command Not Permitted on a dead channel or intercept routine\n"


def env_header(script: str, callerid: str = "13800138001", name: str = "张三丰") -> bytes:
    return (f"agi_request: agi://127.0.0.1:4573/{script}\nagi_channel: PJSIP/trunk-00000001\n"
            "agi_language: zh\nagi_type: PJSIP\nagi_uniqueid: 1795347643.17\n"
            f"agi_version: 22.1.0\nagi_callerid: {callerid}\nagi_calleridname: {name}\n"
            "agi_callingpres: 0\nagi_dnid: 12345\nagi_rdnis: unknown\n"
            "agi_context: from-trunk\nagi_extension: 12345\nagi_priority: 3\n"
            "agi_enhanced: 0.0\nagi_accountcode: \nagi_threadid: 140245071480512\n"
            f"agi_network: yes\nagi_network_script: {script}\nagi_arg_1: 早上好\n\n").encode()


def asterisk_reply(command: str) -> bytes | None:
    """What Asterisk answers to each command on a live channel."""
    if command.startswith("ANSWER"):
        return b"200 result=0\n"
    if command.startswith(("SET VARIABLE", "VERBOSE", "HANGUP")):
        return b"200 result=1\n"
    if command.startswith("GET VARIABLE"):
        return "200 result=1 (综合受理)\n".encode()
    if command.startswith("STREAM FILE"):
        return b"200 result=0 endpos=12000\n"
    if command.startswith("GET DATA"):
        return b"200 result=1234\n"
    if command.startswith("WAIT FOR DIGIT"):
        return b"200 result=49 (dtmf)\n"
    if command.startswith("EXEC"):
        return b"100 result=0 Trying...\n200 result=0\n"
    return b"510 Invalid or unknown command\n"


class Asterisk:
    """Plays Asterisk's side of one session."""

    def __init__(self, port: int, script: str = "intake?desk=general",
                 reply: Callable[[str], bytes | None] = asterisk_reply,
                 hangup_at: int | None = None, header: bytes | None = None) -> None:
        self.port, self.reply, self.hangup_at = port, reply, hangup_at
        self.header = header if header is not None else env_header(script)
        self.commands: list[str] = []

    async def run(self) -> list[str]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(self.header)
        try:
            while line := await reader.readline():
                command = line.decode().rstrip("\n")
                self.commands.append(command)
                if self.hangup_at is not None and len(self.commands) > self.hangup_at:
                    writer.write(b"HANGUP\n" + DEAD)  # the caller left: HANGUP, then dead mode
                else:
                    answer = self.reply(command)
                    if answer is not None:
                        writer.write(answer)
                await writer.drain()
        finally:
            writer.close()
        return self.commands


Ended = list[tuple[AgiEnvironment, SessionOutcome]]


@pytest.fixture
async def server() -> AsyncIterator[tuple[FastAgiServer, Ended]]:
    ended: Ended = []
    srv = FastAgiServer("127.0.0.1", 0, command_timeout=0.3, header_timeout=0.3, hangup_grace=0.05,
                        on_session_end=lambda env, outcome: ended.append((env, outcome)))
    await srv.start()
    yield srv, ended
    await srv.close()


async def settle(ended: Ended, n: int) -> list[SessionOutcome]:
    for _ in range(200):
        if len(ended) >= n:
            return [outcome for _, outcome in ended]
        await asyncio.sleep(0.01)
    raise AssertionError(f"only {ended}")


async def test_routing_by_script_with_query_params_and_the_helpers() -> None:
    started: list[AgiEnvironment] = []
    ended: Ended = []
    seen: dict[str, object] = {}

    async def intake(agi: AgiChannel) -> None:
        seen.update(params=agi.env.params, name=agi.env.calleridname, args=agi.env.args)
        await agi.answer()
        await agi.set_variable("HOTLINE_DESK", "综合 受理")
        seen["var"] = await agi.get_variable("HOTLINE_DESK")
        await agi.stream_file("hello-world")
        seen["digits"] = await agi.get_data("beep", 3000, 4)
        seen["digit"] = await agi.wait_for_digit(2000)
        seen["exec"] = (await agi.exec("Playback", "tt-monkeys,noanswer")).result
        await agi.verbose("来电 ok")
        await agi.hangup()

    async def survey(agi: AgiChannel) -> None:
        seen["survey"] = agi.env.params

    async with FastAgiServer("127.0.0.1", 0, on_session_start=started.append,
                             on_session_end=lambda e, o: ended.append((e, o))) as srv:
        srv.route("intake", intake)
        srv.route("survey", survey)
        commands = await asyncio.wait_for(
            Asterisk(srv.bound_port, "intake?desk=general&note=%E4%BD%A0%E5%A5%BD").run(), 5)
        await asyncio.wait_for(Asterisk(srv.bound_port, "survey?call=7").run(), 5)
        outcomes = await settle(ended, 2)
    assert outcomes == [SessionOutcome("completed"), SessionOutcome("completed")]
    assert [e.script for e in started] == ["intake", "survey"]
    assert seen == {"params": {"desk": "general", "note": "你好"}, "name": "张三丰",
                    "args": ("早上好",), "var": "综合受理", "digits": "1234", "digit": "1",
                    "exec": 0, "survey": {"call": "7"}}
    assert commands == ["ANSWER", 'SET VARIABLE HOTLINE_DESK "综合 受理"',
                        "GET VARIABLE HOTLINE_DESK", 'STREAM FILE hello-world ""',
                        "GET DATA beep 3000 4", "WAIT FOR DIGIT 2000",
                        "EXEC Playback tt-monkeys,noanswer", 'VERBOSE "来电 ok" 1', "EXEC Hangup 16"]


async def test_a_command_without_reply_times_out(server: tuple[FastAgiServer, Ended]) -> None:
    srv, ended = server
    raised: list[BaseException] = []

    async def flow(agi: AgiChannel) -> None:
        try:
            await agi.answer()
        except AgiCommandTimeout as exc:
            raised.append(exc)
            raise

    srv.route("intake", flow)
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.bound_port)
    writer.write(env_header("intake"))
    assert await reader.readline() == b"ANSWER\n"  # never answered
    [outcome] = await settle(ended, 1)
    assert outcome.kind == "timeout" and "ANSWER" in outcome.detail
    assert len(raised) == 1
    assert await asyncio.wait_for(reader.read(), 2) == b""  # and the session is closed
    writer.close()


async def test_a_long_command_gets_its_own_timeout_and_a_late_reply_is_never_misread(
        server: tuple[FastAgiServer, Ended]) -> None:
    srv, ended = server
    seen: list[object] = []

    async def flow(agi: AgiChannel) -> None:
        seen.append((await agi.command("EXEC Wait 1", timeout=2.0)).result)  # 0.5 s > 0.3 s
        with pytest.raises(AgiCommandTimeout):
            await agi.command("GET VARIABLE SLOW", timeout=0.1)
        # the late reply to GET VARIABLE SLOW must not be taken for this one's
        seen.append(await agi.get_variable("FAST"))

    srv.route("intake", flow)
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.bound_port)
    writer.write(env_header("intake"))
    assert await reader.readline() == b"EXEC Wait 1\n"
    await asyncio.sleep(0.5)
    writer.write(b"200 result=0\n")
    assert await reader.readline() == b"GET VARIABLE SLOW\n"
    await asyncio.sleep(0.2)
    writer.write(b"200 result=1 (slow)\n")
    assert await reader.readline() == b"GET VARIABLE FAST\n"
    writer.write(b"200 result=1 (fast)\n")
    [outcome] = await settle(ended, 1)
    assert outcome == SessionOutcome("completed")
    assert seen == [0, "fast"]
    writer.close()


async def test_hangup_in_place_of_a_reply_raises_in_the_handler(
        server: tuple[FastAgiServer, Ended]) -> None:
    srv, ended = server
    raised: list[BaseException] = []

    async def flow(agi: AgiChannel) -> None:
        await agi.answer()
        try:
            await agi.stream_file("hello-world")
        except AgiHangup as exc:
            raised.append(exc)
            assert agi.hung_up
            with pytest.raises(AgiHangup):
                await agi.set_variable("X", "1")  # nothing more goes out
            raise
        raise AssertionError("not reached")

    srv.route("intake", flow)
    commands = await asyncio.wait_for(Asterisk(srv.bound_port, hangup_at=1).run(), 5)
    [outcome] = await settle(ended, 1)
    assert outcome.kind == "hangup" and "hung up" in outcome.detail
    assert len(raised) == 1 and not isinstance(raised[0], AgiDeadChannel)
    assert commands == ["ANSWER", 'STREAM FILE hello-world ""']


async def test_playback_cut_by_a_hangup_raises_once_asterisk_says_hangup(
        server: tuple[FastAgiServer, Ended]) -> None:
    """As Asterisk 22 does it: `200 result=-1 endpos=2400`, then the unsolicited HANGUP."""
    srv, ended = server
    raised: list[BaseException] = []

    async def flow(agi: AgiChannel) -> None:
        try:
            await agi.stream_file("hello-world")
        except AgiHangup as exc:
            raised.append(exc)
            raise
        await agi.set_variable("HOTLINE_DESK", "general")

    srv.route("intake", flow)
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.bound_port)
    writer.write(env_header("intake"))
    assert await reader.readline() == b'STREAM FILE hello-world ""\n'
    writer.write(b"200 result=-1 endpos=2400\n")
    await asyncio.sleep(0.02)
    writer.write(b"HANGUP\n")
    assert await asyncio.wait_for(reader.read(), 2) == b""  # nothing more was sent
    [outcome] = await settle(ended, 1)
    assert outcome.kind == "hangup" and "STREAM FILE" in outcome.detail
    assert len(raised) == 1
    writer.close()


async def test_a_missing_prompt_is_not_a_hangup(server: tuple[FastAgiServer, Ended]) -> None:
    srv, ended = server

    async def flow(agi: AgiChannel) -> None:
        reply = await agi.stream_file("no-such-prompt")
        assert (reply.result, reply.endpos) == (-1, 0)
        assert await agi.get_data("no-such-prompt", 1000, 4) == ""
        await agi.answer()

    def reply(command: str) -> bytes | None:
        if command.startswith("STREAM FILE"):
            return b"200 result=-1 endpos=0\n"
        if command.startswith("GET DATA"):
            return b"200 result=-1\n"
        return asterisk_reply(command)

    srv.route("intake", flow)
    await asyncio.wait_for(Asterisk(srv.bound_port, reply=reply).run(), 5)
    assert await settle(ended, 1) == [SessionOutcome("completed")]


async def test_510_520_and_511_raise_their_errors_and_the_session_stays_in_step(
        server: tuple[FastAgiServer, Ended]) -> None:
    srv, ended = server
    seen: list[object] = []

    async def flow(agi: AgiChannel) -> None:
        with pytest.raises(AgiInvalidCommand, match="510"):
            await agi.command("FOO BAR")
        with pytest.raises(AgiUsageError) as usage:
            await agi.command("STREAM FILE")
        seen.append(usage.value.usage)
        with pytest.raises(AgiUsageError, match="not available"):
            await agi.command("SAY NUMBER")
        seen.append(await agi.get_variable("DESK"))
        await agi.command("EXEC Dial PJSIP/agent1001")

    def reply(command: str) -> bytes | None:
        if command == "STREAM FILE":
            return (b"520-Invalid command syntax.  Proper usage follows:\n"
                    b" Usage: STREAM FILE <filename> <escape_digits> [<sample offset>]\n"
                    b"520 End of proper usage.\n")
        if command == "SAY NUMBER":
            return b"520 Invalid command syntax.  Proper usage not available.\n"
        if command.startswith("EXEC Dial"):
            return DEAD
        return asterisk_reply(command)

    srv.route("intake", flow)
    await asyncio.wait_for(Asterisk(srv.bound_port, reply=reply).run(), 5)
    [outcome] = await settle(ended, 1)
    assert outcome.kind == "hangup" and "511" in outcome.detail
    assert seen == [" Usage: STREAM FILE <filename> <escape_digits> [<sample offset>]", "综合受理"]


async def test_bad_peers_never_affect_good_sessions(server: tuple[FastAgiServer, Ended],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    srv, ended = server
    caplog.set_level(logging.INFO, logger="pbx.fastagi")
    done = asyncio.Event()

    async def flow(agi: AgiChannel) -> None:
        await agi.answer()
        await asyncio.sleep(0.35)  # outlives the header timeout of its neighbours
        await agi.stream_file("hello-world")
        done.set()

    async def broken(agi: AgiChannel) -> None:
        await agi.answer()
        raise RuntimeError("a bug in one call flow")

    srv.route("intake", flow)
    srv.route("broken", broken)
    good = asyncio.create_task(Asterisk(srv.bound_port).run())
    # gone mid-header
    _, w1 = await asyncio.open_connection("127.0.0.1", srv.bound_port)
    w1.write(env_header("intake")[:40])
    await w1.drain()
    w1.close()
    # a slow loris: the header a byte at a time, forever
    r2, w2 = await asyncio.open_connection("127.0.0.1", srv.bound_port)

    async def trickle() -> None:
        for byte in env_header("intake"):
            w2.write(bytes([byte]))
            await asyncio.sleep(0.01)

    loris = asyncio.create_task(trickle())
    # far too big a header
    r3, w3 = await asyncio.open_connection("127.0.0.1", srv.bound_port)
    w3.write(b"agi_network: yes\nagi_x: " + b"x" * 20_000 + b"\n\n")
    # garbage
    r4, w4 = await asyncio.open_connection("127.0.0.1", srv.bound_port)
    w4.write(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n")
    # a handler bug, and a script nobody serves
    broken_peer = asyncio.create_task(Asterisk(srv.bound_port, "broken").run())
    nobody = asyncio.create_task(Asterisk(srv.bound_port, "nonsense?x=1").run())

    assert await asyncio.wait_for(r3.read(), 2) == b""
    assert await asyncio.wait_for(r4.read(), 2) == b""
    try:  # the loris is cut at the header timeout (its next byte may meet a reset)
        assert await asyncio.wait_for(r2.read(), 2) == b""
    except ConnectionResetError:
        pass
    loris.cancel()
    await asyncio.wait_for(asyncio.gather(good, broken_peer, nobody), 3)
    assert done.is_set()
    outcomes = await settle(ended, 3)
    by_script = {env.script: outcome for env, outcome in ended}
    assert by_script["intake"] == SessionOutcome("completed")
    assert by_script["broken"].kind == "error" and "a bug in one call flow" in by_script["broken"].detail
    assert by_script["nonsense"].kind == "error" and UNKNOWN_SCRIPT in by_script["nonsense"].detail
    assert len(outcomes) == 3
    assert srv.sessions_failed == 5  # mid-header, loris, oversized, garbage, unknown script
    text = caplog.text
    assert "eof in header" in text and "header too large" in text and HEADER_TIMEOUT in text
    assert "bad environment line" in text
    failure = next(r for r in caplog.records if "handler failed" in r.getMessage())
    assert "broken" in failure.getMessage() and "PJSIP/trunk-00000001" in failure.getMessage()
    assert "*******8001" in failure.getMessage() and "13800138001" not in text
    for w in (w2, w3, w4):
        w.close()


async def test_close_cancels_running_sessions_gracefully() -> None:
    ended: Ended = []
    started = asyncio.Event()

    async def flow(agi: AgiChannel) -> None:
        started.set()
        await agi.command("EXEC Wait 60", timeout=60)

    srv = FastAgiServer("127.0.0.1", 0, on_session_end=lambda e, o: ended.append((e, o)))
    srv.route("intake", flow)
    await srv.start()
    port = srv.bound_port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(env_header("intake"))
    assert await reader.readline() == b"EXEC Wait 60\n"
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)  # no header yet
    await asyncio.wait_for(srv.close(), 2)
    assert [o for _, o in ended] == [SessionOutcome("error", SHUTTING_DOWN)]
    assert await asyncio.wait_for(reader.read(), 2) == b""
    assert await asyncio.wait_for(idle_reader.read(), 2) == b""
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
    writer.close()
    idle_writer.close()


async def test_serve_runs_until_cancelled() -> None:
    ended: Ended = []
    srv = FastAgiServer("127.0.0.1", 0, on_session_end=lambda e, o: ended.append((e, o)))

    async def flow(agi: AgiChannel) -> None:
        await agi.answer()

    srv.route("/intake/", flow)
    serving = asyncio.create_task(srv.serve())
    for _ in range(100):
        try:
            port = srv.bound_port
            break
        except RuntimeError:
            await asyncio.sleep(0.01)
    await asyncio.wait_for(Asterisk(port).run(), 5)
    await settle(ended, 1)
    serving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await serving
    with pytest.raises(RuntimeError):
        srv.bound_port


async def test_hooks_that_fail_do_not_break_the_session() -> None:
    ran: list[str] = []

    def bad_hook(*_: object) -> None:
        raise RuntimeError("hook bug")

    async def flow(agi: AgiChannel) -> None:
        await agi.answer()
        ran.append(agi.env.script)

    async with FastAgiServer("127.0.0.1", 0, on_session_start=bad_hook,
                             on_session_end=bad_hook) as srv:
        srv.route("intake", flow)
        commands = await asyncio.wait_for(Asterisk(srv.bound_port).run(), 5)
    assert ran == ["intake"] and commands == ["ANSWER"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_given_a_burst_of_bad_peers_then_the_first_few_are_told_and_the_rest_summed_once() -> None:
    clock = Clock()
    warnings = PeerWarnings(burst=3, interval=60.0, clock=clock)
    told = [warnings.note() for _ in range(10)]
    assert told == [True] * 3 + [False] * 7
    assert warnings.summary_due() == 0  # the interval is still running
    clock.now += 60.0
    assert warnings.summary_due() == 7 and warnings.summary_due() == 0  # said once
    assert warnings.note() is True and warnings.total == 11  # a new interval: told again
    clock.now += 120.0
    assert warnings.summary_due() == 0  # nothing went unsaid


async def test_given_244_garbage_peers_then_a_few_warnings_and_an_exact_count(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    srv = FastAgiServer("127.0.0.1", 0, header_timeout=0.3,
                        peer_warnings=PeerWarnings(burst=5, interval=60.0, clock=clock))
    caplog.set_level(logging.WARNING, logger="pbx.fastagi")

    async def garbage() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.bound_port)
        writer.write(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n")
        try:
            assert await asyncio.wait_for(reader.read(), 5) == b""
        except ConnectionResetError:
            pass
        writer.close()

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    async with srv:
        await asyncio.gather(*(garbage() for _ in range(244)))
        assert srv.bad_peers == 244 and srv.sessions_failed == 244
        assert len(warnings()) == 5
        assert all("dropped before its session began: bad environment line" in w for w in warnings())
        clock.now += 60.0  # the interval ends: the server's sweep says the rest in one line
        for _ in range(100):
            if len(warnings()) > 5:
                break
            await asyncio.sleep(0.02)
        assert warnings()[5:] == ["239 more garbage FastAGI peer(s) dropped in the last 60 s"]
        await garbage()  # the next bad peer, in a new interval, is told in full again
        assert srv.bad_peers == 245
        assert len(warnings()) == 7 and "bad environment line" in warnings()[6]
