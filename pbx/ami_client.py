"""The asyncio AMI connection: a thin adapter around the sans-IO `AmiParser`.

Connects, waits for the greeting, logs in, matches responses to actions by ActionID, collects
event-list actions (CoreShowChannels, BridgeList, DBGetTree …), keeps the link alive with Ping,
and reconnects with capped exponential backoff. A refused login or an unreachable Asterisk is
one clear log line per attempt, never a traceback. After every login `on_connected` runs (the
controller resynchronises there). All bytes go through `pbx.ami`; nothing here parses.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pbx.ami import DEFAULT_MAX_FRAME, AmiMessage, AmiParser, Event, Greeting, Response, encode_action

log = logging.getLogger("pbx.ami")

# Stable error strings (prefixes of the exception messages).
AMI_DISCONNECTED = "ami-disconnected"
AMI_TIMEOUT = "ami-timeout"
AMI_ACTION_FAILED = "ami-action-failed"
AMI_LOGIN_REFUSED = "ami-login-refused"
AMI_NO_GREETING = "ami-no-greeting"

DEAD_AFTER = 10.0  # seconds of silence (no byte read) with a Ping unanswered: the link is dead
STREAM_LIMIT = 1 << 20  # the StreamReader stops reading the socket past 2x this, unread
READ_CHUNK = 1 << 18  # what one read takes from the stream; the transport reads 256 KiB at most

Headers = Mapping[str, str] | Sequence[tuple[str, str]]


class AmiError(Exception):
    pass


class AmiDisconnected(AmiError):
    """The connection dropped (or was never up) while the action waited for its answer."""


class AmiTimeout(AmiError):
    """No answer within the timeout; the connection may be dead (the keep-alive will tell)."""


class AmiActionFailed(AmiError):
    """Asterisk answered `Response: Error`; the response is attached."""

    def __init__(self, action: str, response: Response) -> None:
        super().__init__(f"{AMI_ACTION_FAILED}: {action}: {response.message or response.status}")
        self.action = action
        self.response = response


class AmiLoginRefused(AmiError):
    pass


@dataclass
class _Pending:
    action: str
    future: asyncio.Future[tuple[Response, list[Event]]]
    is_list: bool
    response: Response | None = None
    events: list[Event] = field(default_factory=list)
    complete: bool = False  # the EventList: Complete event came (before the response?)


def _reason(exc: BaseException) -> str:
    """A short human reason, no traceback: 'Connection refused', 'timed out' …"""
    if isinstance(exc, OSError):
        if exc.errno:
            return os.strerror(exc.errno)
        return exc.strerror or str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


class AmiClient:
    """One AMI connection that stays up until `close()`. Run `run()` as a task."""

    def __init__(self, host: str, port: int, username: str, secret: str, *,
                 on_event: Callable[[Event], None],
                 on_connected: Callable[[AmiClient], Awaitable[None]] | None = None,
                 on_disconnected: Callable[[], None] | None = None,
                 ping_interval: float = 5.0, ping_timeout: float | None = None,
                 ping_patience: float | None = None, dead_after: float | None = None,
                 action_timeout: float = 10.0,
                 backoff_initial: float = 0.5, backoff_max: float = 10.0,
                 events: str = "on", max_frame: int = DEFAULT_MAX_FRAME,
                 action_id_prefix: str = "hp") -> None:
        self.host, self.port, self.username = host, port, username
        self._secret = secret
        self._on_event = on_event
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected  # a logged-in session ended (not at close())
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout if ping_timeout is not None else ping_interval
        # A Ping answer queues behind every event Asterisk sent before it: on a busy link it
        # comes late although bytes keep arriving. The link is dead only when the answer is
        # late AND nothing was read for dead_after (a loaded box pauses Asterisk's manager
        # thread for seconds: measured 2.2 s in the 1000-call storm on two cores);
        # ping_patience caps the wait for an answer all the same.
        self.dead_after = dead_after if dead_after is not None else max(DEAD_AFTER, self.ping_timeout)
        self.ping_patience = ping_patience if ping_patience is not None else max(30.0, 10 * self.ping_timeout,
                                                                                  self.dead_after)
        self.action_timeout = action_timeout
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.events = events  # Login's Events: header ("on", "off", "call,agent" …)
        self._max_frame = max_frame
        self._prefix = f"{action_id_prefix}-{os.getpid()}-"
        self._ids = itertools.count(1)
        self._pending: dict[str, _Pending] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._connected = asyncio.Event()
        self._closing = asyncio.Event()
        self._greeted: asyncio.Future[str] | None = None
        self._drop_reason = ""
        self._tasks: set[asyncio.Task[Any]] = set()
        self.connects = 0  # successful logins so far
        self.disconnects = 0  # logged-in sessions that ended (not counting close())
        self.drops: deque[tuple[float, str]] = deque(maxlen=32)  # (time.time(), why) of those
        self.bytes_read = 0
        self.reads = 0
        self.last_read = 0.0  # loop time of the last read that returned bytes
        self.ping_rtt_max = 0.0  # seconds, the slowest Ping answer seen
        self.pings_late = 0  # Ping answers later than ping_timeout on a link that was still reading
        self.malformed = 0  # frames dropped
        self.version = ""  # from the greeting: "11.0.0" on Asterisk 22

    @property
    def reconnects(self) -> int:
        """Logins after the first: how often the link had to be redone."""
        return max(0, self.connects - 1)

    @property
    def local_port(self) -> int | None:
        """The client's port of the current connection (to find its socket in /proc/net/tcp)."""
        if self._writer is None or self._writer.is_closing():
            return None
        sockname = self._writer.get_extra_info("sockname")
        return sockname[1] if sockname else None

    def unread_bytes(self) -> int | None:
        """Bytes Asterisk sent that wait in the kernel for this client to read (FIONREAD), or
        None without a connection: how far the reader is behind."""
        import fcntl
        import termios
        import array

        sock = self._writer.get_extra_info("socket") if self._writer is not None else None
        if sock is None or self._writer is None or self._writer.is_closing():
            return None
        buf = array.array("i", [0])
        try:
            fcntl.ioctl(sock.fileno(), termios.FIONREAD, buf)
        except OSError:
            return None
        return buf[0]

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    # ---- public ----
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def run(self) -> None:
        """Stay connected until close(): connect, log in, pump, reconnect with backoff."""
        delay = self.backoff_initial
        while not self._closing.is_set():
            try:
                await self._session()
            except AmiLoginRefused as exc:
                if not self._closing.is_set():
                    log.error("AMI login to %s as %r refused: %s; retrying in %.1fs", self.where,
                              self.username, exc, delay)
            except (OSError, TimeoutError, AmiError) as exc:
                if not self._closing.is_set():
                    log.error("AMI at %s unreachable: %s; retrying in %.1fs", self.where,
                              _reason(exc), delay)
            except Exception:  # a bug must not end the connection for good
                log.exception("AMI session with %s failed; retrying in %.1fs", self.where, delay)
            except asyncio.CancelledError:
                me = asyncio.current_task()
                if not self._closing.is_set() or (me is not None and me.cancelling()):
                    raise  # run() itself was cancelled
                break  # close() cancelled the session's own tasks (its pump): a clean end
            else:
                delay = self.backoff_initial  # a session that logged in resets the backoff
                if not self._closing.is_set():
                    log.warning("AMI connection to %s lost; reconnecting in %.1fs", self.where, delay)
            if self._closing.is_set():
                break
            with contextlib.suppress(TimeoutError):  # close() cuts the wait short
                await asyncio.wait_for(self._closing.wait(), delay)
            delay = min(self.backoff_max, delay * 2)

    async def close(self) -> None:
        """Log off (briefly waiting for Goodbye), close the socket, fail what still waits."""
        if self._closing.is_set():
            return
        self._closing.set()
        if self.connected:
            with contextlib.suppress(AmiError, OSError, TimeoutError):
                await self.send_action("Logoff", timeout=1.0)
        if self._writer is not None:
            self._writer.close()
        self._fail_pending()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def send_action(self, name: str, headers: Headers = (),
                          timeout: float | None = None) -> Response:
        """Send one action and wait for its Response (matched by ActionID).

        Raises AmiActionFailed on `Response: Error`, AmiTimeout, AmiDisconnected.
        """
        response, _ = await self._request(name, headers, False, timeout)
        return response

    async def send_list_action(self, name: str, headers: Headers = (),
                               timeout: float | None = None) -> tuple[Response, list[Event]]:
        """An action answered by a list of events ending in one with `EventList: Complete`.

        The list's events (and its Complete event) are not passed to on_event.
        """
        return await self._request(name, headers, True, timeout)

    async def add_filter(self, expression: str) -> Response:
        """Ask Asterisk to send only matching events (AMI `Filter`, Operation: Add), cutting
        the load at the source. The AMI user needs the `system` write permission."""
        return await self.send_action("Filter", {"Operation": "Add", "Filter": expression})

    # ---- internals ----
    async def _request(self, name: str, headers: Headers, is_list: bool,
                       timeout: float | None) -> tuple[Response, list[Event]]:
        writer = self._writer
        if writer is None or writer.is_closing() or (not self.connected and name != "Login"):
            raise AmiDisconnected(f"{AMI_DISCONNECTED}: {name} while not connected")
        action_id = f"{self._prefix}{next(self._ids)}"
        data = encode_action(name, action_id, headers)  # ValueError on header injection
        future: asyncio.Future[tuple[Response, list[Event]]] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = _Pending(name, future, is_list)
        limit = timeout if timeout is not None else self.action_timeout
        try:
            writer.write(data)
            return await asyncio.wait_for(future, limit)
        except TimeoutError:
            raise AmiTimeout(f"{AMI_TIMEOUT}: {name} unanswered after {limit:.1f}s") from None
        except (ConnectionError, RuntimeError) as exc:  # write to a transport that just died
            raise AmiDisconnected(f"{AMI_DISCONNECTED}: {name}: {_reason(exc)}") from None
        finally:
            self._pending.pop(action_id, None)

    async def _session(self) -> None:
        """One connection: greeting, Login, then pump until EOF or a failed keep-alive."""
        reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port,
                                                                        limit=STREAM_LIMIT),
                                                self.action_timeout)
        self._writer = writer
        self._greeted = asyncio.get_running_loop().create_future()
        parser = AmiParser(self._max_frame)
        pump = self._spawn(self._pump(reader, parser), "ami-pump")
        keepalive: asyncio.Task[None] | None = None
        try:
            try:
                await asyncio.wait_for(self._greeted, self.action_timeout)
            except TimeoutError:
                raise AmiError(f"{AMI_NO_GREETING}: no 'Asterisk Call Manager/' line "
                               f"within {self.action_timeout:.1f}s") from None
            try:
                response = await self.send_action("Login", {"Username": self.username,
                                                            "Secret": self._secret,
                                                            "Events": self.events})
            except AmiActionFailed as exc:
                raise AmiLoginRefused(exc.response.message or "Authentication failed") from None
            self.connects += 1
            self._connected.set()
            log.info("AMI logged in to %s as %s (Asterisk Call Manager/%s): %s", self.where,
                     self.username, self.version, response.message)
            keepalive = self._spawn(self._keepalive(writer), "ami-keepalive")
            if self._on_connected is not None:
                self._spawn(self._run_on_connected(), "ami-on-connected")
            await asyncio.shield(pump)  # shield: the pump's own cancellation is ours to do
        finally:
            was_up = self._connected.is_set()
            if was_up and not self._closing.is_set():
                self.disconnects += 1
                self.drops.append((time.time(), self._drop_reason or "closed by Asterisk"))
            self._drop_reason = ""
            self._connected.clear()
            if keepalive is not None:
                keepalive.cancel()
            pump.cancel()
            writer.close()
            self._fail_pending()
            if was_up and self._on_disconnected is not None and not self._closing.is_set():
                self._on_disconnected()

    async def _run_on_connected(self) -> None:
        assert self._on_connected is not None
        try:
            await self._on_connected(self)
        except AmiError as exc:
            log.warning("AMI resync after connecting to %s failed: %s", self.where, exc)
        except Exception:
            log.exception("AMI on_connected hook failed")

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _keepalive(self, writer: asyncio.StreamWriter) -> None:
        """A dead peer must be noticed even when TCP does not: an unanswered Ping drops the link.

        Late is not dead: Asterisk answers a Ping after every event it queued before it, so under
        a call storm the answer can take seconds while events keep streaming in. The link is
        dropped only when the Ping is unanswered AND nothing arrived for `dead_after` (or the
        answer is later than `ping_patience` even though bytes still arrive)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.ping_interval)
            sent = loop.time()
            ping = asyncio.ensure_future(self.send_action("Ping", timeout=self.ping_patience))
            late = False
            try:
                while True:
                    done, _ = await asyncio.wait({ping}, timeout=self.ping_timeout)
                    if done:
                        break
                    late = True
                    await asyncio.sleep(0)  # let a read that is ready land first
                    if ping.done():
                        break
                    silent = loop.time() - max(self.last_read, sent)
                    if silent >= self.dead_after:
                        self._drop_reason = (f"keep-alive: Ping unanswered and nothing read for "
                                             f"{silent:.1f}s")
                        log.warning("AMI keep-alive to %s failed (Ping unanswered, nothing read for "
                                    "%.1fs); dropping the connection", self.where, silent)
                        writer.transport.abort()
                        return
                ping.result()
                rtt = loop.time() - sent
                self.ping_rtt_max = max(self.ping_rtt_max, rtt)
                if late:
                    self.pings_late += 1
                    log.info("AMI keep-alive to %s: Ping answered after %.1fs on a busy link", self.where, rtt)
            except AmiTimeout as exc:
                self._drop_reason = f"keep-alive: {exc}"
                log.warning("AMI keep-alive to %s failed (%s) although bytes still arrive; dropping "
                            "the connection", self.where, exc)
                writer.transport.abort()
                return
            except AmiDisconnected:
                return
            except AmiError as exc:
                log.warning("AMI keep-alive to %s: %s", self.where, exc)
            finally:
                if not ping.done():
                    ping.cancel()

    async def _pump(self, reader: asyncio.StreamReader, parser: AmiParser) -> None:
        try:
            loop = asyncio.get_running_loop()
            while data := await reader.read(READ_CHUNK):
                self.last_read = loop.time()
                self.bytes_read += len(data)
                self.reads += 1
                parser.receive_data(data)
                for message in parser:
                    self._dispatch(message)
        except ConnectionError as exc:
            log.debug("AMI read from %s ended: %s", self.where, _reason(exc))
        finally:
            if self._greeted is not None and not self._greeted.done():
                self._greeted.set_exception(
                    AmiDisconnected(f"{AMI_DISCONNECTED}: {self.where} closed before the greeting"))
                self._greeted.exception()  # retrieved here too: nobody may be waiting any more
            self._fail_pending()  # nobody waits 10 s for an answer from a closed socket

    def _dispatch(self, message: AmiMessage) -> None:
        if isinstance(message, Event):
            pending = self._pending.get(message.action_id) if message.action_id else None
            if pending is not None and pending.is_list:
                self._collect(pending, message)
                return
            try:
                self._on_event(message)
            except Exception:
                log.exception("AMI event handler failed on %s", message.name)
        elif isinstance(message, Response):
            pending = self._pending.get(message.action_id)
            if pending is None or pending.future.done():
                return
            if not message.success:
                pending.future.set_exception(AmiActionFailed(pending.action, message))
            elif pending.is_list and message.get("EventList").lower() == "start" and not pending.complete:
                pending.response = message
            else:
                pending.future.set_result((message, pending.events))
        elif isinstance(message, Greeting):
            self.version = message.version
            if self._greeted is not None and not self._greeted.done():
                self._greeted.set_result(message.version)
        else:
            self.malformed += 1
            log.warning("AMI dropped a malformed frame from %s (%s): %r", self.where,
                        message.reason, message.raw[:200])

    @staticmethod
    def _collect(pending: _Pending, event: Event) -> None:
        if event.get("EventList").lower() != "complete":
            pending.events.append(event)
            return
        pending.complete = True
        if pending.response is not None and not pending.future.done():
            pending.future.set_result((pending.response, pending.events))

    def _fail_pending(self) -> None:
        for pending in list(self._pending.values()):
            if not pending.future.done():
                pending.future.set_exception(
                    AmiDisconnected(f"{AMI_DISCONNECTED}: connection to {self.where} lost "
                                    f"during {pending.action}"))


@contextlib.asynccontextmanager
async def ami_session(host: str, port: int, username: str, secret: str, *, timeout: float = 10.0,
                      purpose: str = "once") -> AsyncIterator[AmiClient]:
    """A connection for a few actions (a command's reload, a scene's mark): logged in, no events,
    closed on leaving. TimeoutError when Asterisk does not let it in within `timeout`."""
    client = AmiClient(host, port, username, secret, on_event=lambda e: None, events="off",
                       action_timeout=timeout, action_id_prefix=purpose)
    runner = asyncio.create_task(client.run(), name=f"ami-{purpose}")
    try:
        await client.wait_connected(timeout)
        yield client
    finally:
        await client.close()
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
