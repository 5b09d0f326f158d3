"""Who hears which recording, served as the controller serves it (tests/web/served_api.py):

- a supervisor and a quality inspector hear any call; an agent only their own, and gets 403 on
  another agent's — refused, and the refusal logged;
- a range request returns exactly those bytes of the file (a player seeking), a range past the
  end 416, and each request is in the access log with who, what, the range and the answer;
- a file changed on disk after conversion is refused (409 recording-corrupt) and audited;
- a recording still converting, failed or deleted by retention says so (409, 409, 410);
- a legal hold is for supervisors, is audited, and cannot be placed twice or on no order.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp

from acd.records import CallRecord, Disposition
from recordings.store import RecordingStore
from tests.web.recorded import recorded
from tests.web.served_api import AGENT_ID, SUPERVISOR_NAME, Served, recordings_config, serve_api
from web.access import Role, add_token

OTHER_AGENT = "agent1002"
INSPECTOR = "qa.zhou"


async def _recorded(served: Served, tmp_path: Path, linkedid: str, agent: str, seconds: float = 3.0) -> Path:
    return await recorded(served.records, served.recording_store, recordings_config(tmp_path), linkedid, agent, seconds)


def _token(tmp_path: Path, role: Role, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {add_token(str(tmp_path / 'api-tokens'), role, name)}"}


async def _log(served: Served, linkedid: str) -> list[tuple[str, str, str, int]]:
    entries = await served.recording_store.accesses(linkedid=linkedid)
    return [(e.name, e.what, e.byte_range, e.status) for e in reversed(entries)]


async def test_an_agent_hears_their_own_calls_and_gets_403_on_another_agents(tmp_path: Path) -> None:
    async with serve_api(tmp_path) as served:
        mine = await _recorded(served, tmp_path, "rec-mine-1", AGENT_ID)
        await _recorded(served, tmp_path, "rec-other-1", OTHER_AGENT)
        async with aiohttp.ClientSession(served.url, headers=served.headers("agent")) as agent:
            listed = [r["linkedid"] for r in await (await agent.get("/api/recordings")).json()]
            assert listed == ["rec-mine-1"]  # the listing keeps to their own calls
            asked = [r["linkedid"] for r in await (await agent.get(f"/api/recordings?agent={OTHER_AGENT}")).json()]
            assert asked == ["rec-mine-1"]  # naming another agent does not widen it
            resp = await agent.get("/api/recordings/rec-other-1/audio")
            assert resp.status == 403 and (await resp.json())["error"] == "forbidden"
            assert (await agent.get("/api/recordings/rec-other-1")).status == 403
            resp = await agent.get("/api/recordings/rec-mine-1/audio")
            assert resp.status == 200 and await resp.read() == mine.read_bytes()
            assert resp.headers["Content-Type"] == "audio/ogg"
            assert (await agent.get("/api/recordings/access")).status == 403  # the log is for supervisors
        assert await _log(served, "rec-other-1") == [(AGENT_ID, "audio", "", 403), (AGENT_ID, "details", "", 403)]
        assert await _log(served, "rec-mine-1") == [(AGENT_ID, "audio", "", 200)]


async def test_supervisors_and_inspectors_hear_any_call_inspectors_nothing_else(tmp_path: Path) -> None:
    async with serve_api(tmp_path) as served:
        other = await _recorded(served, tmp_path, "rec-other-2", OTHER_AGENT)
        inspector = _token(tmp_path, Role.INSPECTOR, INSPECTOR)
        for headers, name in ((served.headers(), SUPERVISOR_NAME), (inspector, INSPECTOR)):
            async with aiohttp.ClientSession(served.url, headers=headers) as http:
                resp = await http.get("/api/recordings/rec-other-2/audio")
                assert resp.status == 200 and hashlib.sha256(await resp.read()).hexdigest() == \
                    hashlib.sha256(other.read_bytes()).hexdigest()
                details = await (await http.get("/api/recordings/rec-other-2")).json()
                assert details["agent"] == OTHER_AGENT and details["state"] == "done" and details["silent"] is False
                assert details["audio"] == "/api/recordings/rec-other-2/audio"
                assert abs(details["duration"] - 3.0) <= 0.5
        async with aiohttp.ClientSession(served.url, headers=inspector) as http:
            for path in ("/api/agents", "/api/orders", "/api/calls", "/api/recordings/access", "/api/supervision/audit"):
                assert (await http.get(path)).status == 403, path  # quality review: recordings only
            assert (await http.get("/api/session")).status != 403
        names = [e[0] for e in await _log(served, "rec-other-2")]
        assert names == [SUPERVISOR_NAME, SUPERVISOR_NAME, INSPECTOR, INSPECTOR]


async def test_a_range_request_returns_exactly_those_bytes_and_each_is_logged(tmp_path: Path) -> None:
    async with serve_api(tmp_path) as served:
        path = await _recorded(served, tmp_path, "rec-range", AGENT_ID, seconds=8.0)
        data = path.read_bytes()
        async with aiohttp.ClientSession(served.url, headers=served.headers()) as http:
            resp = await http.get("/api/recordings/rec-range/audio", headers={"Range": "bytes=100-1099"})
            assert resp.status == 206 and await resp.read() == data[100:1100]
            assert resp.headers["Content-Range"] == f"bytes 100-1099/{len(data)}"
            resp = await http.get("/api/recordings/rec-range/audio", headers={"Range": "bytes=-64"})
            assert resp.status == 206 and await resp.read() == data[-64:]
            resp = await http.get("/api/recordings/rec-range/audio", headers={"Range": f"bytes={len(data) - 10}-"})
            assert resp.status == 206 and await resp.read() == data[-10:]
            resp = await http.get("/api/recordings/rec-range/audio", headers={"Range": f"bytes={len(data) + 5}-"})
            assert resp.status == 416
            resp = await http.get("/api/recordings/rec-range/audio?download=true")
            assert resp.status == 200 and "attachment" in resp.headers["Content-Disposition"]
            assert resp.headers["Content-Disposition"].endswith('rec-range.opus"')
            logged = await (await http.get("/api/recordings/access?linkedid=rec-range")).json()
        assert await _log(served, "rec-range") == [
            (SUPERVISOR_NAME, "audio", "bytes=100-1099", 206), (SUPERVISOR_NAME, "audio", "bytes=-64", 206),
            (SUPERVISOR_NAME, "audio", f"bytes={len(data) - 10}-", 206),
            (SUPERVISOR_NAME, "audio", f"bytes={len(data) + 5}-", 416), (SUPERVISOR_NAME, "download", "", 200)]
        assert len(logged) == 5 and {e["role"] for e in logged} == {"supervisor"}


async def test_a_file_changed_on_disk_is_refused_as_corrupt_and_audited(tmp_path: Path) -> None:
    async with serve_api(tmp_path) as served:
        path = await _recorded(served, tmp_path, "rec-corrupt", AGENT_ID)
        async with aiohttp.ClientSession(served.url, headers=served.headers()) as http:
            assert (await http.get("/api/recordings/rec-corrupt/audio")).status == 200  # verified once
            data = bytearray(path.read_bytes())
            data[len(data) // 2] ^= 0xFF
            path.write_bytes(bytes(data))
            resp = await http.get("/api/recordings/rec-corrupt/audio")
            assert resp.status == 409 and (await resp.json())["error"] == "recording-corrupt"
            audit = await (await http.get("/api/recordings/audit")).json()
        assert [(a["action"], a["target"]) for a in audit] == [("corrupt", "rec-corrupt")]
        assert (await _log(served, "rec-corrupt"))[-1][3] == 409


async def test_recordings_not_ready_failed_deleted_or_unknown_say_so(tmp_path: Path) -> None:
    async with serve_api(tmp_path) as served:
        store: RecordingStore = served.recording_store
        now = datetime.now(timezone.utc)
        await served.records.write_many([CallRecord(
            f"rec-{state}", "13800009999", "", "12345", now - timedelta(minutes=3), now - timedelta(minutes=3),
            now - timedelta(minutes=1), Disposition.ANSWERED, 16, recording=f"{now:%Y%m%d}/rec-{state}.wav",
            agent=AGENT_ID, talk_time=60.0) for state in ("pending", "failed", "deleted")])
        await store.note_new_calls(0, now)
        await store.attempt_failed("rec-failed", "not-wav: no RIFF/WAVE header", now, None)
        await store.deleted("rec-deleted", now, "kept 180 days")
        async with aiohttp.ClientSession(served.url, headers=served.headers()) as http:
            for linkedid, status, code in (("rec-pending", 409, "recording-not-ready"),
                                           ("rec-failed", 409, "recording-failed"),
                                           ("rec-deleted", 410, "recording-deleted"),
                                           ("no-such-call", 404, "unknown-recording")):
                resp = await http.get(f"/api/recordings/{linkedid}/audio")
                assert (resp.status, (await resp.json())["error"]) == (status, code), linkedid
                assert (await _log(served, linkedid))[-1][3] == status
            resp = await http.get("/api/recordings/..%2F..%2Fetc%2Fpasswd/audio")
            assert resp.status == 404
            details = await (await http.get("/api/recordings/rec-failed")).json()
            assert details["audio"] == "" and details["error"].startswith("not-wav")


async def test_legal_holds_are_for_supervisors_audited_and_checked(tmp_path: Path) -> None:
    async with serve_api(tmp_path) as served:
        order = served.seeded["new"]
        async with aiohttp.ClientSession(served.url, headers=served.headers("agent")) as agent:
            assert (await agent.post("/api/recordings/holds", json={"number": order, "reason": "x"})).status == 403
        async with aiohttp.ClientSession(served.url, headers=served.headers()) as http:
            resp = await http.post("/api/recordings/holds", json={"number": order, "reason": "市民投诉争议，法务调取"})
            assert resp.status == 201 and (await resp.json())["held_by"] == SUPERVISOR_NAME
            again = await http.post("/api/recordings/holds", json={"number": order, "reason": "again"})
            assert (again.status, (await again.json())["error"]) == (409, "already-held")
            none = await http.post("/api/recordings/holds", json={"number": "3301-20260101-999999", "reason": "x"})
            assert (none.status, (await none.json())["error"]) == (404, "unknown-order")
            blank = await http.post("/api/recordings/holds", json={"number": order, "reason": "  "})
            assert blank.status == 400
            assert [h["number"] for h in await (await http.get("/api/recordings/holds")).json()] == [order]
            released = await http.post(f"/api/recordings/holds/{order}/release", json={"reason": "争议已结"})
            assert released.status == 204
            twice = await http.post(f"/api/recordings/holds/{order}/release", json={"reason": "x"})
            assert (twice.status, (await twice.json())["error"]) == (404, "not-held")
            audit = await (await http.get("/api/recordings/audit")).json()
        assert [(a["action"], a["target"], a["actor"]) for a in audit] == [
            ("release", order, SUPERVISOR_NAME), ("hold", order, SUPERVISOR_NAME)]
