"""The supervision API served as the controller serves it (tests/web/served_api.py): a forced
pause of an agent off a call is applied at once with the reason naming the supervisor (the
audit row: tests/acd/test_supervise_replay.py, tests/integration/test_supervision.py);
sessions and audit read back; the OpenAPI document lists every supervision route as
supervisors-only. (Monitoring a live call: tests/integration/test_supervision.py.)"""

from __future__ import annotations

from pathlib import Path

import aiohttp

from acd import supervision as sv
from tests.web.served_api import SUPERVISOR_NAME, serve_api


async def test_a_forced_pause_of_an_agent_off_a_call_is_applied_and_named(tmp_path: Path) -> None:
    async with serve_api(tmp_path) as served:
        await served.engine.request("login", "agent1002")  # paused (login); a ready one gets the seeded callback
        async with aiohttp.ClientSession(served.url, headers=served.headers()) as http:
            resp = await http.post("/api/supervision/agents/agent1002/force",
                                   json={"op": "pause", "reason": "临时会议", "pause_reason": "meeting"})
            assert resp.status == 200, await resp.text()
            assert await resp.json() == {"agent": "agent1002", "op": "pause", "status": "applied", "state": "paused",
                                         "reason": f"meeting (forced: {SUPERVISOR_NAME})"}
            agents = {a["agent_id"]: a for a in await (await http.get("/api/agents")).json()}
            assert (agents["agent1002"]["state"], agents["agent1002"]["reason"]) == (
                "paused", f"meeting (forced: {SUPERVISOR_NAME})")
            resp = await http.post("/api/supervision/agents/agent1002/force", json={"op": "logout", "reason": "下班"})
            assert (await resp.json())["state"] == "logged_out"
            assert (await http.get("/api/monitor")).status == 200
            assert await (await http.get("/api/monitor")).json() == []


async def test_supervisors_see_a_flooding_address_blocked_and_can_lift_it_agents_cannot(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from acd import events as ev

    async with serve_api(tmp_path) as served:
        at = datetime.now(timezone.utc)
        for n in range(served.engine.guard.threshold):
            served.engine.submit(ev.SecurityFailure(at, "InvalidAccountID", f"scan{n}", "2001:db8::7"))
        await served.engine.drained()
        async with aiohttp.ClientSession(served.url, headers=served.headers()) as http:
            [block] = await (await http.get("/api/supervision/blocks")).json()
            assert (block["address"], block["failures"], block["accounts"]) == (
                "2001:db8::7", 5, ["scan0", "scan1", "scan2", "scan3", "scan4"])
            since, until = (datetime.fromisoformat(block[k]) for k in ("since", "until"))
            assert (until - since).total_seconds() == served.engine.guard.block_for
            async with aiohttp.ClientSession(served.url, headers=served.headers("agent")) as agent:
                assert (await agent.get("/api/supervision/blocks")).status == 403
                resp = await agent.post("/api/supervision/blocks/2001:db8::7/lift", json={"reason": "x"})
                assert resp.status == 403 and "2001:db8::7" in served.engine.guard.blocked
            for address, body, status, code in (
                    ("2001:db8::7", {"reason": "  "}, 400, None),  # a reason is required
                    ("not-an-address", {"reason": "x"}, 404, "not-blocked"),
                    ("198.51.100.1", {"reason": "x"}, 404, "not-blocked")):
                resp = await http.post(f"/api/supervision/blocks/{address}/lift", json=body)
                assert resp.status == status, (address, await resp.text())
                if code:
                    assert (await resp.json())["error"] == code
            assert "2001:db8::7" in served.engine.guard.blocked  # the refusals changed nothing
            # written the long way, as the firewall would not: the same address
            resp = await http.post("/api/supervision/blocks/2001:0db8:0:0::7/lift", json={"reason": "坐席家里"})
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["address"] == "2001:db8::7"
            assert await (await http.get("/api/supervision/blocks")).json() == []
            assert "2001:db8::7" not in served.engine.guard.blocked


async def test_the_openapi_document_lists_the_supervision_routes_for_supervisors_only(tmp_path: Path) -> None:
    async with serve_api(tmp_path) as served:
        async with aiohttp.ClientSession(served.url) as http:
            document = await (await http.get("/api/openapi.json")).json()
    paths = document["paths"]
    for path, method in (("/api/monitor", "post"), ("/api/monitor", "get"), ("/api/monitor/{session_id}/mode", "post"),
                         ("/api/monitor/{session_id}/stop", "post"), ("/api/supervision/agents/{agent_id}/force", "post"),
                         ("/api/supervision/calls/{linkedid}/hangup", "post"), ("/api/supervision/audit", "get"),
                         ("/api/supervision/blocks", "get"), ("/api/supervision/blocks/{address}/lift", "post")):
        operation = paths[path][method]
        assert "403" in operation["responses"] and "supervisors only" in operation["description"].lower(), (path, method)
    assert set(paths["/api/monitor"]["post"]["responses"]) >= {"201", "400", "401", "403", "404", "409"}
    assert sv.PHONE_NOT_REGISTERED == "phone-not-registered"
