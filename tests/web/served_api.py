"""The controller's real API served over real HTTP on loopback, for tests that talk to it as a
client would (tests/web/test_bad_input.py, tests/web/test_schemathesis.py).

What is served is what `hotline_pbx.py serve` wires (hotline_pbx.py, Controller.start): the
engine running as a task (with a callback book), one SQLite store migrated by `open()` shared by
the call records, the work orders (default catalog) and the callback store, `make_app` guarded
by a token file, and `add_routes`. The store is seeded with one order in each state the workflow
reaches, a few call records and one do-not-call entry, so that GETs return data.

    async with serve_api(tmp_path) as served:      # in the test's event loop
        ...
    with ServedInThread(tmp_path) as served:       # its own loop in a thread (sync clients)
        ...

Both bind 127.0.0.1 port 0 and read the bound port back. `served.log_text()` is what the
server logged (aiohttp's tracebacks included), for assertion messages; `served.snapshot()` is
every row of the store with the agents' states and the do-not-call list, to show a request
changed nothing. Options the app's make_app takes (`read_timeout`) are passed through.

`http_raw` sends a request byte for byte as given (headers no client library sends, bodies cut
short or over any limit) and keeps the answer even when the server resets the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy import select

from acd.desks import AcdConfig, AgentConfig, Desk
from acd.engine import Engine
from acd.records import CallRecord, Disposition
from callback.book import CallbackBook
from callback.flow import CallbackFlow
from callback.store import CallbackStore
from tickets.catalog import DEFAULT_CATALOG
from tickets.orders import NewOrder, WorkOrderStore
from tickets.schema import metadata
from tickets.store import CallRecordStore
from tickets.workflow import FollowUpResult
from web.access import Role, TokenFile, add_token
from web.api import make_app
from web.orders import add_routes
from web.supervision import add_supervision
from acd.supervision import SupervisorConfig
from tickets.supervision import SupervisionStore
from recordings.config import RecordingsConfig
from recordings.store import RecordingStore
from web.recordings import add_recordings
from zoneinfo import ZoneInfo

T = TypeVar("T")

CONFIG = AcdConfig(desks=(Desk("general", "综合受理", "general"),),
                   agents=(AgentConfig("agent1001", "王芳", "PJSIP/agent1001", "1001", "1", {"general": 3}),
                           AgentConfig("agent1002", "李强", "PJSIP/agent1002", "1002", "2", {"general": 3})),
                   numbers={"12345": "general"})
SUPERVISOR_NAME = "chen.li"
# the supervisor's phone is registered; super2002's is not (phone-not-registered)
SUPERVISORS = (SupervisorConfig(SUPERVISOR_NAME, "陈丽", "PJSIP/super2001"),
               SupervisorConfig("super2002", "刘洋", "PJSIP/super2002"))


async def phone_registered(device: str) -> bool:
    return device == "PJSIP/super2001"
AGENT_ID = "agent1001"  # the agent token acts as this agent of CONFIG
CALLER = "13800001111"
CONFIGURED_DO_NOT_CALL = "13900000000"
OPTED_OUT = "13700000007"

# the steps that bring a new order to each state the workflow reaches
PATHS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "new": [],
    "answered_directly": [("answer_directly", {"note": "已当场答复"})],
    "closed": [("answer_directly", {}), ("close", {})],
    "dispatched": [("dispatch", {"department": "urban"})],
    "accepted": [("dispatch", {"department": "urban"}), ("accept", {})],
    "replied": [("dispatch", {"department": "urban"}), ("accept", {}), ("reply", {"note": "已处理"})],
    "returned": [("dispatch", {"department": "urban"}), ("accept", {}), ("reply", {}), ("return", {})],
    "follow_up": [("dispatch", {"department": "urban"}), ("accept", {}), ("reply", {}),
                  ("follow_up", {"follow_up_result": FollowUpResult.SATISFIED})],
}


def recordings_config(tmp_path: Path) -> RecordingsConfig:
    """Where the served API finds recordings: MixMonitor's folder and the converted files."""
    return RecordingsConfig(monitor_dir=str(tmp_path / "monitor"), store_dir=str(tmp_path / "recordings"))


class _Collect(logging.Handler):
    """Keeps every record logged while the server runs (any thread)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record that cannot be formatted is itself worth seeing
            self.lines.append(f"{record.levelname} {record.name}: <unformattable {record.msg!r}>")


@dataclass
class Served:
    """The running API: where it listens, its tokens, the objects behind it and what it logged."""

    host: str
    port: int
    app: web.Application
    engine: Engine
    records: CallRecordStore
    orders: WorkOrderStore
    callback_store: CallbackStore
    supervisor: str  # a supervisor's bearer token
    agent: str  # agent1001's bearer token
    seeded: dict[str, str]  # state -> the number of an order in that state
    logs: _Collect = field(repr=False, default_factory=_Collect)
    recording_store: Any = None  # recordings.store.RecordingStore; its files under tmp_path/recordings

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def headers(self, role: str = "supervisor") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.supervisor if role == 'supervisor' else self.agent}"}

    def log_text(self, since: int = 0) -> str:
        return "\n".join(self.logs.lines[since:])

    def log_mark(self) -> int:
        return len(self.logs.lines)

    async def snapshot(self) -> dict[str, Any]:
        """Everything a request could change: every row of every table of the store, the
        agents' states and the callback book's do-not-call list."""
        tables: dict[str, Any] = {}
        async with self.records.engine.connect() as conn:
            for table in metadata.sorted_tables:
                rows = [tuple(row) for row in await conn.execute(select(table))]
                tables[table.name] = sorted(rows, key=repr)
        book = getattr(self.engine.callbacks, "book", None)
        return {"tables": tables,
                "agents": [(a.agent_id, a.state) for a in self.engine.agents()],
                "do_not_call": sorted(book.do_not_call) if book is not None else []}

    async def counts(self) -> dict[str, int]:
        snap = await self.snapshot()
        return {name: len(rows) for name, rows in snap["tables"].items()}


async def _seed(orders: WorkOrderStore, records: CallRecordStore, callback_store: CallbackStore) -> dict[str, str]:
    now = datetime.now(timezone.utc)
    seeded: dict[str, str] = {}
    for i, (state, steps) in enumerate(PATHS.items()):
        at = now - timedelta(days=2, minutes=10 * i)
        number = await orders.create(
            NewOrder(CALLER, "", "complaint" if i % 2 else "consultation", "city" if i % 2 else "",
                     "西湖区", f"工单 {state}: 夜间施工噪音", f"seed-call-{i}"), by=AGENT_ID, at=at)
        for j, (action, args) in enumerate(steps, start=1):
            await orders.transition(number, action, by=SUPERVISOR_NAME, at=at + timedelta(minutes=j), **args)
        seeded[state] = number
    arrived = now - timedelta(hours=3)
    await records.write_many([
        CallRecord(f"seed-call-{i}", CALLER if i < 3 else f"1380000{i:04d}", "市民", "12345",
                   arrived + timedelta(minutes=i), arrived + timedelta(minutes=i, seconds=2),
                   arrived + timedelta(minutes=i + 1),
                   Disposition.ANSWERED if i % 3 else Disposition.ABANDONED_QUEUE, 16, desk="general",
                   agent=AGENT_ID if i % 3 else "", queue_wait=5.0 + i, talk_time=40.0 if i % 3 else None)
        for i in range(6)])
    await callback_store.opt_out(OPTED_OUT, SUPERVISOR_NAME, "市民要求不再回拨", now)
    return seeded


def _lose_a_call(engine: Engine, uid: str, number: str) -> None:
    """A citizen who gave up in the queue: the engine opens a callback entry."""
    from acd import events as ev

    now = datetime.now(timezone.utc)
    engine.submit(ev.ChannelCreated(now, uid, uid, f"PJSIP/carrier-{uid}", 6, number, "", "12345", "from-trunk"))
    engine.submit(ev.CallQueued(now, uid, uid, f"PJSIP/carrier-{uid}", "general"))
    engine.submit(ev.ChannelHungUp(now, uid, uid, 16, ""))


def _make_app(engine: Engine, orders: WorkOrderStore, callback_store: CallbackStore, tokens: TokenFile,
              records: CallRecordStore, options: dict[str, Any]) -> web.Application:
    """make_app as the controller calls it; options the app takes (e.g. a body `read_timeout`,
    `client_max_size`, once it has them) are passed through, the others are left out."""
    accepted = inspect.signature(make_app).parameters
    extra = {k: v for k, v in options.items() if k in accepted}
    return make_app(engine, orders, callback_store, tokens, records=records, **extra)


@contextlib.asynccontextmanager
async def serve_api(tmp_path: Path, **options: Any) -> AsyncIterator[Served]:
    """The controller's API on 127.0.0.1, a free port, in the running event loop."""
    logs = _Collect()  # what the loggers' levels let through (WARNING and up by default)
    root = logging.getLogger()
    root.addHandler(logs)
    records = CallRecordStore(f"sqlite+aiosqlite:///{tmp_path}/hotline.db")
    await records.open()
    orders = WorkOrderStore(records.engine, "3301", DEFAULT_CATALOG.deadlines)
    callback_store = CallbackStore(records.engine)
    book = CallbackBook(do_not_call=frozenset({CONFIGURED_DO_NOT_CALL, OPTED_OUT}),
                        configured=frozenset({CONFIGURED_DO_NOT_CALL}))
    engine = Engine({}, acd=CONFIG, callbacks=CallbackFlow(book), supervisors=SUPERVISORS)
    running = asyncio.create_task(engine.run(), name="engine")
    runner: web.AppRunner | None = None
    try:
        seeded = await _seed(orders, records, callback_store)
        _lose_a_call(engine, "seed-lost-1", "13600000006")  # an open callback entry
        await engine.drained()
        path = str(tmp_path / "api-tokens")
        supervisor = add_token(path, Role.SUPERVISOR, SUPERVISOR_NAME)
        agent = add_token(path, Role.AGENT, AGENT_ID)
        app = _make_app(engine, orders, callback_store, TokenFile(path), records, options)
        add_routes(app, orders, DEFAULT_CATALOG, records)
        add_supervision(app, SupervisionStore(records.engine), phone_registered, SUPERVISORS)
        recording_store = RecordingStore(records.engine)
        add_recordings(app, recording_store, recordings_config(tmp_path), ZoneInfo("Asia/Shanghai"))
        runner = web.AppRunner(app, access_log=None)  # as the controller runs it
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = next((a[0], int(a[1])) for a in runner.addresses if isinstance(a, tuple))
        yield Served(host, port, app, engine, records, orders, callback_store, supervisor, agent, seeded, logs,
                     recording_store)
    finally:
        if runner is not None:
            await runner.cleanup()
        engine.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await records.close()
        root.removeHandler(logs)


class ServedInThread:
    """serve_api in a background thread with its own event loop, for synchronous clients
    (requests, schemathesis' pytest integration). `call(coro)` runs a coroutine in that loop."""

    def __init__(self, tmp_path: Path, startup_timeout: float = 60.0, **options: Any) -> None:
        self._tmp_path, self._options, self._startup_timeout = tmp_path, options, startup_timeout
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="served-api", daemon=True)
        self.served: Served | None = None

    def _main(self) -> None:
        async def main() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            async with serve_api(self._tmp_path, **self._options) as served:
                self.served = served
                self._ready.set()
                await self._stop.wait()

        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            self._error = exc
        finally:
            self._ready.set()

    def __enter__(self) -> Served:
        self._thread.start()
        if not self._ready.wait(self._startup_timeout):
            raise TimeoutError(f"the API did not start within {self._startup_timeout} s")
        if self.served is None:
            raise RuntimeError("the API did not start") from self._error
        return self.served

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60.0)
        if self._thread.is_alive():
            raise RuntimeError("the served API did not shut down within 60 s")
        if self._error is not None and exc == (None, None, None):
            raise RuntimeError("the served API failed") from self._error


# ---- a raw HTTP/1.1 client: sends exactly the bytes given (headers no client library would
# send, bodies cut short), and keeps what the server answered even when it resets the line ----

@dataclass
class Answer:
    """What came back: status None when the server closed without answering."""

    status: int | None
    headers: dict[str, str]
    body: bytes
    closed: bool  # the server closed (or reset) the connection

    def json(self) -> Any:
        import json

        return json.loads(self.body)

    def __str__(self) -> str:
        shown = self.body[:600].decode("utf-8", "backslashreplace")
        return f"HTTP {self.status} {self.headers.get('content-type', '')} {shown}"


class _Collector(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = bytearray()
        self.transport: asyncio.Transport | None = None
        self.changed = asyncio.Event()
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.data += data
        self.changed.set()

    def eof_received(self) -> bool | None:
        self.lost = True
        self.changed.set()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.changed.set()


def _parse(data: bytes | bytearray) -> tuple[int, dict[str, str], bytes, bool] | None:
    """(status, headers, body, complete) once the head has arrived, else None."""
    head, found, rest = bytes(data).partition(b"\r\n\r\n")
    if not found:
        return None
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        length = int(headers["content-length"])
        return status, headers, rest[:length], len(rest) >= length
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body, complete, position = bytearray(), False, 0
        while True:
            size_end = rest.find(b"\r\n", position)
            if size_end < 0:
                break
            size = int(rest[position:size_end].split(b";")[0], 16)
            if size == 0:
                complete = True
                break
            if len(rest) < size_end + 2 + size + 2:
                break
            body += rest[size_end + 2:size_end + 2 + size]
            position = size_end + 2 + size + 2
        return status, headers, bytes(body), complete
    return status, headers, rest, False  # until the server closes


async def http_raw(port: int, method: str, target: str | bytes,
                   headers: Sequence[tuple[str | bytes, str | bytes]] = (), body: bytes | None = None, *, content_length: int | None = None, chunked: bool = False,
                   close: bool = True, timeout: float = 60.0) -> Answer:
    """One request on a new connection to 127.0.0.1:port, written byte for byte as given.
    `content_length` announces a length other than the body's (a body that never arrives).
    Returns once the response is complete, the server closed, or `timeout` passed (then
    TimeoutError: the server neither answered nor hung up)."""

    def raw(value: str | bytes) -> bytes:
        return value if isinstance(value, bytes) else value.encode("latin-1")

    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_connection(_Collector, "127.0.0.1", port)
    lines = [raw(method) + b" " + raw(target) + b" HTTP/1.1", b"Host: 127.0.0.1"]
    if close:
        lines.append(b"Connection: close")
    lines += [raw(name) + b": " + raw(value) for name, value in headers]
    payload = body or b""
    if chunked:
        lines.append(b"Transfer-Encoding: chunked")
        step = 65536
        payload = b"".join(b"%x\r\n%s\r\n" % (len(payload[i:i + step]), payload[i:i + step])
                           for i in range(0, len(payload), step)) + b"0\r\n\r\n"
    elif body is not None or content_length is not None:
        lines.append(b"Content-Length: %d" % (len(payload) if content_length is None else content_length))
    try:
        transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + payload)
        async with asyncio.timeout(timeout):
            while True:
                parsed = _parse(protocol.data)
                if parsed is not None and parsed[3]:
                    break
                if protocol.lost:
                    break
                protocol.changed.clear()
                await protocol.changed.wait()
    finally:
        transport.close()
    parsed = _parse(protocol.data)
    if parsed is None:
        return Answer(None, {}, bytes(protocol.data), protocol.lost)
    status, answer_headers, answer_body, _ = parsed
    return Answer(status, answer_headers, answer_body, protocol.lost)
