"""Work-order API (aiohttp): create, read, edit, workflow steps, search, CSV export. Requests are
validated by web/models.py before a handler runs (400 with a message per field); illegal steps
answer 409 with a stable code; an edit or step with `If-Match` on an order changed meanwhile
412; nothing is half-written. Callers' numbers and words are not logged.

What an agent sees is decided by the store (tickets/scope.py): the orders they took or whose
calls they answered, the orders of the caller on their current call, and any order by its
exact number; a 保密 (confidential) order's numbers and address only for the agent who took it
and for supervisors.

    POST  /api/orders                    create                      → 201 {"number": …}
    GET   /api/orders/{number}           one order with its history and linked calls (ETag)
    PATCH /api/orders/{number}           correct contact, category, topic, area, content; 保密
    POST  /api/orders/{number}/calls     link a call {"linkedid": …}
    POST  /api/orders/{number}/{action}  answer_directly | dispatch | accept | reply | return |
                                         follow_up | close           → 200 the order
    GET   /api/orders/overdue            open orders past their deadline, most urgent first
    GET   /api/orders/due-soon           open orders due within the configured hours
    GET   /api/records?caller=…          a number's call records, newest first
    POST  /api/records/search            the same, the number in the body (not in any URL log)
    GET   /api/catalog                   request types, topics, departments, deadline rules
    GET   /api/orders?state=&category=&caller=&department=&due_before=&due_after=&overdue=1
                     &sort=&order=&limit=&offset=|cursor=   search; total capped, next_cursor
    POST  /api/orders/search             the same search as a JSON body
    GET   /api/orders.csv                the same filters, as CSV (UTF-8 with BOM for Excel)
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from tickets.catalog import DEFAULT_CATALOG, Catalog
from tickets.orders import (CONFIDENTIAL_NOT_ALLOWED, UNKNOWN_ORDER, VERSION_MISMATCH, NewOrder, WorkOrder,
                            WorkOrderStore)
from tickets.search import OrderQuery, SearchError, search
from tickets.store import CallRecordStore
from tickets.workflow import FollowUpResult, OrderTransitionError
from web.access import FORBIDDEN, GRANT, Role
from web.api import SERVED, viewer_of
from web.models import (CatalogView, Created, DueSoon, LinkBody, NewOrderBody, OrderEdit, OrderList, OrderPath,
                        OrderView, Records, RecordsBody, RecordsQuery, SearchBody, SearchPage, SearchQuery,
                        StepBody, StepPath)
from web.routes import VALIDATION_CONTEXT, VALIDATION_FAILED, Answer, RouteTable, error, reply

ORDERS = web.AppKey("orders", WorkOrderStore)
CATALOG = web.AppKey("catalog", Catalog)
RECORDS = web.AppKey("records", CallRecordStore)
STATUS_OF = {UNKNOWN_ORDER: 404, VERSION_MISMATCH: 412, CONFIDENTIAL_NOT_ALLOWED: 403}
ETAG = re.compile(r'^(?:W/)?"v([0-9]{1,9})"$')
route = RouteTable()
_error = error


def _history(order: WorkOrder) -> list[dict[str, Any]]:
    return [{"at": h.at, "by": h.by, "action": h.action, "from": h.from_state.value, "to": h.to_state.value,
             "note": h.note, "changes": list(h.changes)} for h in order.history]


def _order_reply(order: WorkOrder, status: int = 200) -> web.Response:
    data = {**{f.name: getattr(order, f.name) for f in dataclasses.fields(order)}, "history": _history(order)}
    return reply(data, OrderView, status=status, headers={"ETag": f'"v{order.version}"'})


def _failed(exc: OrderTransitionError) -> web.Response:
    return _error(STATUS_OF.get(exc.code, 409), exc.code, str(exc))


def _expected_version(request: web.Request) -> int | None | web.Response:
    """The version an `If-Match` names; None without one. A header that names no version of
    ours can match nothing: 412, as RFC 9110 has it."""
    given = request.headers.get("If-Match")
    if given is None or given.strip() == "*":
        return None
    found = ETAG.match(given.strip())
    if found is None:
        return _error(412, VERSION_MISMATCH, {"If-Match": 'an ETag of this order, e.g. "v3"'})
    return int(found.group(1))


def _checked(request: web.Request, problems: dict[str, str], by: str | None) -> tuple[str, int | None] | web.Response:
    """Before an edit or a step: the body's problems, who acts, and the version it expects."""
    if problems:
        return _error(400, VALIDATION_FAILED, problems)
    actor = _actor(request, by)
    if isinstance(actor, web.Response):
        return actor
    expected = _expected_version(request)
    if isinstance(expected, web.Response):
        return expected
    return actor, expected


def _actor(request: web.Request, given: str | None) -> str | web.Response:
    """Who the history records: the token's holder. An agent acts only under their own name; a
    supervisor may enter a step for someone else (a department's reply taken by phone)."""
    grant = request.get(GRANT)
    if grant is None:  # no access control (handler tests)
        return given or "api"
    if given in (None, "", grant.name):
        return grant.name
    if grant.role is Role.AGENT:
        return _error(403, FORBIDDEN, {"by": "an agent acts under their own name"})
    return str(given)


@route("POST", "/api/orders", "create a work order", Answer(201, "created", Created))
async def create(request: web.Request, body: NewOrderBody) -> web.Response:
    actor = _actor(request, body.by)
    if isinstance(actor, web.Response):
        return actor
    order = NewOrder(body.caller_number, body.contact_number, body.category, body.topic, body.area, body.content,
                     body.linkedid or None, confidential=body.confidential)
    number = await request.app[ORDERS].create(order, by=actor, at=datetime.now(timezone.utc))
    return reply({"number": number}, Created, status=201)


@route("GET", "/api/orders/{number}", "one order with its history and linked calls",
       Answer(200, "the order; ETag: its version", OrderView, headers=("ETag",)), errors=(404,))
async def get_order(request: web.Request, path: OrderPath) -> web.Response:
    try:
        order = await request.app[ORDERS].get(path.number, viewer=viewer_of(request))
    except OrderTransitionError as exc:
        return _error(404, exc.code, path.number)
    return _order_reply(order)


@route("PATCH", "/api/orders/{number}", "correct contact, category, topic, area or content; mark it 保密",
       Answer(200, "the order", OrderView, headers=("ETag",)), errors=(403, 404, 409, 412), if_match=True)
async def update_order(request: web.Request, path: OrderPath, body: OrderEdit) -> web.Response:
    changes = {k: v for k, v in body.model_dump(exclude={"by", "confidential"}, exclude_none=True).items()}
    problems: dict[str, str] = {}
    for field in ("category", "content"):
        if field in changes and not changes[field].strip():
            problems[field] = "required"
    if not changes and body.confidential is None and not problems:
        problems["body"] = "give at least one of contact_number, category, topic, area, content, confidential"
    checked = _checked(request, problems, body.by)
    if isinstance(checked, web.Response):
        return checked
    actor, expected = checked
    store, now, viewer = request.app[ORDERS], datetime.now(timezone.utc), viewer_of(request)
    try:
        order = None
        if body.confidential is not None:
            order = await store.set_confidential(path.number, body.confidential, by=actor, at=now,
                                                 expected_version=expected, viewer=viewer)
            expected = order.version if expected is not None else None
        if changes:
            order = await store.update(path.number, changes, by=actor, at=now, expected_version=expected,
                                       viewer=viewer)
    except OrderTransitionError as exc:
        return _failed(exc)
    assert order is not None
    return _order_reply(order)


@route("POST", "/api/orders/{number}/calls", "link a call to the order",
       Answer(201, "linked", OrderView, headers=("ETag",)), Answer(200, "was linked already", OrderView),
       errors=(404,))
async def link_call(request: web.Request, path: OrderPath, body: LinkBody) -> web.Response:
    store = request.app[ORDERS]
    try:
        added = await store.link_call(path.number, body.linkedid, at=datetime.now(timezone.utc))
    except OrderTransitionError as exc:
        return _error(404, exc.code, path.number)
    return _order_reply(await store.get(path.number, viewer=viewer_of(request)), status=201 if added else 200)


@route("POST", "/api/orders/{number}/{action}", "a workflow step",
       Answer(200, "the order after the step", OrderView, headers=("ETag",)), errors=(403, 404, 409, 412),
       if_match=True)
async def transition(request: web.Request, path: StepPath, body: StepBody | None) -> web.Response:
    step = body or StepBody()
    problems: dict[str, str] = {}
    if path.action == "dispatch" and step.department is None:
        problems["department"] = "required to dispatch: a department code of GET /api/catalog"
    elif path.action != "dispatch" and step.department is not None:
        problems["department"] = "only a dispatch names a department"
    if step.follow_up_result is not None and path.action != "follow_up":
        problems["follow_up_result"] = "only the follow-up step records the citizen's verdict"
    if path.action == "follow_up" and step.follow_up_result is None:
        problems["follow_up_result"] = f"required: one of {', '.join(r.value for r in FollowUpResult)}"
    checked = _checked(request, problems, step.by)
    if isinstance(checked, web.Response):
        return checked
    actor, expected = checked
    try:
        order = await request.app[ORDERS].transition(
            path.number, path.action, by=actor, at=datetime.now(timezone.utc), note=step.note,
            department=step.department, follow_up_result=step.follow_up_result, expected_version=expected,
            viewer=viewer_of(request))
    except OrderTransitionError as exc:
        return _failed(exc)
    return _order_reply(order)


@route("GET", "/api/orders/overdue", "open orders past their deadline", Answer(200, "most urgent first", OrderList))
async def overdue(request: web.Request) -> web.Response:
    found = await request.app[ORDERS].due(datetime.now(timezone.utc), viewer=viewer_of(request))
    return reply({"orders": found}, OrderList)


@route("GET", "/api/orders/due-soon", "open orders due within the configured hours",
       Answer(200, "most urgent first", DueSoon))
async def due_soon(request: web.Request) -> web.Response:
    within = request.app[CATALOG].due_soon
    found = await request.app[ORDERS].due(datetime.now(timezone.utc), within, viewer=viewer_of(request))
    return reply({"within_hours": within.total_seconds() / 3600, "orders": found}, DueSoon)


async def _records_of(request: web.Request, caller: str) -> web.Response:
    return reply({"records": await request.app[RECORDS].by_caller(caller)}, Records)


@route("GET", "/api/records", "a number's call records, newest first", Answer(200, "records", Records))
async def call_records(request: web.Request, query: RecordsQuery) -> web.Response:
    return await _records_of(request, query.caller)


@route("POST", "/api/records/search", "a number's call records (the number in the body, out of URL logs)",
       Answer(200, "records", Records))
async def search_records(request: web.Request, body: RecordsBody) -> web.Response:
    return await _records_of(request, body.caller)


@route("GET", "/api/catalog", "request types, topics, departments and deadline rules",
       Answer(200, "the city's tables", CatalogView))
async def catalog(request: web.Request) -> web.Response:
    return reply(request.app[CATALOG].as_json(), CatalogView)


def _order_query(request: web.Request, given: SearchQuery) -> OrderQuery:
    return OrderQuery(state=given.state.value if given.state else None, category=given.category,
                      caller=given.caller, department=given.department, due_before=given.due_before,
                      due_after=given.due_after,
                      overdue_at=datetime.now(timezone.utc) if given.overdue == "1" else None,
                      sort=given.sort, descending=given.order == "desc", limit=given.limit, offset=given.offset,
                      cursor=given.cursor, viewer=viewer_of(request))


async def _search(request: web.Request, given: SearchQuery) -> web.Response:
    try:
        page = await search(request.app[ORDERS].engine, _order_query(request, given))
    except SearchError as exc:
        return _error(400, exc.code, {"cursor": str(exc)})
    return reply({"total": page.total, "total_exact": page.total_exact, "orders": page.rows,
                  "next_cursor": page.next_cursor}, SearchPage)


@route("GET", "/api/orders", "search orders (filters, paging, sort)",
       Answer(200, "one page and the total (capped)", SearchPage))
async def list_orders(request: web.Request, query: SearchQuery) -> web.Response:
    return await _search(request, query)


@route("POST", "/api/orders/search", "search orders, the filters in the body (a caller's number out of URL logs)",
       Answer(200, "one page and the total (capped)", SearchPage))
async def search_orders(request: web.Request, body: SearchBody) -> web.Response:
    return await _search(request, body)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """OWASP's rule against formula injection: a text cell that Excel or WPS would read as a
    formula (=, +, -, @, tab, carriage return first) gets a leading apostrophe. Only the export
    is changed; the stored text stays as written."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


@route("GET", "/api/orders.csv", "export the search as CSV (UTF-8 with BOM)",
       Answer(200, "CSV, every match", None, media="text/csv"))
async def export_csv(request: web.Request, query: SearchQuery) -> web.StreamResponse:
    """Every match, page by page (cursor), streamed: no export holds a million rows in memory."""
    order_query = dataclasses.replace(_order_query(request, query), limit=1000, offset=0)
    try:
        page = await search(request.app[ORDERS].engine, order_query)
    except SearchError as exc:
        return _error(400, exc.code, {"cursor": str(exc)})
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
        writer.writerows({key: csv_cell(value) for key, value in row.items()} for row in page.rows)
        await response.write(buffer.getvalue().encode("utf-8"))
        if page.next_cursor is None:
            break
        page = await search(request.app[ORDERS].engine, dataclasses.replace(order_query, cursor=page.next_cursor))
    await response.write_eof()
    return response


def add_routes(app: web.Application, store: WorkOrderStore, catalog: Catalog = DEFAULT_CATALOG,
               records: CallRecordStore | None = None) -> None:
    """The work-order routes on an app made by web.api.make_app (the call-record routes only
    with a record store); the OpenAPI document lists them too."""
    app[ORDERS], app[CATALOG] = store, catalog
    app[VALIDATION_CONTEXT] = {**app.get(VALIDATION_CONTEXT, {}), "catalog": catalog}
    if records is not None:
        app[RECORDS] = records
    record_routes = (call_records, search_records)
    if SERVED not in app:  # an app of its own (handler tests): no OpenAPI document
        app[SERVED] = []
    app[SERVED].extend(route.add_to(app, lambda op: records is not None or op.handler not in record_routes))
