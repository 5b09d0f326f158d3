"""Supervision API (issue 15, items 6 and 7), for supervisors only (web/access.py; an agent's
token gets 403 and nothing is spied):

    POST /api/monitor                            {"agent", "mode": listen|whisper|barge, "supervisor"?}
                                                 rings the supervisor's phone into ChanSpy on the agent's call
    POST /api/monitor/{session_id}/mode          {"mode"}: switch (ChanSpy restarts in the new mode)
    POST /api/monitor/{session_id}/stop          end the session (its spy channel hangs up)
    GET  /api/monitor?supervisor=&agent=&linkedid=&limit=   sessions, newest first (live ones included)
    POST /api/supervision/agents/{agent_id}/force  {"op": pause|logout, "reason", "pause_reason"?}
    POST /api/supervision/calls/{linkedid}/hangup  {"reason"}: emergency hang-up of every channel of the call
    GET  /api/supervision/audit?actor=&target=&limit=       forced steps, hang-ups, blocks: who, what, whom, why, when
    GET  /api/supervision/blocks                 addresses the flood guard blocks now (registration floods, issue 16)
    POST /api/supervision/blocks/{address}/lift  {"reason"}: lift a block before its time (audited)

Refusals change nothing: unknown-supervisor, unknown-agent, unknown-session, unknown-call (404);
not-blocked (404); phone-not-registered, agent-not-on-call, already-monitoring, supervisor-busy,
illegal-transition (409).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from acd.acd import UNKNOWN_AGENT, AcdError
from acd.states import IllegalTransition
from acd.security import BlockView
from acd.supervision import (NOT_BLOCKED, PHONE_NOT_REGISTERED, UNKNOWN_SUPERVISOR, SessionRecord, SupervisionError,
                             SupervisorConfig)
from tickets.supervision import StoredSession, SupervisionStore
from web.access import GRANT
from web.api import ENGINE, SERVED
from web.models import (AuditQuery, AuditView, BlockedView, BlockPath, CallPath, ForceAnswer, ForceBody, ForcePath, HangupAnswer, HangupBody,
                        LiftBody, ModeBody, MonitorBody, MonitorQuery, MonitorSessionView, SessionPath)
from web.routes import Answer, RouteTable, error, reply

log = logging.getLogger("web.supervision")

SUPERVISION_STORE = web.AppKey("supervision_store", SupervisionStore)
PHONE_REGISTERED = web.AppKey("phone_registered", Callable[[str], Awaitable[bool]])
SUPERVISORS = web.AppKey("supervisors", dict[str, SupervisorConfig])
NOT_FOUND_CODES = {UNKNOWN_SUPERVISOR, UNKNOWN_AGENT, "unknown-session", "unknown-call", NOT_BLOCKED}
route = RouteTable()


def _refusal(exc: Exception) -> web.Response:
    if isinstance(exc, IllegalTransition):
        return error(409, "illegal-transition", str(exc))
    code = getattr(exc, "code", "conflict")
    return error(404 if code in NOT_FOUND_CODES else 409, code, str(exc))


def _who(request: web.Request) -> str:
    grant = request.get(GRANT)
    return grant.name if grant is not None else "api"


def _epoch_time(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, timezone.utc)


def live_view(record: SessionRecord, live: bool = True) -> dict[str, Any]:
    modes = [{"mode": m.mode, "began_at": _epoch_time(m.began_at)} for m in record.modes]
    return {"session_id": record.session_id, "supervisor": record.supervisor, "agent": record.agent,
            "linkedid": record.linkedid, "source": record.source, "requested_by": record.requested_by,
            "requested_at": _epoch_time(record.requested_at), "started_at": _epoch_time(record.started_at),
            "ended_at": _epoch_time(record.ended_at), "duration": record.duration,
            "mode": modes[-1]["mode"] if modes else None, "modes": modes, "end_reason": record.end_reason,
            "live": live and record.ended_at is None}


def stored_view(row: StoredSession) -> dict[str, Any]:
    return {"session_id": row.session_id, "supervisor": row.supervisor, "agent": row.agent, "linkedid": row.linkedid,
            "source": row.source, "requested_by": row.requested_by, "requested_at": row.requested_at,
            "started_at": row.started_at, "ended_at": row.ended_at, "duration": row.duration,
            "mode": row.modes[-1]["mode"] if row.modes else None, "modes": row.modes, "end_reason": row.end_reason,
            "live": False}


@route("POST", "/api/monitor", "monitor an agent's live call: the supervisor's phone rings, then listens, "
       "whispers or barges", Answer(201, "the session (spying once the supervisor answers)", MonitorSessionView),
       errors=(404, 409))
async def start_monitor(request: web.Request, body: MonitorBody) -> web.Response:
    supervisor_id = body.supervisor or _who(request)
    supervisor = request.app[SUPERVISORS].get(supervisor_id)
    if supervisor is None:
        return error(404, UNKNOWN_SUPERVISOR, supervisor_id)
    if not await request.app[PHONE_REGISTERED](supervisor.device):
        return error(409, PHONE_NOT_REGISTERED, f"{supervisor.device} is not registered")
    try:
        session = await request.app[ENGINE].supervise("monitor", agent=body.agent, mode=body.mode,
                                                      supervisor=supervisor_id, source="api", by=_who(request))
    except (SupervisionError, AcdError) as exc:
        return _refusal(exc)
    log.info("monitoring: %s %s %s (session %s, by %s)", supervisor_id, body.mode, body.agent, session.session_id,
             _who(request))
    return reply(live_view(session.record()), MonitorSessionView, status=201)


@route("POST", "/api/monitor/{session_id}/mode", "switch a session's mode (listen, whisper, barge)",
       Answer(200, "the session", MonitorSessionView), errors=(404, 409))
async def switch_mode(request: web.Request, path: SessionPath, body: ModeBody) -> web.Response:
    try:
        record = await request.app[ENGINE].supervise("mode", session=path.session_id, mode=body.mode)
    except SupervisionError as exc:
        return _refusal(exc)
    return reply(live_view(record), MonitorSessionView)


@route("POST", "/api/monitor/{session_id}/stop", "end a monitoring session",
       Answer(200, "the session (its end follows the spy channel's hang-up)", MonitorSessionView), errors=(404,))
async def stop_monitor(request: web.Request, path: SessionPath) -> web.Response:
    try:
        record = await request.app[ENGINE].supervise("stop", session=path.session_id)
    except SupervisionError as exc:
        return _refusal(exc)
    return reply(live_view(record), MonitorSessionView)


@route("GET", "/api/monitor", "monitoring sessions, newest first: who monitored whom, which call, when, "
       "modes, duration", Answer(200, "the sessions", list[MonitorSessionView]))
async def list_monitor(request: web.Request, query: MonitorQuery) -> web.Response:
    live = {r.session_id: live_view(r) for r in request.app[ENGINE].monitor_sessions()
            if (not query.supervisor or r.supervisor == query.supervisor) and (not query.agent or r.agent == query.agent)
            and (not query.linkedid or r.linkedid == query.linkedid)}
    stored = await request.app[SUPERVISION_STORE].sessions(supervisor=query.supervisor, agent=query.agent,
                                                           linkedid=query.linkedid, limit=query.limit)
    rows = list(live.values()) + [stored_view(s) for s in stored if s.session_id not in live]
    rows.sort(key=lambda r: (r["requested_at"], r["session_id"]), reverse=True)
    return reply(rows[:query.limit], list[MonitorSessionView])


@route("POST", "/api/supervision/agents/{agent_id}/force", "force an agent to pause or log out, with a reason "
       "(on a call: applied when the call ends)", Answer(200, "applied or pending", ForceAnswer), errors=(404, 409))
async def force_agent(request: web.Request, path: ForcePath, body: ForceBody) -> web.Response:
    engine = request.app[ENGINE]
    try:
        status = await engine.supervise("force", agent=path.agent_id, op=body.op, reason=body.reason,
                                        pause=body.pause_reason, by=_who(request))
    except (SupervisionError, AcdError, IllegalTransition) as exc:
        return _refusal(exc)
    agent = next(a for a in engine.agents() if a.agent_id == path.agent_id)
    log.info("forced %s of %s by %s: %s", body.op, path.agent_id, _who(request), status)
    return reply({"agent": path.agent_id, "op": body.op, "status": status, "state": agent.state,
                  "reason": agent.reason}, ForceAnswer)


@route("POST", "/api/supervision/calls/{linkedid}/hangup", "end a call in an emergency (every channel; audited)",
       Answer(200, "the channels ended", HangupAnswer), errors=(404,))
async def hangup_call(request: web.Request, path: CallPath, body: HangupBody) -> web.Response:
    try:
        channels = await request.app[ENGINE].supervise("hangup", linkedid=path.linkedid, reason=body.reason,
                                                       by=_who(request))
    except SupervisionError as exc:
        return _refusal(exc)
    log.warning("emergency hang-up of call %s by %s", path.linkedid, _who(request))
    return reply({"linkedid": path.linkedid, "channels": list(channels)}, HangupAnswer)


@route("GET", "/api/supervision/audit", "supervisors' forced steps and emergency hang-ups, newest first",
       Answer(200, "the entries", list[AuditView]))
async def audit(request: web.Request, query: AuditQuery) -> web.Response:
    rows = await request.app[SUPERVISION_STORE].audit(actor=query.actor, target=query.target, limit=query.limit)
    return reply(rows, list[AuditView])


def block_view(block: BlockView) -> dict[str, Any]:
    return {"address": block.address, "since": _epoch_time(block.since), "until": _epoch_time(block.until),
            "failures": block.failures, "accounts": list(block.accounts)}


@route("GET", "/api/supervision/blocks", "addresses blocked now for floods of refused registrations, oldest "
       "first; each expires by itself", Answer(200, "the blocks", list[BlockedView]))
async def blocks(request: web.Request) -> web.Response:
    return reply([block_view(b) for b in request.app[ENGINE].blocks()], list[BlockedView])


@route("POST", "/api/supervision/blocks/{address}/lift", "lift a block before it expires (audited)",
       Answer(200, "the block lifted", BlockedView), errors=(404,))
async def lift_block(request: web.Request, path: BlockPath, body: LiftBody) -> web.Response:
    try:
        block = await request.app[ENGINE].supervise("unblock", address=path.address, reason=body.reason,
                                                    by=_who(request))
    except SupervisionError as exc:
        return _refusal(exc)
    return reply(block_view(block), BlockedView)


def add_supervision(app: web.Application, store: SupervisionStore, phone_registered: Callable[[str], Awaitable[bool]],
                    supervisors: Sequence[SupervisorConfig]) -> None:
    """The supervision routes on an app made by web.api.make_app; the OpenAPI document lists them."""
    app[SUPERVISION_STORE] = store
    app[PHONE_REGISTERED] = phone_registered
    app[SUPERVISORS] = {s.supervisor_id: s for s in supervisors}
    if SERVED not in app:
        app[SERVED] = []
    app[SERVED].extend(route.add_to(app))
