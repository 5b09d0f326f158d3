"""HTTP API (aiohttp): reads engine snapshots, submits agent requests to the inbox; it never
changes live state itself. Errors answer with a stable code string and change nothing. Every
/api route but the OpenAPI document needs a bearer token (web/access.py says who may call what).

    GET  /api/agents                      agents and their states
    POST /api/agents/{id}/login|ready|logout
    POST /api/agents/{id}/pause           {"reason": "break|meal|training|meeting|after_call_work"}
    GET  /api/agents/{id}/call            the agent's current call and the caller's open orders
    GET  /api/desks                       per desk and for the hotline ("all"): today's service
                                          figures (README: offered, 接通率, 15 s level, ASA …) and
                                          who waits now
    GET  /api/figures?day=YYYY-MM-DD      that local day's service figures, from the call records
    GET  /api/calls                       live calls (caller numbers masked)
    GET  /api/callbacks                   open callback entries (呼损回拨), numbers masked
    GET  /api/callbacks/figures[?day=YYYY-MM-DD]  live (or that day's) lost-call rate, callbacks
                                          due, outcomes, success rate, time to callback
    GET  /api/callbacks/do-not-call       numbers never called back (masked), who and why
    POST /api/callbacks/do-not-call       {"number": …, "note": …}: opt out; closes the open entry
    DELETE /api/callbacks/do-not-call/{number}   opt back in (not numbers from the config file)
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import date, datetime, timedelta, timezone
from dataclasses import asdict
from typing import Any

from aiohttp import web

from acd.acd import UNKNOWN_AGENT, AcdError
from acd.engine import Engine
from acd.kpis import ServiceFigures, local_day_bounds
from acd.privacy import mask_number
from acd.states import IllegalTransition, PauseReason
from callback.store import CallbackStore
from tickets.orders import WorkOrderStore
from tickets.store import CallRecordStore
from web.access import GRANT, TokenFile, decide
from web.orders import open_order_json

log = logging.getLogger("web.api")

ENGINE = web.AppKey("engine", Engine)
WORK_ORDERS = web.AppKey("work_orders", WorkOrderStore)
CALLBACK_STORE = web.AppKey("callback_store", CallbackStore)
CALL_RECORDS = web.AppKey("call_records", CallRecordStore)
BAD_REQUEST = "bad-request"
UNKNOWN_OPERATION = "unknown-operation"
AGENT_OPS = ("login", "ready", "pause", "logout")


def _error(status: int, code: str, detail: str) -> web.Response:
    return web.json_response({"error": code, "detail": detail}, status=status)


async def list_agents(request: web.Request) -> web.Response:
    return web.json_response([asdict(a) for a in request.app[ENGINE].agents()])


async def agent_op(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    agent_id, op = request.match_info["agent_id"], request.match_info["op"]
    if op not in AGENT_OPS:
        return _error(404, UNKNOWN_OPERATION, op)
    reason = ""
    if op == "pause":
        try:
            body: Any = await request.json() if request.can_read_body else {}
        except json.JSONDecodeError:
            return _error(400, BAD_REQUEST, "body is not JSON")
        reason = str(body.get("reason", "break")) if isinstance(body, dict) else ""
        allowed = {r.value for r in PauseReason} - {PauseReason.AUTO_NO_ANSWER.value, PauseReason.LOGIN.value}
        if reason not in allowed:
            return _error(400, BAD_REQUEST, f"reason must be one of {sorted(allowed)}")
    try:
        state = await engine.request(op, agent_id, reason)
    except AcdError as exc:
        return _error(404 if exc.code == UNKNOWN_AGENT else 409, exc.code, str(exc))
    except IllegalTransition as exc:
        return _error(409, "illegal-transition", str(exc))
    return web.json_response({"agent": agent_id, "state": state})


async def agent_call(request: web.Request) -> web.Response:
    """What the agent's screen shows when a call is offered or connected: who calls, for which
    desk, and the caller's open orders (first-contact responsibility). The number is shown in
    full here: the agent needs it for the order."""
    engine, agent_id = request.app[ENGINE], request.match_info["agent_id"]
    agent = next((a for a in engine.agents() if a.agent_id == agent_id), None)
    if agent is None:
        return _error(404, UNKNOWN_AGENT, agent_id)
    call = next((c for c in engine.snapshot() if c.linkedid == agent.call_id), None)
    if call is None:
        return web.json_response({"agent": agent_id, "state": agent.state, "call": None})
    orders = request.app.get(WORK_ORDERS)
    open_orders = []
    if orders is not None and call.caller_number:
        try:
            open_orders = [open_order_json(o) for o in await orders.open_for_caller(call.caller_number)]
        except Exception as exc:  # the store is away: the call is shown all the same
            log.warning("open orders for %s not read: %s", mask_number(call.caller_number), type(exc).__name__)
    return web.json_response({"agent": agent_id, "state": agent.state, "call": {
        "linkedid": call.linkedid, "caller_number": call.caller_number, "caller_name": call.caller_name,
        "dialed": call.dialed_number, "desk": call.desk, "arrived_at": call.arrived_at.isoformat(),
        "repeat_of": call.open_order or None, "open_orders": open_orders}})


async def desks(request: web.Request) -> web.Response:
    return web.json_response(request.app[ENGINE].desk_figures())


async def calls(request: web.Request) -> web.Response:
    views = request.app[ENGINE].snapshot()
    return web.json_response([
        {"linkedid": v.linkedid, "state": v.state, "caller": mask_number(v.caller_number),
         "dialed": v.dialed_number, "arrived_at": v.arrived_at.isoformat(),
         "channels": list(v.channels), "bridges": list(v.bridges)} for v in views])


async def callbacks(request: web.Request) -> web.Response:
    book = getattr(request.app[ENGINE].callbacks, "book", None)  # None: a hotline without callbacks
    open_entries = book.open_entries() if book is not None else []
    entries = sorted(open_entries, key=lambda e: (e.due_at, e.entry_id))
    return web.json_response([
        {"entry": e.entry_id, "number": mask_number(e.number), "desk": e.desk, "priority": int(e.priority),
         "virtual_hold": e.virtual_hold, "dialing": e.dialing, "due_at": e.due_at,
         "lost_calls": [{"linkedid": loss.linkedid, "reason": loss.reason, "waited": loss.waited, "at": loss.at}
                        for loss in e.losses],
         "attempts": [{"at": a.at, "agent": a.agent_id, "outcome": a.outcome.value} for a in e.attempts]}
        for e in entries])


NUMBER = re.compile(r"\+?[0-9]{3,32}")


def _configured(engine: Engine) -> frozenset[str]:
    """The config file's do-not-call numbers (on the list for good)."""
    book = getattr(engine.callbacks, "book", None)
    return book.configured if book is not None else frozenset()


async def list_do_not_call(request: web.Request) -> web.Response:
    """The numbers never called back: the store's (who, when, why) and the config file's."""
    store = request.app.get(CALLBACK_STORE)
    if store is None:
        return _error(404, "no-store", "the do-not-call list needs the store")
    listed = [{"number": mask_number(o.number), "added_at": o.added_at.isoformat(), "added_by": o.added_by,
               "note": o.note} for o in await store.do_not_call()]
    configured = [{"number": mask_number(n), "added_at": None, "added_by": "config", "note": ""}
                  for n in sorted(_configured(request.app[ENGINE]))]
    return web.json_response(configured + listed)


async def add_do_not_call(request: web.Request) -> web.Response:
    """A citizen asked not to be called back: on the list (the store first, so it outlives a
    restart), then the engine closes their open entry and takes it out of the queue."""
    store = request.app.get(CALLBACK_STORE)
    if store is None:
        return _error(404, "no-store", "the do-not-call list needs the store")
    try:
        body: Any = await request.json()
    except json.JSONDecodeError:
        return _error(400, BAD_REQUEST, "body is not JSON")
    number, note = (body.get("number"), body.get("note", "")) if isinstance(body, dict) else (None, None)
    if not isinstance(number, str) or not NUMBER.fullmatch(number):
        return _error(400, BAD_REQUEST, "number: digits, optionally after +, 3 to 32 of them")
    if not isinstance(note, str) or len(note) > 200:
        return _error(400, BAD_REQUEST, "note: text of at most 200 characters")
    grant = request.get(GRANT)
    added = await store.opt_out(number, grant.name if grant else "api", note, datetime.now(timezone.utc))
    closed = await request.app[ENGINE].do_not_call(number)
    log.info("do-not-call: %s added by %s", mask_number(number), grant.name if grant else "api")
    return web.json_response({"number": mask_number(number), "already_listed": not added,
                              "closed_entry": closed.entry_id if closed else None}, status=201 if added else 200)


async def remove_do_not_call(request: web.Request) -> web.Response:
    number = request.match_info["number"]
    engine = request.app[ENGINE]
    store = request.app.get(CALLBACK_STORE)
    if number in _configured(engine):
        return _error(409, "configured-do-not-call", "listed in the config file ([callbacks] do_not_call)")
    if store is None or not await store.opt_in(number):
        return _error(404, "not-on-list", mask_number(number))
    await engine.do_not_call(number, add=False)
    return web.json_response({"number": mask_number(number), "removed": True})


async def day_figures(request: web.Request) -> web.Response:
    """A local day's service figures, counted from the store's call records exactly as the
    live figures are (for today: the same numbers as /api/desks, once the calls have ended)."""
    engine = request.app[ENGINE]
    try:
        day = date.fromisoformat(request.query.get("day", ""))
    except ValueError:
        return _error(400, BAD_REQUEST, "day must be YYYY-MM-DD")
    store = request.app.get(CALL_RECORDS)
    if store is None:
        return _error(404, "no-store", "figures per day need the store")
    start, end = local_day_bounds(day, engine.today.zone)
    records = await store.arrived_between(start, end)
    kept = engine.today.records
    figures = ServiceFigures(kept.desk_of, kept.targets, kept.short_abandon).add_all(records).figures()
    return web.json_response({"day": day.isoformat(), "timezone": engine.today.zone.key, "desks": figures})


async def callback_figures(request: web.Request) -> web.Response:
    from callback.book import figures

    engine = request.app[ENGINE]
    day = request.query.get("day")
    store = request.app.get(CALLBACK_STORE)
    if not day:  # today so far: the store's entries (closed ones leave memory) and the engine's
        book = getattr(engine.callbacks, "book", None)
        live = {e.entry_id: e for e in book.entries.values()} if book is not None else {}
        if store is not None:
            midnight, next_midnight = local_day_bounds(datetime.now(engine.today.zone).date(), engine.today.zone)
            stored, _, _ = await store.day(midnight, next_midnight)
            live = {e.entry_id: e for e in stored} | live
        return web.json_response({"day": None, **figures(list(live.values()), time.time())})
    try:
        start_day = date.fromisoformat(day)
    except ValueError:
        return _error(400, BAD_REQUEST, "day must be YYYY-MM-DD")
    if store is None:
        return _error(404, "no-store", "figures per day need the store")
    start, end = local_day_bounds(start_day, engine.today.zone)
    entries, lost, citizen = await store.day(start, end)
    return web.json_response({"day": day, **figures(entries, time.time(), lost_calls=lost, citizen_calls=citizen)})


STORE_UNAVAILABLE = "store-unavailable"


@web.middleware
async def store_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """The database went away: 503 with a stable code, one log line without the statement or
    its parameters (they hold callers' numbers and words); the controller keeps running."""
    from sqlalchemy.exc import DBAPIError, InterfaceError

    try:
        return await handler(request)
    except (DBAPIError, InterfaceError, OSError) as exc:
        route = request.match_info.route.resource
        log.warning("API %s %s: the store is unavailable (%s)", request.method,
                    route.canonical if route is not None else "?", type(getattr(exc, "orig", None) or exc).__name__)
        return _error(503, STORE_UNAVAILABLE, "the store is unavailable; try again shortly")


def guard(tokens: TokenFile) -> Any:
    """Middleware: every /api route answers 401 without a valid bearer token and 403 outside the
    holder's role (web/access.py); the token's name is kept on the request as who acts."""
    reported: list[str | None] = [None]

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        resource = request.match_info.route.resource
        if resource is None or not request.path.startswith("/api/"):
            return await handler(request)  # 404 and 405 are aiohttp's
        book = tokens.current()
        if tokens.error != reported[0]:
            reported[0] = tokens.error
            if tokens.error:
                log.error("API tokens file cannot be loaded: EVERY token is refused until it is fixed: %s",
                          tokens.error)
        grant = book.holder(request.headers.get("Authorization"))
        refusal = decide(request.method, resource.canonical, grant, request.match_info.get("agent_id"))
        if refusal is not None:
            log.warning("API %s %s refused for %s: %s", request.method, resource.canonical,
                        grant.name if grant else "a request without a valid token", refusal)
            response = _error(401 if grant is None else 403, refusal,
                              "a bearer token is needed" if grant is None else f"not for role {grant.role.value}")
            if grant is None:
                response.headers["WWW-Authenticate"] = 'Bearer realm="hotline-pbx"'
            return response
        if grant is not None:
            request[GRANT] = grant
        return await handler(request)

    return middleware


def make_app(engine: Engine, orders: WorkOrderStore | None = None,
             callback_store: CallbackStore | None = None, tokens: TokenFile | None = None,
             records: CallRecordStore | None = None) -> web.Application:
    """`tokens` None serves without access control: for handler tests only; the controller
    always passes its token file."""
    app = web.Application(middlewares=([guard(tokens)] if tokens is not None else []) + [store_errors])
    app[ENGINE] = engine
    if orders is not None:
        app[WORK_ORDERS] = orders
    if callback_store is not None:
        app[CALLBACK_STORE] = callback_store
    if records is not None:
        app[CALL_RECORDS] = records
    app.router.add_get("/api/agents", list_agents)
    app.router.add_get("/api/agents/{agent_id}/call", agent_call)
    app.router.add_post("/api/agents/{agent_id}/{op}", agent_op)
    app.router.add_get("/api/desks", desks)
    app.router.add_get("/api/figures", day_figures)
    app.router.add_get("/api/calls", calls)
    app.router.add_get("/api/callbacks", callbacks)
    app.router.add_get("/api/callbacks/figures", callback_figures)
    app.router.add_get("/api/callbacks/do-not-call", list_do_not_call)
    app.router.add_post("/api/callbacks/do-not-call", add_do_not_call)
    app.router.add_delete("/api/callbacks/do-not-call/{number}", remove_do_not_call)
    return app
