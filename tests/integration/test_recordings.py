"""Recordings on the real sandbox (issue 19): what a quality inspector finds after a call.

Each party's phone sends its own tone into the call (baresip's aufile source). After the
hang-up the controller's converter must have turned MixMonitor's WAV into Opus: the file is
there (0600 in a 0700 folder), it lasts as long as the call's talk time (within 0.5 s), it is
loud enough, both parties are heard in it (the energy at each tone's frequency in the mix),
and its SHA-256 is the one the store keeps. A callback and a three-way with 110 are recorded
the same way: one file per call, the legs mixed.
"""

from __future__ import annotations

import array
import dataclasses
import hashlib
import os
import stat
import time
from pathlib import Path

import pytest

from devtools import sandbox
from devtools.phones import BaresipPhone, PhoneBank, PhoneSpec, tone_level
from hotline_config import Config
from recordings.store import DONE
from tests.integration.conftest import hears, heard_share, running, wait_until

pytestmark = pytest.mark.integration

CITIZEN_HZ, AGENT_HZ, THIRD_HZ = 500, 900, 1300
LOUDNESS_FLOOR = -45.0  # dBFS: the phones' tones are sent at 5 % of full scale (about -29 dBFS each)


def _config(acd_config: Config, *, notice: bool = True) -> Config:
    return dataclasses.replace(acd_config, recordings=dataclasses.replace(acd_config.recordings, notice=notice,
                                                                          poll=0.5))


def _mix_share(path: Path, hz: int) -> float:
    """The share of 100 ms blocks of the decoded recording where `hz` holds a real part of the
    energy (two parties mixed: each tone about half of it)."""
    from pydub import AudioSegment

    audio = AudioSegment.from_file(str(path), format="ogg").set_frame_rate(8000).set_channels(1).set_sample_width(2)
    samples = array.array("h", audio.raw_data)
    blocks = [samples[i:i + 800] for i in range(0, len(samples) - 800 + 1, 800)]
    return sum(1 for b in blocks if tone_level(b, hz) > 0.15) / max(1, len(blocks))


async def _converted(ctl, linkedid: str, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    async def done() -> bool:
        found = await ctl.recording_store.get(linkedid)
        return found is not None and found.state == DONE

    try:
        await wait_until(done, timeout=timeout, what=f"the recording of {linkedid} converted")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {await ctl.recording_store.get(linkedid)}") from None
    return await ctl.recording_store.get(linkedid)


async def _talked(since: float, *hearing: tuple[BaresipPhone, tuple[int, ...]], seconds: float = 2.0) -> None:
    """Each phone has heard the others' tones for `seconds` since `since` (monotonic): the call
    has that much of every party to record. Waited for by ear, not slept: a loaded machine
    only takes longer."""
    def heard_enough() -> bool:
        elapsed = time.monotonic() - since
        return all(sum(heard_share(phone, hz, since) for hz in tones) * elapsed >= seconds for phone, tones in hearing)

    await wait_until(heard_enough, timeout=30, what=f"every party heard for {seconds} s")


async def _check(ctl, record, *tones: int) -> Path:  # type: ignore[no-untyped-def]
    """The promises of one call's converted recording; its path."""
    assert record.recording, f"the call record names no recording: {record}"
    found = await _converted(ctl, record.linkedid)
    path = Path(ctl.config.recordings.converted_dir) / found.file
    assert path.suffix == ".opus" and path.exists(), path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, oct(path.stat().st_mode)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700, oct(path.parent.stat().st_mode)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == found.sha256
    assert record.talk_time is not None and abs(found.duration - record.talk_time) <= 0.5, \
        f"recording {found.duration} s, talk time {record.talk_time} s"
    assert found.loudness > LOUDNESS_FLOOR and not found.silent, found
    for hz in tones:
        share = _mix_share(path, hz)
        assert share > 0.5, f"{hz} Hz heard in only {share:.0%} of the recording of {record.linkedid}"
    assert _mix_share(path, 2100) < 0.05  # a frequency nobody sent is not there
    original = Path(ctl.config.recordings.monitor_dir) / found.original
    assert not original.exists(), "MixMonitor's WAV is deleted once the conversion is verified"
    [stored] = [r for r in await ctl.store.recent(20) if r.linkedid == record.linkedid]
    assert stored.recording == found.file  # the call record names the converted file
    return path


def _city_day(ctl, record) -> str:  # type: ignore[no-untyped-def]
    """The city's day of the call, as its recording's folder is named (not the UTC date)."""
    return record.arrived_at.astimezone(ctl.config.city.zone()).strftime("%Y%m%d")


async def _answered(ctl, phones: PhoneBank, password: str, number: str, name: str):  # type: ignore[no-untyped-def]
    """agent1001 ready, the citizen `number` dials 12345 and agent1001 is on the call: (citizen, agent)."""
    agent = await phones.add(PhoneSpec("agent1001", "agent1001", password=password, auto_answer=True, tone_hz=AGENT_HZ,
                                       keep_audio=True))
    citizen = await phones.add(PhoneSpec("citizen", number, name, tone_hz=CITIZEN_HZ, keep_audio=True))
    await ctl.engine.do_not_call(number)  # no callback of its own gets in the way
    await ctl.engine.request("login", "agent1001")
    await ctl.engine.request("ready", "agent1001")
    await citizen.dial("12345")
    await agent.wait_event("CALL_ESTABLISHED", timeout=40)
    await wait_until(lambda: any(a.agent_id == "agent1001" and a.state == "on_call" for a in ctl.engine.agents()),
                     what="agent1001 on the call")
    return citizen, agent


async def _ended(ctl, caller: str):  # type: ignore[no-untyped-def]
    await wait_until(lambda: ctl.engine.snapshot() == (), timeout=30, what="the call to end")
    await ctl.writer.flush()
    return await ctl.store.by_caller(caller)


async def test_a_call_is_recorded_with_both_parties_heard_converted_and_checksummed(
        acd_config: Config, phones: PhoneBank, sip_password: str, sandbox_paths: sandbox.SandboxPaths) -> None:
    async with running(_config(acd_config)) as ctl:
        shown = sandbox.cli(sandbox_paths, "dialplan show globals").replace(" ", "")
        # the controller tells the dialplan to announce recording and the city's zone for its file names
        assert "HOTLINE_RECORD_NOTICE=1" in shown and "HOTLINE_CITY_ZONE=Asia/Shanghai" in shown, shown
        citizen, agent = await _answered(ctl, phones, sip_password, "13800190001", "张三")
        await _talked(time.monotonic(), (citizen, (AGENT_HZ,)), (agent, (CITIZEN_HZ,)), seconds=3.0)
        await citizen.hangup()
        [record] = await _ended(ctl, "13800190001")
        path = await _check(ctl, record, CITIZEN_HZ, AGENT_HZ)
        assert (path.parent.name, path.stem) == (_city_day(ctl, record), record.linkedid)  # by date, then linkedid


async def test_a_callback_is_recorded_like_an_inbound_call(
        acd_config: Config, phones: PhoneBank, sip_password: str, sandbox_paths: sandbox.SandboxPaths) -> None:
    from acd.records import Disposition

    async with running(_config(acd_config)) as ctl:  # the citizen hears the notice before being put through
        number = "13890190002"
        citizen = await phones.add(PhoneSpec("citizen", number, "冯八", auto_answer=True, tone_hz=CITIZEN_HZ,
                                             keep_audio=True))
        sandbox.cli(sandbox_paths, f"database put sandbox-carrier {number} 127.0.0.1:{citizen.spec.sip_port}")
        try:
            await citizen.dial("12345")
            await citizen.wait_event("CALL_ESTABLISHED", timeout=10)
            await wait_until(lambda: any(c.stage == "queue" for c in ctl.engine.calls.calls.values()), timeout=20,
                             what="the citizen waiting in the queue")
            await citizen.hangup()  # nobody was ready: a lost call, called back
            await citizen.wait_event("CALL_CLOSED", timeout=10)
            await wait_until(lambda: any(e.open for e in ctl.engine.callbacks.book.entries.values()),
                             what="the callback entry")
            agent = await phones.add(PhoneSpec("agent1001", "agent1001", password=sip_password, auto_answer=True,
                                               tone_hz=AGENT_HZ, keep_audio=True))
            await ctl.engine.request("login", "agent1001")
            await ctl.engine.request("ready", "agent1001")
            await agent.wait_event("CALL_ESTABLISHED", timeout=15)
            await citizen.wait_event("CALL_ESTABLISHED", timeout=30)
            answered = time.monotonic()
            await hears(citizen, answered, 0.1, AGENT_HZ, timeout=20)  # the notice, then the agent
            await _talked(time.monotonic(), (citizen, (AGENT_HZ,)), (agent, (CITIZEN_HZ,)))
            await citizen.hangup()
            records = await _ended(ctl, number)
            [called] = [r for r in records if r.disposition is Disposition.CALLED_BACK]
            path = await _check(ctl, called, CITIZEN_HZ, AGENT_HZ)
            assert path.parent.name == _city_day(ctl, called)  # the dialplan names it on the city's clock too
        finally:
            sandbox.cli(sandbox_paths, "database deltree sandbox-carrier")


async def test_a_three_way_call_with_110_is_one_recording_with_every_party(
        acd_config: Config, phones: PhoneBank, sip_password: str, sandbox_paths: sandbox.SandboxPaths) -> None:
    async with running(_config(acd_config, notice=False)) as ctl:
        operator = await phones.add(PhoneSpec("trunk-party", "110", auto_answer=True, tone_hz=THIRD_HZ,
                                              keep_audio=True))
        sandbox.carrier_put(sandbox_paths, "110", operator.spec.sip_port)
        try:
            citizen, agent = await _answered(ctl, phones, sip_password, "13800190003", "李四")
            await _talked(time.monotonic(), (citizen, (AGENT_HZ,)), (agent, (CITIZEN_HZ,)))
            await ctl.engine.handover("threeway", "agent1001", target="110")
            await operator.wait_event("CALL_ESTABLISHED", timeout=20)
            await wait_until(lambda: (ctl.engine.handover_of("agent1001") or {}).get("stage") == "joined",
                             what="the three-way joined")
            # the three talk: each hears the other two, mixed
            await _talked(time.monotonic(), (citizen, (AGENT_HZ, THIRD_HZ)), (operator, (CITIZEN_HZ, AGENT_HZ)))
            await citizen.hangup()
            [record] = await _ended(ctl, "13800190003")
            path = await _check(ctl, record, CITIZEN_HZ, AGENT_HZ)
            assert _mix_share(path, THIRD_HZ) > 0.2, "110's voice is in the recording of the three-way"
        finally:
            sandbox.cli(sandbox_paths, "database deltree sandbox-carrier")


def test_the_monitor_folder_is_the_one_asterisk_writes(sandbox_paths: sandbox.SandboxPaths, acd_config: Config) -> None:
    """The sandbox's [recordings] monitor_dir is Asterisk's spool: a misconfigured path would
    leave every recording unconverted."""
    spool = Path(acd_config.recordings.monitor_dir)
    assert spool.parent == sandbox_paths.root / "var/spool/asterisk", spool
    assert os.path.isdir(spool.parent)


async def test_a_recording_left_by_a_stopped_controller_is_converted_by_the_next_one(
        acd_config: Config, phones: PhoneBank, sip_password: str) -> None:
    """The controller stops right after a call, before converting (here: with its converter
    off); the next start finds the call's recording in the store and converts it."""
    first = _config(acd_config, notice=False)
    first = dataclasses.replace(first, recordings=dataclasses.replace(first.recordings, enabled=False))
    async with running(first) as ctl:
        citizen, agent = await _answered(ctl, phones, sip_password, "13800190004", "王五")
        await _talked(time.monotonic(), (citizen, (AGENT_HZ,)), (agent, (CITIZEN_HZ,)))
        await citizen.hangup()
        [record] = await _ended(ctl, "13800190004")
        assert await ctl.recording_store.get(record.linkedid) is None  # nothing converted meanwhile
    async with running(_config(acd_config, notice=False)) as ctl:
        await _check(ctl, record, CITIZEN_HZ, AGENT_HZ)
        assert ctl.converter is not None and ctl.converter.health()["recordings_converted"] == 1.0
