"""The events hub: the websocket clients and the MQTT publisher served by a process of their own.

Why a process: 500 wallboards and desks reading the stream, served from the engine's own event
loop, made every engine step 2–4× slower (bench/events_fanout.py): their sending ran on the
engine's core between its steps. The controller now feeds the hub each fact once (a batch per
engine step over a Unix socket) and keeps nothing of the fan-out but that feed.

The websocket stays on the controller's address (`GET /api/events`): the controller checks the
token and the resume point and writes the first message (a snapshot of its engine or
`resumed`), then hands the client's socket itself to the hub (SCM_RIGHTS), with the request and
that message. The hub upgrades it and sends the facts from there on, filtered by the grant the
controller found. The hub keeps its own copy of the stream's ring (it is sent the controller's
on start), so a client resumes through either.

The hub ends when the controller goes (its socket closes). The controller starts it again if it
dies or falls behind; its clients reconnect and resume.

    python -m events.hub FD      (started by the controller, never by hand)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from events.frames import CLIENT, CONFIG, FACTS, FIGURES, Decoder, Frame, FrameError, encode
from events.stream import QUEUE_DEPTH, RING_KEPT, EventFact, EventStream
from events.websocket import ROUTE, Encoded, serve
from web.access import Grant, Role
from web.routes import error

log = logging.getLogger("events.hub")

BATCH = 2000  # facts per frame at most (a whole step's facts are far fewer)
BACKLOG_MAX = 32 * 1024 * 1024  # bytes the hub may leave unread before it is taken for stuck
REPORT_EVERY = 1.0  # seconds between the hub's figures
HUB_DOWN = "events-hub-down"
_PROJECT = Path(__file__).resolve().parent.parent


class Channel:
    """One end of the Unix socket, non-blocking: frames (with a descriptor) out in order,
    frames in as they complete. The asyncio part only; framing is events/frames.py."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._out: deque[tuple[memoryview, int | None]] = deque()  # data, a descriptor to send with it
        self.pending = 0  # bytes queued, not yet taken by the peer
        self._decoder = Decoder()
        self._frames: asyncio.Queue[Frame | None] = asyncio.Queue()
        self.closed = False
        self._loop.add_reader(sock.fileno(), self._readable)

    def send(self, data: bytes, fd: int | None = None) -> None:
        """Queue a frame; `fd` (duplicated by the caller) is closed here once it is sent."""
        if self.closed:
            if fd is not None:
                os.close(fd)
            return
        was_idle = not self._out
        self._out.append((memoryview(data), fd))
        self.pending += len(data)
        if was_idle:
            self._write()

    def _write(self) -> None:
        while self._out:
            data, fd = self._out[0]
            try:
                sent = socket.send_fds(self._sock, [data], [fd]) if fd is not None else self._sock.send(data)
            except (BlockingIOError, InterruptedError):
                self._loop.add_writer(self._sock.fileno(), self._writable)
                return
            except OSError as exc:
                log.warning("events hub: the socket to the peer failed: %s", exc)
                self.close()
                return
            if fd is not None:
                os.close(fd)  # the peer holds it now
            self.pending -= sent
            if sent < len(data):
                self._out[0] = (data[sent:], None)
            else:
                self._out.popleft()
        self._loop.remove_writer(self._sock.fileno())

    def _writable(self) -> None:
        self._write()

    def _readable(self) -> None:
        try:
            data, fds, _flags, _address = socket.recv_fds(self._sock, 256 * 1024, 64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.warning("events hub: reading from the peer failed: %s", exc)
            data, fds = b"", []
        if not data:
            for fd in [*fds, *self._decoder.leftover_fds()]:
                os.close(fd)
            self.close()
            return
        try:
            for frame in self._decoder.feed(data, fds):
                self._frames.put_nowait(frame)
        except FrameError as exc:
            log.error("events hub: %s; closing the link", exc)
            self.close()

    async def frames(self) -> AsyncIterator[Frame]:
        while (frame := await self._frames.get()) is not None:
            yield frame

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._loop.remove_reader(self._sock.fileno())
        self._loop.remove_writer(self._sock.fileno())
        for _data, fd in self._out:
            if fd is not None:
                os.close(fd)
        self._out.clear()
        self._sock.close()
        self._frames.put_nowait(None)


def fact_body(fact: EventFact) -> dict[str, Any]:
    return {"seq": fact.seq, "at": fact.at, "kind": fact.kind, "agent_id": fact.agent_id,
            "linkedid": fact.linkedid, "data": fact.data}


# ---- the controller's side ----

class HubLink:
    """Starts the hub process, feeds it every fact once, hands it the websocket clients and
    reads its figures. A hub that dies, or leaves BACKLOG_MAX unread, is started again."""

    def __init__(self, stream: EventStream, mqtt: dict[str, Any] | None = None, *,
                 restart_max: float = 10.0) -> None:
        self.stream = stream
        self._mqtt = mqtt  # MqttPublisher's settings, password included (sent over the socket only)
        self._restart_max = restart_max
        self._channel: Channel | None = None
        self._process: asyncio.subprocess.Process | None = None
        self.figures: dict[str, float] = {}
        self.restarts = 0
        self.ready = asyncio.Event()
        self._stopping = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def run(self) -> None:
        backoff = 0.5
        while not self._stopping:
            started = asyncio.get_running_loop().time()
            with contextlib.suppress(OSError):
                await self._life()
            if self._stopping:
                return
            if asyncio.get_running_loop().time() - started > 30:
                backoff = 0.5
            self.restarts += 1
            log.warning("events hub: gone; starting it again in %.1f s (websocket clients reconnect and resume)",
                        backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._restart_max)

    async def _life(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "events.hub", str(theirs.fileno()), pass_fds=(theirs.fileno(),),
                cwd=_PROJECT, start_new_session=True)  # a ^C in the terminal stops the controller, which stops it
        finally:
            theirs.close()
        channel = self._channel = Channel(ours)
        # every fact the controller still keeps, then each new one: the hub resumes what it can
        subscription = self.stream.subscribe(depth=self.stream.size, after=max(0, self.stream.seq - self.stream.size))
        channel.send(encode(CONFIG, {"stream": self.stream.name, "ring": self.stream.size, "depth": self.stream.depth,
                                    "mqtt": self._mqtt}))
        tasks = [asyncio.create_task(self._feed(channel, subscription)),
                 asyncio.create_task(self._read(channel)), asyncio.create_task(self._process.wait())]
        self.ready.set()
        log.info("events hub: started (pid %d)", self._process.pid)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.ready.clear()
            self._channel = None
            subscription.close()
            channel.close()
            for task in tasks:
                task.cancel()
            await self._end_process()

    async def _feed(self, channel: Channel, subscription: Any) -> None:
        while not channel.closed:
            await subscription.wait()
            facts = subscription.take(BATCH)
            if subscription.cut:
                log.error("events hub: more than %d facts behind; starting it again", self.stream.size)
                return
            if facts:
                channel.send(encode(FACTS, [fact_body(f) for f in facts]))
            if channel.pending > BACKLOG_MAX:
                log.error("events hub: %d bytes unread; starting it again", channel.pending)
                return

    async def _read(self, channel: Channel) -> None:
        async for frame in channel.frames():
            if frame.kind == FIGURES and isinstance(frame.body, dict):
                self.figures = {k: float(v) for k, v in frame.body.items() if isinstance(v, (int, float))}

    async def _end_process(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        try:  # its socket is closed: it ends by itself
            await asyncio.wait_for(process.wait(), 5.0)
        except TimeoutError:
            process.kill()
            await process.wait()

    def health(self) -> dict[str, float]:
        """The hub's figures for /metrics (its clients, its MQTT link) and the link's own."""
        figures = {"events_hub_up": float(self._channel is not None), "events_hub_restarts": float(self.restarts),
                   "events_subscribers": self.figures.get("subscribers", 0.0),
                   "events_cut_off": self.figures.get("cut_off", 0.0)}
        if self._mqtt is not None:
            figures["mqtt_connected"] = self.figures.get("mqtt_connected", 0.0) if self._channel is not None else 0.0
        return figures

    async def hand_over(self, request: web.Request, first: str, after: int, grant: Grant | None) -> web.StreamResponse:
        """The client's connection to the hub, as it is (the upgrade not answered yet)."""
        channel, transport = self._channel, request.transport
        raw = transport.get_extra_info("socket") if transport is not None else None
        if channel is None or channel.closed or transport is None or raw is None:
            return error(503, HUB_DOWN, "the live events are starting again; reconnect in a moment")
        transport.pause_reading()  # what the client sends from now on is the hub's to read
        head = "".join([f"{request.method} {request.raw_path} HTTP/{request.version.major}.{request.version.minor}\r\n",
                        *(f"{k.decode('latin-1')}: {v.decode('latin-1')}\r\n" for k, v in request.raw_headers),
                        "\r\n"])
        grant_body = {"name": grant.name, "role": grant.role.value} if grant is not None else None
        channel.send(encode(CLIENT, {"head": head, "first": first, "after": after, "grant": grant_body}),
                     fd=os.dup(raw.fileno()))
        transport.abort()  # the controller's copy only: the connection lives on in the hub
        return web.Response(status=101)  # never written: the transport is gone

    async def stop(self) -> None:
        self._stopping = True
        if self._channel is not None:
            self._channel.close()
        await self._end_process()


# ---- the hub's side ----

class Hub:
    def __init__(self, channel: Channel, config: dict[str, Any]) -> None:
        self.channel = channel
        self.stream = EventStream(ring=int(config.get("ring") or RING_KEPT), depth=int(config.get("depth") or QUEUE_DEPTH),
                                  name=str(config["stream"]))
        self.encoded = Encoded()
        self._clients: dict[Any, dict[str, Any]] = {}  # transport -> what the controller said of its client
        self.mqtt: Any = None
        if config.get("mqtt"):
            from events.mqtt import MqttPublisher

            self.mqtt = MqttPublisher(self.stream, **config["mqtt"])
        app = web.Application()
        app.router.add_get(ROUTE, self._serve)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        client = self._clients.pop(request.transport, None)
        if client is None:  # only the controller's clients reach this app
            return error(400, HUB_DOWN, "not a client handed over by the controller")
        grant = Grant(client["grant"]["name"], Role(client["grant"]["role"])) if client["grant"] else None
        return await serve(request, self.stream, self.encoded, grant, client["first"], int(client["after"]))

    async def _take_client(self, frame: Frame) -> None:
        assert frame.fd is not None
        sock = socket.socket(fileno=frame.fd)
        server = self.runner.server
        assert server is not None  # set up in run()
        try:
            transport, protocol = await asyncio.get_running_loop().connect_accepted_socket(server, sock)
        except OSError as exc:
            log.warning("events hub: a client's socket could not be taken: %s", exc)
            sock.close()
            return
        self._clients[transport] = frame.body
        protocol.data_received(str(frame.body["head"]).encode("latin-1"))

    def _report(self) -> None:
        self.channel.send(encode(FIGURES, {
            "subscribers": self.stream.subscribers, "cut_off": self.stream.cut_off,
            **({"mqtt_connected": int(self.mqtt.connected), "mqtt_published": self.mqtt.published,
                "mqtt_reconnects": self.mqtt.reconnects}
               if self.mqtt is not None else {})}))

    async def run(self, frames: AsyncIterator[Frame]) -> None:
        await self.runner.setup()
        tasks = [asyncio.create_task(_every(REPORT_EVERY, self._report))]
        if self.mqtt is not None:
            tasks.append(asyncio.create_task(self.mqtt.run()))
        try:
            async for frame in frames:
                if frame.kind == FACTS:
                    for body in frame.body:
                        self.stream.put(EventFact(**body))
                elif frame.kind == CLIENT:
                    await self._take_client(frame)
        finally:
            for task in tasks:
                task.cancel()
            await self.runner.cleanup()


async def _every(seconds: float, action: Callable[[], None]) -> None:
    while True:
        action()
        await asyncio.sleep(seconds)


async def main(fd: int) -> None:
    channel = Channel(socket.socket(fileno=fd))
    frames = channel.frames()
    first = await anext(frames, None)
    if first is None or first.kind != CONFIG:
        log.error("events hub: the controller sent no configuration")
        return
    await Hub(channel, first.body).run(frames)
    log.info("events hub: the controller has gone; ending")


if __name__ == "__main__":
    logging.basicConfig(level=os.environ.get("HOTLINE_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(main(int(sys.argv[1])))
