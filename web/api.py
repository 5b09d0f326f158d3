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
    POST /api/callbacks/do-not-call/remove       the same, {"number": …} in the body (out of URL logs)
"""

from __future__ import annotations

import json
import logging
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any

from aiohttp import web

from acd.acd import BAD_PHONE, LINE_NEEDS_PHONE, UNKNOWN_AGENT, AcdError
from acd.engine import Engine
from acd.kpis import ServiceFigures, hourly_offered, local_day_bounds
from acd.privacy import mask_number
from acd.states import IllegalTransition
from callback.store import CallbackStore
from tickets.agent_history import AgentHistoryStore
from tickets.orders import WorkOrderStore
from tickets.scope import Viewer, ViewerRole
from tickets.store import CallRecordStore
from web.access import GRANT, Role, TokenFile, decide
from web.login import CSRF_FAILED, SESSION_COOKIE, same
from web.pages import SESSION
from web.sessions import grant_for
from web.models import (AgentCall, AgentDay, AgentOpPath, AgentPath, AgentState, AgentView, CallbackEntryView,
                        CallbackFigures, CallbackFiguresQuery, DayFigures, DayQuery, DeskToday, Document,
                        DoNotCallAdded, DoNotCallBody, DoNotCallEntry, DoNotCallRemoved, LiveCall, NumberBody, NumberPath,
                        HandoverStepPath, HandoverView, HourlyQuery, HourlyVolume, PauseBody, ThreeWayBody,
                        TransferBody)
from web.routes import (BODY_TIMEOUT_SECONDS, MAX_BODY, READ_TIMEOUT, Answer, Handler, Operation, RouteTable, error,
                        openapi, reply)

from acd.handover import (NO_DEPARTMENT_PHONE, NO_HANDOVER, NOT_EMERGENCY, SELF_TRANSFER, UNKNOWN_DEPARTMENT,
                          UNKNOWN_TARGET_AGENT, HandoverError, Kind)
from acd.handover import UNKNOWN_DESK as HO_UNKNOWN_DESK

log = logging.getLogger("web.api")

ENGINE = web.AppKey("engine", Engine)
WORK_ORDERS = web.AppKey("work_orders", WorkOrderStore)
CALLBACK_STORE = web.AppKey("callback_store", CallbackStore)
CALL_RECORDS = web.AppKey("call_records", CallRecordStore)
AGENT_HISTORY = web.AppKey("agent_history", AgentHistoryStore)
SERVED = web.AppKey("served", list[Operation])  # every operation served, for the OpenAPI document
UNKNOWN_OPERATION = "unknown-operation"
NO_STORE = "no-store"
route = RouteTable()
_error = error


@route("GET", "/api/agents", "agents and their states", Answer(200, "every agent", list[AgentView]))
async def list_agents(request: web.Request) -> web.Response:
    return reply(request.app[ENGINE].agent_views(), list[AgentView])


@route("GET", "/api/agents/{agent_id}/call", "the agent's current call and the caller's open orders",
       Answer(200, "the call, or call null", AgentCall), errors=(404,))
async def agent_call(request: web.Request, path: AgentPath) -> web.Response:
    """What the agent's screen shows when a call is offered or connected: who calls, for which
    desk, and the caller's open orders (first-contact responsibility). The number is shown in
    full here: the agent needs it for the order."""
    engine, agent_id = request.app[ENGINE], path.agent_id
    agent = next((a for a in engine.agents() if a.agent_id == agent_id), None)
    if agent is None:
        return _error(404, UNKNOWN_AGENT, agent_id)
    call = current_call(engine, agent_id)
    if call is None:
        return reply({"agent": agent_id, "state": agent.state, "call": None}, AgentCall)
    orders = request.app.get(WORK_ORDERS)
    open_orders: list[Any] = []
    if orders is not None and call.caller_number:
        try:
            open_orders = list(await orders.open_for_caller(call.caller_number, viewer=viewer_of(request)))
        except Exception as exc:  # the store is away: the call is shown all the same
            log.warning("open orders for %s not read: %s", mask_number(call.caller_number), type(exc).__name__)
    losses: list[dict[str, Any]] = []
    book = getattr(engine.callbacks, "book", None)
    if call.callback and book is not None:  # the agent calls a citizen back: the calls they lost
        entry = next((e for e in book.open_entries() if e.number == call.caller_number), None)
        losses = [{"linkedid": loss.linkedid, "reason": loss.reason, "waited": loss.waited, "at": loss.at}
                  for loss in (entry.losses if entry is not None else ())]
    return reply({"agent": agent_id, "state": agent.state, "call": {
        "linkedid": call.linkedid, "caller_number": call.caller_number, "caller_name": call.caller_name,
        "dialed": call.dialed_number, "desk": call.desk, "arrived_at": call.arrived_at,
        "repeat_of": call.open_order or None, "open_orders": open_orders, "callback_losses": losses}}, AgentCall)


@route("POST", "/api/agents/{agent_id}/{op}", "log in, ready, pause (with a reason) or log out",
       Answer(200, "the agent's state after it", AgentState), errors=(400, 404, 409))
async def agent_op(request: web.Request, path: AgentOpPath, body: PauseBody | None) -> web.Response:
    reason = (body or PauseBody()).reason if path.op == "pause" else ""
    phone = ((body or PauseBody()).phone or "") if path.op == "login" else ""
    persistent = (body or PauseBody()).persistent and path.op == "login"
    try:
        state = await request.app[ENGINE].request(path.op, path.agent_id, reason, phone, persistent)
    except AcdError as exc:
        return _error({UNKNOWN_AGENT: 404, BAD_PHONE: 400, LINE_NEEDS_PHONE: 400}.get(exc.code, 409),
                      exc.code, str(exc))
    except IllegalTransition as exc:
        return _error(409, "illegal-transition", str(exc))
    return reply({"agent": path.agent_id, "state": state}, AgentState)


async def _ask_handover(request: web.Request, op: str, agent_id: str, **what: Any) -> web.Response:
    """The engine answers with the handover's view (202: Asterisk carries it out), or a
    stable refusal."""
    try:
        view = await request.app[ENGINE].handover(op, agent_id, **what)
    except HandoverError as exc:
        return _handover_error(exc)
    return reply(view, HandoverView, status=202)


def _handover_error(exc: HandoverError) -> web.Response:
    status = {UNKNOWN_AGENT: 404, HO_UNKNOWN_DESK: 400, NOT_EMERGENCY: 400, UNKNOWN_DEPARTMENT: 400,
              NO_DEPARTMENT_PHONE: 400, SELF_TRANSFER: 400, UNKNOWN_TARGET_AGENT: 400}.get(exc.code, 409)
    return _error(status, exc.code, str(exc))


@route("POST", "/api/agents/{agent_id}/threeway", "three-way call: bring 110/119/120/122 or a department into "
       "the agent's call", Answer(202, "dialing; the stage follows in GET .../handover", HandoverView),
       errors=(404, 409, 400))
async def three_way(request: web.Request, path: AgentPath, body: ThreeWayBody) -> web.Response:
    return await _ask_handover(request, "threeway", path.agent_id, kind=Kind(body.kind), target=body.target,
                               private=body.private)


@route("POST", "/api/agents/{agent_id}/transfer", "transfer the agent's call to a desk or an agent, cold or warm",
       Answer(202, "under way", HandoverView), errors=(404, 409, 400))
async def transfer(request: web.Request, path: AgentPath, body: TransferBody) -> web.Response:
    return await _ask_handover(request, "transfer", path.agent_id, kind=Kind(body.kind), target=body.target,
                               private=body.warm)


@route("GET", "/api/agents/{agent_id}/handover", "the agent's three-way call or transfer on their current call",
       Answer(200, "its stage and steps", HandoverView), errors=(404,))
async def handover_state(request: web.Request, path: AgentPath) -> web.Response:
    engine = request.app[ENGINE]
    if not any(a.agent_id == path.agent_id for a in engine.agents()):
        return _error(404, UNKNOWN_AGENT, path.agent_id)
    view = engine.handover_of(path.agent_id)
    if view is None:
        return _error(404, NO_HANDOVER, f"{path.agent_id} has no handover on a live call")
    return reply(view, HandoverView)


@route("POST", "/api/agents/{agent_id}/handover/{step}", "join all three (after a private consult), complete "
       "a warm transfer, leave a three-way call, or cancel (the agent is back with the citizen)",
       Answer(202, "under way", HandoverView), errors=(404, 409))
async def handover_step(request: web.Request, path: HandoverStepPath) -> web.Response:
    return await _ask_handover(request, "step", path.agent_id, step=path.step)


@route("GET", "/api/desks", "per desk and for the hotline (all): today's service figures and who waits now",
       Answer(200, "by desk", dict[str, DeskToday]))
async def desks(request: web.Request) -> web.Response:
    return reply(request.app[ENGINE].desk_figures(), dict[str, DeskToday])


@route("GET", "/api/calls", "live calls (caller numbers masked)", Answer(200, "the calls now", list[LiveCall]))
async def calls(request: web.Request) -> web.Response:
    return reply([{"linkedid": v.linkedid, "state": v.state, "caller": mask_number(v.caller_number),
                   "dialed": v.dialed_number, "arrived_at": v.arrived_at, "channels": list(v.channels),
                   "bridges": list(v.bridges)} for v in request.app[ENGINE].snapshot()], list[LiveCall])


@route("GET", "/api/callbacks", "open callback entries (呼损回拨), numbers masked",
       Answer(200, "the open entries, the most due first", list[CallbackEntryView]))
async def callbacks(request: web.Request) -> web.Response:
    book = getattr(request.app[ENGINE].callbacks, "book", None)  # None: a hotline without callbacks
    open_entries = book.open_entries() if book is not None else []
    entries = sorted(open_entries, key=lambda e: (e.due_at, e.entry_id))
    return reply([
        {"entry": e.entry_id, "number": mask_number(e.number), "desk": e.desk, "priority": int(e.priority),
         "virtual_hold": e.virtual_hold, "dialing": e.dialing, "due_at": e.due_at,
         "lost_calls": [{"linkedid": loss.linkedid, "reason": loss.reason, "waited": loss.waited, "at": loss.at}
                        for loss in e.losses],
         "attempts": [{"at": a.at, "agent": a.agent_id, "outcome": a.outcome.value} for a in e.attempts]}
        for e in entries], list[CallbackEntryView])


def _configured(engine: Engine) -> frozenset[str]:
    """The config file's do-not-call numbers (on the list for good)."""
    book = getattr(engine.callbacks, "book", None)
    return book.configured if book is not None else frozenset()


@route("GET", "/api/callbacks/do-not-call", "numbers never called back (masked), who and why",
       Answer(200, "the config file's, then the store's", list[DoNotCallEntry]), errors=(404,))
async def list_do_not_call(request: web.Request) -> web.Response:
    """The numbers never called back: the store's (who, when, why) and the config file's."""
    store = request.app.get(CALLBACK_STORE)
    if store is None:
        return _error(404, NO_STORE, "the do-not-call list needs the store")
    listed = [{"number": mask_number(o.number), "added_at": o.added_at, "added_by": o.added_by,
               "note": o.note} for o in await store.do_not_call()]
    configured = [{"number": mask_number(n), "added_at": None, "added_by": "config", "note": ""}
                  for n in sorted(_configured(request.app[ENGINE]))]
    return reply(configured + listed, list[DoNotCallEntry])


@route("POST", "/api/callbacks/do-not-call", "a citizen opts out of callbacks; their open entry closes",
       Answer(201, "listed", DoNotCallAdded), Answer(200, "was listed already", DoNotCallAdded), errors=(404,))
async def add_do_not_call(request: web.Request, body: DoNotCallBody) -> web.Response:
    """A citizen asked not to be called back: on the list (the store first, so it outlives a
    restart), then the engine closes their open entry and takes it out of the queue."""
    store = request.app.get(CALLBACK_STORE)
    if store is None:
        return _error(404, NO_STORE, "the do-not-call list needs the store")
    grant = request.get(GRANT)
    added = await store.opt_out(body.number, grant.name if grant else "api", body.note, datetime.now(timezone.utc))
    closed = await request.app[ENGINE].do_not_call(body.number)
    log.info("do-not-call: %s added by %s", mask_number(body.number), grant.name if grant else "api")
    return reply({"number": mask_number(body.number), "already_listed": not added,
                  "closed_entry": closed.entry_id if closed else None}, DoNotCallAdded, status=201 if added else 200)


async def _opt_in(request: web.Request, number: str) -> web.Response:
    engine = request.app[ENGINE]
    store = request.app.get(CALLBACK_STORE)
    if number in _configured(engine):
        return _error(409, "configured-do-not-call", "listed in the config file ([callbacks] do_not_call)")
    if store is None or not await store.opt_in(number):
        return _error(404, "not-on-list", mask_number(number))
    await engine.do_not_call(number, add=False)
    return reply({"number": mask_number(number), "removed": True}, DoNotCallRemoved)


@route("DELETE", "/api/callbacks/do-not-call/{number}", "opt back in (not numbers from the config file)",
       Answer(200, "removed", DoNotCallRemoved), errors=(404, 409))
async def remove_do_not_call(request: web.Request, path: NumberPath) -> web.Response:
    return await _opt_in(request, path.number)


@route("POST", "/api/callbacks/do-not-call/remove", "opt back in, the number in the body (out of URL logs)",
       Answer(200, "removed", DoNotCallRemoved), errors=(404, 409))
async def remove_do_not_call_by_body(request: web.Request, body: NumberBody) -> web.Response:
    return await _opt_in(request, body.number)


@route("GET", "/api/figures", "a local day's service figures, from the call records",
       Answer(200, "by desk and for the hotline", DayFigures), errors=(404,))
async def day_figures(request: web.Request, query: DayQuery) -> web.Response:
    """A local day's service figures, counted from the store's call records exactly as the
    live figures are (for today: the same numbers as /api/desks, once the calls have ended)."""
    engine = request.app[ENGINE]
    store = request.app.get(CALL_RECORDS)
    if store is None:
        return _error(404, NO_STORE, "figures per day need the store")
    start, end = local_day_bounds(query.day, engine.today.zone)
    records = await store.arrived_between(start, end)
    kept = engine.today.records
    figures = ServiceFigures(kept.desk_of, kept.targets, kept.short_abandon).add_all(records).figures()
    return reply({"day": query.day.isoformat(), "timezone": engine.today.zone.key, "desks": figures}, DayFigures)


@route("GET", "/api/figures/hourly", "offered calls per local hour, a day against the same weekday a week before "
       "(the wallboard's chart)", Answer(200, "two days of 24 hours", HourlyVolume), errors=(404,))
async def hourly_figures(request: web.Request, query: HourlyQuery) -> web.Response:
    engine = request.app[ENGINE]
    store = request.app.get(CALL_RECORDS)
    if store is None:
        return _error(404, NO_STORE, "figures per day need the store")
    zone, kept = engine.today.zone, engine.today.records
    today = datetime.now(zone).date()
    day = query.day or today
    compared = day - timedelta(days=7)

    async def records_of(of: date) -> list[Any]:
        if of == today:  # the engine's own: the store may not have the latest records yet
            return list(kept.records.values())
        return list(await store.arrived_between(*local_day_bounds(of, zone)))

    return reply({"day": day.isoformat(), "compared_with": compared.isoformat(), "timezone": zone.key,
                  "offered": hourly_offered(kept, await records_of(day), zone),
                  "offered_compared": hourly_offered(kept, await records_of(compared), zone)}, HourlyVolume)


@route("GET", "/api/agents/{agent_id}/day", "an agent's local day from their state history: logged in, ready, "
       "on calls, wrap-up, paused per reason, occupancy", Answer(200, "the day's figures", AgentDay), errors=(404,))
async def agent_day_figures(request: web.Request, path: AgentPath, query: DayQuery) -> web.Response:
    from acd.history import agent_day

    engine = request.app[ENGINE]
    history = request.app.get(AGENT_HISTORY)
    if not any(a.agent_id == path.agent_id for a in engine.agents()):
        return _error(404, UNKNOWN_AGENT, path.agent_id)
    if history is None:
        return _error(404, NO_STORE, "an agent's day needs the store")
    start, end = (t.timestamp() for t in local_day_bounds(query.day, engine.today.zone))
    transitions = await history.between(path.agent_id, start, end)
    figures = agent_day(transitions, start, min(end, time.time()))
    return reply({"agent": path.agent_id, "day": query.day.isoformat(), "timezone": engine.today.zone.key,
                  **figures}, AgentDay)


@route("GET", "/api/callbacks/figures", "live (or that day's) lost-call rate, callbacks due, outcomes, success",
       Answer(200, "the figures", CallbackFigures), errors=(404,))
async def callback_figures(request: web.Request, query: CallbackFiguresQuery) -> web.Response:
    from callback.book import figures

    engine = request.app[ENGINE]
    store = request.app.get(CALLBACK_STORE)
    if query.day is None:  # today so far: the store's entries (closed ones leave memory) and the engine's
        book = getattr(engine.callbacks, "book", None)
        live = {e.entry_id: e for e in book.entries.values()} if book is not None else {}
        if store is not None:
            midnight, next_midnight = local_day_bounds(datetime.now(engine.today.zone).date(), engine.today.zone)
            stored, _, _ = await store.day(midnight, next_midnight)
            live = {e.entry_id: e for e in stored} | live
        return reply({"day": None, **figures(list(live.values()), time.time())}, CallbackFigures)
    if store is None:
        return _error(404, NO_STORE, "figures per day need the store")
    start, end = local_day_bounds(query.day, engine.today.zone)
    entries, lost, citizen = await store.day(start, end)
    return reply({"day": query.day.isoformat(), **figures(entries, time.time(), lost_calls=lost,
                                                         citizen_calls=citizen)}, CallbackFigures)


def current_call(engine: Engine, agent_id: str) -> Any:
    """The live call the agent is on (offered or talking), or None."""
    agent = next((a for a in engine.agents() if a.agent_id == agent_id), None)
    if agent is None or not agent.call_id:
        return None
    book = getattr(engine.callbacks, "book", None)
    if agent.call_id.startswith("callback:") and book is not None:  # a callback is named by its entry
        entry = next((e for e in book.open_entries() if f"callback:{e.entry_id}" == agent.call_id), None)
        return next((c for c in engine.snapshot() if entry is not None and c.callback
                     and c.caller_number == entry.number), None)
    return next((c for c in engine.snapshot() if c.linkedid == agent.call_id), None)


def viewer_of(request: web.Request) -> Viewer | None:
    """Who reads, for the store's scope and 保密 masking: an agent with the caller of their
    current call, a supervisor, or None (everything) in an app without access control."""
    grant = request.get(GRANT)
    if grant is None:
        return None
    if grant.role is Role.SUPERVISOR:
        return Viewer(grant.name, ViewerRole.SUPERVISOR)
    engine = request.app.get(ENGINE)
    call = current_call(engine, grant.name) if engine is not None else None
    return Viewer(grant.name, ViewerRole.AGENT, call.caller_number if call is not None else "")


STORE_UNAVAILABLE = "store-unavailable"
INTERNAL_ERROR = "internal-error"
HTTP_CODES = {404: "not-found", 405: "method-not-allowed", 413: "too-large", 400: "bad-request"}


@web.middleware
async def store_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The database went away: 503 with a stable code, one log line without the statement or
    its parameters (they hold callers' numbers and words); the controller keeps running.
    aiohttp's own refusals (no such route, method, body too large) answer in the same JSON
    shape as every other error; anything unforeseen is a 500 `internal-error`, logged by type
    and route (the log's formatter masks numbers and tokens)."""
    from sqlalchemy.exc import DBAPIError, InterfaceError

    route = request.match_info.route.resource
    where = route.canonical if route is not None else "?"
    try:
        return await handler(request)
    except (DBAPIError, InterfaceError, OSError) as exc:
        log.warning("API %s %s: the store is unavailable (%s)", request.method, where,
                    type(getattr(exc, "orig", None) or exc).__name__)
        return _error(503, STORE_UNAVAILABLE, "the store is unavailable; try again shortly")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        answer = _error(exc.status, HTTP_CODES.get(exc.status, "http-error"), exc.reason)
        if exc.status == 405 and "Allow" in exc.headers:
            answer.headers["Allow"] = exc.headers["Allow"]
        return answer
    except Exception as exc:
        log.error("API %s %s failed: %s", request.method, where, type(exc).__name__, exc_info=exc)
        return _error(500, INTERNAL_ERROR, "the request failed; it is logged")


def guard(tokens: TokenFile, sessions: Any = None) -> Any:
    """Middleware: every /api route answers 401 without a valid bearer token (or, with
    `sessions`, a page session's cookie) and 403 outside the holder's role (web/access.py); the
    holder's name is kept on the request as who acts. A request the cookie authenticates must
    carry the session's CSRF token (X-CSRF-Token) unless it only reads, and come from our own
    origin if it says where it comes from."""
    reported: list[str | None] = [None]

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
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
        if grant is None and sessions is not None and "Authorization" not in request.headers:
            found = await sessions.current(request.cookies.get(SESSION_COOKIE), request.remote or "?")
            if found is not None:
                session, user = found
                origin = request.headers.get("Origin")
                if (origin is not None and origin != f"{request.scheme}://{request.host}") or (
                        request.method not in ("GET", "HEAD", "OPTIONS")
                        and not same(request.headers.get("X-CSRF-Token", ""), session.csrf)):
                    log.warning("API %s %s refused for %s: %s", request.method, resource.canonical, user.name,
                                CSRF_FAILED)
                    return _error(403, CSRF_FAILED, "the session's CSRF token (X-CSRF-Token) is missing or wrong")
                grant = grant_for(user)
                request[SESSION] = session
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
             records: CallRecordStore | None = None, read_timeout: float = BODY_TIMEOUT_SECONDS,
             history: AgentHistoryStore | None = None, sessions: Any = None) -> web.Application:
    """`tokens` None serves without access control: for handler tests only; the controller
    always passes its token file. web/orders.py's `add_routes` adds the work-order routes; the
    OpenAPI document covers whatever is served when it is first asked for. A request body that
    has not arrived after `read_timeout` seconds answers 408."""
    app = web.Application(middlewares=[store_errors] + ([guard(tokens, sessions)] if tokens is not None else []),
                          client_max_size=MAX_BODY)
    app[ENGINE] = engine
    app[READ_TIMEOUT] = read_timeout
    if orders is not None:
        app[WORK_ORDERS] = orders
    if callback_store is not None:
        app[CALLBACK_STORE] = callback_store
    if records is not None:
        app[CALL_RECORDS] = records
    if history is not None:
        app[AGENT_HISTORY] = history
    app[SERVED] = route.add_to(app)
    app[DOCUMENT] = []
    return app


DOCUMENT = web.AppKey("document", list[bytes])


@route("GET", "/api/openapi.json", "this document (no token needed)", Answer(200, "OpenAPI 3.1", Document))
async def openapi_document(request: web.Request) -> web.Response:
    """Written from the served operations when first asked for (after every route is added)."""
    cached = request.app[DOCUMENT]
    if not cached:
        served: list[Operation] = request.app[SERVED]
        cached.append(json.dumps(openapi(served), ensure_ascii=False).encode())
    return web.Response(body=cached[0], content_type="application/json")
