"""A citizen calls 12345 on a real SIP phone; the controller answers over FastAGI, plays the
greeting, hangs up, and exactly one call record lands in the store."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

from acd.records import Disposition
from devtools.phones import PhoneSpec
from devtools.scenarios import citizen_call

from .conftest import wait_until


async def test_given_a_citizen_dials_12345_then_greeted_and_exactly_one_record(controller, phones) -> None:
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    citizen = await phones.add(PhoneSpec("citizen", "13812345678", "张三丰"))
    started = time.monotonic()
    await citizen_call(citizen)
    heard = time.monotonic() - started
    assert heard > 1.0, "the greeting (hello-world, about 1.5 s) was not played"
    await controller.engine.drained()
    await wait_until(lambda: controller.writer.pending == 0 and controller.engine.snapshot() == (),
                     what="the call to leave the live model")
    await controller.writer.flush()
    rows = await controller.store.by_caller("13812345678")
    assert len(rows) == 1, rows
    record = rows[0]
    assert record.caller_name == "张三丰"
    assert record.dialed_number == "12345"
    assert record.linkedid.startswith("hotline-pbx-")
    assert before <= record.arrived_at <= record.answered_at <= record.ended_at
    assert record.ended_at - record.arrived_at >= timedelta(seconds=1)
    assert record.disposition is Disposition.ABANDONED_IVR  # greeted, no desk configured: never queued
    assert record.hangup_cause == 16 and record.desk == "" and record.agent == ""
    assert await controller.store.get(record.linkedid) == record


async def test_given_the_caller_hangs_up_during_the_greeting_then_the_session_ends_and_one_record(controller, phones) -> None:
    citizen = await phones.add(PhoneSpec("citizen", "13900001111", "李四"))
    await citizen_call(citizen, hang_up_after=0.3)
    await wait_until(lambda: controller.engine.snapshot() == (), what="the call to end")
    await controller.writer.flush()
    [record] = await controller.store.by_caller("13900001111")
    assert record.disposition is Disposition.ABANDONED_IVR  # the IVR had answered, no queue yet
    assert record.ended_at - record.answered_at < timedelta(seconds=1.4)
    outcomes = [o for o in controller.agi_link.recent if o[0] == "intake"]
    assert outcomes and outcomes[-1][1] == "hangup"


async def test_given_the_controller_restarts_during_a_call_then_the_call_still_gets_one_record(
        config, phones, sip_password) -> None:
    from hotline_pbx import Controller

    from .conftest import agent

    caller = await agent(phones, 1003, sip_password, auto_answer=False)
    await agent(phones, 1004, sip_password)
    first = Controller(config)
    await first.start()
    await wait_until(lambda: first.ami.resyncs >= 1, what="first resync")
    await caller.dial("1004")
    await caller.wait_event("CALL_ESTABLISHED", timeout=10)
    await wait_until(lambda: len(first.engine.snapshot()) == 1, what="the seat call in the model")
    [live] = first.engine.snapshot()
    await first.stop()  # the controller goes away mid-call: nothing is written for a live call
    second = Controller(config)
    await second.start()
    try:
        await wait_until(lambda: [c.linkedid for c in second.engine.snapshot()] == [live.linkedid],
                         what="the restarted controller to adopt the live call")
        await caller.hangup()
        await wait_until(lambda: second.engine.snapshot() == (), what="the call to end")
        await second.writer.flush()
        record = await second.store.get(live.linkedid)
        assert record is not None and record.disposition is Disposition.INTERNAL  # seat to seat
        assert record.caller_number == "1003"
        assert await second.store.count() == 1
    finally:
        await second.stop()


async def test_given_no_controller_when_a_citizen_calls_then_the_journal_gives_the_call_its_record(
        config, phones, sandbox_paths) -> None:
    """The controller is down for the whole call (Asterisk's FastAGI attempt fails, the caller
    waits in the fallback queue with nobody there, and gives up); when the controller starts,
    the call is recorded from Asterisk's journal."""
    from hotline_pbx import Controller
    from devtools import sandbox

    citizen = await phones.add(PhoneSpec("citizen", "13700009999", "王五"))
    await citizen.dial("12345")
    await asyncio.sleep(3.0)
    await citizen.hangup()
    await citizen.wait_event("CALL_CLOSED", timeout=10)
    assert "13700009999" in sandbox.cli(sandbox_paths, "database show hotline-journal")
    controller = Controller(config)
    await controller.start()
    try:
        await wait_until(lambda: controller.ami.journal_cleared >= 1, what="the journal to be read and cleared")
        [record] = await controller.store.by_caller("13700009999")
        assert record.dialed_number == "12345" and record.caller_name == "王五"
        # the dialplan sent the caller to the fallback queue, where nobody answered
        assert record.disposition is Disposition.ABANDONED_QUEUE and record.desk == "general"
        assert record.arrived_at <= record.ended_at
        assert "13700009999" not in sandbox.cli(sandbox_paths, "database show hotline-journal")
    finally:
        await controller.stop()
