"""API access: tokens kept as digests, roles per route, and the middleware on the controller's
real app (engine task and SQLite store, no Asterisk)."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from acd.desks import AcdConfig, AgentConfig, Desk
from acd.engine import Engine
from tickets.catalog import DEFAULT_CATALOG
from tickets.orders import WorkOrderStore
from tickets.store import CallRecordStore
from web.access import (FORBIDDEN, RULES, UNAUTHORIZED, Grant, Role, TokenBook, TokenFile, TokenFileError,
                        add_token, decide, digest, remove_token)
from web.api import make_app
from web.orders import add_routes

CONFIG = AcdConfig(desks=(Desk("general", "综合受理", "general"),),
                   agents=(AgentConfig("agent1001", "王芳", "PJSIP/agent1001", "1001", "1", {"general": 3}),
                           AgentConfig("agent1002", "李强", "PJSIP/agent1002", "1002", "2", {"general": 3})))
ORDER = {"caller_number": "13800001111", "category": "complaint", "topic": "city", "content": "夜间施工噪音"}


def test_the_file_keeps_digests_only_is_private_and_refuses_a_second_token_for_a_name(tmp_path: Path) -> None:
    path = str(tmp_path / "etc" / "tokens")
    token = add_token(path, Role.SUPERVISOR, "zhang.wei")
    text = Path(path).read_text()
    assert token not in text and text == f"{digest(token)} supervisor zhang.wei\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with pytest.raises(ValueError, match="already has a token"):
        add_token(path, Role.AGENT, "zhang.wei")
    with pytest.raises(ValueError, match="name"):
        add_token(path, Role.AGENT, "two words")
    book = TokenBook.load(path)
    assert book.holder(f"Bearer {token}") == Grant("zhang.wei", Role.SUPERVISOR)
    assert book.holder(f"bearer  {token} ") == Grant("zhang.wei", Role.SUPERVISOR)
    for header in (None, "", token, f"Basic {token}", "Bearer ", f"Bearer {token}x",
                   "Bearer 你好", "Bearer \udce4\udcbd", f"Bearer {token}\x00", f"Bearer {token}{' ' * 600}"):
        assert book.holder(header) is None


def test_removing_a_name_keeps_the_other_lines_and_comments(tmp_path: Path) -> None:
    path = str(tmp_path / "tokens")
    Path(path).write_text("# hall supervisors\n")
    add_token(path, Role.AGENT, "agent1001")
    kept = add_token(path, Role.AGENT, "agent1002")
    assert remove_token(path, "agent1001") and not remove_token(path, "agent1001")
    assert not remove_token(str(tmp_path / "absent"), "agent1001")
    assert Path(path).read_text().startswith("# hall supervisors\n")
    assert [g.name for g in TokenBook.load(path).grants.values()] == ["agent1002"]
    assert TokenBook.load(path).holder(f"Bearer {kept}") is not None


@pytest.mark.parametrize("line, detail", [
    ("abc supervisor x", "64 hex"),
    (f"{'a' * 64} admin x", "role 'admin'"),
    (f"{'a' * 64} agent", "expected"),
    (f"{'a' * 64} agent a/b", "name 'a/b'"),
    (f"{'a' * 64} agent x\n{'b' * 64} agent x", "listed twice"),
])
def test_a_malformed_line_is_named_by_file_and_line(line: str, detail: str) -> None:
    with pytest.raises(TokenFileError, match=detail) as caught:
        TokenBook.parse(f"# tokens\n\n{line}\n", "/etc/hotline-pbx/api-tokens")
    assert str(caught.value).startswith("bad-token-file: /etc/hotline-pbx/api-tokens:")


def test_roles_per_route() -> None:
    agent, supervisor = Grant("agent1001", Role.AGENT), Grant("chen", Role.SUPERVISOR)
    assert decide("GET", "/api/openapi.json", None) is None
    assert decide("GET", "/api/orders", None) == UNAUTHORIZED
    assert decide("GET", "/api/orders", agent) is None
    assert decide("POST", "/api/agents/{agent_id}/{op}", agent, "agent1001") is None
    assert decide("POST", "/api/agents/{agent_id}/{op}", agent, "agent1002") == FORBIDDEN
    for route in ("/api/calls", "/api/callbacks", "/api/orders.csv", "/api/not-in-the-table"):
        assert decide("GET", route, agent) == FORBIDDEN
        assert decide("GET", route, supervisor) is None


async def test_the_file_is_read_again_when_it_changes_and_a_broken_one_refuses_every_token(tmp_path: Path) -> None:
    """Fail closed: a bad line must never keep a revoked token alive, so while the file does
    not load no token is honoured (and the error says which line)."""
    path = str(tmp_path / "tokens")
    tokens = TokenFile(path)
    assert tokens.current().grants == {} and tokens.error is None
    first = add_token(path, Role.AGENT, "agent1001")
    assert tokens.current().holder(f"Bearer {first}") is not None
    with open(path, "a") as out:
        out.write("garbage\n")
    assert tokens.current().holder(f"Bearer {first}") is None
    assert tokens.error is not None and ":2:" in tokens.error
    Path(path).write_text(Path(path).read_text().replace("garbage\n", ""))
    assert tokens.current().holder(f"Bearer {first}") is not None and tokens.error is None


def test_a_revocation_is_never_written_into_a_file_the_controller_would_not_load(tmp_path: Path) -> None:
    """`api-token remove` beside an unreadable line used to say "removed" while the controller
    kept the old tokens: now it refuses, names the line, and changes nothing; so does add."""
    path = str(tmp_path / "tokens")
    add_token(path, Role.SUPERVISOR, "duty.supervisor")
    with open(path, "a") as out:
        out.write("not a token line\n")
    before = Path(path).read_text()
    with pytest.raises(TokenFileError, match=":2:"):
        remove_token(path, "duty.supervisor")
    with pytest.raises(TokenFileError, match=":2:"):
        add_token(path, Role.AGENT, "agent1002")
    assert Path(path).read_text() == before


def test_the_cli_refuses_to_pretend_a_revocation(tmp_path: Path) -> None:
    import subprocess
    import sys

    from hotline_pbx import REPO

    config = tmp_path / "hotline.toml"
    config.write_text(f'[http]\ntokens = "{tmp_path}/tokens"\n')
    cli = [sys.executable, str(REPO / "hotline_pbx.py"), "api-token"]
    made = subprocess.run([*cli, "add", "--config", str(config), "--role", "supervisor", "--name", "boss"],
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    with open(tmp_path / "tokens", "a") as out:
        out.write("bad\n")
    removed = subprocess.run([*cli, "remove", "--config", str(config), "--name", "boss"], capture_output=True, text=True)
    assert removed.returncode == 2 and "nothing was removed" in removed.stderr and "removed the token" not in removed.stdout


async def test_a_file_copied_over_with_the_same_size_and_mtime_is_read_again(tmp_path: Path) -> None:
    """cp -p / rsync -t: a new token list of the same length and the same mtime still counts."""
    path, other = str(tmp_path / "tokens"), str(tmp_path / "other")
    old = add_token(path, Role.AGENT, "agent1001")
    new = add_token(other, Role.AGENT, "agent1009")  # the same line length
    tokens = TokenFile(path)
    assert tokens.current().holder(f"Bearer {old}") is not None
    stat = os.stat(path)
    Path(path).write_text(Path(other).read_text())  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime
    assert os.stat(path).st_size == stat.st_size and os.stat(path).st_mtime_ns == stat.st_mtime_ns
    assert tokens.current().holder(f"Bearer {old}") is None
    assert tokens.current().holder(f"Bearer {new}") is not None


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[TestClient, str]]:
    """The controller's app (api + orders) guarded by a token file; yields the client and the file."""
    engine = Engine({}, acd=CONFIG)
    runner = asyncio.create_task(engine.run())
    store = CallRecordStore(f"sqlite+aiosqlite:///{tmp_path}/orders.db")
    await store.open()
    path = str(tmp_path / "tokens")
    app = make_app(engine, tokens=TokenFile(path))
    add_routes(app, WorkOrderStore(store.engine, "3301", DEFAULT_CATALOG.deadlines), DEFAULT_CATALOG, store)
    from tickets.supervision import SupervisionStore
    from web.supervision import add_supervision

    async def registered(device: str) -> bool:
        return True

    add_supervision(app, SupervisionStore(store.engine), registered, ())
    from events.stream import EventStream
    from events.websocket import add_events

    add_events(app, EventStream(), engine)  # as the controller adds it (hotline_pbx.py)
    from tickets.users import UserStore
    from web.pages import add_pages
    from web.sessions import Sessions

    add_pages(app, Sessions(UserStore(store.engine)))  # the pages and their API
    from zoneinfo import ZoneInfo

    from recordings.config import RecordingsConfig
    from recordings.store import RecordingStore
    from web.recordings import add_recordings

    add_recordings(app, RecordingStore(store.engine), RecordingsConfig(monitor_dir=str(tmp_path / "monitor")),
                   ZoneInfo("Asia/Shanghai"))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client, path
    await store.close()
    engine.stop()
    await runner


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_every_api_route_of_the_controller_has_a_rule(api: tuple[TestClient, str]) -> None:
    client, _ = api
    routes = {(r.method, r.resource.canonical) for r in client.app.router.routes()
              if r.resource is not None and r.method != "HEAD" and r.resource.canonical.startswith("/api/")}
    assert routes == set(RULES)


async def test_without_a_token_only_the_openapi_document_answers(api: tuple[TestClient, str]) -> None:
    client, path = api
    assert (await client.get("/api/openapi.json")).status == 200
    for method, url in (("GET", "/api/agents"), ("POST", "/api/orders"), ("GET", "/api/records?caller=138"),
                        ("GET", "/api/orders/3301-20261128-000001")):
        resp = await client.request(method, url, headers=bearer("not-a-token"))
        assert resp.status == 401 and (await resp.json())["error"] == UNAUTHORIZED
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await client.get("/api/nothing-here")).status == 404  # unknown routes stay 404


async def test_an_agent_reaches_their_seat_and_orders_but_not_the_hall(api: tuple[TestClient, str]) -> None:
    client, path = api
    mine = bearer(add_token(path, Role.AGENT, "agent1001"))
    assert (await client.post("/api/agents/agent1001/login", headers=mine)).status == 200
    resp = await client.post("/api/agents/agent1002/login", headers=mine)
    assert resp.status == 403 and (await resp.json())["error"] == FORBIDDEN
    for url in ("/api/calls", "/api/callbacks", "/api/orders.csv"):
        assert (await client.get(url, headers=mine)).status == 403
    assert [a["state"] for a in await (await client.get("/api/agents", headers=mine)).json()] == [
        "paused", "logged_out"]  # agent1002 untouched

    resp = await client.post("/api/orders", json=ORDER, headers=mine)
    number = (await resp.json())["number"]
    resp = await client.post("/api/orders", json={**ORDER, "by": "agent1002"}, headers=mine)
    assert resp.status == 403 and (await resp.json())["detail"] == {"by": "an agent acts under their own name"}
    resp = await client.post(f"/api/orders/{number}/answer_directly", json={"by": "agent1002"}, headers=mine)
    assert resp.status == 403
    resp = await client.post(f"/api/orders/{number}/answer_directly", json={"note": "已答复"}, headers=mine)
    assert resp.status == 200
    body = await resp.json()
    assert body["taken_by"] == "agent1001" and [h["by"] for h in body["history"]] == ["agent1001"]
    assert len((await (await client.get("/api/orders", headers=mine)).json())["orders"]) == 1  # nothing else written


async def test_a_supervisor_sees_the_hall_and_may_enter_a_step_for_a_department(api: tuple[TestClient, str]) -> None:
    client, path = api
    boss = bearer(add_token(path, Role.SUPERVISOR, "chen.li"))  # added while serving: no restart
    for url in ("/api/calls", "/api/callbacks", "/api/orders.csv", "/api/desks"):
        assert (await client.get(url, headers=boss)).status == 200
    assert (await client.post("/api/agents/agent1002/login", headers=boss)).status == 200
    number = (await (await client.post("/api/orders", json=ORDER, headers=boss)).json())["number"]
    await client.post(f"/api/orders/{number}/dispatch", json={"department": "urban"}, headers=boss)
    await client.post(f"/api/orders/{number}/accept", json={"by": "urban"}, headers=boss)
    order = await (await client.get(f"/api/orders/{number}", headers=boss)).json()
    assert order["taken_by"] == "chen.li" and [h["by"] for h in order["history"]] == ["chen.li", "urban"]
    remove_token(path, "chen.li")
    assert (await client.get("/api/desks", headers=boss)).status == 401  # revoked at once
