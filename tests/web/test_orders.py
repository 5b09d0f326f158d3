"""The work-order API on a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from acd.records import CallRecord, Disposition
from tickets.catalog import DEFAULT_CATALOG
from tickets.orders import WorkOrderStore
from tickets.store import CallRecordStore
from web.orders import RECORDS, add_routes


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    store = CallRecordStore(f"sqlite+aiosqlite:///{tmp_path}/orders.db")
    await store.open()
    app = web.Application()
    add_routes(app, WorkOrderStore(store.engine, "3301", DEFAULT_CATALOG.deadlines), DEFAULT_CATALOG, store)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c
    await store.close()


ORDER = {"caller_number": "13800001111", "category": "complaint", "topic": "city",
         "area": "拱墅区", "content": "楼下餐馆深夜噪音扰民", "by": "agent1001"}


async def test_create_transition_search_export(client: TestClient) -> None:
    resp = await client.post("/api/orders", json=ORDER)
    assert resp.status == 201
    number = (await resp.json())["number"]
    resp = await client.post(f"/api/orders/{number}/dispatch", json={"department": "urban", "by": "agent1001"})
    assert resp.status == 200 and (await resp.json())["state"] == "dispatched"
    body = await (await client.get(f"/api/orders/{number}")).json()
    assert body["content"] == "楼下餐馆深夜噪音扰民" and body["history"][0]["to"] == "dispatched"
    await client.post("/api/orders", json={**ORDER, "caller_number": "13900002222", "category": "praise"})
    page = await (await client.get("/api/orders?category=complaint&sort=due_at&order=asc")).json()
    assert page["total"] == 1 and page["orders"][0]["number"] == number
    assert (await (await client.get("/api/orders?limit=1&offset=1")).json())["total"] == 2
    csv_text = (await (await client.get("/api/orders.csv")).read()).decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("number,") and "噪音" in csv_text and len(csv_text.splitlines()) == 3



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


async def test_the_openapi_document_lists_exactly_the_routes_served(tmp_path: Path) -> None:
    from acd.desks import AcdConfig, Desk
    from acd.engine import Engine
    from web.api import make_app

    store = CallRecordStore(f"sqlite+aiosqlite:///{tmp_path}/doc.db")
    app = make_app(Engine({}, acd=AcdConfig(desks=(Desk("general", "综合受理", "general"),), agents=())))
    add_routes(app, WorkOrderStore(store.engine, "3301", DEFAULT_CATALOG.deadlines), DEFAULT_CATALOG, store)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        spec = await (await client.get("/api/openapi.json")).json()
    await store.close()
    served = {(r.method.lower(), r.resource.canonical) for r in app.router.routes()
              if r.method != "HEAD" and r.resource is not None}
    documented = {(method, path) for path, ops in spec["paths"].items() for method in ops}
    assert documented == served
    create = spec["paths"]["/api/orders"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema = spec["components"]["schemas"][create["$ref"].rsplit("/", 1)[1]]
    assert schema["required"] == ["caller_number", "category", "content"] and schema["additionalProperties"] is False
    step = spec["paths"]["/api/orders/{number}/{action}"]["post"]
    assert {"400", "401", "403", "404", "409", "412"} <= set(step["responses"])
    assert {p["name"]: p["schema"].get("maximum") for p in spec["paths"]["/api/orders"]["get"]["parameters"]
            if p["name"] in ("limit", "offset")} == {"limit": 1000, "offset": 100_000}


async def test_catalog_codes_are_enforced_and_served(client: TestClient) -> None:
    catalog = await (await client.get("/api/catalog")).json()
    assert [c["code"] for c in catalog["categories"]] == [
        "consultation", "help_request", "complaint", "report", "suggestion", "praise"]
    assert {"code": "heating", "name": "供暖", "department": "heating"} in catalog["topics"]
    resp = await client.post("/api/orders", json={**ORDER, "topic": "noise", "colour": "red"})
    body = await resp.json()
    assert resp.status == 400 and set(body["detail"]) == {"topic", "colour"}
    number = (await (await client.post("/api/orders", json=ORDER)).json())["number"]
    resp = await client.post(f"/api/orders/{number}/dispatch", json={"department": "城管局"})
    assert resp.status == 400 and (await (await client.get(f"/api/orders/{number}")).json())["state"] == "new"


async def test_edit_link_due_lists_and_a_numbers_records(client: TestClient) -> None:
    number = (await (await client.post("/api/orders", json={**ORDER, "topic": "heating"})).json())["number"]
    resp = await client.patch(f"/api/orders/{number}", json={"area": "西湖区北山街道", "by": "agent1002"})
    body = await resp.json()
    assert resp.status == 200 and body["area"] == "西湖区北山街道" and body["history"][-1]["action"] == "edit"
    bad = await client.patch(f"/api/orders/{number}", json={"state": "closed", "topic": "noise"})
    assert bad.status == 400 and set((await bad.json())["detail"]) == {"state", "topic"}
    assert (await client.patch("/api/orders/3301-20990101-000001", json={"area": "x"})).status == 404
    linked = await client.post(f"/api/orders/{number}/calls", json={"linkedid": "pbx-7.1"})
    assert linked.status == 201 and [c["linkedid"] for c in (await linked.json())["calls"]] == ["pbx-7.1"]
    assert (await client.post(f"/api/orders/{number}/calls", json={"linkedid": "pbx-7.1"})).status == 200
    assert (await client.post(f"/api/orders/{number}/calls", json={})).status == 400
    soon = await (await client.get("/api/orders/due-soon")).json()  # heating: due in 24 h
    assert soon["within_hours"] == 24 and [o["number"] for o in soon["orders"]] == [number]
    assert (await (await client.get("/api/orders/overdue")).json())["orders"] == []
    store = client.app[RECORDS]
    from datetime import datetime, timezone
    t = datetime(2026, 11, 22, 9, tzinfo=timezone.utc)
    await store.write_many([CallRecord("pbx-7.1", "13800001111", "王五", "12345", t, t, t, Disposition.ANSWERED, 16,
                                       desk="general", agent="agent1001", queue_wait=3.0, talk_time=95.0)])
    records = (await (await client.get("/api/records?caller=13800001111")).json())["records"]
    assert [(r["linkedid"], r["disposition"], r["agent"]) for r in records] == [("pbx-7.1", "answered", "agent1001")]
    assert (await client.get("/api/records")).status == 400


async def test_paging_by_cursor_csv_of_every_match_and_bad_search_params(client: TestClient) -> None:
    for n in range(5):
        await client.post("/api/orders", json={**ORDER, "caller_number": f"1390000{n:04d}"})
    first = await (await client.get("/api/orders?limit=2&sort=number&order=asc")).json()
    assert first["total"] == 5 and first["total_exact"] and len(first["orders"]) == 2
    second = await (await client.get(f"/api/orders?limit=2&sort=number&order=asc&cursor={first['next_cursor']}")).json()
    assert [o["number"] for o in second["orders"]] > [o["number"] for o in first["orders"]]
    csv_text = (await (await client.get("/api/orders.csv?category=complaint")).read()).decode("utf-8-sig")
    assert len(csv_text.splitlines()) == 6
    assert (await (await client.get("/api/orders?overdue=1")).json())["orders"] == []
    for bad, code in (("cursor=zzz", "bad-cursor"), ("due_before=yesterday", "validation-failed"),
                      ("overdue=maybe", "validation-failed"), ("limit=0", "validation-failed")):
        resp = await client.get(f"/api/orders?{bad}")
        assert resp.status == 400 and (await resp.json())["error"] == code, bad


async def _bulk_orders(client: TestClient, n: int) -> None:
    """n orders written straight into the store: more than one CSV page without n POSTs."""
    from datetime import datetime, timedelta, timezone

    from tickets.schema import work_orders
    from web.orders import ORDERS
    t0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
    rows = [{"number": f"3301-bulk-{i:05d}", "created_at": t0 + timedelta(minutes=i // 4),
             "caller_number": "13700000000", "contact_number": "", "category": ("complaint", "report")[i % 2],
             "topic": "city", "area": "西湖区", "content": "路灯不亮, \"第二盏\"", "department": ("urban", "housing")[i % 2],
             "state": ("dispatched", "closed")[i % 4 == 3], "follow_up_result": None,
             "due_at": t0 + timedelta(hours=i % 48), "linkedid": None} for i in range(n)]
    async with client.app[ORDERS].engine.begin() as conn:
        await conn.execute(work_orders.insert(), rows)


async def test_csv_export_streams_every_page_with_a_bom_first(client: TestClient) -> None:
    import csv
    import io
    await _bulk_orders(client, 2_345)
    resp = await client.get("/api/orders.csv?sort=due_at&order=asc")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
    raw = await resp.read()
    assert raw.startswith("\ufeff".encode("utf-8"))
    table = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(table) == len({r["number"] for r in table}) == 2_345
    assert table[0]["content"] == "路灯不亮, \"第二盏\"" and "id" not in table[0]
    assert [r["due_at"] for r in table] == sorted(r["due_at"] for r in table)
    assert len((await (await client.get("/api/orders.csv?department=urban")).read()).decode("utf-8-sig")
               .splitlines()) == 1 + 2_345 // 2 + 1


async def test_search_params_department_due_window_overdue_and_cursor_walk(client: TestClient) -> None:
    await _bulk_orders(client, 400)
    body = await (await client.get("/api/orders?department=housing&limit=1000")).json()
    assert body["total"] == 200 and body["total_exact"] and body["next_cursor"] is None
    assert {o["department"] for o in body["orders"]} == {"housing"}
    window = "due_after=2026-11-01T10:00:00%2B08:00&due_before=2026-11-01T12:00:00Z"  # 02:00 to 12:00 UTC
    body = await (await client.get(f"/api/orders?{window}&limit=1000")).json()
    assert body["orders"] and all("2026-11-01T02:00:00+00:00" <= o["due_at"] < "2026-11-01T12:00:00+00:00"
                                  for o in body["orders"])
    overdue = await (await client.get("/api/orders?overdue=1&limit=1000")).json()  # every due_at is in the past
    assert overdue["total"] == 300 and {o["state"] for o in overdue["orders"]} == {"dispatched"}
    seen: list[str] = []
    url = "/api/orders?category=complaint&sort=created_at&order=asc&limit=30"
    page = await (await client.get(url)).json()
    while True:
        seen += [o["number"] for o in page["orders"]]
        if page["next_cursor"] is None:
            break
        page = await (await client.get(f"{url}&cursor={page['next_cursor']}")).json()
    assert len(seen) == len(set(seen)) == 200


async def test_bad_search_params_name_their_field(client: TestClient) -> None:
    for bad, field in (("cursor=WzEsMl0", "cursor"), ("due_after=2026-13-01", "due_after"),
                       ("limit=1001", "limit"), ("offset=-1", "offset"), ("sort=content", "sort")):
        resp = await client.get(f"/api/orders?{bad}")
        body = await resp.json()
        assert resp.status == 400 and body["error"] == ("bad-cursor" if field == "cursor" else "validation-failed"), bad
        assert field in body["detail"], (bad, body)
        assert (await client.get(f"/api/orders.csv?{bad}")).status == 400
