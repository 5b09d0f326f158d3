"""The work-order API on a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tickets.deadlines import DeadlinePolicy
from tickets.orders import DEFAULT_RULES, WorkOrderStore
from tickets.store import CallRecordStore
from web.orders import add_routes


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    store = CallRecordStore(f"sqlite+aiosqlite:///{tmp_path}/orders.db")
    await store.open()
    app = web.Application()
    add_routes(app, WorkOrderStore(store.engine, "3301", DeadlinePolicy(DEFAULT_RULES)))
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c
    await store.close()


ORDER = {"caller_number": "13800001111", "category": "complaint", "topic": "noise",
         "area": "拱墅区", "content": "楼下餐馆深夜噪音扰民", "by": "agent1001"}


async def test_create_transition_search_export(client: TestClient) -> None:
    resp = await client.post("/api/orders", json=ORDER)
    assert resp.status == 201
    number = (await resp.json())["number"]
    resp = await client.post(f"/api/orders/{number}/dispatch", json={"department": "城管局", "by": "agent1001"})
    assert resp.status == 200 and (await resp.json())["state"] == "dispatched"
    body = await (await client.get(f"/api/orders/{number}")).json()
    assert body["content"] == "楼下餐馆深夜噪音扰民" and body["history"][0]["to"] == "dispatched"
    await client.post("/api/orders", json={**ORDER, "caller_number": "13900002222", "category": "praise"})
    page = await (await client.get("/api/orders?category=complaint&sort=due_at&order=asc")).json()
    assert page["total"] == 1 and page["orders"][0]["number"] == number
    assert (await (await client.get("/api/orders?limit=1&offset=1")).json())["total"] == 2
    csv_text = (await (await client.get("/api/orders.csv")).read()).decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("number,") and "噪音" in csv_text and len(csv_text.splitlines()) == 3
    spec = await (await client.get("/api/openapi.json")).json()
    assert set(spec["paths"]) == {"/api/orders", "/api/orders.csv", "/api/orders/{number}",
                                  "/api/orders/{number}/{action}", "/api/openapi.json"}


async def test_bad_requests_get_field_level_messages_and_write_nothing(client: TestClient) -> None:
    resp = await client.post("/api/orders", json={"category": "rumour", "content": "x" * 5000})
    body = await resp.json()
    assert resp.status == 400 and body["error"] == "validation-failed"
    assert set(body["detail"]) == {"caller_number", "category", "content"}
    assert (await client.post("/api/orders", data=b"not json")).status == 400
    assert (await (await client.get("/api/orders")).json())["total"] == 0
    number = (await (await client.post("/api/orders", json=ORDER)).json())["number"]
    resp = await client.post(f"/api/orders/{number}/close")
    assert resp.status == 409 and (await resp.json())["error"] == "illegal-order-transition"
    resp = await client.post(f"/api/orders/{number}/dispatch", json={})
    assert resp.status == 400 and "department" in (await resp.json())["detail"]
    assert (await client.post("/api/orders/3301-20990101-000001/accept")).status == 404
    assert (await client.post(f"/api/orders/{number}/teleport")).status == 404
    assert (await client.get("/api/orders?sort=content")).status == 400
    assert (await (await client.get(f"/api/orders/{number}")).json())["state"] == "new"
