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
from typing import cast

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


class _Session(asyncio.Protocol):
    """One connection: feeds bytes to the sans-IO AgiConnection and hands each reply to the
    command waiting for it (one future per command; no stream reader in between)."""

    def __init__(self, server: FastAgiServer) -> None:
        self.server = server
        self.conn = AgiConnection(max_header_bytes=server.max_header_bytes)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[AgiEvent] | None = None
        self.hung_up = False
        self.closed = False
        self.task: asyncio.Task[None] | None = None
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.server.sessions_total += 1
        self.server._live.add(self)
        self._header_timer = asyncio.get_running_loop().call_later(
            self.server.header_timeout, self._header_too_slow)

    def _header_too_slow(self) -> None:
        self.server.sessions_failed += 1
        log.warning("FastAGI peer %s sent no complete environment within %.1fs; dropped",
                    self._peer(), self.server.header_timeout)
        self.close()

    def _peer(self) -> object:
        return self.transport.get_extra_info("peername") if self.transport else None

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data)
        self._pump()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server._live.discard(self)
        if self._header_timer is not None:
            self._header_timer.cancel()
        self.conn.receive_data(b"")
        self._pump()

    def _pump(self) -> None:
        while (event := self.conn.next_event()) is not None:
            if isinstance(event, EnvironmentReceived):
                if self._header_timer is not None:
                    self._header_timer.cancel()
                self.task = asyncio.get_running_loop().create_task(self.server._run(self, event.env))
                self.server._tasks.add(self.task)
                self.task.add_done_callback(self.server._tasks.discard)
            elif isinstance(event, ProtocolError) and self.task is None:
                self.server.sessions_failed += 1
                log.warning("FastAGI peer %s dropped before the session began: %s", self._peer(), event.reason)
                self.close()
                return
            elif isinstance(event, Trying):
                continue
            else:
                if isinstance(event, (HangupReceived, Closed)):
                    self.hung_up = True
                if self.waiter is not None and not self.waiter.done():
                    self.waiter.set_result(event)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()


class AgiChannel:
    """What a call flow sees: the environment and commands that raise on hangup."""

    def __init__(self, env: AgiEnvironment, session: _Session, command_timeout: float) -> None:
        self.env = env
        self._session = session
        self._timeout = command_timeout
        self.hung_up = False

    async def command(self, text: str, timeout: float | None = None) -> CommandReply:
        session = self._session
        if self.hung_up or session.closed:
            self.hung_up = True
            raise AgiHangup(f"{text.split()[0]} after hangup")
        data = session.conn.send_command(text)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[AgiEvent] = loop.create_future()
        session.waiter = waiter
        assert session.transport is not None
        session.transport.write(data)
        limit = timeout or self._timeout
        timer = loop.call_later(limit, _expire, session)  # one timer, not a task, per command
        try:
            while True:
                try:
                    event = await waiter
                except _Expired:
                    raise AgiCommandTimeout(f"{text.split()[0]} unanswered after {limit:.1f}s") from None
                result = self._interpret(event, text)
                if result is not None:
                    return result
                waiter = loop.create_future()  # after 100 Trying: wait for the real reply
                session.waiter = waiter
        finally:
            timer.cancel()
            session.waiter = None

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


class _Expired(Exception):
    """Set on a command's waiter when its timer runs out."""


def _expire(session: _Session) -> None:
    if session.waiter is not None and not session.waiter.done():
        session.waiter.set_exception(_Expired())


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
        self._tasks: set[asyncio.Task[None]] = set()
        self._live: set[_Session] = set()
        self.sessions_total = 0
        self.sessions_failed = 0

    def route(self, script: str, handler: Handler) -> None:
        self._routes[script.strip("/")] = handler

    @property
    def bound_port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Session(self), self.host, self.port,
                                                reuse_address=True, backlog=512)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for session in list(self._live):
            session.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _run(self, session: _Session, env: AgiEnvironment) -> None:
        handler = self._routes.get(env.script)
        if handler is None:
            self.sessions_failed += 1
            log.warning("%s: %r on %s from %s", UNKNOWN_SCRIPT, env.script, env.channel,
                        mask_number(env.callerid))
            self._end(env, SessionOutcome("error", UNKNOWN_SCRIPT))
            session.close()
            return
        if self._on_start is not None:
            self._on_start(env)
        channel = AgiChannel(env, session, self.command_timeout)
        try:
            await handler(channel)
            outcome = SessionOutcome("completed")
        except AgiHangup as exc:
            outcome = SessionOutcome("hangup", str(exc))
            log.info("FastAGI %s on %s: caller hung up", env.script, env.channel)
        except AgiCommandTimeout as exc:
            outcome = SessionOutcome("timeout", str(exc))
            log.warning("FastAGI %s on %s: %s", env.script, env.channel, exc)
        except (AgiError, ConnectionError) as exc:
            outcome = SessionOutcome("error", str(exc))
            log.warning("FastAGI %s on %s: %s", env.script, env.channel, exc)
        except asyncio.CancelledError:
            self._end(env, SessionOutcome("error", "server shutting down"))
            session.close()
            raise
        except Exception as exc:  # a bug in one call flow ends that call's session only
            outcome = SessionOutcome("error", f"{type(exc).__name__}: {exc}")
            log.exception("FastAGI %s on %s from %s: handler failed", env.script, env.channel,
                          mask_number(env.callerid))
        self._end(env, outcome)
        session.close()

    def _end(self, env: AgiEnvironment, outcome: SessionOutcome) -> None:
        if self._on_end is not None:
            try:
                self._on_end(env, outcome)
            except Exception:
                log.exception("FastAGI on_session_end hook failed")
