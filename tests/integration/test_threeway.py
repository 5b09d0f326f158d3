"""Three-way calls and transfers on the real sandbox, with baresip phones for the citizen, the
agents and the party behind the trunk (110 or a department: the sandbox's carrier reaches it at
the free port its baresip took, written into the carrier's directory).

Every party's microphone sends its own tone; each phone keeps what it heard (baresip's sndfile),
so "the citizen and 110 talk" is checked by ear as well as by Asterisk's bridges.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator

import pytest

from acd.handover import HandoverError
from devtools import sandbox
from devtools.phones import BaresipPhone, PhoneBank, PhoneSpec
from hotline_config import Config
from tests.integration.conftest import hears, heard_share, running, wait_until
from tickets.catalog import Entry

pytestmark = pytest.mark.integration

CITIZEN_HZ, AGENT_HZ, THIRD_HZ, SECOND_AGENT_HZ = 500, 700, 1100, 1400
DEPARTMENT_PHONE = "88001234"


def _config(acd_config: Config, ring: float = 20.0) -> Config:
    departments = (*acd_config.orders.departments[:-1], Entry("water", "水务集团", phone=DEPARTMENT_PHONE))
    return dataclasses.replace(
        acd_config, acd=dataclasses.replace(acd_config.acd, threeway_ring_timeout=ring),
        orders=dataclasses.replace(acd_config.orders, departments=departments))


@pytest.fixture(autouse=True)
def _carrier_directory(sandbox_paths: sandbox.SandboxPaths) -> Iterator[None]:
    """Each test's trunk parties are gone with it."""
    yield
    sandbox.cli(sandbox_paths, "database deltree sandbox-carrier")


async def _talking(ctl, phones: PhoneBank, password: str, third_answers: bool = True,
                   citizen_number: str = "13800138001", third_number: str = "110") -> tuple[BaresipPhone, BaresipPhone, BaresipPhone]:
    agent = await phones.add(PhoneSpec("agent1001", "agent1001", password=password, auto_answer=True,
                                       tone_hz=AGENT_HZ, keep_audio=True))
    third = await phones.add(PhoneSpec("trunk-party", third_number, auto_answer=third_answers,
                                       tone_hz=THIRD_HZ, keep_audio=True))
    sandbox.carrier_put(sandbox.SandboxPaths(), third_number, third.spec.sip_port)  # the trunk reaches it there
    citizen = await phones.add(PhoneSpec("citizen", citizen_number, "张三", tone_hz=CITIZEN_HZ, keep_audio=True))
    await ctl.engine.do_not_call(citizen_number)
    await ctl.engine.request("login", "agent1001")
    await ctl.engine.request("ready", "agent1001")
    await citizen.dial("12345")
    await agent.wait_event("CALL_ESTABLISHED", timeout=40)
    await wait_until(lambda: _agent_state(ctl, "agent1001") == "on_call", what="agent1001 on the call")
    return citizen, agent, third


def _agent_state(ctl, agent_id: str) -> str:
    return next(a.state for a in ctl.engine.agents() if a.agent_id == agent_id)


def _bridges(paths: sandbox.SandboxPaths) -> dict[str, set[str]]:
    """Asterisk's own view: each bridge and the channels in it (CoreShowChannels)."""
    bridges: dict[str, set[str]] = {}
    for line in sandbox.cli(paths, "core show channels concise").splitlines():
        fields = line.split("!")
        if len(fields) > 12 and fields[12] and not fields[0].startswith("CBAnn/"):
            bridges.setdefault(fields[12], set()).add(fields[0])
    return bridges


def _together(paths: sandbox.SandboxPaths, *prefixes: str) -> bool:
    """One bridge holds a channel for each prefix (a prefix given twice: two such channels)."""
    for members in _bridges(paths).values():
        left = set(members)
        for prefix in prefixes:
            match = next((m for m in sorted(left) if m.startswith(prefix + "-")), None)
            if match is None:
                break
            left.discard(match)
        else:
            return True
    return False


async def _records(ctl) -> list:
    await ctl._settled()
    return list(await ctl.store.recent(50))


async def test_three_way_with_110_then_the_agent_leaves_and_the_citizen_and_110_talk_on(
        acd_config: Config, phones: PhoneBank, sip_password: str, sandbox_paths: sandbox.SandboxPaths) -> None:
    async with running(_config(acd_config)) as ctl:
        citizen, agent, operator = await _talking(ctl, phones, sip_password)
        view = await ctl.engine.handover("threeway", "agent1001", target="110")
        assert view["stage"] == "dialing" and view["label"] == "公安"
        await operator.wait_event("CALL_ESTABLISHED", timeout=20)
        await wait_until(lambda: (ctl.engine.handover_of("agent1001") or {}).get("stage") == "joined",
                         what="the three-way joined")
        await wait_until(lambda: _together(sandbox_paths, "PJSIP/carrier", "PJSIP/agent1001"), what="one bridge")
        assert _together(sandbox_paths, "PJSIP/carrier", "PJSIP/carrier", "PJSIP/agent1001")  # all three
        joined_at = time.monotonic()
        # the three talk: each hears the others' tones, mixed
        await hears(citizen, joined_at, 0.3, THIRD_HZ, AGENT_HZ)
        await hears(operator, joined_at, 0.3, CITIZEN_HZ, AGENT_HZ)

        await agent.hangup()  # the operator has it: the agent leaves
        await agent.wait_event("CALL_CLOSED", timeout=10)
        try:
            await wait_until(lambda: (ctl.engine.handover_of("agent1001") or {}).get("stage") == "handed_over",
                             what="handed over")
        except AssertionError as exc:  # where it stood, for the one who reads the failure
            raise AssertionError(f"{exc}: {ctl.engine.handover_of('agent1001')} {ctl.engine.snapshot()}") from None
        left_at = time.monotonic()
        assert _together(sandbox_paths, "PJSIP/carrier", "PJSIP/carrier"), \
            f"the citizen and 110 are no longer bridged: {_bridges(sandbox_paths)}"
        await hears(citizen, left_at, 0.6, THIRD_HZ)  # the citizen hears 110
        await hears(operator, left_at, 0.6, CITIZEN_HZ)  # and 110 the citizen
        assert _agent_state(ctl, "agent1001") in ("wrap_up", "ready")

        await citizen.hangup()
        await operator.wait_event("CALL_CLOSED", timeout=10)  # the conference ends with the citizen
        await wait_until(lambda: not ctl.engine.snapshot(), what="the call over")
        records = await _records(ctl)
        assert len(records) == 1, records  # one call, one record, every leg in it
        record = records[0]
        assert record.disposition.value == "transferred_to_110" and record.transferred_to == "110"
        assert record.agent == "agent1001" and record.recording
        roles = [(leg.role, leg.who) for leg in record.legs]
        assert roles[0] == ("citizen", "") and ("agent", "agent1001") in roles and ("emergency", "110") in roles
        agent_leg = next(leg for leg in record.legs if leg.role == "agent")
        third_leg = next(leg for leg in record.legs if leg.role == "emergency")
        assert agent_leg.left_at is not None and agent_leg.left_at < third_leg.left_at  # type: ignore[operator]


async def test_110_not_answering_leaves_the_citizen_and_the_agent_together(
        acd_config: Config, phones: PhoneBank, sip_password: str, sandbox_paths: sandbox.SandboxPaths) -> None:
    async with running(_config(acd_config, ring=3)) as ctl:
        citizen, agent, operator = await _talking(ctl, phones, sip_password, third_answers=False)
        await ctl.engine.handover("threeway", "agent1001", target="110")
        await operator.wait_event("CALL_INCOMING", timeout=10)
        with pytest.raises(HandoverError, match="handover-in-progress"):  # twice at once: refused
            await ctl.engine.handover("threeway", "agent1001", target="119")
        await wait_until(lambda: (ctl.engine.handover_of("agent1001") or {}).get("stage") == "returned",
                         timeout=15, what="the agent told 110 did not answer")
        assert ctl.engine.handover_of("agent1001")["reason"] == "no-answer"
        await wait_until(lambda: _together(sandbox_paths, "PJSIP/carrier", "PJSIP/agent1001"),
                         what="citizen and agent in one bridge again")
        back = time.monotonic()
        await hears(citizen, back, 0.5, AGENT_HZ)
        await hears(agent, back, 0.5, CITIZEN_HZ)
        await citizen.hangup()
        await agent.wait_event("CALL_CLOSED", timeout=10)
        await wait_until(lambda: not ctl.engine.snapshot(), what="the call over")
        record = (await _records(ctl))[0]
        assert record.disposition.value == "answered" and record.agent == "agent1001"


async def test_a_department_three_way_with_a_private_consult_then_all_three(
        acd_config: Config, phones: PhoneBank, sip_password: str, sandbox_paths: sandbox.SandboxPaths) -> None:
    async with running(_config(acd_config)) as ctl:
        # baresip answers only calls to its own user: the phone behind the trunk is the department's
        citizen, agent, department = await _talking(ctl, phones, sip_password, third_number=DEPARTMENT_PHONE)
        with pytest.raises(HandoverError, match="unknown-department"):
            await ctl.engine.handover("threeway", "agent1001", kind=_kind("department"), target="nowhere")
        view = await ctl.engine.handover("threeway", "agent1001", kind=_kind("department"), target="water",
                                         private=True)
        assert view["label"] == "水务集团"
        try:
            await department.wait_event("CALL_ESTABLISHED", timeout=20)
        except TimeoutError:
            raise AssertionError(f"the department never answered: {sandbox.cli(sandbox_paths, 'core show channels concise')}"
                                 f" {ctl.engine.handover_of('agent1001')}") from None
        await wait_until(lambda: (ctl.engine.handover_of("agent1001") or {}).get("stage") == "consulting",
                         what="the consult")
        consult = time.monotonic()
        assert _together(sandbox_paths, "PJSIP/agent1001", "PJSIP/carrier")  # agent with the department
        await hears(department, consult, 0.5, AGENT_HZ)
        assert heard_share(citizen, AGENT_HZ, consult) < 0.2 and heard_share(citizen, THIRD_HZ, consult) < 0.2  # music
        await ctl.engine.handover("step", "agent1001", step="join")
        await wait_until(lambda: _together(sandbox_paths, "PJSIP/carrier", "PJSIP/carrier", "PJSIP/agent1001"),
                         what="all three in one bridge")
        joined = time.monotonic()
        await hears(citizen, joined, 0.3, THIRD_HZ, AGENT_HZ)
        await citizen.hangup()
        await agent.wait_event("CALL_CLOSED", timeout=10)
        await department.wait_event("CALL_CLOSED", timeout=10)
        await wait_until(lambda: not ctl.engine.snapshot(), what="the call over")
        record = (await _records(ctl))[0]
        assert record.disposition.value == "answered"  # the agent stayed to the end
        assert ("department", "water") in [(leg.role, leg.who) for leg in record.legs]


async def test_a_cold_transfer_to_another_desk_keeps_the_citizens_place_and_a_warm_one_hands_them_over(
        acd_config: Config, phones: PhoneBank, sip_password: str, sandbox_paths: sandbox.SandboxPaths) -> None:
    async with running(_config(acd_config)) as ctl:
        citizen, agent, _ = await _talking(ctl, phones, sip_password)
        first_queued = ctl.engine._queued[ctl.engine.snapshot()[0].linkedid].queued_epoch
        market = await phones.add(PhoneSpec("agent1003", "agent1003", password=sip_password, auto_answer=True,
                                            tone_hz=SECOND_AGENT_HZ, keep_audio=True))
        # warm to the market desk: nobody there is ready yet
        with pytest.raises(HandoverError, match="no-agent-ready"):
            await ctl.engine.handover("transfer", "agent1001", kind=_kind("desk"), target="market", private=True)
        # cold: the citizen waits at the market desk, at the place they had
        await ctl.engine.handover("transfer", "agent1001", kind=_kind("desk"), target="market")
        call_id = ctl.engine.snapshot()[0].linkedid
        await wait_until(lambda: call_id in ctl.engine.acd.queue, what="queued at market")
        waiting = ctl.engine.acd.queue[call_id].call
        assert waiting.desk == "market"
        assert abs((time.monotonic() - waiting.queued_at) - (time.time() - first_queued)) < 1.0
        await agent.wait_event("CALL_CLOSED", timeout=10)  # agent1001's leg ended
        await ctl.engine.request("login", "agent1003")
        await ctl.engine.request("ready", "agent1003")
        await market.wait_event("CALL_ESTABLISHED", timeout=20)
        answered = time.monotonic()
        await hears(citizen, answered, 0.5, SECOND_AGENT_HZ)
        await citizen.hangup()
        await market.wait_event("CALL_CLOSED", timeout=10)
        await wait_until(lambda: not ctl.engine.snapshot(), what="the call over")
        record = (await _records(ctl))[0]
        assert record.disposition.value == "transferred_desk" and record.transferred_to == "market"
        assert [leg.who for leg in record.legs if leg.role == "agent"] == ["agent1001", "agent1003"]


def _kind(name: str):  # type: ignore[no-untyped-def]
    from acd.handover import Kind

    return Kind(name)


async def test_a_warm_transfer_to_another_desk_consults_its_agent_then_hands_the_citizen_over(
        acd_config: Config, phones: PhoneBank, sip_password: str, sandbox_paths: sandbox.SandboxPaths) -> None:
    async with running(_config(acd_config)) as ctl:
        citizen, agent, _ = await _talking(ctl, phones, sip_password)
        call_id = ctl.engine.snapshot()[0].linkedid
        arrived = ctl.engine.snapshot()[0].arrived_at
        market = await phones.add(PhoneSpec("agent1002", "agent1002", password=sip_password, auto_answer=True,
                                            tone_hz=SECOND_AGENT_HZ, keep_audio=True))
        await ctl.engine.request("login", "agent1002")
        await ctl.engine.request("ready", "agent1002")
        view = await ctl.engine.handover("transfer", "agent1001", kind=_kind("desk"), target="market", private=True)
        assert view["target"] == "agent1002"  # the market desk's ready agent, by its routing
        await market.wait_event("CALL_ESTABLISHED", timeout=20)
        await wait_until(lambda: (ctl.engine.handover_of("agent1001") or {}).get("stage") == "consulting",
                         what="the consult")
        consult = time.monotonic()
        await hears(market, consult, 0.5, AGENT_HZ)
        await hears(agent, consult, 0.5, SECOND_AGENT_HZ)
        assert heard_share(citizen, AGENT_HZ, consult) < 0.2 and heard_share(citizen, SECOND_AGENT_HZ, consult) < 0.2
        assert _agent_state(ctl, "agent1002") == "on_call"  # taken by the consult: offered nothing else
        await ctl.engine.handover("step", "agent1001", step="complete")
        await agent.wait_event("CALL_CLOSED", timeout=10)
        await wait_until(lambda: _together(sandbox_paths, "PJSIP/carrier", "PJSIP/agent1002"), what="citizen with 1002")
        handed = time.monotonic()
        await hears(citizen, handed, 0.5, SECOND_AGENT_HZ)
        await hears(market, handed, 0.5, CITIZEN_HZ)
        assert _agent_state(ctl, "agent1001") in ("wrap_up", "ready")
        assert next(a for a in ctl.engine.agents() if a.agent_id == "agent1002").call_id == call_id
        await citizen.hangup()
        await market.wait_event("CALL_CLOSED", timeout=10)
        await wait_until(lambda: not ctl.engine.snapshot(), what="the call over")
        await wait_until(lambda: _agent_state(ctl, "agent1002") in ("wrap_up", "ready"), what="1002 free")
        record = (await _records(ctl))[0]
        assert (record.disposition.value, record.transferred_to) == ("transferred_desk", "agent1002")
        assert record.arrived_at == arrived and record.agent == "agent1001"  # the call's arrival, its first answer
        assert [leg.who for leg in record.legs if leg.role == "agent"] == ["agent1001", "agent1002"], [(leg.role, leg.who, leg.number) for leg in record.legs]


async def test_a_warm_transfer_called_off_brings_the_agent_back_to_the_citizen(
        acd_config: Config, phones: PhoneBank, sip_password: str, sandbox_paths: sandbox.SandboxPaths) -> None:
    async with running(_config(acd_config)) as ctl:
        citizen, agent, _ = await _talking(ctl, phones, sip_password)
        other = await phones.add(PhoneSpec("agent1004", "agent1004", password=sip_password, auto_answer=True,
                                           tone_hz=SECOND_AGENT_HZ, keep_audio=True))
        with pytest.raises(HandoverError, match="agent-not-ready"):  # logged out
            await ctl.engine.handover("transfer", "agent1001", kind=_kind("agent"), target="agent1004", private=True)
        with pytest.raises(HandoverError, match="transfer-to-self"):
            await ctl.engine.handover("transfer", "agent1001", kind=_kind("agent"), target="agent1001", private=True)
        await ctl.engine.request("login", "agent1004")
        await ctl.engine.request("ready", "agent1004")
        await ctl.engine.handover("transfer", "agent1001", kind=_kind("agent"), target="agent1004", private=True)
        await other.wait_event("CALL_ESTABLISHED", timeout=20)
        await wait_until(lambda: (ctl.engine.handover_of("agent1001") or {}).get("stage") == "consulting",
                         what="the consult")
        await ctl.engine.handover("step", "agent1001", step="cancel")
        await other.wait_event("CALL_CLOSED", timeout=10)
        await wait_until(lambda: _together(sandbox_paths, "PJSIP/carrier", "PJSIP/agent1001"),
                         what="agent1001 back with the citizen")
        back = time.monotonic()
        await hears(citizen, back, 0.5, AGENT_HZ)
        await hears(agent, back, 0.5, CITIZEN_HZ)
        assert ctl.engine.handover_of("agent1001")["stage"] == "returned"  # type: ignore[index]
        await wait_until(lambda: _agent_state(ctl, "agent1004") in ("wrap_up", "ready"), what="1004 free again")
        await citizen.hangup()
        await agent.wait_event("CALL_CLOSED", timeout=10)
        await wait_until(lambda: not ctl.engine.snapshot(), what="the call over")
        record = (await _records(ctl))[0]
        assert record.disposition.value == "answered"


async def test_the_agents_phone_keys_bring_110_in_and_take_the_agent_out(
        acd_config: Config, phones: PhoneBank, sip_password: str, sandbox_paths: sandbox.SandboxPaths) -> None:
    async with running(_config(acd_config)) as ctl:
        citizen, agent, operator = await _talking(ctl, phones, sip_password)
        await agent.send_dtmf("*7110")  # the same request as the API's, from the phone
        await operator.wait_event("CALL_ESTABLISHED", timeout=20)
        await wait_until(lambda: (ctl.engine.handover_of("agent1001") or {}).get("stage") == "joined",
                         what="the three-way joined by keys")
        await wait_until(lambda: _together(sandbox_paths, "PJSIP/carrier", "PJSIP/carrier", "PJSIP/agent1001"),
                         what="all three in one bridge")
        await agent.send_dtmf("*0")  # the agent leaves: the citizen and 110 talk on
        await agent.wait_event("CALL_CLOSED", timeout=10)
        await wait_until(lambda: (ctl.engine.handover_of("agent1001") or {}).get("stage") == "handed_over",
                         what="handed over by keys")
        assert _together(sandbox_paths, "PJSIP/carrier", "PJSIP/carrier")
        await citizen.hangup()
        await operator.wait_event("CALL_CLOSED", timeout=10)
        await wait_until(lambda: not ctl.engine.snapshot(), what="the call over")
        assert (await _records(ctl))[0].disposition.value == "transferred_to_110"
