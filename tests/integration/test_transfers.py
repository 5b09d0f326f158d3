"""Transfers are the controller's: an agent's softphone cannot move a call behind its back
(issue 15, item 4: PJSIP's allow_transfer is off for agents' endpoints)."""

from __future__ import annotations

import asyncio

import pytest

from devtools import sandbox
from devtools.phones import PhoneBank
from devtools.scenarios import replaces_header
from hotline_pbx import Controller

from .conftest import agent, asterisk_channels, wait_until

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


async def test_an_agents_own_attended_transfer_is_declined_and_both_calls_stay_as_they_were(
        phones: PhoneBank, sip_password: str, sandbox_paths: sandbox.SandboxPaths,
        controller: Controller) -> None:
    """agent1001 talks to seat 1002, holds it, calls seat 1003 and refers the first call to the
    second's dialog (SIP REFER with Replaces): Asterisk says 603 and moves nobody."""
    caller = await agent(phones, 1001, sip_password, auto_answer=False)
    await agent(phones, 1002, sip_password)
    consulted = await agent(phones, 1003, sip_password)
    await caller.dial("1002")
    await caller.wait_event("CALL_ESTABLISHED", timeout=15)
    [first] = [c for c in asterisk_channels(sandbox_paths) if c.startswith("PJSIP/agent1001-")]
    await caller.command("hold")
    await caller.dial("1003")
    await consulted.wait_event("CALL_ESTABLISHED", timeout=15)
    await wait_until(lambda: len([c for c in asterisk_channels(sandbox_paths) if "agent1001-" in c]) == 2,
                     what="agent1001's consult channel")
    [consult] = [c for c in asterisk_channels(sandbox_paths) if c.startswith("PJSIP/agent1001-") and c != first]
    await caller.transfer_attended(1, "1003", await replaces_header(controller.ami.client, consult))
    failed = await caller.wait_event("TRANSFER_FAILED", timeout=15)
    assert failed["param"].startswith("603"), failed
    # the consult goes on as it was, and seat 1002 is never put with seat 1003 (baresip itself
    # ends the call it failed to transfer: that is the phone's choice, not Asterisk's)
    bridges: dict[str, set[str]] = {}
    for line in sandbox.cli(sandbox_paths, "core show channels concise").splitlines():
        fields = line.split("!")
        if len(fields) > 12 and fields[12]:
            bridges.setdefault(fields[12], set()).add(fields[0])
    assert any(members == {consult, *(c for c in members if c.startswith("PJSIP/agent1003-"))}
               and len(members) == 2 for members in bridges.values()), bridges
    assert not any(any(c.startswith("PJSIP/agent1002-") for c in members)
                   and any(c.startswith("PJSIP/agent1003-") for c in members) for members in bridges.values()), bridges
