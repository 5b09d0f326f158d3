"""pbx.ami_client against a small TCP stand-in speaking Asterisk 22's AMI bytes on 127.0.0.1.

The stand-in answers the way Asterisk 22 does (greeting `Asterisk Call Manager/11.0.0`, Login,
FullyBooted, Ping/Pong, list actions ending in `EventList: Complete`, Goodbye on Logoff, and
closing the socket after a refused login). The real Asterisk is for tests/integration/.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from pbx.ami import Event
from pbx.ami_client import AMI_DISCONNECTED, AMI_TIMEOUT, AmiActionFailed, AmiClient, AmiDisconnected, AmiTimeout

SECRET = "s3cret"


def frame(*pairs: tuple[str, str]) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in pairs) + "\r\n").encode("utf-8")


def channel_event(name: str, action_id: str | None, channel: str, cid_name: str) -> bytes:
    pairs = [("Event", name)]
    if action_id is not None:
        pairs.append(("ActionID", action_id))
    pairs += [("Channel", channel), ("ChannelState", "6"), ("ChannelStateDesc", "Up"),
              ("CallerIDNum", "13800138000"), ("CallerIDName", cid_name), ("Context", "hotline-wait"),
              ("Exten", "s"), ("Priority", "1"), ("Uniqueid", f"{channel}.1"), ("Linkedid", f"{channel}.1")]
    return frame(*pairs)


class FakeAsterisk:
    """Speaks AMI like Asterisk 22 on 127.0.0.1:<ephemeral>; knobs for misbehaviour."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0
        self.secret = SECRET
        self.answer_pings = True
        self.hold: set[str] = set()  # actions left unanswered
        self.actions: list[dict[str, str]] = []
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []
        self.channels = [("PJSIP/carrier-00000001", "张三丰"), ("PJSIP/agent001-00000002", "agent001")]

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.drop_all()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def drop_all(self) -> None:
        for writer in self.writers:
            writer.close()
        self.writers.clear()

    async def push(self, data: bytes) -> None:
        for writer in self.writers:
            writer.write(data)
            await writer.drain()

    def names(self) -> list[str]:
        return [a.get("Action", "") for a in self.actions]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        buf = b""
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(4096):
                buf += data
                while b"\r\n\r\n" in buf:
                    raw, buf = buf.split(b"\r\n\r\n", 1)
                    action = dict(line.split(": ", 1) for line in raw.decode().split("\r\n"))
                    self.actions.append(action)
                    if not await self._answer(action, writer):
                        writer.close()
                        return
        writer.close()

    async def _answer(self, action: dict[str, str], writer: asyncio.StreamWriter) -> bool:
        name, aid = action["Action"], action.get("ActionID", "")
        if name in self.hold:
            return True
        if name == "Login":
            if action.get("Secret") != self.secret:
                writer.write(frame(("Response", "Error"), ("ActionID", aid),
                                   ("Message", "Authentication failed")))
                await writer.drain()
                return False  # Asterisk hangs up after a refused login
            writer.write(frame(("Response", "Success"), ("ActionID", aid),
                               ("Message", "Authentication accepted")))
            writer.write(frame(("Event", "FullyBooted"), ("Privilege", "system,all"), ("Uptime", "120"),
                               ("LastReload", "120"), ("Status", "Fully Booted")))
        elif name == "Ping":
            if self.answer_pings:
                writer.write(frame(("Response", "Success"), ("ActionID", aid), ("Ping", "Pong"),
                                   ("Timestamp", "1795347643.946403")))
        elif name == "CoreShowChannels":
            writer.write(frame(("Response", "Success"), ("ActionID", aid), ("EventList", "start"),
                               ("Message", "Channels will follow")))
            for i, (channel, cid_name) in enumerate(self.channels):
                writer.write(channel_event("CoreShowChannel", aid, channel, cid_name))
                if i == 0:  # an unrelated event in the middle of the list
                    writer.write(channel_event("Newstate", None, "PJSIP/other-9", "李四"))
            writer.write(frame(("Event", "CoreShowChannelsComplete"), ("ActionID", aid),
                               ("EventList", "Complete"), ("ListItems", str(len(self.channels)))))
        elif name == "Logoff":
            writer.write(frame(("Response", "Goodbye"), ("ActionID", aid),
                               ("Message", "Thanks for all the fish.")))
            await writer.drain()
            return False
        elif name == "Filter":
            writer.write(frame(("Response", "Success"), ("ActionID", aid), ("Message", "Filter Added")))
        else:
            writer.write(frame(("Response", "Error"), ("ActionID", aid), ("Message", "Invalid/unknown command")))
        await writer.drain()
        return True


async def wait_until(cond: Callable[[], bool], timeout: float = 3.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


class Harness:
    def __init__(self, server: FakeAsterisk) -> None:
        self.server = server
        self.events: list[Event] = []
        self.connected_calls = 0
        self.client: AmiClient | None = None
        self.task: asyncio.Task[None] | None = None

    def start(self, secret: str = SECRET, port: int | None = None, **kwargs: Any) -> AmiClient:
        async def on_connected(client: AmiClient) -> None:
            self.connected_calls += 1

        options: dict[str, Any] = {"ping_interval": 30.0, "action_timeout": 1.0,
                                   "backoff_initial": 0.01, "backoff_max": 0.05}
        options.update(kwargs)
        self.client = AmiClient("127.0.0.1", self.server.port if port is None else port, "hotline", secret,
                                on_event=options.pop("on_event", self.events.append),
                                on_connected=on_connected, **options)
        self.task = asyncio.create_task(self.client.run())
        return self.client

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.close()
        if self.task is not None:
            await asyncio.wait_for(self.task, 2)


@pytest.fixture
async def server() -> AsyncIterator[FakeAsterisk]:
    fake = FakeAsterisk()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def harness(server: FakeAsterisk) -> AsyncIterator[Harness]:
    h = Harness(server)
    yield h
    await h.stop()


async def test_given_the_right_secret_when_run_then_logged_in_and_resynced(
        harness: Harness, server: FakeAsterisk) -> None:
    client = harness.start()
    await client.wait_connected(2)
    await wait_until(lambda: harness.connected_calls == 1 and bool(harness.events), what="resync + event")
    assert client.connected and client.version == "11.0.0"
    assert harness.events[0].name == "FullyBooted"
    login = server.actions[0]
    assert (login["Action"], login["Username"], login["Secret"], login["Events"]) == \
        ("Login", "hotline", SECRET, "on")


async def test_given_a_wrong_secret_then_one_clear_line_per_attempt_and_retries(
        harness: Harness, server: FakeAsterisk, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pbx.ami")
    harness.start(secret="wrong")
    await wait_until(lambda: server.names().count("Login") >= 3, what="three login attempts")
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) >= 2
    first = refused[0]
    assert first.name == "pbx.ami" and first.levelno == logging.ERROR and first.exc_info is None
    assert first.getMessage() == (f"AMI login to 127.0.0.1:{server.port} as 'hotline' refused: "
                                  "Authentication failed; retrying in 0.0s")
    assert "\n" not in first.getMessage()
    assert not harness.client or not harness.client.connected
    assert harness.connected_calls == 0


async def test_given_nothing_listening_then_one_line_unreachable_without_traceback(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    harness.start(port=port)
    await wait_until(lambda: len([r for r in caplog.records if "unreachable" in r.getMessage()]) >= 2,
                     what="two unreachable lines")
    record = next(r for r in caplog.records if "unreachable" in r.getMessage())
    assert record.exc_info is None and record.levelno == logging.ERROR
    assert record.getMessage() == f"AMI at 127.0.0.1:{port} unreachable: Connection refused; retrying in 0.0s"


async def test_when_the_server_drops_the_connection_then_the_client_reconnects_and_resyncs(
        harness: Harness, server: FakeAsterisk) -> None:
    client = harness.start()
    await wait_until(lambda: harness.connected_calls == 1, what="first resync")
    server.drop_all()
    await wait_until(lambda: harness.connected_calls == 2, what="resync after reconnect")
    assert server.connections == 2 and client.connects == 2 and client.connected


async def test_a_list_action_collects_its_events_and_keeps_them_from_on_event(
        harness: Harness, server: FakeAsterisk) -> None:
    client = harness.start()
    await client.wait_connected(2)
    response, entries = await client.send_list_action("CoreShowChannels")
    assert response.success and response.get("EventList") == "start"
    assert [e.get("Channel") for e in entries] == [c for c, _ in server.channels]
    assert entries[0].get("CallerIDName") == "张三丰"
    await wait_until(lambda: any(e.name == "Newstate" for e in harness.events), what="the unrelated event")
    names = [e.name for e in harness.events]
    assert "CoreShowChannel" not in names and "CoreShowChannelsComplete" not in names
    assert next(e for e in harness.events if e.name == "Newstate").get("CallerIDName") == "李四"


async def test_action_ids_are_unique_and_responses_matched(harness: Harness, server: FakeAsterisk) -> None:
    client = harness.start()
    await client.wait_connected(2)
    responses = await asyncio.gather(*(client.send_action("Ping") for _ in range(20)))
    assert all(r.get("Ping") == "Pong" for r in responses)
    ids = [r.action_id for r in responses]
    assert len(set(ids)) == 20
    assert sorted(ids) == sorted(a["ActionID"] for a in server.actions if a["Action"] == "Ping")


async def test_an_error_response_raises_action_failed(harness: Harness) -> None:
    client = harness.start()
    await client.wait_connected(2)
    with pytest.raises(AmiActionFailed, match="Invalid/unknown command") as info:
        await client.send_action("Nonsense")
    assert info.value.response.status == "Error"


async def test_an_unanswered_action_times_out(harness: Harness, server: FakeAsterisk) -> None:
    client = harness.start()
    await client.wait_connected(2)
    server.hold.add("Redirect")
    with pytest.raises(AmiTimeout, match=f"^{AMI_TIMEOUT}: Redirect"):
        await client.send_action("Redirect", {"Channel": "PJSIP/a-1"}, timeout=0.05)


async def test_a_pending_action_fails_with_disconnected_when_the_link_drops(
        harness: Harness, server: FakeAsterisk) -> None:
    client = harness.start()
    await client.wait_connected(2)
    server.hold.add("Originate")
    pending = asyncio.create_task(client.send_action("Originate", {"Channel": "PJSIP/agent001"}, timeout=5))
    await wait_until(lambda: "Originate" in server.names(), what="the Originate to arrive")
    server.drop_all()
    with pytest.raises(AmiDisconnected, match=f"^{AMI_DISCONNECTED}: .*Originate"):
        await asyncio.wait_for(pending, 1)


async def test_a_silent_peer_is_detected_by_the_ping_and_the_link_redone(
        harness: Harness, server: FakeAsterisk, caplog: pytest.LogCaptureFixture) -> None:
    server.answer_pings = False
    client = harness.start(ping_interval=0.05, ping_timeout=0.05, dead_after=0.1)
    await wait_until(lambda: client.connects >= 2, what="reconnect after a failed ping")
    # on_connected runs as its own task once the login is in: it follows, it is not there yet
    await wait_until(lambda: harness.connected_calls >= 2, what="on_connected after the reconnect")
    assert any("keep-alive" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


async def test_an_exception_in_on_event_does_not_stop_the_reading(
        harness: Harness, server: FakeAsterisk, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def on_event(event: Event) -> None:
        seen.append(event.name)
        if event.name == "Boom":
            raise RuntimeError("handler bug")

    client = harness.start(on_event=on_event)
    await client.wait_connected(2)
    await server.push(frame(("Event", "Boom")) + frame(("Event", "After")))
    await wait_until(lambda: "After" in seen, what="the event after the failing one")
    failed = [r for r in caplog.records if "event handler failed" in r.getMessage()]
    assert failed and "Boom" in failed[0].getMessage()
    assert client.connected


async def test_a_malformed_frame_is_logged_with_context_and_dropped(
        harness: Harness, server: FakeAsterisk, caplog: pytest.LogCaptureFixture) -> None:
    client = harness.start()
    await client.wait_connected(2)
    await server.push(b"garbage without separator\r\n\r\n" + frame(("Event", "After")))
    await wait_until(lambda: any(e.name == "After" for e in harness.events), what="the next event")
    [record] = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert f"127.0.0.1:{server.port}" in record.getMessage()
    assert "b'garbage without separator'" in record.getMessage()
    assert client.malformed == 1


async def test_a_chinese_name_split_across_tcp_writes_arrives_whole(
        harness: Harness, server: FakeAsterisk) -> None:
    client = harness.start()
    await client.wait_connected(2)
    data = channel_event("Newchannel", None, "PJSIP/carrier-7", "欧阳娜娜")
    cut = data.index("欧".encode()) + 2
    await server.push(data[:cut])
    await asyncio.sleep(0.02)
    await server.push(data[cut:])
    await wait_until(lambda: any(e.name == "Newchannel" for e in harness.events), what="Newchannel")
    event = next(e for e in harness.events if e.name == "Newchannel")
    assert event.get("CallerIDName") == "欧阳娜娜" and not event.utf8_replaced


async def test_add_filter_sends_the_filter_action(harness: Harness, server: FakeAsterisk) -> None:
    client = harness.start()
    await client.wait_connected(2)
    response = await client.add_filter("Event: Newchannel")
    assert response.message == "Filter Added"
    assert {"Operation": "Add", "Filter": "Event: Newchannel"}.items() <= server.actions[-1].items()


async def test_close_logs_off_and_run_returns(harness: Harness, server: FakeAsterisk) -> None:
    client = harness.start()
    await client.wait_connected(2)
    await client.close()
    assert harness.task is not None
    await asyncio.wait_for(harness.task, 1)
    assert server.names()[-1] == "Logoff"
    assert not client.connected
    with pytest.raises(AmiDisconnected):
        await client.send_action("Ping")


async def test_close_during_backoff_returns_promptly(harness: Harness) -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    client = harness.start(port=port, backoff_initial=30.0, backoff_max=30.0)
    await asyncio.sleep(0.05)
    await client.close()
    assert harness.task is not None
    await asyncio.wait_for(harness.task, 0.5)


async def test_given_a_busy_link_when_the_ping_answer_is_late_then_the_link_stays_up(
        harness: Harness, server: FakeAsterisk) -> None:
    """Under a storm the Pong queues behind seconds of events: late is not dead while bytes arrive."""
    server.hold.add("Ping")
    client = harness.start(ping_interval=0.02, ping_timeout=0.02, dead_after=0.2)
    await client.wait_connected(2)
    sent = 0
    while not any(a["Action"] == "Ping" for a in server.actions):
        await server.push(frame(("Event", "Newstate"), ("Uniqueid", f"busy.{sent}")))
        sent += 1
        await asyncio.sleep(0.005)
    ping = next(a for a in server.actions if a["Action"] == "Ping")
    for i in range(100):  # 0.5 s of events, far past ping_timeout and dead_after, no Pong
        await server.push(frame(("Event", "Newstate"), ("Uniqueid", f"busy.x{i}")))
        await asyncio.sleep(0.005)
    assert client.connects == 1 and client.connected and client.disconnects == 0
    await server.push(frame(("Response", "Success"), ("ActionID", ping["ActionID"]), ("Ping", "Pong")))
    await wait_until(lambda: client.pings_late >= 1, what="the late Pong counted")
    assert client.ping_rtt_max >= 0.5 and client.reconnects == 0


async def test_given_a_ping_unanswered_and_nothing_read_for_dead_after_then_the_drop_is_counted(
        harness: Harness, server: FakeAsterisk) -> None:
    server.answer_pings = False
    client = harness.start(ping_interval=0.02, ping_timeout=0.02, dead_after=0.1)
    await wait_until(lambda: client.reconnects >= 1, what="reconnect after a silent link")
    assert client.disconnects >= 1
    _, why = client.drops[0]
    assert why.startswith("keep-alive: Ping unanswered and nothing read for")


async def test_a_drop_by_the_server_is_counted_with_its_reason(harness: Harness, server: FakeAsterisk) -> None:
    client = harness.start()
    await wait_until(lambda: harness.connected_calls == 1, what="first resync")
    assert client.reconnects == 0 and client.local_port is not None and client.unread_bytes() == 0
    server.drop_all()
    await wait_until(lambda: client.reconnects == 1 and client.connected, what="reconnect")
    assert client.disconnects == 1 and [why for _, why in client.drops] == ["closed by Asterisk"]


async def test_close_is_not_counted_as_a_drop(harness: Harness) -> None:
    client = harness.start()
    await client.wait_connected(2)
    await harness.stop()
    assert client.disconnects == 0 and not client.drops


async def test_a_megabyte_of_events_in_one_burst_arrives_whole_and_in_order(
        harness: Harness, server: FakeAsterisk) -> None:
    client = harness.start()
    await client.wait_connected(2)
    burst = b"".join(channel_event("Newchannel", None, f"Local/12345@from-trunk-{i:08x};2", "市民")
                     for i in range(4000))
    assert len(burst) > 1 << 20
    await server.push(burst)
    await wait_until(lambda: sum(e.name == "Newchannel" for e in harness.events) == 4000, what="the burst")
    got = [e.get("Channel") for e in harness.events if e.name == "Newchannel"]
    assert got == [f"Local/12345@from-trunk-{i:08x};2" for i in range(4000)]
    assert all(e.get("CallerIDName") == "市民" for e in harness.events if e.name == "Newchannel")
    assert client.bytes_read >= len(burst)


async def test_close_ends_run_cleanly_even_when_it_cuts_a_session_short(harness: Harness, server: FakeAsterisk) -> None:
    """The controller's shutdown awaits run(): close() must end it, not leave it cancelled, even
    when Asterisk never says Goodbye and close() has to cancel the session's own reading."""
    for _ in range(5):
        client = harness.start()
        await client.wait_connected(2)
        server.hold = {"Logoff"}
        await client.close()
        assert harness.task is not None
        assert await asyncio.wait_for(harness.task, 2) is None
        server.hold = set()


async def test_cancelling_run_itself_still_cancels_it(harness: Harness) -> None:
    client = harness.start()
    await client.wait_connected(2)
    assert harness.task is not None
    harness.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await harness.task
    harness.task = None
    await client.close()
