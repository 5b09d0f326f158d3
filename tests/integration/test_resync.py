"""The AMI TCP connection is cut during live calls; after the reconnect the controller's model
matches what Asterisk itself lists (`core show channels`), and calls that ended while it was
blind are recorded once."""

from __future__ import annotations

import asyncio
import dataclasses

from acd.calls import UNSEEN_HANGUP_TEXT
from hotline_pbx import Controller

from .conftest import agent, asterisk_channels, wait_until
from .tcpproxy import CuttableProxy


def model_channels(controller: Controller) -> set[str]:
    return {name for call in controller.engine.snapshot() for name in call.channels}


async def test_given_live_calls_when_the_ami_link_is_cut_then_after_reconnect_the_model_matches_asterisk(
        config, phones, sandbox_paths, sip_password) -> None:
    proxy = CuttableProxy(config.asterisk.ami_host, config.asterisk.ami_port)
    await proxy.start()
    cfg = dataclasses.replace(config, asterisk=dataclasses.replace(config.asterisk, ami_port=proxy.port))
    controller = Controller(cfg)
    await controller.start()
    try:
        await wait_until(lambda: controller.ami.resyncs >= 1, what="first resync")
        a, _ = await agent(phones, 1001, sip_password, False), await agent(phones, 1002, sip_password)
        c, _ = await agent(phones, 1005, sip_password, False), await agent(phones, 1006, sip_password)
        b, _ = await agent(phones, 1007, sip_password, False), await agent(phones, 1008, sip_password)
        await a.dial("1002")
        await c.dial("1006")
        for phone in (a, c):
            await phone.wait_event("CALL_ESTABLISHED", timeout=10)
        await wait_until(lambda: model_channels(controller) == asterisk_channels(sandbox_paths)
                         and len(model_channels(controller)) == 4, what="two calls in the model")
        [ended_while_blind] = [v.linkedid for v in controller.engine.snapshot() if "agent1005" in " ".join(v.channels)]

        proxy.cut()  # the network between controller and Asterisk fails
        await wait_until(lambda: not controller.ami.client.connected, what="the controller to notice")
        await c.hangup()  # one call ends while the controller is blind …
        await b.dial("1008")  # … and another begins
        await b.wait_event("CALL_ESTABLISHED", timeout=10)
        await asyncio.sleep(0.5)
        assert controller.engine.snapshot() and ended_while_blind in {v.linkedid for v in controller.engine.snapshot()}
        proxy.restore()

        await wait_until(lambda: controller.ami.resyncs >= 2, what="the resync after reconnect")
        await controller.engine.drained()
        truth = asterisk_channels(sandbox_paths)
        assert len(truth) == 4
        assert model_channels(controller) == truth
        assert ended_while_blind not in {v.linkedid for v in controller.engine.snapshot()}

        await controller.writer.flush()
        record = await controller.store.get(ended_while_blind)
        assert record is not None and record.hangup_cause_text == UNSEEN_HANGUP_TEXT

        for phone in (a, b):
            await phone.hangup()
        await wait_until(lambda: controller.engine.snapshot() == (), what="all calls to end")
        await controller.writer.flush()
        assert await controller.store.count() == 3  # three calls, three records, none twice
    finally:
        await controller.stop()
        await proxy.close()
