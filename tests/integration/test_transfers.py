"""Transfers are the controller's: an agent's softphone cannot move a call behind its back
(issue 15, item 4: PJSIP's allow_transfer is off for agents' endpoints)."""

from __future__ import annotations

import asyncio

import pytest

from devtools import sandbox
from devtools.phones import PhoneBank

from .conftest import agent

pytestmark = pytest.mark.integration


async def test_an_agents_own_sip_transfer_is_declined_and_the_target_never_rings(
        phones: PhoneBank, sip_password: str, sandbox_paths: sandbox.SandboxPaths) -> None:
    caller = await agent(phones, 1001, sip_password, auto_answer=False)
    await agent(phones, 1002, sip_password)
    target = await agent(phones, 1003, sip_password)
    await caller.dial("1002")
    await caller.wait_event("CALL_ESTABLISHED", timeout=15)
    await caller.command("transfer", "1003")  # a blind REFER from the softphone
    failed = await caller.wait_event("TRANSFER_FAILED", timeout=15)
    assert failed["param"].startswith("603"), failed
    with pytest.raises(asyncio.TimeoutError):
        await target.wait_event("CALL_INCOMING", timeout=3)
    channels = sandbox.cli(sandbox_paths, "core show channels concise")
    assert "agent1003" not in channels, channels
