"""Supervision on the real sandbox (issue 15, items 6 and 7): a baresip citizen calls 12345,
agent1001 (baresip) answers, the supervisor's baresip phone (super2001) listens, whispers and
barges; DTMF 5/6/4 from the supervisor's phone switches the mode; an agent's token is refused;
the monitoring log in the store carries what happened; a forced pause waits for the call's end;
an emergency hang-up ends the call and is audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiohttp
import pytest

from devtools import sandbox
from devtools.phones import PhoneSpec
from web.access import Role, add_token

from .conftest import agent, running, wait_until, with_http


def spy_channels(paths: sandbox.SandboxPaths) -> dict[str, str]:
    """Supervisors' channels running ChanSpy, with the application's data (`target,options`),
    as `core show channels concise` shows them (channel!context!exten!prio!state!app!data!…)."""
    found = {}
    for line in sandbox.cli(paths, "core show channels concise").splitlines():
        fields = line.split("!")
        if len(fields) > 6 and fields[0].startswith("PJSIP/super") and fields[5] == "ChanSpy":
            found[fields[0]] = fields[6]
    return found


def options_of(paths: sandbox.SandboxPaths) -> set[str]:
    return {data.rsplit(",", 1)[-1] for data in spy_channels(paths).values()}


def state(ctl: Any, agent_id: str) -> tuple[str, str]:
    a = next(a for a in ctl.engine.agents() if a.agent_id == agent_id)
    return a.state, a.reason


def live(ctl: Any) -> list[Any]:
    return list(ctl.engine.supervision.live.values())


async def test_given_a_citizen_talking_to_an_agent_then_a_supervisor_listens_whispers_and_barges(
        acd_config, phones, sip_password, sandbox_paths, tmp_path) -> None:
    config, port, agent_headers = with_http(acd_config, tmp_path)
    supervisor_headers = {"Authorization": f"Bearer {add_token(config.http.tokens, Role.SUPERVISOR, 'super2001')}"}
    async with running(config) as ctl:
        a1 = await agent(phones, 1001, sip_password)
        boss = await phones.add(PhoneSpec("super2001", "super2001", password=sip_password, auto_answer=True))
        await ctl.engine.request("login", "agent1001")
        await ctl.engine.request("ready", "agent1001")
        citizen = await phones.add(PhoneSpec("citizen", "13815150000", "蒋十五"))
        await citizen.dial("12345")
        await a1.wait_event("CALL_ESTABLISHED", timeout=15)
        await wait_until(lambda: state(ctl, "agent1001")[0] == "on_call", what="agent1001 on the call")
        linkedid = next(a.call_id for a in ctl.engine.agents() if a.agent_id == "agent1001")
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(base, headers=agent_headers) as as_agent, \
                aiohttp.ClientSession(base, headers=supervisor_headers) as http:
            # an agent may not monitor: 403, and nothing is spied
            resp = await as_agent.post("/api/monitor", json={"agent": "agent1001", "mode": "listen",
                                                               "supervisor": "super2001"})
            assert resp.status == 403 and (await resp.json())["error"] == "forbidden"
            assert (await as_agent.get("/api/monitor")).status == 403
            # nor from an agent's phone: [from-agents] has no monitoring code
            a2 = await agent(phones, 1002, sip_password, auto_answer=False)
            await a2.dial("*251001")
            await a2.wait_event("CALL_CLOSED", timeout=10)
            assert spy_channels(sandbox_paths) == {} and live(ctl) == []

            # bad input: 4xx with a stable code, nothing changes
            for body, status, code in (
                    ({"agent": "agent1002", "mode": "listen", "supervisor": "super2001"}, 409, "agent-not-on-call"),
                    ({"agent": "agent1001", "mode": "listen", "supervisor": "super2002"}, 409, "phone-not-registered"),
                    ({"agent": "agent1001", "mode": "listen", "supervisor": "nobody"}, 404, "unknown-supervisor"),
                    ({"agent": "agent1001", "mode": "shout", "supervisor": "super2001"}, 400, "validation-failed")):
                resp = await http.post("/api/monitor", json=body)
                assert (resp.status, (await resp.json())["error"]) == (status, code), body
            assert spy_channels(sandbox_paths) == {} and live(ctl) == []

            # 1. listen from the API: the supervisor's phone rings, answers, ChanSpy runs silent
            resp = await http.post("/api/monitor", json={"agent": "agent1001", "mode": "listen",
                                                          "supervisor": "super2001"})
            assert resp.status == 201, await resp.text()
            session = await resp.json()
            assert (session["supervisor"], session["agent"], session["linkedid"]) == ("super2001", "agent1001", linkedid)
            await wait_until(lambda: any(s.started_at for s in live(ctl)), what="ChanSpyStart of the session")
            await wait_until(lambda: options_of(sandbox_paths) == {"qdES"}, what="ChanSpy in listen mode")
            [data] = spy_channels(sandbox_paths).values()
            assert data.startswith("PJSIP/agent1001-")  # spying on the agent's own channel
            again = await http.post("/api/monitor", json={"agent": "agent1001", "mode": "barge",
                                                           "supervisor": "super2001"})
            assert (again.status, (await again.json())["error"]) == (409, "already-monitoring")

            # 2. DTMF from the supervisor's phone: 5 whisper, 6 barge, 4 listen (ChanSpy's d option)
            [spy] = live(ctl)
            for digit, mode in (("5", "whisper"), ("6", "barge"), ("4", "listen")):
                await boss.send_dtmf(digit)
                await wait_until(lambda: spy.mode.value == mode, what=f"DTMF {digit} -> {mode}")

            # 3. the API's mode switch restarts ChanSpy with the mode's option
            for mode, option in (("whisper", "qdESw"), ("barge", "qdESB")):
                resp = await http.post(f"/api/monitor/{session['session_id']}/mode", json={"mode": mode})
                assert resp.status == 200 and (await resp.json())["mode"] == mode
                await wait_until(lambda: options_of(sandbox_paths) == {option}, what=f"ChanSpy in {mode} mode")
            resp = await http.post(f"/api/monitor/{session['session_id']}/stop")
            assert resp.status == 200
            await wait_until(lambda: not live(ctl) and not spy_channels(sandbox_paths), what="the session's end")

            # 4. from the phone: *26<seat> whisper, *27<seat> barge, each its own ChanSpy
            await boss.wait_event("CALL_CLOSED", timeout=10)
            for code, mode, option in (("*261001", "whisper", "qdESw"), ("*271001", "barge", "qdESB")):
                await boss.dial(code)
                await wait_until(lambda: options_of(sandbox_paths) == {option}, what=f"{code}: ChanSpy in {mode}")
                await wait_until(lambda: any(s.started_at for s in live(ctl)), what=f"{code}: the session began")
                [phone_session] = live(ctl)
                assert (phone_session.source, phone_session.mode.value) == ("phone", mode)
                await boss.hangup()
                await wait_until(lambda: not live(ctl), what=f"{code}: the session's end")
                await boss.wait_event("CALL_CLOSED", timeout=10)

            # the monitoring log: who, whom, which call, the modes in order, how long
            await ctl.supervision_saver.flush()
            log = await (await http.get("/api/monitor", params={"agent": "agent1001"})).json()
            assert [s["source"] for s in log] == ["phone", "phone", "api"]
            api_log = log[-1]
            assert [m["mode"] for m in api_log["modes"]] == ["listen", "whisper", "barge", "listen", "whisper", "barge"]
            assert (api_log["supervisor"], api_log["linkedid"], api_log["live"]) == ("super2001", linkedid, False)
            spied = datetime.fromisoformat(api_log["ended_at"]) - datetime.fromisoformat(api_log["started_at"])
            assert api_log["duration"] == pytest.approx(spied.total_seconds(), abs=0.01) and 0.3 < api_log["duration"] < 60
            switches = [datetime.fromisoformat(m["began_at"]) for m in api_log["modes"]]
            assert switches == sorted(switches) and switches[0] == datetime.fromisoformat(api_log["started_at"])
            assert [s["modes"][0]["mode"] for s in log[:2]] == ["barge", "whisper"]
            stored = await ctl.supervision_store.sessions(agent="agent1001")
            assert {s.session_id for s in stored} == {s["session_id"] for s in log}
            assert all(s.ended_at and s.started_at and s.duration is not None for s in stored)

            # a forced pause while the agent talks waits for the call's end; an emergency
            # hang-up ends the call; both are in the audit
            resp = await as_agent.post("/api/supervision/agents/agent1001/force",
                                       json={"op": "pause", "reason": "质检", "pause_reason": "training"})
            assert resp.status == 403
            resp = await http.post("/api/supervision/agents/agent1001/force",
                                   json={"op": "pause", "reason": "质检", "pause_reason": "training"})
            assert (resp.status, (await resp.json())["status"]) == (200, "pending")
            assert state(ctl, "agent1001")[0] == "on_call"
            resp = await http.post(f"/api/supervision/calls/{linkedid}/hangup", json={"reason": "威胁坐席"})
            assert resp.status == 200 and len((await resp.json())["channels"]) >= 2
            await citizen.wait_event("CALL_CLOSED", timeout=10)
            await wait_until(lambda: state(ctl, "agent1001") == ("paused", "training (forced: super2001)"),
                             what="the forced pause after the call")
            await ctl.audit_saver.flush()
            audit = await (await http.get("/api/supervision/audit")).json()
            assert [(e["action"], e["target"], e["actor"]) for e in audit] == [
                ("force_pause", "agent1001", "super2001"), ("hangup_call", linkedid, "super2001"),
                ("force_pause", "agent1001", "super2001")]
            assert audit[0]["detail"].startswith("applied after the call") and audit[2]["detail"].startswith("pending")
            unknown = await http.post(f"/api/supervision/calls/{linkedid}/hangup", json={"reason": "again"})
            assert (unknown.status, (await unknown.json())["error"]) == (404, "unknown-call")
