"""Recordings API (issue 19): who may hear which call, and every hearing logged.

    GET  /api/recordings?day=&agent=&order=&state=&limit=   the calls' recordings, newest first
    GET  /api/recordings/{linkedid}                          one recording: checks, orders, its audio URL
    GET  /api/recordings/{linkedid}/audio[?download=true]    the audio; HTTP range requests (seeking, streaming)
    GET  /api/recordings/access?linkedid=&name=&limit=       who heard what, when (supervisors)
    GET  /api/recordings/audit?limit=                        deletions, holds, failures, corrupt files (supervisors)
    GET  /api/recordings/holds                               work orders on legal hold (supervisors)
    POST /api/recordings/holds {"number", "reason"}          a legal hold: the order's calls are never deleted
    POST /api/recordings/holds/{number}/release {"reason"}   lift it (audited)

Supervisors and quality inspectors (质检员, role inspector) may hear any call; an agent only the
calls they answered or were a leg of (a transfer, a three-way), and a listing shows them only
those. Every request for a recording — details, audio, download, and a refused one — is in the
access log with its answer's status. The audio's SHA-256 is checked against the store before it
is served (once per file version); a mismatch answers 409 recording-corrupt and is audited.

Refusals: unknown-recording (404), recording-not-ready (409, still converting), recording-failed
(409), recording-deleted (410, retention deleted it), recording-missing (404, the file is gone),
recording-corrupt (409), unknown-order (404), already-held (409), not-held (404).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from acd.kpis import local_day_bounds
from acd.records import legs_from_json
from recordings.config import RecordingsConfig
from recordings.media import sha256_of
from recordings.naming import under
from recordings.store import (DELETED, DONE, FAILED, NOT_HELD, UNKNOWN_ORDER, Access, Recording,
                              RecordingStore, RecordingStoreError)
from web.access import GRANT, Grant, Role
from web.api import SERVED
from web.models import (AccessQuery, AccessView, AudioQuery, HoldBody, HoldPath, HoldView, RecordingAuditQuery,
                        RecordingAuditView, RecordingPath, RecordingQuery, RecordingView, ReleaseBody)
from web.routes import Answer, RouteTable, error, reply

log = logging.getLogger("web.recordings")

RECORDING_STORE = web.AppKey("recording_store", RecordingStore)
RECORDINGS_CONFIG = web.AppKey("recordings_config", RecordingsConfig)
CITY_ZONE = web.AppKey("recordings_zone", ZoneInfo)
VERIFIED = web.AppKey("recordings_verified", OrderedDict[tuple[str, int, int, int], str])
PENDING_ACCESS = web.RequestKey("recording_access", Access)  # logged with the status the file response sends
MEDIA_TYPES = {"opus": "audio/ogg", "mp3": "audio/mpeg", "wav": "audio/wav"}
UNKNOWN_RECORDING = "unknown-recording"
NOT_READY = "recording-not-ready"
RECORDING_FAILED = "recording-failed"
RECORDING_DELETED = "recording-deleted"
RECORDING_MISSING = "recording-missing"
RECORDING_CORRUPT = "recording-corrupt"
VERIFIED_KEPT = 1024  # file versions whose checksum was verified, remembered
route = RouteTable()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _grant(request: web.Request) -> Grant:
    return request.get(GRANT) or Grant("api", Role.SUPERVISOR)  # no access control: handler tests only


def _hears_everything(grant: Grant) -> bool:
    return grant.role in (Role.SUPERVISOR, Role.INSPECTOR)


async def _took_part(store: RecordingStore, recording: Recording, agent: str) -> bool:
    """The agent answered the call or was one of its legs (a transfer, a three-way)."""
    if recording.agent == agent:
        return True
    answered, legs = await store.participants(recording.linkedid)
    return answered == agent or any(leg.role == "agent" and leg.who == agent
                                    for leg in legs_from_json(json.loads(legs or "[]")))


def _access(request: web.Request, linkedid: str, what: str, status: int = 0) -> Access:
    grant = _grant(request)
    return Access(_now(), grant.name, "admin" if grant.admin else grant.role.value, linkedid, what,
                  request.headers.get("Range", "")[:64], status)


async def _log(request: web.Request, entry: Access) -> None:
    try:
        await request.app[RECORDING_STORE].log_access(entry)
    except Exception as exc:  # the store is away: logged here; the answer is store_errors' 503
        log.error("recording access not logged (%s %s %s %d): %s", entry.name, entry.linkedid, entry.what,
                  entry.status, exc)
        raise


async def _logged(request: web.Request, linkedid: str, what: str, status: int) -> None:
    """The access log line of an answer given here (the audio's own: _log_file_response)."""
    await _log(request, _access(request, linkedid, what, status))


async def _log_file_response(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: the audio's access line, with the status actually sent (200, 206, 416 …)."""
    pending = request.get(PENDING_ACCESS)
    if pending is not None:
        with contextlib.suppress(Exception):  # _log said so; the file is already on its way
            await _log(request, dataclasses.replace(pending, status=response.status))


def _view(recording: Recording, orders: list[str]) -> dict[str, Any]:
    return {**{k: getattr(recording, k) for k in (
        "linkedid", "state", "agent", "ended_at", "talk_time", "format", "duration", "loudness", "silent",
        "sha256", "size", "attempts", "error", "converted_at", "deleted_at")},
        "orders": orders, "audio": f"/api/recordings/{recording.linkedid}/audio" if recording.state == DONE else ""}


async def _allowed(request: web.Request, linkedid: str, what: str) -> Recording | web.Response:
    """The recording, if the holder may have it; else the refusal, logged."""
    store, grant = request.app[RECORDING_STORE], _grant(request)
    recording = await store.get(linkedid)
    if recording is None:
        await _logged(request, linkedid, what, 404)
        return error(404, UNKNOWN_RECORDING, linkedid)
    if not _hears_everything(grant) and not await _took_part(store, recording, grant.name):
        await _logged(request, linkedid, what, 403)
        log.warning("recording of call %s refused to %s: not a call they took part in", linkedid, grant.name)
        return error(403, "forbidden", "an agent hears only the calls they took part in")
    return recording


@route("GET", "/api/recordings", "the calls' recordings, newest first (an agent's: their own)",
       Answer(200, "recordings", list[RecordingView]))
async def list_recordings(request: web.Request, query: RecordingQuery) -> web.Response:
    store, grant = request.app[RECORDING_STORE], _grant(request)
    agent = query.agent if _hears_everything(grant) else grant.name
    since = until = None
    if query.day is not None:
        since, until = local_day_bounds(query.day, request.app[CITY_ZONE])
    found = await store.listing(since=since, until=until, agent=agent, state=query.state, order=query.order,
                                limit=query.limit)
    return reply([_view(r, []) for r in found], list[RecordingView])


@route("GET", "/api/recordings/{linkedid}", "one call's recording: its checks, its orders, its audio URL",
       Answer(200, "the recording", RecordingView), errors=(403, 404))
async def recording_details(request: web.Request, path: RecordingPath) -> web.Response:
    found = await _allowed(request, path.linkedid, "details")
    if isinstance(found, web.Response):
        return found
    await _logged(request, path.linkedid, "details", 200)
    return reply(_view(found, await request.app[RECORDING_STORE].orders_of(path.linkedid)), RecordingView)


async def _verified(request: web.Request, recording: Recording, path: Any) -> bool | None:
    """True if the file's SHA-256 is the stored one, False if not, None if there is no file.
    Hashed off the event loop, once per file version (inode, size, mtime)."""
    try:
        stat = await asyncio.to_thread(path.stat)
    except FileNotFoundError:
        return None
    key = (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    verified = request.app[VERIFIED]
    if verified.get(key) == recording.sha256:
        verified.move_to_end(key)
        return True
    digest = await asyncio.to_thread(sha256_of, path)
    if digest != recording.sha256:
        return False
    verified[key] = digest
    while len(verified) > VERIFIED_KEPT:
        verified.popitem(last=False)
    return True


@route("GET", "/api/recordings/{linkedid}/audio", "the call's audio (range requests served; checksum checked)",
       Answer(200, "the whole file", None, media="audio/ogg"), Answer(206, "the range asked for", None, media="audio/ogg"),
       errors=(403, 404, 409, 410, 416))
async def recording_audio(request: web.Request, path: RecordingPath, query: AudioQuery) -> web.StreamResponse:
    what = "download" if query.download else "audio"
    found = await _allowed(request, path.linkedid, what)
    if isinstance(found, web.Response):
        return found
    refusal = {DELETED: (410, RECORDING_DELETED, "retention deleted it"),
               FAILED: (409, RECORDING_FAILED, found.error or "the conversion failed")}.get(
        found.state, (409, NOT_READY, "being converted") if found.state != DONE else None)
    if refusal is not None:
        await _logged(request, path.linkedid, what, refusal[0])
        return error(*refusal)
    config, store = request.app[RECORDINGS_CONFIG], request.app[RECORDING_STORE]
    file = under(config.converted_dir, found.file)
    verified = await _verified(request, found, file)
    if verified is None:
        await _logged(request, path.linkedid, what, 404)
        log.error("recording of call %s: the file %s is gone", path.linkedid, found.file)
        return error(404, RECORDING_MISSING, "the file is gone")
    if not verified:
        await _logged(request, path.linkedid, what, 409)
        await store.note_corrupt(path.linkedid, f"{found.file}: SHA-256 differs from the stored one", _now())
        log.error("recording of call %s: %s does not match its stored SHA-256 (changed or damaged on disk)",
                  path.linkedid, found.file)
        return error(409, RECORDING_CORRUPT, "the file does not match its checksum")
    request[PENDING_ACCESS] = _access(request, path.linkedid, what)
    headers = {"Content-Type": MEDIA_TYPES.get(found.format, "application/octet-stream"),
               "Cache-Control": "private, no-store", "X-Content-SHA256": found.sha256}
    if query.download:
        headers["Content-Disposition"] = f'attachment; filename="{path.linkedid}{config.suffix}"'
    return web.FileResponse(file, headers=headers)


@route("GET", "/api/recordings/access", "who heard which recording, when (newest first)",
       Answer(200, "access log", list[AccessView]))
async def access_log(request: web.Request, query: AccessQuery) -> web.Response:
    entries = await request.app[RECORDING_STORE].accesses(linkedid=query.linkedid, name=query.name, limit=query.limit)
    return reply(entries, list[AccessView])


@route("GET", "/api/recordings/audit", "deletions, legal holds, failed conversions, corrupt files",
       Answer(200, "the recordings' audit", list[RecordingAuditView]))
async def recording_audit(request: web.Request, query: RecordingAuditQuery) -> web.Response:
    return reply(await request.app[RECORDING_STORE].audit(limit=query.limit), list[RecordingAuditView])


@route("GET", "/api/recordings/holds", "work orders on legal hold", Answer(200, "holds", list[HoldView]))
async def list_holds(request: web.Request) -> web.Response:
    return reply(await request.app[RECORDING_STORE].holds(), list[HoldView])


@route("POST", "/api/recordings/holds", "put a work order on legal hold: its calls' recordings are kept",
       Answer(201, "held", HoldView), errors=(404, 409))
async def add_hold(request: web.Request, body: HoldBody) -> web.Response:
    try:
        hold = await request.app[RECORDING_STORE].hold(body.number, _grant(request).name, body.reason, _now())
    except RecordingStoreError as exc:
        return error(404 if exc.code == UNKNOWN_ORDER else 409, exc.code, body.number)
    log.info("legal hold on order %s by %s", body.number, hold.held_by)
    return reply(hold, HoldView, status=201)


@route("POST", "/api/recordings/holds/{number}/release", "lift a legal hold (retention applies again)",
       Answer(204, "released"), errors=(404,))
async def release_hold(request: web.Request, path: HoldPath, body: ReleaseBody) -> web.Response:
    try:
        await request.app[RECORDING_STORE].release(path.number, _grant(request).name, body.reason, _now())
    except RecordingStoreError as exc:
        return error(404 if exc.code == NOT_HELD else 409, exc.code, path.number)
    log.info("legal hold on order %s released by %s", path.number, _grant(request).name)
    return web.Response(status=204)


def add_recordings(app: web.Application, store: RecordingStore, config: RecordingsConfig, zone: ZoneInfo) -> None:
    """The recordings routes on an app made by web.api.make_app; the OpenAPI document lists them."""
    app[RECORDING_STORE] = store
    app[RECORDINGS_CONFIG] = config
    app[CITY_ZONE] = zone
    app[VERIFIED] = OrderedDict()
    app.on_response_prepare.append(_log_file_response)
    if SERVED not in app:
        app[SERVED] = []
    app[SERVED].extend(route.add_to(app))

