"""The number plan and the intake on the real sandbox: baresip citizens dial (and press keys
with RFC 2833 DTMF), baresip agents answer."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timezone

from acd.acd import OfferCall
from acd.records import Disposition
from devtools.phones import PhoneSpec
from tickets.orders import NewOrder

from .conftest import agent, running, wait_until, with_http
from .test_acd import ready, state


async def ended(ctl, caller: str):  # type: ignore[no-untyped-def]
    await wait_until(lambda: ctl.engine.snapshot() == (), timeout=30, what="the call to end")
    await ctl.writer.flush()
    [record] = await ctl.store.by_caller(caller)
    return record


async def test_a_prefixed_12315_reaches_the_market_desk_with_the_short_number(acd_controller, phones, sip_password) -> None:
    ctl = acd_controller
    market = await agent(phones, 1003, sip_password)  # market 3
    await ready(ctl, "agent1003")
    citizen = await phones.add(PhoneSpec("citizen", "13822223333", "钱二"))
    await citizen.dial("057112315")  # as the carrier sends it, with the area code
    await market.wait_event("CALL_ESTABLISHED", timeout=15)
    await citizen.hangup()
    record = await ended(ctl, "13822223333")
    assert (record.dialed_number, record.desk, record.agent) == ("12315", "market", "agent1003")
    assert record.disposition is Disposition.ANSWERED and record.left_in == "talking"


async def test_a_key_enterprise_is_served_by_the_enterprise_desk_before_a_citizen_who_came_first(
        acd_controller, phones, sip_password) -> None:
    ctl = acd_controller
    offers: list[OfferCall] = []
    ctl.engine.observe(OfferCall, offers.append)
    expert = await agent(phones, 1004, sip_password)  # enterprise 5
    await ctl.engine.request("login", "agent1004")  # logged in, not ready yet
    first = await phones.add(PhoneSpec("citizen", "13833334444", "孙三"))
    await first.dial("12366")  # the enterprise desk's own number: a normal caller
    await wait_until(lambda: len(ctl.engine.acd.queue) == 1, what="the first caller queued")
    company = await phones.add(PhoneSpec("company", "057188886666", "某重点企业"))
    await company.dial("12345")  # a key enterprise, whatever it dialed
    await wait_until(lambda: len(ctl.engine.acd.queue) == 2, what="both queued")
    queued = {q.call.call_id: q.call for q in ctl.engine.acd.queue.values()}
    assert sorted((c.desk, int(c.priority)) for c in queued.values()) == [("enterprise", 1), ("enterprise", 2)]
    await ctl.engine.request("ready", "agent1004")
    await expert.wait_event("CALL_ESTABLISHED", timeout=15)
    assert queued[offers[0].call_id].priority == 1  # the company, though it came second
    await company.hangup()
    await first.hangup()
    record = await ended(ctl, "057188886666")
    assert (record.desk, record.agent, record.disposition) == ("enterprise", "agent1004", Disposition.ANSWERED)


async def test_a_repeat_caller_reaches_the_agent_who_took_the_order(acd_controller, phones, sip_password) -> None:
    ctl = acd_controller
    number = await ctl.orders.create(NewOrder("13844445555", "", "complaint", "heating", "西湖区", "暖气不热"),
                                     by="agent1001", at=datetime.now(timezone.utc))
    taker = await agent(phones, 1001, sip_password)  # general 3
    await agent(phones, 1006, sip_password)  # general 4: plain routing would choose this one
    await ready(ctl, "agent1006", "agent1001")
    citizen = await phones.add(PhoneSpec("citizen", "13844445555", "李四"))
    await citizen.dial("12345")
    await taker.wait_event("CALL_ESTABLISHED", timeout=15)
    # the phone may say "established" before DialEnd reaches the engine
    await wait_until(lambda: state(ctl, "agent1001") == "on_call", what="agent1001 on the call")
    assert state(ctl, "agent1006") == "ready"
    await citizen.hangup()
    record = await ended(ctl, "13844445555")
    assert record.repeat_caller and record.order_number == number and record.agent == "agent1001"


async def test_the_survey_after_the_agent_hangs_up_reaches_the_record_and_the_order(
        acd_config, phones, sip_password, tmp_path) -> None:
    import aiohttp

    config, port, headers = with_http(acd_config, tmp_path)
    async with running(config) as ctl:
        desk_agent = await agent(phones, 1001, sip_password)
        await ready(ctl, "agent1001")
        citizen = await phones.add(PhoneSpec("citizen", "13855556666", "周五"))
        await citizen.dial("12345")
        await desk_agent.wait_event("CALL_ESTABLISHED", timeout=15)
        [call] = [c for c in ctl.engine.snapshot() if c.dialed_number == "12345"]
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", headers=headers) as http:
            resp = await http.post("/api/orders", json={
                "caller_number": "13855556666", "category": "consultation", "topic": "labour",
                "content": "咨询社保转移", "linkedid": call.linkedid, "by": "agent1001"})
            number = (await resp.json())["number"]
            await desk_agent.hangup()  # the agent ends the call: the citizen hears the survey
            await wait_until(lambda: ctl.engine.calls.calls.get(call.linkedid) is not None
                             and ctl.engine.calls.calls[call.linkedid].stage == "survey",
                             what="the survey to start")
            await asyncio.sleep(1.0)
            await citizen.send_dtmf("2")  # 基本满意, pressed while the question plays
            record = await ended(ctl, "13855556666")
            order = await (await http.get(f"/api/orders/{number}")).json()
    assert record.survey_score == 2 and record.left_in == "survey" and record.agent == "agent1001"
    assert order["survey_score"] == 2


async def test_the_caller_hanging_up_during_the_greeting_is_lost_in_the_ivr(acd_controller, phones) -> None:
    ctl = acd_controller
    citizen = await phones.add(PhoneSpec("citizen", "13866667777", "吴六"))
    await citizen.dial("12345")
    await citizen.wait_event("CALL_ESTABLISHED", timeout=10)
    # the greeting is playing once the intake script has begun (on a loaded machine that can
    # take longer than the phone's "established")
    await wait_until(lambda: any(c.stage == "intake" for c in ctl.engine.calls.calls.values()
                                 if c.caller_number == "13866667777"), what="the greeting to start")
    await asyncio.sleep(0.4)
    await citizen.hangup()
    record = await ended(ctl, "13866667777")
    assert record.disposition is Disposition.ABANDONED_IVR and record.left_in == "intake" and record.desk == ""


async def lose_a_call(ctl, citizen, after: float) -> None:  # type: ignore[no-untyped-def]
    """The citizen calls 12345, hangs up `after` seconds into the call; its callback entry is saved."""
    await citizen.dial("12345")
    await citizen.wait_event("CALL_ESTABLISHED", timeout=10)
    await asyncio.sleep(after)
    await citizen.hangup()
    await wait_until(lambda: ctl.engine.snapshot() == (), timeout=20, what="the call to end")
    await ctl.flush_callbacks()


async def test_three_lost_calls_from_one_number_make_one_callback_entry(acd_controller, phones) -> None:
    """Issue 6's first rule on the sandbox: nobody is ready; the citizen gives up in the greeting,
    then twice in the queue; the callback list holds one entry listing all three."""
    ctl = acd_controller
    citizen = await phones.add(PhoneSpec("citizen", "13877778888", "郑七"))
    for hang_up_after in (0.5, 9.0, 9.0):  # in the greeting, then in the queue
        await lose_a_call(ctl, citizen, hang_up_after)
    [entry] = await ctl.callback_store.listing()
    assert entry.number == "13877778888" and entry.open
    assert [loss.reason for loss in entry.losses] == ["abandoned_ivr", "abandoned_queue", "abandoned_queue"]
    assert entry.losses[1].waited > 0 and entry.desk == "general"


async def test_a_lost_caller_is_called_back_agent_first_then_the_citizen_through_the_trunk(
        acd_controller, phones, sip_password, sandbox_paths) -> None:
    """Issue 6: a citizen hangs up in the queue → a callback entry → an agent becomes ready →
    the agent's phone rings (whisper 回拨), then the citizen's (caller ID 12345), and they talk;
    the entry is closed as reached and the call recorded as called back."""
    from devtools import sandbox

    ctl = acd_controller
    citizen = await phones.add(PhoneSpec("citizen", "13890001111", "冯八", auto_answer=True))
    sandbox.cli(sandbox_paths, f"database put sandbox-carrier 13890001111 127.0.0.1:{citizen.spec.sip_port}")
    try:
        await citizen.dial("12345")
        await citizen.wait_event("CALL_ESTABLISHED", timeout=10)
        await asyncio.sleep(9.0)  # greeting, then a moment in the queue
        await citizen.hangup()
        await citizen.wait_event("CALL_CLOSED", timeout=10)
        await wait_until(lambda: any(e.open for e in ctl.engine.callbacks.book.entries.values()), what="the callback entry")
        desk_agent = await agent(phones, 1001, sip_password)
        await ready(ctl, "agent1001")
        await desk_agent.wait_event("CALL_ESTABLISHED", timeout=15)  # the agent first
        incoming = await citizen.wait_event("CALL_ESTABLISHED", timeout=30)  # then the citizen
        assert "12345" in str(incoming)
        await wait_until(lambda: state(ctl, "agent1001") == "on_call", what="agent1001 on the callback")
        await asyncio.sleep(1.0)
        await citizen.hangup()
        await wait_until(lambda: ctl.engine.snapshot() == (), timeout=20, what="the callback to end")
        await ctl.flush_callbacks()
        await ctl.writer.flush()
        [entry] = await ctl.callback_store.listing(open_only=False)
        assert entry.outcome is not None and entry.outcome.value == "reached"
        assert [a.agent_id for a in entry.attempts] == ["agent1001"]
        called = [r for r in await ctl.store.by_caller("13890001111") if r.disposition is Disposition.CALLED_BACK]
        assert len(called) == 1 and called[0].agent == "agent1001" and called[0].desk == "general"
    finally:
        sandbox.cli(sandbox_paths, "database deltree sandbox-carrier")


async def test_a_citizen_who_does_not_answer_is_retried_then_closed_with_the_outcome(
        acd_config, phones, sip_password, sandbox_paths) -> None:
    from callback.book import Outcome
    from hotline_config import CallbacksConfig
    from devtools import sandbox

    config = dataclasses.replace(acd_config, callbacks=CallbacksConfig(attempts=2, spacing=2.0,
                                                                       business_hours="00:00-24:00"))
    citizen = await phones.add(PhoneSpec("citizen", "13890002222", "褚九"))  # will not pick up
    sandbox.cli(sandbox_paths, f"database put sandbox-carrier 13890002222 127.0.0.1:{citizen.spec.sip_port}")
    sandbox.cli(sandbox_paths, "dialplan set global HOTLINE_OUTBOUND_RING 3")
    try:
        async with running(config) as ctl:
            await citizen.dial("12345")
            await citizen.wait_event("CALL_ESTABLISHED", timeout=10)
            await asyncio.sleep(9.0)
            await citizen.hangup()
            await citizen.wait_event("CALL_CLOSED", timeout=10)
            await agent(phones, 1001, sip_password)
            await ready(ctl, "agent1001")
            await wait_until(lambda: ctl.engine.callbacks.book.open_for("13890002222") is None
                             and not ctl.engine.callbacks.book.in_flight(),
                             timeout=60, what="two unanswered attempts, 2 s apart")
            await ctl.flush_callbacks()
            [entry] = await ctl.callback_store.listing(open_only=False)
            assert entry.outcome is Outcome.NO_ANSWER
            assert [a.outcome for a in entry.attempts] == [Outcome.NO_ANSWER, Outcome.NO_ANSWER]
            assert entry.attempts[1].at - entry.attempts[0].at >= 2.0
            assert len(entry.attempts) == 2
    finally:
        sandbox.cli(sandbox_paths, "dialplan set global HOTLINE_OUTBOUND_RING 30")
        sandbox.cli(sandbox_paths, "database deltree sandbox-carrier")


async def test_a_virtual_hold_caller_is_called_back_when_their_turn_comes(
        acd_config, phones, sip_password, sandbox_paths) -> None:
    """B waits, V accepts the callback offer (key 1) and hangs up, A joins after them; the one
    agent serves B, then calls V back, then A."""
    from callback.flow import DialCallback
    from devtools import sandbox

    config = dataclasses.replace(acd_config, intake=dataclasses.replace(
        acd_config.intake, callback_offer_after=3.0, survey=False))
    v = await phones.add(PhoneSpec("v", "13890004444", "卫十", auto_answer=True))
    sandbox.cli(sandbox_paths, f"database put sandbox-carrier 13890004444 127.0.0.1:{v.spec.sip_port}")
    sandbox.cli(sandbox_paths, "dialplan set global HOTLINE_ANNOUNCE_EVERY 2")
    try:
        async with running(config) as ctl:
            served: list[str] = []
            ctl.engine.observe(OfferCall, lambda e: served.append(e.call_id))
            ctl.engine.observe(DialCallback, lambda e: served.append(f"callback {e.number}"))
            desk_agent = await agent(phones, 1001, sip_password)
            await ctl.engine.request("login", "agent1001")
            b = await phones.add(PhoneSpec("b", "13890003333", "蒋十一"))
            await b.dial("12345")
            await wait_until(lambda: len(ctl.engine.acd.queue) == 1, what="B queued")
            [b_call] = list(ctl.engine.acd.queue)
            await v.dial("12345")
            await wait_until(lambda: len(ctl.engine.acd.queue) == 2, what="V queued")
            [v_call] = [c for c in ctl.engine.acd.queue if c != b_call]
            await wait_until(lambda: ctl.engine.calls.calls[v_call].callback == "offered", timeout=20,
                             what="the callback offer to V")
            await asyncio.sleep(0.5)
            await v.send_dtmf("1")
            await v.wait_event("CALL_CLOSED", timeout=20)  # the controller hangs up after the promise
            a = await phones.add(PhoneSpec("a", "13890005555", "沈十二"))
            await a.dial("12345")
            await wait_until(lambda: any(c not in (b_call, v_call) and not c.startswith("callback:")
                                         for c in ctl.engine.acd.queue), what="A queued")
            await ctl.engine.request("ready", "agent1001")
            for turn in ("B", "V called back", "A"):  # serve, hang up, wrap up, next
                await desk_agent.wait_event("CALL_ESTABLISHED", timeout=30)
                if turn == "V called back":
                    await v.wait_event("CALL_ESTABLISHED", timeout=30)  # the citizen's phone, after the agent's
                await asyncio.sleep(1.0)
                await desk_agent.hangup()
                await desk_agent.wait_event("CALL_CLOSED", timeout=10)
            assert served[0] == b_call and served[1] == "callback 13890004444" and len(served) >= 3
            assert served[2] not in (b_call, v_call) and not served[2].startswith("callback")
            for phone in (a, b):
                await phone.hangup()
    finally:
        sandbox.cli(sandbox_paths, "dialplan set global HOTLINE_ANNOUNCE_EVERY 30")
        sandbox.cli(sandbox_paths, "database deltree sandbox-carrier")


async def test_a_citizen_opted_out_through_the_api_is_not_called_back_even_after_a_restart(
        acd_config, phones, tmp_path) -> None:
    import aiohttp

    from web.access import Role, add_token

    config, port, _ = with_http(acd_config, tmp_path)
    boss = {"Authorization": f"Bearer {add_token(config.http.tokens, Role.SUPERVISOR, 'duty.supervisor')}"}
    citizen = await phones.add(PhoneSpec("citizen", "13866660000", "钱八"))
    async with running(config) as ctl:
        await lose_a_call(ctl, citizen, 9.0)  # nobody is ready: given up in the queue
        [entry] = await ctl.callback_store.listing()
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", headers=boss) as http:
            resp = await http.post("/api/callbacks/do-not-call", json={"number": "13866660000", "note": "不需要回电"})
            assert resp.status == 201 and (await resp.json())["closed_entry"] == entry.entry_id
        await ctl.flush_callbacks()
        assert await ctl.callback_store.listing() == []
    async with running(config) as ctl:  # restarted: the list came back from the store
        assert "13866660000" in ctl.engine.callbacks.book.do_not_call
        await lose_a_call(ctl, citizen, 0.5)
        assert await ctl.callback_store.listing() == []
        everything = await ctl.callback_store.listing(open_only=False)
        assert [e.outcome.value for e in everything if e.outcome] == ["opted_out", "opted_out"], [
            (e.entry_id, [(l.linkedid, l.reason, l.at) for l in e.losses]) for e in everything]
