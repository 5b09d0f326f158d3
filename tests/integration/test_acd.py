"""The ACD on the real sandbox: baresip citizens call, baresip agents answer."""

from __future__ import annotations

import asyncio
from pathlib import Path

from acd.records import Disposition
from hotline_pbx import Controller
from devtools.phones import PhoneSpec

from .conftest import agent, wait_until


def state(ctl: Controller, agent_id: str) -> str:
    return next(a.state for a in ctl.engine.agents() if a.agent_id == agent_id)


async def ready(ctl: Controller, *agent_ids: str) -> None:
    for agent_id in agent_ids:
        await ctl.engine.request("login", agent_id)
        assert await ctl.engine.request("ready", agent_id) in ("ready", "offered")


async def test_given_ready_agents_then_a_12345_call_goes_to_the_best_skilled_and_wrap_up_follows(
        acd_controller, phones, sip_password, sandbox_paths) -> None:
    ctl = acd_controller
    a1 = await agent(phones, 1001, sip_password)  # general 3
    await agent(phones, 1002, sip_password)  # general 2, market 5
    await ready(ctl, "agent1001", "agent1002")
    citizen = await phones.add(PhoneSpec("citizen", "13811112222", "赵敏"))
    await citizen.dial("12345")
    await a1.wait_event("CALL_ESTABLISHED", timeout=15)
    await wait_until(lambda: state(ctl, "agent1001") == "on_call", what="agent1001 on the call")
    assert state(ctl, "agent1002") == "ready"
    await asyncio.sleep(0.5)
    await citizen.hangup()
    await wait_until(lambda: state(ctl, "agent1001") == "wrap_up", what="wrap-up")
    await wait_until(lambda: state(ctl, "agent1001") == "ready", timeout=5, what="ready after the desk's 2 s wrap-up")
    figures = ctl.engine.desk_figures()["general"]
    assert figures["answered"] == 1 and figures["abandoned"] == 0
    assert figures["service_level_pct"] == 100.0
    await ctl.writer.flush()
    await wait_until(lambda: ctl.engine.snapshot() == (), what="the call to end")
    await ctl.writer.flush()
    [record] = await ctl.store.by_caller("13811112222")
    assert record.disposition is Disposition.ANSWERED
    assert (record.desk, record.agent) == ("general", "agent1001")
    assert record.queue_wait is not None and 0 <= record.queue_wait < 5
    assert record.talk_time is not None and 0.3 < record.talk_time < 10
    # the recording hook: MixMonitor wrote the file the record names, and the converter kept it
    # (tests/integration/test_recordings.py listens to what is in it)
    assert record.recording.endswith(f"/{record.linkedid}.wav") or record.recording.endswith(f"/{record.linkedid}.opus")

    async def converted() -> bool:
        found = await ctl.recording_store.get(record.linkedid)
        return found is not None and found.state == "done"

    await wait_until(converted, timeout=30, what="the call's recording converted")
    kept = await ctl.recording_store.get(record.linkedid)
    assert (Path(ctl.config.recordings.converted_dir) / kept.file).stat().st_size > 0


async def test_given_12315_then_the_market_desk_expert_takes_it(acd_controller, phones, sip_password) -> None:
    ctl = acd_controller
    await agent(phones, 1001, sip_password)
    a2 = await agent(phones, 1002, sip_password)
    await ready(ctl, "agent1001", "agent1002")
    citizen = await phones.add(PhoneSpec("citizen", "13833334444", "钱七"))
    await citizen.dial("12315")
    await a2.wait_event("CALL_ESTABLISHED", timeout=15)
    assert state(ctl, "agent1002") in ("offered", "on_call") and state(ctl, "agent1001") == "ready"
    await citizen.hangup()


async def test_given_ring_no_answer_then_the_call_returns_and_the_agent_is_auto_paused_after_two_misses(
        acd_controller, phones, sip_password) -> None:
    ctl = acd_controller
    await agent(phones, 1003, sip_password, auto_answer=False)  # market 3, does not pick up
    await ready(ctl, "agent1003")
    citizen = await phones.add(PhoneSpec("citizen", "13855556666", "孙八"))
    await citizen.dial("12315")
    await wait_until(lambda: state(ctl, "agent1003") == "offered", what="the first offer")
    await wait_until(lambda: state(ctl, "agent1003") == "paused", timeout=30, what="auto-pause after 2 misses")
    agent3 = next(a for a in ctl.engine.agents() if a.agent_id == "agent1003")
    assert agent3.reason == "auto_no_answer"
    assert len(ctl.engine.acd.queue) == 1  # the caller still waits, at the head of the queue
    a2 = await agent(phones, 1002, sip_password)
    await ready(ctl, "agent1002")
    await a2.wait_event("CALL_ESTABLISHED", timeout=15)
    await citizen.hangup()


async def test_given_a_caller_waits_then_position_and_estimated_wait_are_announced(
        acd_controller, phones, sandbox_paths) -> None:
    from devtools import sandbox

    ctl = acd_controller
    sandbox.cli(sandbox_paths, "dialplan set global HOTLINE_ANNOUNCE_EVERY 2")
    try:
        citizen = await phones.add(PhoneSpec("citizen", "13899990000", "郑十一"))
        await citizen.dial("12345")  # nobody ready: the caller waits
        await wait_until(lambda: len(ctl.engine.acd.queue) == 1, what="the caller in the queue")
        [linkedid] = ctl.engine.acd.queue
        assert ctl.engine.queue_position(linkedid) == (0, 180.0)  # first in line, default handle time
        await wait_until(lambda: ("announce", "completed") in ctl.agi_link.recent, timeout=15,
                         what="an announcement played to the end")
        await citizen.hangup()
        await wait_until(lambda: linkedid not in ctl.engine.acd.queue, what="the caller to leave")
        assert ctl.engine.desk_figures()["general"]["abandoned"] == 1
        await wait_until(lambda: ctl.engine.snapshot() == (), what="the call to end")
        await ctl.writer.flush()
        [record] = await ctl.store.by_caller("13899990000")
        assert record.disposition is Disposition.ABANDONED_QUEUE and record.desk == "general"
        assert record.queue_wait is not None and record.queue_wait > 2 and record.agent == ""
    finally:
        sandbox.cli(sandbox_paths, "dialplan set global HOTLINE_ANNOUNCE_EVERY 30")


async def test_given_20_calls_for_3_desks_and_6_agents_then_each_reaches_a_skilled_agent_in_queue_order(
        acd_controller, phones, sip_password) -> None:
    """Callers queue while every agent is paused; then all six become ready. Every call must be
    answered by an agent allowed to take it (skill, or the general pool after overflow), and
    within a desk the offers must follow the order the callers queued in."""
    ctl = acd_controller
    client = ctl.ami.client
    for n in range(1001, 1007):
        await agent(phones, n, sip_password)
        await ctl.engine.request("login", f"agent{n}")
    offers: list[tuple[str, str, str, str]] = []  # (call, desk, agent, channel)
    from acd.acd import CallAnswered, OfferCall
    ctl.engine.observe(OfferCall, lambda o: offers.append((o.call_id, o.desk, o.agent_id, o.channel)))
    numbers = ["12345", "12315", "12366", "12345", "12315"] * 4
    for i, number in enumerate(numbers):
        await client.send_action("Originate", {
            "Channel": f"Local/{number}@from-trunk/n", "Application": "Wait", "Data": "120",
            "CallerID": f'"市民{i}" <1390000{i:04d}>', "Async": "true"})
        await asyncio.sleep(0.15)
    await wait_until(lambda: len(ctl.engine.acd.queue) == 20, timeout=30, what="20 callers queued")
    queued_seq = {cid: q.call.seq for cid, q in ctl.engine.acd.queue.items()}
    queued_desk = {cid: q.call.desk for cid, q in ctl.engine.acd.queue.items()}

    hangups: set[asyncio.Task[None]] = set()

    async def end_after_talk(channel: str) -> None:
        await asyncio.sleep(1.0)
        await client.send_action("Hangup", {"Channel": channel})

    def on_answer(effect) -> None:  # type: ignore[no-untyped-def]
        channel = next(o[3] for o in offers if o[0] == effect.call_id)
        task = asyncio.create_task(end_after_talk(channel))
        hangups.add(task)
        task.add_done_callback(hangups.discard)

    ctl.engine.observe(CallAnswered, on_answer)
    for n in range(1001, 1007):
        await ctl.engine.request("ready", f"agent{n}")
    await wait_until(lambda: ctl.engine.desk_figures()["general"]["answered"]
                     + ctl.engine.desk_figures()["market"]["answered"]
                     + ctl.engine.desk_figures()["enterprise"]["answered"] == 20,
                     timeout=120, what="all 20 calls answered")
    figures = ctl.engine.desk_figures()
    assert sum(f["abandoned"] for f in figures.values()) == 0
    acd_cfg = ctl.engine.acd.config
    skills = {a.agent_id: a.skills for a in acd_cfg.agents}
    for call_id, desk_name, agent_id, _ in offers:
        desk = acd_cfg.desk(desk_name)
        pool_ok = any(step.general_pool for step in desk.steps) and "general" in skills[agent_id]
        assert desk.skill in skills[agent_id] or pool_ok, (call_id, desk_name, agent_id)
    answered = offers  # no ring-no-answer here: one offer per call
    for desk_name in ("general", "market", "enterprise"):
        seqs = [queued_seq[c] for c, d, _, _ in answered if d == desk_name]
        assert seqs == sorted(seqs), (desk_name, seqs)
        assert len(seqs) == sum(1 for d in queued_desk.values() if d == desk_name)


async def test_given_an_agent_dials_the_login_code_and_keys_the_pin_then_logged_in(
        acd_controller, phones, sip_password) -> None:
    ctl = acd_controller
    phone = await agent(phones, 1002, sip_password, auto_answer=False)
    for code, expected in (("*211002", "paused"), ("*221002", "ready")):
        await phone.dial(code)
        await phone.wait_event("CALL_ESTABLISHED", timeout=10)
        await asyncio.sleep(1.5)  # "agent-pass" plays
        await phone.send_dtmf("1002#")  # RFC 2833
        await phone.wait_event("CALL_CLOSED", timeout=15)
        assert state(ctl, "agent1002") == expected
    # the feature-code calls were not taken for outbound calls: the agent is offered work
    citizen = await phones.add(PhoneSpec("citizen", "13812120000", "冯十二"))
    await citizen.dial("12315")
    await wait_until(lambda: state(ctl, "agent1002") == "offered", what="an offer after logging in by phone")
    await citizen.hangup()


async def test_given_an_agent_on_an_outbound_call_then_no_call_is_offered_to_them(
        acd_controller, phones, sip_password) -> None:
    ctl = acd_controller
    a1 = await agent(phones, 1001, sip_password, auto_answer=False)  # general 3: the best for 12345
    await agent(phones, 1006, sip_password)  # general 4 — paused, then the one left to offer to
    await ready(ctl, "agent1001")
    await ctl.engine.request("login", "agent1006")
    await a1.dial("1006")  # agent1001 calls a colleague: an outbound call
    await wait_until(lambda: state(ctl, "agent1001") == "on_call", what="agent1001 busy on an outbound call")
    citizen = await phones.add(PhoneSpec("citizen", "13813130000", "褚十三"))
    await citizen.dial("12345")
    await wait_until(lambda: len(ctl.engine.acd.queue) == 1, what="the caller queued")
    await asyncio.sleep(1.0)
    assert state(ctl, "agent1001") == "on_call"  # never rung while on a call
    await a1.hangup()
    await wait_until(lambda: state(ctl, "agent1001") in ("wrap_up", "ready", "offered"), what="agent1001 free")
    await citizen.hangup()


async def test_given_a_call_answered_by_an_agent_then_an_order_created_through_the_api_is_linked_to_its_record(
        acd_config, phones, sip_password, tmp_path) -> None:
    import aiohttp

    from .conftest import running, with_http

    config, port, headers = with_http(acd_config, tmp_path)
    async with running(config) as ctl:
        a1 = await agent(phones, 1001, sip_password)
        await ready(ctl, "agent1001")
        citizen = await phones.add(PhoneSpec("citizen", "13814140000", "卫十四"))
        await citizen.dial("12345")
        await a1.wait_event("CALL_ESTABLISHED", timeout=15)
        [call] = [c for c in ctl.engine.snapshot() if c.dialed_number == "12345"]
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", headers=headers) as http:
            resp = await http.post("/api/orders", json={
                "caller_number": "13814140000", "category": "help_request", "topic": "water",
                "area": "上城区", "content": "小区停水两天了", "linkedid": call.linkedid, "by": "agent1001"})
            assert resp.status == 201
            number = (await resp.json())["number"]
            await citizen.hangup()
            await wait_until(lambda: not ctl.engine.snapshot(), what="the call to end")
            await ctl.writer.flush()
            order = await (await http.get(f"/api/orders/{number}")).json()
            record = await ctl.store.get(order["linkedid"])
            assert record is not None and record.caller_number == "13814140000"
            # MixMonitor's WAV, or already the converted file (the converter renames it in the record)
            assert record.recording.rsplit("/", 1)[-1] in (f"{record.linkedid}.wav", f"{record.linkedid}.opus")
            assert not record.repeat_caller
            assert order["content"] == "小区停水两天了" and order["state"] == "new"
            assert order["taken_by"] == "agent1001"

            # the citizen calls again: the call is linked to the open order and the agent sees it
            await wait_until(lambda: state(ctl, "agent1001") == "ready", what="agent1001 ready after wrap-up")
            await citizen.dial("12345")
            await a1.wait_event("CALL_ESTABLISHED", timeout=15)
            view = await (await http.get("/api/agents/agent1001/call")).json()
            assert view["call"]["repeat_of"] == number and view["call"]["caller_number"] == "13814140000"
            assert [o["number"] for o in view["call"]["open_orders"]] == [number]
            assert view["call"]["open_orders"][0]["taken_by"] == "agent1001"
            await citizen.hangup()
            await wait_until(lambda: not ctl.engine.snapshot(), what="the second call to end")
            await ctl.writer.flush()
            again = await (await http.get(f"/api/orders/{number}")).json()
        assert [c["reason"] for c in again["calls"]] == ["opened", "repeat"]
        second = await ctl.store.get(again["calls"][1]["linkedid"])
        assert second is not None and second.repeat_caller and second.order_number == number
        assert second.agent == "agent1001" and second.disposition.value == "answered"
        first = await ctl.store.get(record.linkedid)  # as the order was read (its file may have been converted since)
        assert [c["recording"] for c in again["calls"]][0] in (record.recording, first.recording)
        assert again["calls"][1]["recording"].rsplit("/", 1)[-1].startswith(second.linkedid)
