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
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
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
                 ping_interval: float = 5.0, ping_timeout: float | None = None,
                 action_timeout: float = 10.0,
                 backoff_initial: float = 0.5, backoff_max: float = 10.0,
                 events: str = "on", max_frame: int = DEFAULT_MAX_FRAME,
                 action_id_prefix: str = "hp") -> None:
        self.host, self.port, self.username = host, port, username
        self._secret = secret
        self._on_event = on_event
        self._on_connected = on_connected
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout if ping_timeout is not None else ping_interval
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
        self._tasks: set[asyncio.Task[Any]] = set()
        self.connects = 0  # successful logins so far
        self.malformed = 0  # frames dropped
        self.version = ""  # from the greeting: "11.0.0" on Asterisk 22

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
        reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port),
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
            self._connected.clear()
            if keepalive is not None:
                keepalive.cancel()
            pump.cancel()
            writer.close()
            self._fail_pending()

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
        """A dead peer must be noticed even when TCP does not: an unanswered Ping drops the link."""
        while True:
            await asyncio.sleep(self.ping_interval)
            try:
                await self.send_action("Ping", timeout=self.ping_timeout)
            except AmiTimeout as exc:
                log.warning("AMI keep-alive to %s failed (%s); dropping the connection", self.where, exc)
                writer.transport.abort()
                return
            except AmiDisconnected:
                return
            except AmiError as exc:
                log.warning("AMI keep-alive to %s: %s", self.where, exc)

    async def _pump(self, reader: asyncio.StreamReader, parser: AmiParser) -> None:
        try:
            while data := await reader.read(65536):
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
