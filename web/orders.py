"""Work-order API (aiohttp): create, read, transition, search, CSV export, and the OpenAPI
document of these routes. Validation answers 400 with a message per field; illegal transitions
409 with a stable code; nothing is half-written. Callers' numbers and words are not logged.

    POST /api/orders                    create                      → 201 {"number": …}
    GET  /api/orders/{number}           one order with its history
    POST /api/orders/{number}/{action}  answer_directly | dispatch | accept | reply | return |
                                        follow_up | close           → 200 the order
    GET  /api/orders?state=&category=&caller=&sort=&order=&limit=&offset=
    GET  /api/orders.csv                the same filters, as CSV (UTF-8 with BOM for Excel)
    GET  /api/openapi.json
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from tickets.orders import SORTABLE, NewOrder, WorkOrder, WorkOrderStore, search
from tickets.workflow import ORDER_TRANSITIONS, FollowUpResult, OrderTransitionError

ORDERS = web.AppKey("orders", WorkOrderStore)
CATEGORIES = ("consultation", "help_request", "complaint", "report", "suggestion", "praise")
ACTIONS = sorted({action for _, action in ORDER_TRANSITIONS})
TEXT_LIMITS = {"caller_number": 64, "contact_number": 64, "topic": 64, "area": 128, "content": 4000}


def _error(status: int, code: str, detail: Any) -> web.Response:
    return web.json_response({"error": code, "detail": detail}, status=status)


def _order_json(order: WorkOrder) -> dict[str, Any]:
    data = asdict(order)
    data["state"] = order.state.value
    data["follow_up_result"] = order.follow_up_result.value if order.follow_up_result else None
    data["created_at"], data["due_at"] = order.created_at.isoformat(), order.due_at.isoformat()
    data["history"] = [{"at": h.at.isoformat(), "by": h.by, "action": h.action, "from": h.from_state.value,
                        "to": h.to_state.value, "note": h.note} for h in order.history]
    return data


async def _body(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = await request.json()
    except Exception:
        return _error(400, "bad-request", {"body": "must be a JSON object"})
    if not isinstance(body, dict):
        return _error(400, "bad-request", {"body": "must be a JSON object"})
    return body


async def create(request: web.Request) -> web.Response:
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    problems: dict[str, str] = {}
    for field in ("caller_number", "category", "content"):
        if not isinstance(body.get(field), str) or not body[field].strip():
            problems[field] = "required"
    for field, limit in TEXT_LIMITS.items():
        value = body.get(field, "")
        if not isinstance(value, str):
            problems[field] = "must be text"
        elif len(value) > limit:
            problems[field] = f"at most {limit} characters"
    if body.get("category") not in CATEGORIES and "category" not in problems:
        problems["category"] = f"one of {', '.join(CATEGORIES)}"
    if problems:
        return _error(400, "validation-failed", problems)
    order = NewOrder(body["caller_number"], body.get("contact_number", ""), body["category"],
                     body.get("topic", ""), body.get("area", ""), body["content"], body.get("linkedid"))
    number = await request.app[ORDERS].create(order, by=str(body.get("by", "api")),
                                              at=datetime.now(timezone.utc))
    return web.json_response({"number": number}, status=201)


async def get_order(request: web.Request) -> web.Response:
    try:
        order = await request.app[ORDERS].get(request.match_info["number"])
    except OrderTransitionError as exc:
        return _error(404, exc.code, request.match_info["number"])
    return web.json_response(_order_json(order))


async def transition(request: web.Request) -> web.Response:
    number, action = request.match_info["number"], request.match_info["action"]
    if action not in ACTIONS:
        return _error(404, "unknown-action", action)
    body = await _body(request) if request.can_read_body else {}
    if isinstance(body, web.Response):
        return body
    result = None
    if body.get("follow_up_result") is not None:
        try:
            result = FollowUpResult(body["follow_up_result"])
        except ValueError:
            return _error(400, "validation-failed",
                          {"follow_up_result": f"one of {', '.join(r.value for r in FollowUpResult)}"})
    if action == "dispatch" and not body.get("department"):
        return _error(400, "validation-failed", {"department": "required to dispatch"})
    try:
        order = await request.app[ORDERS].transition(
            number, action, by=str(body.get("by", "api")), at=datetime.now(timezone.utc),
            note=str(body.get("note", ""))[:1000], department=body.get("department"),
            follow_up_result=result)
    except OrderTransitionError as exc:
        status = 404 if exc.code == "unknown-order" else 409
        return _error(status, exc.code, str(exc))
    return web.json_response(_order_json(order))


def _filters(request: web.Request) -> dict[str, Any] | web.Response:
    q = request.query
    problems: dict[str, str] = {}
    try:
        limit, offset = int(q.get("limit", "50")), int(q.get("offset", "0"))
        if not 1 <= limit <= 1000 or offset < 0:
            raise ValueError
    except ValueError:
        problems["limit/offset"] = "limit 1..1000, offset >= 0"
        limit, offset = 50, 0
    sort = q.get("sort", "created_at")
    if sort not in SORTABLE:
        problems["sort"] = f"one of {', '.join(SORTABLE)}"
    if q.get("order", "desc") not in ("asc", "desc"):
        problems["order"] = "asc or desc"
    if problems:
        return _error(400, "validation-failed", problems)
    return {"state": q.get("state"), "category": q.get("category"), "caller": q.get("caller"),
            "sort": sort, "descending": q.get("order", "desc") == "desc", "limit": limit, "offset": offset}


async def list_orders(request: web.Request) -> web.Response:
    filters = _filters(request)
    if isinstance(filters, web.Response):
        return filters
    total, rows = await search(request.app[ORDERS].engine, **filters)
    return web.json_response({"total": total, "orders": rows})


async def export_csv(request: web.Request) -> web.Response:
    filters = _filters(request)
    if isinstance(filters, web.Response):
        return filters
    filters["limit"] = 1000
    buffer = io.StringIO()
    writer: Any = None
    offset = 0
    while True:
        _, rows = await search(request.app[ORDERS].engine, **{**filters, "offset": offset})
        if not rows:
            break
        if writer is None:
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
            writer.writeheader()
        writer.writerows(rows)
        offset += len(rows)
    return web.Response(body=("\ufeff" + buffer.getvalue()).encode("utf-8"),
                        content_type="text/csv", charset="utf-8")


def openapi(routes: list[tuple[str, str, str]]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for method, path, summary in routes:
        paths.setdefault(path, {})[method.lower()] = {"summary": summary, "responses": {"200": {"description": "ok"}}}
    return {"openapi": "3.0.3", "info": {"title": "12345 hotline work orders", "version": "1"}, "paths": paths}


ROUTES: list[tuple[str, str, str, Any]] = [
    ("POST", "/api/orders", "create a work order", create),
    ("GET", "/api/orders", "search orders (filters, paging, sort)", list_orders),
    ("GET", "/api/orders.csv", "export the search as CSV", export_csv),
    ("GET", "/api/orders/{number}", "one order with its history", get_order),
    ("POST", "/api/orders/{number}/{action}", "a workflow step", transition),
]


def add_routes(app: web.Application, store: WorkOrderStore) -> None:
    app[ORDERS] = store
    for method, path, _, handler in ROUTES:
        app.router.add_route(method, path, handler)
    document = openapi([(m, p, s) for m, p, s, _ in ROUTES] + [("GET", "/api/openapi.json", "this document")])

    async def serve_openapi(_: web.Request) -> web.Response:
        return web.json_response(document)

    app.router.add_get("/api/openapi.json", serve_openapi)
