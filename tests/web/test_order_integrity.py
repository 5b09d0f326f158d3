"""What agents and supervisors see of work orders through the served API (the controller's app,
its token file and a real SQLite store): an agent's scope, 保密 orders, the citizen's verdict
that nobody overwrites, edits that are never lost silently, and an export Excel cannot run."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from acd.desks import AcdConfig, AgentConfig, Desk
from acd.engine import Engine
from tickets.catalog import DEFAULT_CATALOG
from tickets.orders import WorkOrderStore
from tickets.store import CallRecordStore
from web.access import Role, TokenFile, add_token
from web.api import make_app
from web.orders import add_routes

CONFIG = AcdConfig(desks=(Desk("general", "综合受理", "general"),),
                   agents=(AgentConfig("agent1001", "王芳", "PJSIP/agent1001", "1001", "1", {"general": 3}),
                           AgentConfig("agent1002", "李强", "PJSIP/agent1002", "1002", "2", {"general": 3})))
ORDER = {"caller_number": "13800001111", "category": "complaint", "topic": "city", "area": "拱墅区湖墅南路 12 号",
         "content": "夜间施工噪音"}


@dataclass
class Hall:
    client: TestClient
    wang: dict[str, str]  # agent1001
    li: dict[str, str]  # agent1002
    boss: dict[str, str]  # a supervisor


@pytest.fixture
async def hall(tmp_path: Path) -> AsyncIterator[Hall]:
    engine = Engine({}, acd=CONFIG)
    runner = asyncio.create_task(engine.run())
    store = CallRecordStore(f"sqlite+aiosqlite:///{tmp_path}/orders.db")
    await store.open()
    path = str(tmp_path / "tokens")
    tokens = {name: {"Authorization": f"Bearer {add_token(path, role, name)}"}
              for role, name in ((Role.AGENT, "agent1001"), (Role.AGENT, "agent1002"), (Role.SUPERVISOR, "chen"))}
    app = make_app(engine, tokens=TokenFile(path), records=store)
    add_routes(app, WorkOrderStore(store.engine, "3301", DEFAULT_CATALOG.deadlines), DEFAULT_CATALOG, store)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield Hall(client, tokens["agent1001"], tokens["agent1002"], tokens["chen"])
    await store.close()
    engine.stop()
    await runner


async def _create(hall: Hall, who: dict[str, str], **fields: object) -> str:
    resp = await hall.client.post("/api/orders", json={**ORDER, **fields}, headers=who)
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["number"])


async def _get(hall: Hall, number: str, who: dict[str, str]) -> dict[str, object]:
    resp = await hall.client.get(f"/api/orders/{number}", headers=who)
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


# ---- an agent's scope -------------------------------------------------------------------------

async def test_an_agent_lists_only_their_own_orders_on_every_page_and_in_the_count(hall: Hall) -> None:
    mine = {await _create(hall, hall.wang, caller_number=f"1380000{i:04d}") for i in range(3)}
    theirs = {await _create(hall, hall.li, caller_number=f"1390000{i:04d}") for i in range(4)}
    for who, expected in ((hall.wang, mine), (hall.li, theirs), (hall.boss, mine | theirs)):
        seen: set[str] = set()
        page = await (await hall.client.get("/api/orders?limit=2", headers=who)).json()
        assert page["total"] == len(expected)
        while True:
            seen |= {row["number"] for row in page["orders"]}
            if page["next_cursor"] is None:
                break
            page = await (await hall.client.get(f"/api/orders?limit=2&cursor={page['next_cursor']}",
                                                headers=who)).json()
        assert seen == expected
    # another agent's citizen is not found by number either
    found = await (await hall.client.get("/api/orders?caller=13900000001&limit=1000", headers=hall.wang)).json()
    assert found["total"] == 0 and found["orders"] == []
    body = await (await hall.client.post("/api/orders/search", json={"caller": "13900000001"},
                                         headers=hall.wang)).json()
    assert body["total"] == 0
    overdue = await (await hall.client.get("/api/orders/overdue", headers=hall.wang)).json()
    assert {o["number"] for o in overdue["orders"]} <= mine


async def test_an_order_number_read_out_by_the_citizen_opens_for_any_agent(hall: Hall) -> None:
    number = await _create(hall, hall.li)
    order = await _get(hall, number, hall.wang)
    assert order["number"] == number and order["caller_number"] == "13800001111"


async def test_the_search_in_a_body_finds_what_the_url_search_finds(hall: Hall) -> None:
    number = await _create(hall, hall.wang)
    await _create(hall, hall.wang, caller_number="13900002222")
    by_url = await (await hall.client.get("/api/orders?caller=13800001111", headers=hall.boss)).json()
    by_body = await (await hall.client.post("/api/orders/search", json={"caller": "13800001111"},
                                            headers=hall.boss)).json()
    assert by_url == by_body and [o["number"] for o in by_body["orders"]] == [number]
    resp = await hall.client.post("/api/orders/search", json={"caller": "13800001111", "colour": "red"},
                                  headers=hall.boss)
    assert resp.status == 400 and (await resp.json())["error"] == "validation-failed"


# ---- 保密 ---------------------------------------------------------------------------------------

async def test_a_confidential_order_shows_the_citizens_data_only_to_its_taker_and_supervisors(hall: Hall) -> None:
    number = await _create(hall, hall.wang, confidential=True, contact_number="13900009999")
    for who in (hall.wang, hall.boss):
        order = await _get(hall, number, who)
        assert (order["caller_number"], order["contact_number"], order["area"]) == (
            "13800001111", "13900009999", ORDER["area"])
        assert order["masked"] is False
    other = await _get(hall, number, hall.li)
    assert other["confidential"] is True and other["masked"] is True and other["content"] == ORDER["content"]
    text = str(other)
    assert "13800001111" not in text and "13900009999" not in text and "湖墅南路" not in text
    found = await (await hall.client.get("/api/orders?caller=13800001111", headers=hall.li)).json()
    assert found["total"] == 0  # not found by the number they may not see


async def test_marking_confidential_later_is_open_to_agents_lifting_it_to_supervisors(hall: Hall) -> None:
    number = await _create(hall, hall.wang)
    assert (await _get(hall, number, hall.li))["caller_number"] == "13800001111"
    resp = await hall.client.patch(f"/api/orders/{number}", json={"confidential": True}, headers=hall.wang)
    assert resp.status == 200 and (await resp.json())["confidential"] is True
    assert "13800001111" not in str(await _get(hall, number, hall.li))
    resp = await hall.client.patch(f"/api/orders/{number}", json={"confidential": False}, headers=hall.wang)
    assert resp.status == 403
    assert (await _get(hall, number, hall.boss))["confidential"] is True
    resp = await hall.client.patch(f"/api/orders/{number}", json={"confidential": False}, headers=hall.boss)
    assert resp.status == 200 and (await resp.json())["confidential"] is False
    assert (await _get(hall, number, hall.li))["caller_number"] == "13800001111"


# ---- the citizen's verdict ----------------------------------------------------------------------

async def _to_follow_up(hall: Hall, number: str, verdict: str) -> None:
    for action, body in (("dispatch", {"department": "urban"}), ("accept", {}), ("reply", {}),
                         ("follow_up", {"follow_up_result": verdict})):
        resp = await hall.client.post(f"/api/orders/{number}/{action}", json=body, headers=hall.boss)
        assert resp.status == 200, (action, await resp.text())


@pytest.mark.parametrize("action", ["dispatch", "answer_directly", "close"])
async def test_only_the_follow_up_step_records_the_citizens_verdict(hall: Hall, action: str) -> None:
    number = await _create(hall, hall.wang)
    if action == "close":
        await _to_follow_up(hall, number, "dissatisfied")
    before = await _get(hall, number, hall.boss)
    body = {"follow_up_result": "satisfied", **({"department": "urban"} if action == "dispatch" else {})}
    resp = await hall.client.post(f"/api/orders/{number}/{action}", json=body, headers=hall.boss)
    assert resp.status == 400 and "follow_up_result" in (await resp.json())["detail"]
    assert await _get(hall, number, hall.boss) == before
    if action == "close":
        closed = await (await hall.client.post(f"/api/orders/{number}/close", headers=hall.boss)).json()
        assert closed["follow_up_result"] == "dissatisfied"
        [line] = [h for h in closed["history"] if h["action"] == "follow_up"]
        assert {"field": "follow_up_result", "old": None, "new": "dissatisfied"} in line["changes"]


@pytest.mark.parametrize("body", [{"note": "回访\x07"}, {"note": "x" * 1001}, {"note": 12}, {"by": "two words"},
                                  {"by": ["agent1001"]}, {"note": "ok", "extra": 1}])
async def test_a_steps_by_and_note_get_the_same_text_checks_as_an_edit(hall: Hall, body: dict[str, object]) -> None:
    number = await _create(hall, hall.wang)
    before = await _get(hall, number, hall.boss)
    resp = await hall.client.post(f"/api/orders/{number}/answer_directly", json=body, headers=hall.boss)
    assert resp.status == 400 and (await resp.json())["error"] == "validation-failed"
    assert await _get(hall, number, hall.boss) == before


# ---- edits never lost silently ------------------------------------------------------------------

async def test_an_edit_on_a_stale_etag_is_refused_with_412_and_changes_nothing(hall: Hall) -> None:
    number = await _create(hall, hall.wang)
    resp = await hall.client.get(f"/api/orders/{number}", headers=hall.wang)
    etag = resp.headers["ETag"]
    first = await hall.client.patch(f"/api/orders/{number}", json={"area": "上城区"},
                                    headers={**hall.wang, "If-Match": etag})
    assert first.status == 200 and first.headers["ETag"] != etag
    stale = await hall.client.patch(f"/api/orders/{number}", json={"area": "西湖区"},
                                    headers={**hall.li, "If-Match": etag})
    assert stale.status == 412 and (await stale.json())["error"] == "version-mismatch"
    step = await hall.client.post(f"/api/orders/{number}/answer_directly", headers={**hall.wang, "If-Match": etag})
    assert step.status == 412
    order = await _get(hall, number, hall.boss)
    assert order["area"] == "上城区" and order["state"] == "new"
    [edit] = [h for h in order["history"] if h["action"] == "edit"]
    assert edit["changes"] == [{"field": "area", "old": ORDER["area"], "new": "上城区"}]
    garbage = await hall.client.patch(f"/api/orders/{number}", json={"area": "x"},
                                      headers={**hall.wang, "If-Match": "yesterday"})
    assert garbage.status == 412


async def test_parallel_edits_are_each_kept_in_history_or_refused_never_lost(hall: Hall) -> None:
    number = await _create(hall, hall.wang)
    areas = [f"第{i}号" for i in range(6)]
    answers = await asyncio.gather(*(hall.client.patch(f"/api/orders/{number}", json={"area": a}, headers=hall.boss)
                                     for a in areas))
    statuses = [r.status for r in answers]
    assert set(statuses) <= {200, 409}
    order = await _get(hall, number, hall.boss)
    edits = [h for h in order["history"] if h["action"] == "edit"]
    assert len(edits) == statuses.count(200) >= 1
    chain = [ORDER["area"]] + [e["changes"][0]["new"] for e in edits]
    assert [e["changes"][0]["old"] for e in edits] == chain[:-1]  # every old value is the one before
    assert order["area"] == chain[-1]


# ---- the export -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ['=HYPERLINK("http://127.0.0.1/x","点我")', "+1+1", "-2+3", "@SUM(A1)",
                                  "\t=1+1", "\r=1+1"])
async def test_an_export_cell_never_opens_as_a_formula_and_the_stored_text_is_kept(hall: Hall, text: str) -> None:
    number = await _create(hall, hall.wang, content=text, area=text.strip())
    raw = (await (await hall.client.get("/api/orders.csv", headers=hall.boss)).read()).decode("utf-8-sig")
    [row] = list(csv.DictReader(io.StringIO(raw, newline="")))
    for field in ("content", "area"):
        assert not row[field].startswith(("=", "+", "-", "@", "\t", "\r")), row[field]
        assert row[field].startswith("'")
    assert row["number"] == number
    assert (await _get(hall, number, hall.boss))["content"] == text


async def test_an_order_sent_in_pieces_is_read_whole(hall: Hall) -> None:
    """A client that streams its body (chunked, one packet at a time) is served like any other."""
    import json

    raw = json.dumps({**ORDER, "content": "楼道灯坏了" * 200}, ensure_ascii=False).encode()

    async def pieces():  # type: ignore[no-untyped-def]
        for start in range(0, len(raw), 700):
            yield raw[start:start + 700]
            await asyncio.sleep(0)

    resp = await hall.client.post("/api/orders", data=pieces(),
                                  headers={**hall.wang, "Content-Type": "application/json"})
    assert resp.status == 201, await resp.text()
    order = await _get(hall, (await resp.json())["number"], hall.wang)
    assert order["content"] == "楼道灯坏了" * 200
