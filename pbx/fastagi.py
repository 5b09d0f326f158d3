"""The FastAGI server: a thin asyncio adapter around the sans-IO `AgiConnection`.

One session object per connection (aiosmtpd style), handlers routed by script name. Each
session runs in its own tracked task with a header timeout, per-command timeouts and a size cap,
so a slow, silent or garbage-sending peer only ever ends its own session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from acd.privacy import mask_number
from pbx.agi import (AgiConnection, AgiEnvironment, AgiEvent, Closed, CommandReply, DeadChannel,
                     EnvironmentReceived, HangupReceived, InvalidCommand, ProtocolError, Trying,
                     UsageError, quote)

log = logging.getLogger("pbx.fastagi")

UNKNOWN_SCRIPT = "agi-unknown-script"


class AgiError(Exception):
    pass


class AgiHangup(AgiError):
    """The caller hung up (Asterisk said HANGUP, 511, or closed the socket)."""


class AgiCommandTimeout(AgiError):
    pass


class AgiCommandFailed(AgiError):
    """510 (invalid command), 520 (usage) or an unparseable reply."""


@dataclass(frozen=True, slots=True)
class SessionOutcome:
    kind: str  # completed | hangup | error | timeout
    detail: str = ""

    def __str__(self) -> str:
        return self.kind


Handler = Callable[["AgiChannel"], Awaitable[None]]


class AgiChannel:
    """What a call flow sees: the environment and commands that raise on hangup."""

    def __init__(self, env: AgiEnvironment, conn: AgiConnection, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, command_timeout: float) -> None:
        self.env = env
        self._conn = conn
        self._reader = reader
        self._writer = writer
        self._timeout = command_timeout
        self.hung_up = False

    async def command(self, text: str, timeout: float | None = None) -> CommandReply:
        if self.hung_up:
            raise AgiHangup(f"{text.split()[0]} after hangup")
        self._writer.write(self._conn.send_command(text))
        await self._writer.drain()
        try:
            return await asyncio.wait_for(self._reply(text), timeout or self._timeout)
        except asyncio.TimeoutError:
            raise AgiCommandTimeout(f"{text.split()[0]} unanswered after {timeout or self._timeout:.1f}s") from None

    async def _reply(self, text: str) -> CommandReply:
        while True:
            event = self._conn.next_event()
            if event is None:
                data = await self._reader.read(65536)
                self._conn.receive_data(data)
                continue
            result = self._interpret(event, text)
            if result is not None:
                return result

    def _interpret(self, event: AgiEvent, text: str) -> CommandReply | None:
        if isinstance(event, CommandReply):
            return event
        if isinstance(event, Trying):
            return None
        if isinstance(event, HangupReceived):
            self.hung_up = True
            raise AgiHangup("caller hung up")
        if isinstance(event, (DeadChannel, Closed)):
            self.hung_up = True
            raise AgiHangup("channel is gone")
        if isinstance(event, InvalidCommand):
            raise AgiCommandFailed(f"510 invalid or unknown command: {text.split()[0]}")
        if isinstance(event, UsageError):
            raise AgiCommandFailed(f"520 usage: {event.usage.splitlines()[0] if event.usage else ''}")
        if isinstance(event, ProtocolError):
            raise AgiCommandFailed(event.reason)
        raise AgiCommandFailed(f"unexpected {type(event).__name__}")

    # ---- the commands the call flows use ----
    async def answer(self) -> CommandReply:
        return await self.command("ANSWER")

    async def hangup(self, cause: int = 16) -> None:
        """End the call with a Q.850 cause (AGI's own HANGUP leaves the cause 0, 'Unknown')."""
        with contextlib.suppress(AgiHangup):
            await self.command(f"EXEC Hangup {cause}")
        self.hung_up = True

    async def _media(self, text: str, timeout: float) -> CommandReply:
        """Playback and DTMF commands answer result=-1 when the caller hangs up mid-way
        (the HANGUP line may come after): that ends the flow as a hangup."""
        reply = await self.command(text, timeout)
        if reply.result == -1:
            self.hung_up = True
            raise AgiHangup(f"caller hung up during {text.split()[0]} {text.split()[1]}")
        return reply

    async def stream_file(self, name: str, escape_digits: str = "", timeout: float = 300.0) -> CommandReply:
        return await self._media(f"STREAM FILE {quote(name)} {quote(escape_digits)}", timeout)

    async def get_data(self, prompt: str, timeout_ms: int = 5000, max_digits: int = 1) -> str:
        reply = await self._media(f"GET DATA {quote(prompt)} {timeout_ms} {max_digits}",
                                  timeout_ms / 1000 + 300.0)
        return "" if reply.result is None else reply.raw_result

    async def wait_for_digit(self, timeout_ms: int) -> str:
        reply = await self._media(f"WAIT FOR DIGIT {timeout_ms}", timeout_ms / 1000 + 5.0)
        return chr(reply.result) if reply.result and reply.result > 0 else ""

    async def set_variable(self, name: str, value: str) -> None:
        await self.command(f"SET VARIABLE {quote(name)} {quote(value)}")

    async def get_variable(self, name: str) -> str | None:
        reply = await self.command(f"GET VARIABLE {quote(name)}")
        return reply.data if reply.result == 1 else None

    async def exec(self, app: str, args: str = "", timeout: float | None = None) -> CommandReply:
        return await self.command(f"EXEC {app} {quote(args)}", timeout)

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.command(f"VERBOSE {quote(message)} {level}")


class FastAgiServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 4573, *, command_timeout: float = 10.0,
                 header_timeout: float = 5.0, max_header_bytes: int = 16384,
                 on_session_start: Callable[[AgiEnvironment], None] | None = None,
                 on_session_end: Callable[[AgiEnvironment, SessionOutcome], None] | None = None) -> None:
        self.host, self.port = host, port
        self.command_timeout = command_timeout
        self.header_timeout = header_timeout
        self.max_header_bytes = max_header_bytes
        self._on_start = on_session_start
        self._on_end = on_session_end
        self._routes: dict[str, Handler] = {}
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self.sessions_total = 0
        self.sessions_failed = 0

    def route(self, script: str, handler: Handler) -> None:
        self._routes[script.strip("/")] = handler

    @property
    def bound_port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port,
                                                  reuse_address=True, backlog=512)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._sessions):
            task.cancel()
        await asyncio.gather(*self._sessions, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        task.add_done_callback(self._sessions.discard)
        self.sessions_total += 1
        try:
            await self._session(reader, writer)
        finally:
            writer.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        conn = AgiConnection(max_header_bytes=self.max_header_bytes)
        try:
            env = await asyncio.wait_for(self._read_env(conn, reader), self.header_timeout)
        except asyncio.TimeoutError:
            self.sessions_failed += 1
            log.warning("FastAGI peer %s sent no complete environment within %.1fs; dropped",
                        peer, self.header_timeout)
            return
        except (ConnectionError, AgiError) as exc:
            self.sessions_failed += 1
            log.warning("FastAGI peer %s dropped before the session began: %s", peer, exc)
            return
        where = f"{env.script} on {env.channel} from {mask_number(env.callerid)}"
        handler = self._routes.get(env.script)
        if handler is None:
            self.sessions_failed += 1
            log.warning("%s: %s (request %r)", UNKNOWN_SCRIPT, where, env.script)
            self._end(env, SessionOutcome("error", UNKNOWN_SCRIPT))
            return
        if self._on_start is not None:
            self._on_start(env)
        channel = AgiChannel(env, conn, reader, writer, self.command_timeout)
        try:
            await handler(channel)
            outcome = SessionOutcome("completed")
        except AgiHangup as exc:
            outcome = SessionOutcome("hangup", str(exc))
            log.info("FastAGI %s: caller hung up", where)
        except AgiCommandTimeout as exc:
            outcome = SessionOutcome("timeout", str(exc))
            log.warning("FastAGI %s: %s", where, exc)
        except (AgiError, ConnectionError) as exc:
            outcome = SessionOutcome("error", str(exc))
            log.warning("FastAGI %s: %s", where, exc)
        except asyncio.CancelledError:
            self._end(env, SessionOutcome("error", "server shutting down"))
            raise
        except Exception as exc:  # a bug in one call flow ends that call's session only
            outcome = SessionOutcome("error", f"{type(exc).__name__}: {exc}")
            log.exception("FastAGI %s: handler failed", where)
        self._end(env, outcome)

    def _end(self, env: AgiEnvironment, outcome: SessionOutcome) -> None:
        if self._on_end is not None:
            try:
                self._on_end(env, outcome)
            except Exception:
                log.exception("FastAGI on_session_end hook failed")

    @staticmethod
    async def _read_env(conn: AgiConnection, reader: asyncio.StreamReader) -> AgiEnvironment:
        while True:
            event = conn.next_event()
            if isinstance(event, EnvironmentReceived):
                return event.env
            if isinstance(event, ProtocolError):
                raise AgiError(event.reason)
            if event is None:
                conn.receive_data(await reader.read(65536))
