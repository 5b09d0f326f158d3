"""The asyncio AMI connection: a thin adapter around the sans-IO `AmiParser`.

Connects, logs in, matches responses to actions by ActionID, collects event-list actions
(CoreShowChannels, DBGetTree …), keeps the link alive with Ping, and reconnects with capped
exponential backoff. A refused login or an unreachable Asterisk is one clear log line per
attempt, never a traceback. After every login `on_connected` runs (the controller resyncs).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field

from pbx.ami import AmiParser, Event, Greeting, MalformedFrame, Response, encode_action

log = logging.getLogger("pbx.ami")

AMI_DISCONNECTED = "ami-disconnected"
AMI_TIMEOUT = "ami-timeout"
AMI_ACTION_FAILED = "ami-action-failed"
AMI_LOGIN_REFUSED = "ami-login-refused"


class AmiError(Exception):
    pass


class AmiDisconnected(AmiError):
    pass


class AmiTimeout(AmiError):
    pass


class AmiActionFailed(AmiError):
    def __init__(self, action: str, response: Response) -> None:
        super().__init__(f"{AMI_ACTION_FAILED}: {action}: {response.message or response.status}")
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


class AmiClient:
    def __init__(self, host: str, port: int, username: str, secret: str, *,
                 on_event: Callable[[Event], None],
                 on_connected: Callable[[AmiClient], Awaitable[None]] | None = None,
                 ping_interval: float = 5.0, action_timeout: float = 10.0,
                 backoff_initial: float = 0.5, backoff_max: float = 10.0,
                 max_frame: int = 1 << 20) -> None:
        self.host, self.port, self.username = host, port, username
        self._secret = secret
        self._on_event = on_event
        self._on_connected = on_connected
        self.ping_interval = ping_interval
        self.action_timeout = action_timeout
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self._max_frame = max_frame
        self._ids = itertools.count(1)
        self._pending: dict[str, _Pending] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._connected = asyncio.Event()
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.connects = 0
        self.malformed = 0
        self.version = ""

    # ---- public ----
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def run(self) -> None:
        """Stay connected until close(): connect, log in, pump, reconnect with backoff."""
        delay = self.backoff_initial
        where = f"{self.host}:{self.port}"
        while not self._closing:
            try:
                await self._session()
                delay = self.backoff_initial  # a session that logged in resets the backoff
                if not self._closing:
                    log.warning("AMI connection to %s lost; reconnecting in %.1fs", where, delay)
            except AmiLoginRefused as exc:
                if self._closing:
                    break
                log.error("AMI login to %s as %r refused: %s; retrying in %.1fs", where,
                          self.username, exc, delay)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, AmiError) as exc:
                if self._closing:
                    break
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else (str(exc) or type(exc).__name__)
                log.error("AMI at %s unreachable: %s; retrying in %.1fs", where, reason, delay)
            if self._closing:
                break
            await asyncio.sleep(delay)
            delay = min(self.backoff_max, delay * 2)

    async def close(self) -> None:
        self._closing = True
        if self._writer is not None and self.connected:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.send_action("Logoff"), 1.0)
        if self._writer is not None:
            self._writer.close()
        self._fail_pending()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def send_action(self, name: str, headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
                          timeout: float | None = None) -> Response:
        response, _ = await self._request(name, headers, False, timeout)
        return response

    async def send_list_action(self, name: str,
                               headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
                               timeout: float | None = None) -> tuple[Response, list[Event]]:
        """An action answered by a list of events ending in one with `EventList: Complete`."""
        return await self._request(name, headers, True, timeout)

    # ---- internals ----
    async def _request(self, name: str, headers: Mapping[str, str] | Sequence[tuple[str, str]],
                       is_list: bool, timeout: float | None) -> tuple[Response, list[Event]]:
        if self._writer is None or not self.connected and name != "Login":
            raise AmiDisconnected(f"{AMI_DISCONNECTED}: {name} while not connected")
        action_id = f"hp-{next(self._ids)}"
        future: asyncio.Future[tuple[Response, list[Event]]] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = _Pending(name, future, is_list)
        try:
            self._writer.write(encode_action(name, action_id, headers))
            await self._writer.drain()
            return await asyncio.wait_for(future, timeout or self.action_timeout)
        except asyncio.TimeoutError:
            raise AmiTimeout(f"{AMI_TIMEOUT}: {name} unanswered after "
                             f"{timeout or self.action_timeout:.1f}s") from None
        finally:
            self._pending.pop(action_id, None)

    async def _session(self) -> None:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port),
                                                self.action_timeout)
        self._writer = writer
        parser = AmiParser(self._max_frame)
        pump = asyncio.create_task(self._pump(reader, parser), name="ami-pump")
        try:
            response, _ = await self._request("Login", {"Username": self.username,
                                                     "Secret": self._secret, "Events": "on"},
                                           False, None)
        except AmiActionFailed as exc:
            pump.cancel()
            writer.close()
            raise AmiLoginRefused(exc.response.message or "Authentication failed") from None
        except BaseException:
            pump.cancel()
            writer.close()
            raise
        self.connects += 1
        self._connected.set()
        log.info("AMI logged in to %s:%d as %s (%s)", self.host, self.port, self.username,
                 response.message)
        keepalive = asyncio.create_task(self._keepalive(writer), name="ami-keepalive")
        if self._on_connected is not None:
            self._spawn(self._run_on_connected(), "ami-on-connected")
        try:
            await pump
        finally:
            self._connected.clear()
            keepalive.cancel()
            writer.close()
            self._fail_pending()

    async def _run_on_connected(self) -> None:
        assert self._on_connected is not None
        try:
            await self._on_connected(self)
        except AmiError as exc:
            log.warning("AMI resync after connect failed: %s", exc)
        except Exception:
            log.exception("AMI on_connected hook failed")

    def _spawn(self, coro: Coroutine[object, object, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _keepalive(self, writer: asyncio.StreamWriter) -> None:
        """A dead peer must be noticed even when TCP does not: a Ping unanswered drops the link."""
        while True:
            await asyncio.sleep(self.ping_interval)
            try:
                await self.send_action("Ping", timeout=max(1.0, self.ping_interval))
            except AmiError as exc:
                log.warning("AMI keep-alive failed (%s); dropping the connection", exc)
                writer.transport.abort()
                return

    async def _pump(self, reader: asyncio.StreamReader, parser: AmiParser) -> None:
        try:
            while data := await reader.read(65536):
                parser.receive_data(data)
                while (message := parser.next_message()) is not None:
                    self._dispatch(message)
        finally:
            self._fail_pending()  # nobody waits 10 s for an answer from a closed socket

    def _dispatch(self, message: Greeting | Event | Response | MalformedFrame) -> None:
        if isinstance(message, Event):
            pending = self._pending.get(message.action_id) if message.action_id else None
            if pending is not None and pending.is_list:
                if message.get("EventList").lower() != "complete":
                    pending.events.append(message)
                elif pending.response is not None:
                    if not pending.future.done():
                        pending.future.set_result((pending.response, pending.events))
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
            elif pending.is_list and message.get("EventList").lower() == "start":
                pending.response = message
            else:
                pending.future.set_result((message, []))
        elif isinstance(message, Greeting):
            self.version = message.version
        else:
            self.malformed += 1
            log.warning("AMI dropped a malformed frame from %s:%d (%s): %r", self.host, self.port,
                        message.reason, message.raw[:200])

    def _fail_pending(self) -> None:
        for pending in list(self._pending.values()):
            if not pending.future.done():
                pending.future.set_exception(
                    AmiDisconnected(f"{AMI_DISCONNECTED}: connection lost during {pending.action}"))
