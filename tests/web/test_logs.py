"""No token and no full caller number reaches a log line (issue 14, item 5). aiohttp logs a
malformed request at ERROR with the bytes it choked on — the request line with its `?caller=`
number, a header line with a supervisor's token — and an unhandled exception with its traceback;
the controller's formatter must leave none of it readable. The real app is served the way the
controller serves it (AppRunner, access_log=None, a TCPSite on loopback) and sent raw bytes."""

from __future__ import annotations

import asyncio
import io
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from acd.engine import Engine
from acd.privacy import RedactingFormatter
from hotline_pbx import REPO
from tests.web.test_access import CONFIG
from tickets.catalog import DEFAULT_CATALOG
from tickets.orders import WorkOrderStore
from tickets.store import CallRecordStore
from web.access import Role, TokenFile, add_token
from web.api import make_app
from web.orders import add_routes

NUMBER = "13800001111"
LANDLINE = "057188886666"


class Logs:
    """Every record of every logger at DEBUG, twice: through the controller's formatter (what
    an operator's log would hold) and plainly (what aiohttp really said)."""

    def __init__(self) -> None:
        self.redacted, self.raw = io.StringIO(), io.StringIO()
        self.handlers = [logging.StreamHandler(self.redacted), logging.StreamHandler(self.raw)]
        self.handlers[0].setFormatter(RedactingFormatter())
        self.handlers[1].setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))


@pytest.fixture
def logs() -> Iterator[Logs]:
    root = logging.getLogger()
    captured = Logs()
    level = root.level
    root.setLevel(logging.DEBUG)
    for handler in captured.handlers:
        root.addHandler(handler)
    try:
        yield captured
    finally:
        for handler in captured.handlers:
            root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
async def served(tmp_path: Path, logs: Logs) -> AsyncIterator[tuple[int, str]]:
    """The controller's app on a free loopback port; yields the port and a supervisor token."""
    engine = Engine({}, acd=CONFIG)
    runner_task = asyncio.create_task(engine.run())
    store = CallRecordStore(f"sqlite+aiosqlite:///{tmp_path}/calls.db")
    await store.open()
    path = str(tmp_path / "tokens")
    token = add_token(path, Role.SUPERVISOR, "duty.supervisor")
    app = make_app(engine, tokens=TokenFile(path), records=store)
    add_routes(app, WorkOrderStore(store.engine, "3301", DEFAULT_CATALOG.deadlines), DEFAULT_CATALOG, store)
    runner = web.AppRunner(app, access_log=None)  # as hotline_pbx.py serves it
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield port, token
    await runner.cleanup()
    await store.close()
    engine.stop()
    await runner_task


async def send(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(65536), 5)
    finally:
        writer.close()


def malformed(token: str) -> dict[str, bytes]:
    t = token.encode()
    return {
        "non-Latin-1 Authorization (public route)":
            b"GET /api/openapi.json HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + t + "中".encode() + b"\r\n\r\n",
        "non-Latin-1 Authorization (caller lookup)":
            b"GET /api/records?caller=" + NUMBER.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + t + b"\xe4\r\n\r\n",
        "request line with a caller's number and junk after the version":
            b"GET /api/records?caller=" + NUMBER.encode() + b" HTTP/1.1 x\r\nHost: x\r\n\r\n",
        "request line with a bad version":
            b"GET /api/orders?caller=%2B86" + NUMBER.encode() + b" HTTP/9.x\r\nHost: x\r\n\r\n",
        "a number in a path with a control character":
            b"DELETE /api/callbacks/do-not-call/" + NUMBER.encode() + b"\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
        "a bad method before a landline":
            b"G\x00T /api/records?caller=" + LANDLINE.encode() + b" HTTP/1.1\r\n\r\n",
        "a raw garbage header line holding a token":
            b"GET /api/records?caller=" + NUMBER.encode() + b" HTTP/1.1\r\nHost: x\r\nBearer " + t + b"\r\n\r\n",
        "an Authorization header with control characters":
            b"GET /api/agents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + t + b"\x00\x01\r\n\r\n",
        "an Authorization header too long":
            b"GET /api/agents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + t + b"A" * 9000 + b"\r\n\r\n",
        "a valid lookup by number":
            b"GET /api/records?caller=" + NUMBER.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + t + b"\r\n\r\n",
        "a valid removal from the do-not-call list":
            b"DELETE /api/callbacks/do-not-call/" + NUMBER.encode() + b" HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + t + b"\r\n\r\n",
    }


async def test_malformed_requests_leave_no_token_and_no_number_in_the_log(
        served: tuple[int, str], logs: Logs) -> None:
    port, token = served
    answers = {name: await send(port, data) for name, data in malformed(token).items()}
    await asyncio.sleep(0.1)  # aiohttp logs from the protocol's callbacks
    assert all(answer.startswith(b"HTTP/1.") for answer in answers.values()), answers
    raw, redacted = logs.raw.getvalue(), logs.redacted.getvalue()
    # what the test is about: aiohttp itself writes them (at ERROR), as they came
    assert "ERROR aiohttp.server" in raw
    assert {"token": token in raw, "number": NUMBER in raw} == {"token": True, "number": True}
    # and the controller's formatter leaves none of it
    leaks = [line for line in redacted.splitlines() if token in line or NUMBER in line or LANDLINE in line
             or token[:20] in line]
    assert leaks == []
    assert "caller=*******1111" in redacted and "<redacted>" in redacted


def test_the_controller_installs_the_formatter_for_every_line_and_uncaught_errors() -> None:
    """`_logging` as `serve` calls it, in a process of its own (pytest owns this one's root logger)."""
    token = "Kq3" + "x" * 20 + "Z9" + "y" * 20
    program = (
        "import logging, hotline_pbx\n"
        "hotline_pbx._logging('DEBUG')\n"
        f"logging.getLogger('aiohttp.server').error(\"b'Bearer {token}' from ?caller={NUMBER}\")\n"
        "try:\n"
        f"    raise ValueError('Authorization: Bearer {token} caller {NUMBER}')\n"
        "except ValueError:\n"
        "    logging.getLogger('aiohttp.server').exception('Error handling request')\n"
        f"raise RuntimeError('uncaught, for +86{NUMBER}')\n")
    done = subprocess.run([sys.executable, "-c", program], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert token not in done.stderr and NUMBER not in done.stderr, done.stderr
    assert "ERROR   aiohttp.server: b'Bearer <redacted>' from ?caller=*******1111" in done.stderr
    assert "Authorization: <redacted>" in done.stderr
    assert "CRITICAL hotline: uncaught RuntimeError" in done.stderr and "uncaught, for **********1111" in done.stderr


def test_the_runs_log_scan_finds_tokens_bearers_mobiles_and_fixture_numbers(tmp_path: Path) -> None:
    """The scan of tests/conftest.py, on a log that leaks (the run's own log must not)."""
    import tests.conftest as run

    assert run._run_log is not None and run._run_log.path.exists()  # the module pytest loaded: one registry
    token = add_token(str(tmp_path / "tokens"), Role.AGENT, "agent1001")
    assert token in run._tokens  # every add_token of the run is remembered
    leaking = tmp_path / "leaking.log"  # not serve-*.log: the run's own scan would find it
    leaking.write_text(
        "2026-12-02 03:52:54,685 ERROR   aiohttp.server: Error handling request from 127.0.0.1\n"
        f"    b'GET /api/records?caller={NUMBER} HTTP/1.1 x'\n"
        "2026-12-02 03:52:54,686 INFO    web.api: kept 1712345678.42, *******1111, Bearer <redacted>\n"
        f"2026-12-02 03:52:54,687 WARNING web.api: {token} and bearer {'Ab1' * 8}\n"
        f"2026-12-02 03:52:54,688 INFO    tickets.store: dialed {LANDLINE}; uniqueid 1712345678.{LANDLINE[:9]}\n",
        encoding="utf-8")
    finds = run.scan([leaking], {token}, {NUMBER, LANDLINE})
    assert [f.split(": ", 1)[0] for f in finds] == [
        "leaking.log:2 [aiohttp.server] a mobile number, a fixture number",
        "leaking.log:4 [web.api] a token of the run, a bearer credential",
        "leaking.log:5 [tickets.store] a fixture number"]
    assert all(token not in f and NUMBER not in f and LANDLINE not in f for f in finds)
    assert LANDLINE in run.fixture_numbers() and NUMBER in run.fixture_numbers()
