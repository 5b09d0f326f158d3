"""Work-order API (aiohttp): create, read, transition, search, CSV export, and the OpenAPI
document of these routes. Validation answers 400 with a message per field; illegal transitions
409 with a stable code; nothing is half-written. Callers' numbers and words are not logged.

    POST  /api/orders                    create                      → 201 {"number": …}
    GET   /api/orders/{number}           one order with its history and linked calls
    PATCH /api/orders/{number}           correct contact, category, topic, area, content
    POST  /api/orders/{number}/calls     link a call {"linkedid": …}
    POST  /api/orders/{number}/{action}  answer_directly | dispatch | accept | reply | return |
                                         follow_up | close           → 200 the order
    GET   /api/orders/overdue            open orders past their deadline, most urgent first
    GET   /api/orders/due-soon           open orders due within the configured hours
    GET   /api/records?caller=…          a number's call records, newest first
    GET   /api/catalog                   request types, topics, departments, deadline rules
    GET   /api/orders?state=&category=&caller=&department=&due_before=&due_after=&overdue=1
                     &sort=&order=&limit=&offset=|cursor=   search; total capped, next_cursor
    GET   /api/orders.csv                the same filters, as CSV (UTF-8 with BOM for Excel)
    GET   /api/openapi.json
"""

from __future__ import annotations

import csv
import dataclasses
import io
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from acd.records import CallRecord
from tickets.catalog import DEFAULT_CATALOG, Catalog
from tickets.orders import EDITABLE, NewOrder, OpenOrder, WorkOrder, WorkOrderStore
from tickets.search import SORTABLE, OrderQuery, SearchError, search
from tickets.store import CallRecordStore
from web.access import FORBIDDEN, GRANT, Role
from tickets.workflow import ORDER_TRANSITIONS, FollowUpResult, OrderTransitionError

ORDERS = web.AppKey("orders", WorkOrderStore)
CATALOG = web.AppKey("catalog", Catalog)
RECORDS = web.AppKey("records", CallRecordStore)
ACTIONS = sorted({action for _, action in ORDER_TRANSITIONS})
TEXT_LIMITS = {"caller_number": 64, "contact_number": 64, "topic": 64, "area": 128, "content": 4000,
               "by": 64, "linkedid": 64}
VALIDATION_FAILED = "validation-failed"


def _error(status: int, code: str, detail: Any) -> web.Response:
    return web.json_response({"error": code, "detail": detail}, status=status)


def _order_json(order: WorkOrder) -> dict[str, Any]:
    data = asdict(order)
    data["state"] = order.state.value
    data["follow_up_result"] = order.follow_up_result.value if order.follow_up_result else None
    data["created_at"], data["due_at"] = order.created_at.isoformat(), order.due_at.isoformat()
    data["history"] = [{"at": h.at.isoformat(), "by": h.by, "action": h.action, "from": h.from_state.value,
                        "to": h.to_state.value, "note": h.note} for h in order.history]
    data["calls"] = [{"linkedid": c.linkedid, "linked_at": c.linked_at.isoformat(), "reason": c.reason,
                      "recording": c.recording} for c in order.calls]
    return data


def open_order_json(order: OpenOrder) -> dict[str, Any]:
    return {"number": order.number, "category": order.category, "topic": order.topic, "state": order.state,
            "taken_by": order.taken_by, "created_at": order.created_at.isoformat(),
            "due_at": order.due_at.isoformat(), "desk": order.desk}


def _record_json(record: CallRecord) -> dict[str, Any]:
    data = asdict(record)
    data["disposition"] = record.disposition.value
    for key in ("arrived_at", "answered_at", "ended_at"):
        data[key] = data[key].isoformat() if data[key] is not None else None
    return data


def _check_text(body: dict[str, Any], problems: dict[str, str], fields: Any) -> None:
    for field in fields:
        value = body.get(field, "")
        if not isinstance(value, str):
            problems[field] = "must be text"
        elif len(value) > TEXT_LIMITS.get(field, 4000):
            problems[field] = f"at most {TEXT_LIMITS.get(field, 4000)} characters"


def _check_codes(body: dict[str, Any], problems: dict[str, str], catalog: Catalog) -> None:
    """Category and topic must be codes of the city's tables (an empty topic is allowed)."""
    if "category" in body and "category" not in problems and body["category"] not in catalog.category_codes():
        problems["category"] = f"one of {', '.join(catalog.category_codes())}"
    if body.get("topic") and "topic" not in problems and body["topic"] not in catalog.topic_codes():
        problems["topic"] = "a topic code of GET /api/catalog"


async def _body(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = await request.json()
    except Exception:
        return _error(400, "bad-request", {"body": "must be a JSON object"})
    if not isinstance(body, dict):
        return _error(400, "bad-request", {"body": "must be a JSON object"})
    return body


def _actor(request: web.Request, body: dict[str, Any]) -> str | web.Response:
    """Who the history records: the token's holder. An agent acts only under their own name; a
    supervisor may enter a step for someone else (a department's reply taken by phone)."""
    given = body.get("by")
    grant = request.get(GRANT)
    if grant is None:  # no access control (handler tests)
        return str(given or "api")
    if given in (None, "", grant.name):
        return str(grant.name)
    if grant.role is Role.AGENT:
        return _error(403, FORBIDDEN, {"by": "an agent acts under their own name"})
    return str(given)


async def create(request: web.Request) -> web.Response:
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    problems: dict[str, str] = {}
    for field in ("caller_number", "category", "content"):
        if not isinstance(body.get(field), str) or not body[field].strip():
            problems[field] = "required"
    _check_text(body, problems, TEXT_LIMITS)
    _check_codes(body, problems, request.app[CATALOG])
    for field in set(body) - set(TEXT_LIMITS) - {"category"}:
        problems[field] = "unknown field"
    if problems:
        return _error(400, VALIDATION_FAILED, problems)
    actor = _actor(request, body)
    if isinstance(actor, web.Response):
        return actor
    order = NewOrder(body["caller_number"], body.get("contact_number", ""), body["category"],
                     body.get("topic", ""), body.get("area", ""), body["content"], body.get("linkedid") or None)
    number = await request.app[ORDERS].create(order, by=actor, at=datetime.now(timezone.utc))
    return web.json_response({"number": number}, status=201)


async def get_order(request: web.Request) -> web.Response:
    try:
        order = await request.app[ORDERS].get(request.match_info["number"])
    except OrderTransitionError as exc:
        return _error(404, exc.code, request.match_info["number"])
    return web.json_response(_order_json(order))


async def update_order(request: web.Request) -> web.Response:
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    problems: dict[str, str] = {f: "not editable" for f in set(body) - set(EDITABLE) - {"by"}}
    _check_text(body, problems, set(body) & (set(EDITABLE) | {"by"}))
    _check_codes(body, problems, request.app[CATALOG])
    for field in ("category", "content"):
        if field in body and isinstance(body[field], str) and not body[field].strip():
            problems[field] = "required"
    changes = {k: v for k, v in body.items() if k in EDITABLE}
    if not changes and not problems:
        problems["body"] = f"give at least one of {', '.join(EDITABLE)}"
    if problems:
        return _error(400, VALIDATION_FAILED, problems)
    actor = _actor(request, body)
    if isinstance(actor, web.Response):
        return actor
    try:
        order = await request.app[ORDERS].update(request.match_info["number"], changes,
                                                 by=actor, at=datetime.now(timezone.utc))
    except OrderTransitionError as exc:
        return _error(404 if exc.code == "unknown-order" else 409, exc.code, str(exc))
    return web.json_response(_order_json(order))


async def link_call(request: web.Request) -> web.Response:
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    linkedid = body.get("linkedid")
    if not isinstance(linkedid, str) or not linkedid.strip() or len(linkedid) > 64:
        return _error(400, VALIDATION_FAILED, {"linkedid": "required, at most 64 characters"})
    number = request.match_info["number"]
    try:
        added = await request.app[ORDERS].link_call(number, linkedid, at=datetime.now(timezone.utc))
    except OrderTransitionError as exc:
        return _error(404, exc.code, number)
    return web.json_response(_order_json(await request.app[ORDERS].get(number)), status=201 if added else 200)


async def overdue(request: web.Request) -> web.Response:
    found = await request.app[ORDERS].due(datetime.now(timezone.utc))
    return web.json_response({"orders": [open_order_json(o) for o in found]})


async def due_soon(request: web.Request) -> web.Response:
    within = request.app[CATALOG].due_soon
    found = await request.app[ORDERS].due(datetime.now(timezone.utc), within)
    return web.json_response({"within_hours": within.total_seconds() / 3600,
                              "orders": [open_order_json(o) for o in found]})


async def call_records(request: web.Request) -> web.Response:
    caller = request.query.get("caller", "")
    if not caller or len(caller) > 64:
        return _error(400, VALIDATION_FAILED, {"caller": "required, at most 64 characters"})
    records = await request.app[RECORDS].by_caller(caller)
    return web.json_response({"records": [_record_json(r) for r in records]})


async def catalog(request: web.Request) -> web.Response:
    return web.json_response(request.app[CATALOG].as_json())


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
    if action == "dispatch" and body.get("department") not in request.app[CATALOG].department_codes():
        return _error(400, VALIDATION_FAILED,
                      {"department": "required to dispatch: a department code of GET /api/catalog"})
    actor = _actor(request, body)
    if isinstance(actor, web.Response):
        return actor
    try:
        order = await request.app[ORDERS].transition(
            number, action, by=actor, at=datetime.now(timezone.utc),
            note=str(body.get("note", ""))[:1000], department=body.get("department"),
            follow_up_result=result)
    except OrderTransitionError as exc:
        status = 404 if exc.code == "unknown-order" else 409
        return _error(status, exc.code, str(exc))
    return web.json_response(_order_json(order))


def _when(value: str | None, field: str, problems: dict[str, str]) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        problems[field] = "an ISO 8601 time, e.g. 2026-11-22T18:00:00+08:00"
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _filters(request: web.Request) -> OrderQuery | web.Response:
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
    due_before, due_after = _when(q.get("due_before"), "due_before", problems), _when(q.get("due_after"), "due_after", problems)
    if q.get("overdue", "0") not in ("0", "1"):
        problems["overdue"] = "0 or 1"
    if problems:
        return _error(400, VALIDATION_FAILED, problems)
    return OrderQuery(state=q.get("state") or None, category=q.get("category") or None, caller=q.get("caller") or None,
                      department=q.get("department") or None, due_before=due_before, due_after=due_after,
                      overdue_at=datetime.now(timezone.utc) if q.get("overdue") == "1" else None,
                      sort=sort, descending=q.get("order", "desc") == "desc", limit=limit, offset=offset,
                      cursor=q.get("cursor") or None)


async def list_orders(request: web.Request) -> web.Response:
    query = _filters(request)
    if isinstance(query, web.Response):
        return query
    try:
        page = await search(request.app[ORDERS].engine, query)
    except SearchError as exc:
        return _error(400, VALIDATION_FAILED, {"cursor": str(exc)})
    return web.json_response({"total": page.total, "total_exact": page.total_exact, "orders": page.rows,
                              "next_cursor": page.next_cursor})


async def export_csv(request: web.Request) -> web.StreamResponse:
    """Every match, page by page (cursor), streamed: no export holds a million rows in memory."""
    query = _filters(request)
    if isinstance(query, web.Response):
        return query
    query = dataclasses.replace(query, limit=1000, offset=0)
    try:
        page = await search(request.app[ORDERS].engine, query)
    except SearchError as exc:
        return _error(400, VALIDATION_FAILED, {"cursor": str(exc)})
    response = web.StreamResponse(headers={"Content-Type": "text/csv; charset=utf-8",
                                           "Content-Disposition": 'attachment; filename="orders.csv"'})
    await response.prepare(request)
    await response.write("\ufeff".encode("utf-8"))
    fields: list[str] | None = None
    while page.rows:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=fields or list(page.rows[0]))
        if fields is None:
            fields = list(page.rows[0])
            writer.writeheader()
        writer.writerows(page.rows)
        await response.write(buffer.getvalue().encode("utf-8"))
        if page.next_cursor is None:
            break
        page = await search(request.app[ORDERS].engine, dataclasses.replace(query, cursor=page.next_cursor))
    await response.write_eof()
    return response


# ---- the OpenAPI document, built from the same table the routes are registered from ----------

def _q(name: str, description: str, kind: str = "string", **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": kind, **extra}}


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


_TEXT = {"type": "string"}
_ERROR = {"description": "a stable error code and its detail (field-level for 400)",
          **_json({"$ref": "#/components/schemas/Error"})}
_ORDER = {"description": "the order", **_json({"$ref": "#/components/schemas/Order"})}
_NEW_ORDER = {"type": "object", "required": ["caller_number", "category", "content"], "additionalProperties": False,
              "properties": {**{f: {"type": "string", "maxLength": n} for f, n in TEXT_LIMITS.items()},
                             "category": _TEXT}}
_EDIT = {"type": "object", "additionalProperties": False, "minProperties": 1,
         "properties": {**{f: {"type": "string"} for f in EDITABLE}, "by": _TEXT}}
_STEP = {"type": "object", "properties": {"by": _TEXT, "note": {"type": "string", "maxLength": 1000},
                                          "department": _TEXT,
                                          "follow_up_result": {"enum": [r.value for r in FollowUpResult]}}}
SEARCH_PARAMETERS = [
    _q("state", "order state"), _q("category", "request type code"), _q("caller", "caller number"),
    _q("department", "department code"), _q("due_before", "due before this ISO 8601 time", format="date-time"),
    _q("due_after", "due at or after this ISO 8601 time", format="date-time"),
    _q("overdue", "1: open orders past their deadline", enum=["0", "1"]),
    _q("cursor", "next_cursor of the previous page (keyset paging)"),
    _q("sort", "sort key", enum=list(SORTABLE)), _q("order", "asc or desc", enum=["asc", "desc"]),
    _q("limit", "page size 1..1000", "integer"), _q("offset", "rows to skip", "integer"),
]
# (method, path, summary, handler, extra operation fields)
ROUTES: list[tuple[str, str, str, Any, dict[str, Any]]] = [
    ("POST", "/api/orders", "create a work order", create,
     {"requestBody": {"required": True, **_json(_NEW_ORDER)},
      "responses": {"201": {"description": "created", **_json({"type": "object", "properties": {"number": _TEXT}})},
                    "400": _ERROR}}),
    ("GET", "/api/orders", "search orders (filters, paging, sort)", list_orders,
     {"parameters": SEARCH_PARAMETERS, "responses": {"200": {"description": "one page and the total"},
                                                     "400": _ERROR}}),
    ("GET", "/api/orders.csv", "export the search as CSV (UTF-8 with BOM)", export_csv,
     {"parameters": SEARCH_PARAMETERS, "responses": {"200": {"description": "CSV",
                                                             "content": {"text/csv": {"schema": _TEXT}}},
                                                     "400": _ERROR}}),
    ("GET", "/api/orders/overdue", "open orders past their deadline", overdue,
     {"responses": {"200": {"description": "most urgent first"}}}),
    ("GET", "/api/orders/due-soon", "open orders due within the configured hours", due_soon,
     {"responses": {"200": {"description": "most urgent first"}}}),
    ("GET", "/api/orders/{number}", "one order with its history and linked calls", get_order,
     {"parameters": [_path("number")], "responses": {"200": _ORDER, "404": _ERROR}}),
    ("PATCH", "/api/orders/{number}", "correct contact, category, topic, area or content", update_order,
     {"parameters": [_path("number")], "requestBody": {"required": True, **_json(_EDIT)},
      "responses": {"200": _ORDER, "400": _ERROR, "404": _ERROR, "409": _ERROR}}),
    ("POST", "/api/orders/{number}/calls", "link a call to the order", link_call,
     {"parameters": [_path("number")],
      "requestBody": {"required": True, **_json({"type": "object", "required": ["linkedid"],
                                                  "properties": {"linkedid": _TEXT}})},
      "responses": {"201": _ORDER, "200": _ORDER, "400": _ERROR, "404": _ERROR}}),
    ("POST", "/api/orders/{number}/{action}", "a workflow step", transition,
     {"parameters": [_path("number"), {**_path("action"), "schema": {"enum": ACTIONS}}],
      "requestBody": {"required": False, **_json(_STEP)},
      "responses": {"200": _ORDER, "400": _ERROR, "404": _ERROR, "409": _ERROR}}),
    ("GET", "/api/records", "a number's call records, newest first", call_records,
     {"parameters": [{**_q("caller", "caller number"), "required": True}],
      "responses": {"200": {"description": "records"}, "400": _ERROR}}),
    ("GET", "/api/catalog", "request types, topics, departments and deadline rules", catalog,
     {"responses": {"200": {"description": "the city's tables"}}}),
]


def openapi(routes: list[tuple[str, str, str, dict[str, Any]]]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for method, path, summary, extra in routes:
        operation = {"summary": summary, "responses": {"200": {"description": "ok"}}, **extra}
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.0.3", "info": {"title": "12345 hotline work orders", "version": "1"}, "paths": paths,
        # every route but this document needs a token (web/access.py: agent or supervisor)
        "security": [{"bearer": []}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}, "schemas": {
            "Error": {"type": "object", "required": ["error", "detail"],
                      "properties": {"error": _TEXT, "detail": {}}},
            "Order": {"type": "object", "properties": {
                "number": _TEXT, "state": _TEXT, "category": _TEXT, "topic": _TEXT, "area": _TEXT,
                "content": _TEXT, "caller_number": _TEXT, "contact_number": _TEXT, "department": _TEXT,
                "handling": _TEXT, "taken_by": _TEXT, "due_at": _TEXT, "created_at": _TEXT,
                "follow_up_result": _TEXT, "history": {"type": "array"}, "calls": {"type": "array"}}},
        }},
    }


def add_routes(app: web.Application, store: WorkOrderStore, catalog: Catalog = DEFAULT_CATALOG,
               records: CallRecordStore | None = None) -> None:
    app[ORDERS], app[CATALOG] = store, catalog
    if records is not None:
        app[RECORDS] = records
    for method, path, _, handler, _ in ROUTES:
        if handler is call_records and records is None:
            continue
        app.router.add_route(method, path, handler)
    document = openapi([(m, p, s, x) for m, p, s, h, x in ROUTES if h is not call_records or records is not None]
                       + [("GET", "/api/openapi.json", "this document", {"security": []})])

    async def serve_openapi(_: web.Request) -> web.Response:
        return web.json_response(document)

    app.router.add_get("/api/openapi.json", serve_openapi)
