"""The FastAGI server: a thin asyncio adapter around the sans-IO `AgiConnection`.

One session object per connection (aiosmtpd style), handlers routed by script name:

    server = FastAgiServer("127.0.0.1", 4573, on_session_end=...)
    server.route("intake", intake)          # agi://host:4573/intake?desk=general
    await server.start()                    # or: await server.serve()

Each session runs in its own tracked task with a header deadline, per-command timeouts and size
caps, so a slow, silent, oversized or garbage-sending peer only ever ends its own session, and an
exception in one call flow only ends that call's session.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import cast

from acd.privacy import mask_number
from pbx.agi import (AgiConnection, AgiEnvironment, AgiEvent, AgiState, Closed, CommandReply,
                     DeadChannel, EnvironmentReceived, HangupReceived, InvalidCommand,
                     ProtocolError, Trying, UsageError, command_line, quote)

log = logging.getLogger("pbx.fastagi")

UNKNOWN_SCRIPT = "agi-unknown-script"
HEADER_TIMEOUT = "agi-header-timeout"
SHUTTING_DOWN = "server shutting down"

__all__ = ["AgiChannel", "AgiCommandFailed", "AgiCommandTimeout", "AgiDeadChannel", "AgiError",
           "AgiHangup", "AgiInvalidCommand", "AgiProtocolFailure", "AgiUsageError",
           "FastAgiServer", "Handler", "PeerWarnings", "SessionOutcome", "quote"]


# ---- what a call flow can see go wrong -------------------------------------------------------

class AgiError(Exception):
    """Base of everything a command can raise besides programming errors."""


class AgiHangup(AgiError):
    """The caller is gone: Asterisk said HANGUP, or closed the socket."""


class AgiDeadChannel(AgiHangup):
    """511: command not permitted on a dead channel (or in an intercept routine)."""


class AgiCommandTimeout(AgiError):
    """No reply within the command's timeout."""


class AgiCommandFailed(AgiError):
    """Asterisk refused the command."""


class AgiInvalidCommand(AgiCommandFailed):
    """510: invalid or unknown command."""


class AgiUsageError(AgiCommandFailed):
    """520: bad syntax; `usage` holds Asterisk's usage text."""

    def __init__(self, message: str, usage: str = "") -> None:
        super().__init__(message)
        self.usage = usage


class AgiProtocolFailure(AgiError):
    """The peer broke the protocol (garbage reply, over-long line); the session is unusable."""


@dataclass(frozen=True, slots=True)
class SessionOutcome:
    kind: str  # completed | hangup | error | timeout
    detail: str = ""

    def __str__(self) -> str:
        return self.kind


class PeerWarnings:
    """Says the first `burst` bad peers of each `interval` seconds in full and only counts the
    rest, so a port scan or a flood of garbage logs a few lines, not one per connection. Pure:
    the caller logs; `clock` is injected."""

    def __init__(self, burst: int = 5, interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.burst, self.interval, self._clock = burst, interval, clock
        self.total = 0  # every bad peer ever noted, logged in full or not
        self._window_start: float | None = None
        self._in_window = 0
        self._suppressed = 0

    def note(self) -> bool:
        """Count one bad peer; True when it is to be logged in full. Call `summary_due` first,
        so the summary of an interval that has ended comes before the new interval's lines."""
        self.total += 1
        now = self._clock()
        if self._window_start is None or now - self._window_start >= self.interval:
            self._window_start, self._in_window = now, 0
        self._in_window += 1
        if self._in_window <= self.burst:
            return True
        self._suppressed += 1
        return False

    def summary_due(self) -> int:
        """How many bad peers of an interval that has ended went unlogged (0: none, or the
        interval is still running); each is reported once."""
        if (not self._suppressed or self._window_start is None
                or self._clock() - self._window_start < self.interval):
            return 0
        suppressed, self._suppressed = self._suppressed, 0
        return suppressed


Handler = Callable[["AgiChannel"], Awaitable[None]]
SessionStartHook = Callable[[AgiEnvironment], None]
SessionEndHook = Callable[[AgiEnvironment, SessionOutcome], None]


# ---- one connection --------------------------------------------------------------------------

class _Session(asyncio.Protocol):
    """Feeds the socket's bytes to the sans-IO connection and hands each final reply to the one
    command waiting for it (one future per command, no stream reader in between)."""

    def __init__(self, server: FastAgiServer) -> None:
        self.server = server
        self.conn = AgiConnection(max_header_bytes=server.max_header_bytes,
                                  max_line_bytes=server.max_line_bytes)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[AgiEvent | None] | None = None
        self.closed = False
        self.failure = ""  # the protocol error that ended the session, if any
        self.task: asyncio.Task[None] | None = None
        # when the header or the pending command is overdue; the server's sweep enforces it
        self.deadline = _NEVER

    # -- asyncio.Protocol --
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.server.sessions_total += 1
        self.server._live.add(self)
        self.deadline = asyncio.get_running_loop().time() + self.server.header_timeout

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data)
        self._pump()

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server._live.discard(self)
        self.deadline = _NEVER
        self.conn.receive_data(b"")
        self._pump()

    # -- internals --
    def _peer(self) -> object:
        return self.transport.get_extra_info("peername") if self.transport else None

    def expire(self) -> None:
        """The deadline passed: the header never completed, or the pending command is overdue."""
        self.deadline = _NEVER
        waiter = self.waiter
        if waiter is not None:
            if not waiter.done():
                waiter.set_exception(_Expired())
            return
        if self.conn.state is not AgiState.AWAIT_ENV or self.closed:
            return
        self.server.sessions_failed += 1
        self.failure = HEADER_TIMEOUT
        if self.server._bad_peer():
            log.warning("FastAGI peer %s: %s: no complete environment within %.1fs; dropped",
                        self._peer(), HEADER_TIMEOUT, self.server.header_timeout)
        self.close()

    def _pump(self) -> None:
        while (event := self.conn.next_event()) is not None:
            kind = type(event)
            if kind is Trying:
                continue  # the real reply follows
            if kind is EnvironmentReceived:
                assert isinstance(event, EnvironmentReceived)
                self.deadline = _NEVER
                self.server._spawn(self, event.env)
                continue
            if kind is ProtocolError:
                assert isinstance(event, ProtocolError)
                if self.task is None and not self.failure:  # not already dropped by us
                    self.server.sessions_failed += 1
                    if self.server._bad_peer():
                        log.warning("FastAGI peer %s dropped before its session began: %s",
                                    self._peer(), event.reason)
                self.failure = self.failure or event.reason
                self.close()
            waiter = self.waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(event)
            # else: an owed reply nobody waits for any more (after HANGUP or a timeout): dropped

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()


_NEVER = float("inf")


def _wake(waiter: asyncio.Future[AgiEvent | None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class _Expired(Exception):
    """Set on a command's waiter when its timer runs out."""


# ---- what a call flow sees -------------------------------------------------------------------

class AgiChannel:
    """The environment, and commands that raise AgiHangup once the caller is gone."""

    def __init__(self, env: AgiEnvironment, session: _Session, command_timeout: float,
                 media_timeout: float, hangup_grace: float = 0.2) -> None:
        self.env = env
        self._session = session
        self._timeout = command_timeout
        self._media_timeout = media_timeout
        self._grace = hangup_grace
        self._hung_up = False

    @property
    def hung_up(self) -> bool:
        return self._hung_up or self._session.conn.hung_up or self._session.closed

    async def command(self, text: str, timeout: float | None = None) -> CommandReply:
        """Send one command line and return its final reply (after any `100 Trying`).

        Raises AgiHangup (the caller hung up: HANGUP or the socket closed), AgiDeadChannel (511),
        AgiInvalidCommand (510), AgiUsageError (520), AgiCommandTimeout, AgiProtocolFailure;
        ValueError for a command with CR/LF in it.
        """
        session = self._session
        conn = session.conn
        limit = self._timeout if timeout is None else timeout
        if conn.state is not AgiState.IDLE or self._hung_up or session.closed:  # not the usual
            if conn.state is AgiState.ERROR:
                raise AgiProtocolFailure(session.failure or "protocol error")
            if self.hung_up:
                self._hung_up = True
                raise AgiHangup(f"{_verb(text)} after hangup")
            if conn.reply_pending:
                await self._drain_owed(text, limit)
        data = conn.send_command(text)
        assert session.transport is not None
        session.transport.write(data)
        # wait for the final reply; no timer per command: the server's sweep enforces deadlines
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[AgiEvent | None] = loop.create_future()
        session.waiter = waiter
        session.deadline = loop.time() + limit
        try:
            event = await waiter
        except _Expired:
            raise AgiCommandTimeout(f"{_verb(text)} unanswered after {limit:.1f}s") from None
        finally:
            session.deadline = _NEVER
            session.waiter = None
        if type(event) is CommandReply:
            return event
        raise self._failure(event, text)

    async def _wait(self, limit: float, text: str) -> AgiEvent | None:
        session = self._session
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[AgiEvent | None] = loop.create_future()
        session.waiter = waiter
        session.deadline = loop.time() + limit  # no timer per command: the server sweeps
        try:
            return await waiter
        except _Expired:
            raise AgiCommandTimeout(f"{_verb(text)} unanswered after {limit:.1f}s") from None
        finally:
            session.deadline = _NEVER
            session.waiter = None

    async def _drain_owed(self, text: str, limit: float) -> None:
        """A command abandoned after a timeout still owes its reply: take it before sending more,
        so it is never taken for the next command's."""
        while self._session.conn.reply_pending:
            event = await self._wait(limit, f"{_verb(text)} (waiting for an earlier reply)")
            if type(event) in (HangupReceived, Closed, ProtocolError):
                raise self._failure(event, text)

    async def _media(self, text: str, timeout: float) -> CommandReply:
        """Playback and DTMF commands answer `result=-1` both when the caller hangs up during
        them and when the prompt is missing. Asterisk follows a hangup with its `HANGUP` line at
        once (seen on Asterisk 22: `200 result=-1 endpos=2400` then `HANGUP`), so wait a moment
        for it: a hangup raises AgiHangup, a missing prompt returns the -1 reply."""
        reply = await self.command(text, timeout)
        if reply.result == -1 and await self._caller_gone():
            raise AgiHangup(f"caller hung up during {_verb(text)}")
        return reply

    async def _caller_gone(self) -> bool:
        if self.hung_up:
            return True
        session = self._session
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[AgiEvent | None] = loop.create_future()
        session.waiter = waiter  # any unsolicited event (HANGUP, close) wakes it
        handle = loop.call_later(self._grace, _wake, waiter)
        try:
            await waiter
        finally:
            handle.cancel()
            session.waiter = None
        return self.hung_up

    def _failure(self, event: AgiEvent | None, text: str) -> AgiError:
        verb = _verb(text)
        if isinstance(event, HangupReceived):
            self._hung_up = True
            return AgiHangup(f"caller hung up during {verb}")
        if isinstance(event, Closed):
            self._hung_up = True
            return AgiHangup(f"connection closed during {verb}")
        if isinstance(event, DeadChannel):
            self._hung_up = True
            return AgiDeadChannel(f"511 {verb}: {event.line[4:]}")
        if isinstance(event, InvalidCommand):
            return AgiInvalidCommand(f"510 {verb}: {event.line[4:]}")
        if isinstance(event, UsageError):
            first = event.usage.strip().splitlines()[0] if event.usage.strip() else ""
            return AgiUsageError(f"520 {verb}: {first}", event.usage)
        if isinstance(event, ProtocolError):
            return AgiProtocolFailure(event.reason)
        return AgiProtocolFailure(f"unexpected {type(event).__name__} for {verb}")

    # ---- the commands the call flows use ----
    async def answer(self) -> CommandReply:
        return await self.command("ANSWER")

    async def hangup(self, cause: int | None = 16) -> None:
        """End the call. With a Q.850 cause (default 16, normal clearing) this runs the Hangup
        application, as AGI's own HANGUP leaves the cause unset; `cause=None` sends HANGUP.
        A caller already gone is not an error here."""
        try:
            if cause is None:
                await self.command("HANGUP")
            else:
                await self.command(f"EXEC Hangup {int(cause)}")
        except AgiHangup:
            pass
        self._hung_up = True

    async def stream_file(self, name: str, escape_digits: str = "",
                          timeout: float | None = None) -> CommandReply:
        """Play a prompt. `result` is the escape digit pressed (0 if none), -1 if the prompt is
        missing; raises AgiHangup when the caller hangs up during it."""
        return await self._media(command_line("STREAM FILE", name, escape_digits),
                                 self._media_timeout if timeout is None else timeout)

    async def get_data(self, prompt: str, timeout_ms: int = 5000, max_digits: int = 1,
                       timeout: float | None = None) -> str:
        """Play a prompt and collect up to `max_digits` DTMF digits; "" when none (or when the
        prompt is missing); raises AgiHangup when the caller hangs up during it."""
        reply = await self._media(
            f"{command_line('GET DATA', prompt)} {int(timeout_ms)} {int(max_digits)}",
            self._media_timeout + timeout_ms / 1000 if timeout is None else timeout)
        return "" if reply.result == -1 else reply.raw_result

    async def wait_for_digit(self, timeout_ms: int, timeout: float | None = None) -> str:
        """One DTMF digit, or "" on timeout; raises AgiHangup when the caller hangs up."""
        reply = await self._media(f"WAIT FOR DIGIT {int(timeout_ms)}",
                                   self._timeout + max(timeout_ms, 0) / 1000 if timeout is None
                                   else timeout)
        return chr(reply.result) if reply.result is not None and reply.result > 0 else ""

    async def set_variable(self, name: str, value: str) -> None:
        await self.command(command_line("SET VARIABLE", name, value))

    async def get_variable(self, name: str) -> str | None:
        """The value, or None when the variable is not set."""
        reply = await self.command(command_line("GET VARIABLE", name))
        return reply.data if reply.result == 1 else None

    async def exec(self, app: str, args: str = "", timeout: float | None = None) -> CommandReply:
        """Run a dialplan application; `args` is its comma-separated argument string."""
        text = command_line("EXEC", app, args) if args else command_line("EXEC", app)
        return await self.command(text, timeout)

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.command(f"{command_line('VERBOSE', message)} {int(level)}")


def _verb(text: str) -> str:
    parts = text.split()
    return " ".join(parts[:2]) if parts and parts[0] in ("STREAM", "GET", "SET", "WAIT", "EXEC",
                                                         "SAY", "RECORD", "CONTROL") else (
        parts[0] if parts else "")


# ---- the server ------------------------------------------------------------------------------

class FastAgiServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 4573, *, command_timeout: float = 10.0,
                 media_timeout: float = 300.0, header_timeout: float = 5.0,
                 max_header_bytes: int = 8192, max_line_bytes: int = 8192,
                 timer_resolution: float | None = None, hangup_grace: float = 0.2,
                 on_session_start: SessionStartHook | None = None,
                 on_session_end: SessionEndHook | None = None,
                 peer_warnings: PeerWarnings | None = None) -> None:
        self.host, self.port = host, port
        self.command_timeout = command_timeout
        self.media_timeout = media_timeout
        self.hangup_grace = hangup_grace
        self.header_timeout = header_timeout
        self.max_header_bytes = max_header_bytes
        self.max_line_bytes = max_line_bytes
        self._on_start = on_session_start
        self._on_end = on_session_end
        self._routes: dict[str, Handler] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._live: set[_Session] = set()
        self._sweeper: asyncio.Task[None] | None = None
        # header and command deadlines are enforced by one sweep every `timer_resolution`
        # seconds (so up to that much late) instead of one timer per command
        self.timer_resolution = timer_resolution or max(
            0.01, min(0.25, command_timeout / 10, header_timeout / 10))
        self.sessions_total = 0
        self.sessions_failed = 0
        self.peer_warnings = peer_warnings or PeerWarnings()

    @property
    def bad_peers(self) -> int:
        """Peers dropped before their session began (garbage, oversized or no header in time),
        exact however few of them were logged."""
        return self.peer_warnings.total

    def route(self, script: str, handler: Handler) -> None:
        """Handle `agi://host:port/<script>[?query]` with `handler`."""
        self._routes[script.strip("/")] = handler

    @property
    def bound_port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("FastAGI server is not listening")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def active_sessions(self) -> int:
        return len(self._tasks)

    async def start(self) -> None:
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Session(self), self.host, self.port,
                                                reuse_address=True, backlog=1024)
        self._sweeper = loop.create_task(self._sweep())
        log.info("FastAGI listening on %s:%d", self.host, self.bound_port)

    async def serve(self) -> None:
        """Start, serve until cancelled, then shut down gracefully."""
        await self.start()
        assert self._server is not None
        try:
            await self._server.serve_forever()
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop listening, cancel the running sessions (their end hook says 'error: server
        shutting down'), close every connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for session in list(self._live):
            session.close()
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> FastAgiServer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.timer_resolution)
            now = loop.time()
            overdue = [s for s in self._live if s.deadline <= now]
            for session in overdue:
                session.expire()
            self._summarise_bad_peers()

    def _bad_peer(self) -> bool:
        """Count a peer dropped before its session began; True when it is to be logged in full."""
        self._summarise_bad_peers()
        return self.peer_warnings.note()

    def _summarise_bad_peers(self) -> None:
        if dropped := self.peer_warnings.summary_due():
            log.warning("%d more garbage FastAGI peer(s) dropped in the last %.0f s", dropped,
                        self.peer_warnings.interval)

    def _spawn(self, session: _Session, env: AgiEnvironment) -> None:
        task = asyncio.get_running_loop().create_task(self._run(session, env))
        session.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, session: _Session, env: AgiEnvironment) -> None:
        script = env.script
        handler = self._routes.get(script)
        if handler is None:
            self.sessions_failed += 1
            log.warning("%s: %r on %s (caller %s)", UNKNOWN_SCRIPT, script, env.channel,
                        mask_number(env.callerid))
            self._end(env, SessionOutcome("error", f"{UNKNOWN_SCRIPT}: {script}"))
            session.close()
            return
        if self._on_start is not None:
            try:
                self._on_start(env)
            except Exception:
                log.exception("FastAGI on_session_start hook failed for %s on %s", script,
                              env.channel)
        channel = AgiChannel(env, session, self.command_timeout, self.media_timeout,
                             self.hangup_grace)
        try:
            await handler(channel)
            outcome = SessionOutcome("completed")
        except AgiHangup as exc:
            outcome = SessionOutcome("hangup", str(exc))
            log.debug("FastAGI %s on %s: %s", script, env.channel, exc)
        except AgiCommandTimeout as exc:
            outcome = SessionOutcome("timeout", str(exc))
            log.warning("FastAGI %s on %s (caller %s): %s", script, env.channel,
                        mask_number(env.callerid), exc)
        except AgiError as exc:
            outcome = SessionOutcome("error", f"{type(exc).__name__}: {exc}")
            log.warning("FastAGI %s on %s (caller %s): %s", script, env.channel,
                        mask_number(env.callerid), exc)
        except asyncio.CancelledError:
            self._end(env, SessionOutcome("error", SHUTTING_DOWN))
            session.close()
            raise
        except Exception as exc:  # a bug in one call flow ends that call's session only
            outcome = SessionOutcome("error", f"{type(exc).__name__}: {exc}")
            log.exception("FastAGI %s on %s (caller %s): handler failed", script, env.channel,
                          mask_number(env.callerid))
        self._end(env, outcome)
        session.close()

    def _end(self, env: AgiEnvironment, outcome: SessionOutcome) -> None:
        if self._on_end is not None:
            try:
                self._on_end(env, outcome)
            except Exception:
                log.exception("FastAGI on_session_end hook failed for %s on %s", env.script,
                              env.channel)
