"""The live events websocket (issue 17): `GET /api/events` on the controller's HTTP server.

Authenticated as the API is (a bearer token; the route is open to agents and supervisors) and
filtered by role: a supervisor gets every fact, an agent only those of their own seat and calls
(never another agent's call). Callers' numbers are masked as in the API.

On connect the server sends one `snapshot` (what is live now: agents, calls, desks; `stream`
and `seq` name the point it stands for), then each fact as an `event` with its sequence number.
A client that lost its socket reconnects with `?stream=<stream>&since=<seq>` and gets exactly the
facts after `seq` (a `resumed` message first), or a fresh snapshot if those are no longer kept
or the controller restarted since (another `stream`). A client that falls too far behind is
closed with code 1013 and reason `too-slow`: it reconnects and resumes; the engine never waits.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from dataclasses import asdict
from typing import Any

from aiohttp import WSMsgType, web

from acd.privacy import mask_number
from events.stream import EventFact, EventStream, Subscription
from web.access import GRANT, Grant, Role
from web.routes import error

log = logging.getLogger("events.websocket")

ROUTE = "/api/events"
BAD_RESUME = "bad-resume"  # since/stream that are not a sequence number and a stream name
NOT_A_WEBSOCKET = "websocket-required"
TRY_AGAIN_LATER = 1013  # RFC 6455's close code for a client cut off for being too slow
RESYNC = "resync"  # the close reason for a client whose resume point the hub lost: reconnect without it


def visible(fact: EventFact, grant: Grant | None) -> bool:
    """A supervisor (or an app without access control) sees everything; an agent their own seat."""
    return grant is None or grant.role is Role.SUPERVISOR or fact.agent_id == grant.name


def wire(fact: EventFact) -> dict[str, Any]:
    data = dict(fact.data)
    if data.get("number"):
        data["number"] = mask_number(str(data["number"]))
    return {"type": "event", "seq": fact.seq, "kind": fact.kind, "at": fact.at, "agent": fact.agent_id,
            "linkedid": fact.linkedid, "data": data}


def snapshot(engine: Any, grant: Grant | None) -> dict[str, Any]:
    """What is live now, as the grant may see it."""
    agents = [asdict(a) for a in engine.agent_views()]
    calls = [{"linkedid": c.linkedid, "state": c.state, "caller": mask_number(c.caller_number),
              "dialed": c.dialed_number, "desk": c.desk, "arrived_at": c.arrived_at.timestamp(),
              "answered_at": c.answered_at.timestamp() if c.answered_at else None} for c in engine.snapshot()]
    if grant is not None and grant.role is not Role.SUPERVISOR:
        own = [a for a in agents if a["agent_id"] == grant.name]
        mine = {a["call_id"] for a in own if a["call_id"]}
        return {"agents": own, "calls": [c for c in calls if c["linkedid"] in mine], "desks": {}}
    return {"agents": agents, "calls": calls, "desks": engine.desk_figures()}


class Encoded:
    """Each fact encoded once for every client (the wire form is the same for every role: only
    which facts a client gets differs), the last `kept` of them."""

    def __init__(self, kept: int = 8192) -> None:
        self._texts: OrderedDict[int, str] = OrderedDict()
        self._kept = kept

    def __call__(self, fact: EventFact) -> str:
        text = self._texts.get(fact.seq)
        if text is None:
            text = self._texts[fact.seq] = json.dumps(wire(fact), ensure_ascii=False)
            if len(self._texts) > self._kept:
                self._texts.popitem(last=False)
        return text


def opening(stream: EventStream, engine: Any, grant: Grant | None, since: str | None,
            named: str) -> tuple[str, int]:
    """The first message for a client and the sequence number it stands for: a resume when the
    stream still holds every fact after `since` (of this life), else a snapshot of now."""
    if since is not None and named == stream.name and stream.holds(int(since)):
        return json.dumps({"type": "resumed", "stream": stream.name, "seq": int(since)}), int(since)
    first = {"type": "snapshot", "stream": stream.name, "seq": stream.seq, **snapshot(engine, grant)}
    return json.dumps(first, ensure_ascii=False, default=str), stream.seq


def add_events(app: web.Application, stream: EventStream, engine: Any, hub: Any = None) -> None:
    """Serve the websocket on `app` (web/access.py's rules open it to both roles). With `hub`
    (events/hub.py's link) the controller checks the request and writes the first message, and
    the hub process serves the socket from then on."""
    encoded = Encoded()

    async def events(request: web.Request) -> web.StreamResponse:
        grant = request.get(GRANT)
        since, named = request.query.get("since"), request.query.get("stream", "")
        if since is not None and not (since.isascii() and since.isdigit() and len(since) <= 18):
            return _refuse(BAD_RESUME, "since must be the sequence number of the last event received")
        if not web.WebSocketResponse().can_prepare(request).ok:
            return _refuse(NOT_A_WEBSOCKET, "connect with a websocket (Upgrade: websocket)")
        first, after = opening(stream, engine, grant, since, named)
        if hub is not None:
            handed: web.StreamResponse = await hub.hand_over(request, first, after, grant)
            return handed
        return await serve(request, stream, encoded, grant, first, after)

    app.router.add_get(ROUTE, events)


async def serve(request: web.Request, stream: EventStream, encoded: Encoded, grant: Grant | None, first: str,
                after: int) -> web.WebSocketResponse:
    """The upgrade, the first message, then every visible fact after `after`, in order, until
    either side ends or the client falls too far behind."""
    socket = web.WebSocketResponse(heartbeat=20.0, max_msg_size=4096)
    await socket.prepare(request)
    # the facts still to send: those the stream has (a backlog, sent whole) and those it will get
    backlog = stream.since(after) if after < stream.seq else []
    subscription = stream.subscribe(after=max(after, stream.seq))
    try:
        if backlog is None:  # the hub no longer holds what the controller does: start afresh
            log.error("events: a client resuming after %d, which this stream no longer holds", after)
            await socket.close(code=TRY_AGAIN_LATER, message=RESYNC.encode())
            return socket
        await socket.send_str(first)
        for fact in backlog:
            if visible(fact, grant):
                await socket.send_str(encoded(fact))
        await _forward(socket, subscription, grant, after, encoded)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        subscription.close()
        if not socket.closed:
            await socket.close()
    return socket


async def _forward(socket: web.WebSocketResponse, subscription: Subscription, grant: Grant | None,
                   last: int, encoded: Encoded) -> None:
    """Facts to the client until either side ends; a client's own messages are read (the
    heartbeat's pongs, a close) and otherwise ignored."""

    async def read() -> None:
        async for message in socket:
            if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
        subscription.close()

    reader = asyncio.create_task(read())
    try:
        async for fact in subscription:
            if fact.seq > last and visible(fact, grant):
                await socket.send_str(encoded(fact))
        if subscription.cut:
            log.warning("events: a %s client fell %s behind and was cut off (it may resume)",
                        grant.role.value if grant else "test", "too far")
            await socket.close(code=TRY_AGAIN_LATER, message=subscription.cut.encode())
    finally:
        reader.cancel()


def _refuse(code: str, detail: str) -> web.Response:
    return error(400, code, detail)
