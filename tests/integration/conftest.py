"""Fixtures for tests against the real sandbox Asterisk 22 with real baresip phones.

They skip only where the sandbox cannot exist (not root, no debootstrap), and say so loudly;
under CI a skip for those reasons is a failure, because CI must run them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

import hotline_config
from acd.desks import AcdConfig
from hotline_config import Config
from hotline_pbx import SANDBOX_CONFIG, Controller
from devtools import sandbox
from devtools.phones import BaresipPhone, PhoneBank, PhoneSpec, heard_tone
from tests.waiting import wait_until  # noqa: F401  (the integration tests import it from here)
from web.access import Role, add_token

pytestmark = pytest.mark.integration


def _why_no_sandbox() -> str | None:
    if os.geteuid() != 0:
        return "not root: the sandbox needs debootstrap and chroot"
    if shutil.which("debootstrap") is None and not sandbox.root_ready(sandbox.SandboxPaths()):
        return "debootstrap is not installed"
    if shutil.which("baresip") is None:
        return "baresip is not installed"
    return None


@pytest.fixture(scope="session")
def sandbox_paths() -> sandbox.SandboxPaths:
    reason = _why_no_sandbox()
    if reason is not None:
        message = f"INTEGRATION TESTS NOT RUN: {reason}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must run them)")
        pytest.skip(message)
    paths = sandbox.SandboxPaths()
    sandbox.build_root(paths)
    sandbox.start(paths)
    return paths


@pytest.fixture
def config(tmp_path: Path, sandbox_paths: sandbox.SandboxPaths) -> Config:
    # each test starts with an empty call journal (earlier tests' calls are not its business)
    sandbox.cli(sandbox_paths, "database deltree hotline-journal")
    base = hotline_config.load(SANDBOX_CONFIG, env={})
    return dataclasses.replace(
        base,
        acd=AcdConfig(),  # the foundation's behaviour: greet and end; ACD tests use acd_config
        asterisk=dataclasses.replace(base.asterisk, ami_secret_file=str(sandbox_paths.ami_secret_file),
                                     ping_interval=1.0, reconnect_max=0.5),
        store=dataclasses.replace(base.store, url=f"sqlite+aiosqlite:///{tmp_path}/calls.db",
                                  journal=str(tmp_path / "journal.jsonl")),
        http=dataclasses.replace(base.http, port=0),
        # MixMonitor writes into the sandbox root; each test's controller converts into its own folder
        recordings=dataclasses.replace(base.recordings, monitor_dir=str(sandbox_paths.root / "var/spool/asterisk/monitor"),
                                       store_dir=str(tmp_path / "recordings")))


@pytest.fixture
def acd_config(config: Config) -> Config:
    """The sandbox's desks and agents (sandbox.toml), with this test's store."""
    return dataclasses.replace(config, acd=hotline_config.load(SANDBOX_CONFIG, env={}).acd)


def with_http(config: Config, folder: Path) -> tuple[Config, int, dict[str, str]]:
    """The config with the HTTP API on a free loopback port and a token file in `folder`; that
    port, and the headers of an agent1001 token (what an agent's client would send)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tokens = str(folder / "api-tokens")
    headers = {"Authorization": f"Bearer {add_token(tokens, Role.AGENT, 'agent1001')}"}
    return dataclasses.replace(config, http=dataclasses.replace(config.http, port=port, tokens=tokens)), port, headers


@contextlib.asynccontextmanager
async def running(config: Config) -> AsyncIterator[Controller]:
    """A controller in this process, past its first AMI resync."""
    ctl = Controller(config)
    await ctl.start()
    try:
        await wait_until(lambda: ctl.ami.resyncs >= 1, what="the controller's first AMI resync")
        yield ctl
    finally:
        await ctl.stop()


@pytest.fixture
async def controller(config: Config) -> AsyncIterator[Controller]:
    async with running(config) as ctl:
        yield ctl


@pytest.fixture
async def acd_controller(acd_config: Config) -> AsyncIterator[Controller]:
    """The controller with the sandbox's desks and agents."""
    async with running(acd_config) as ctl:
        yield ctl


@pytest.fixture
async def phones(tmp_path: Path, sandbox_paths: sandbox.SandboxPaths) -> AsyncIterator[PhoneBank]:
    bank = PhoneBank(tmp_path / "phones")
    try:
        yield bank
    finally:
        await bank.close()


@pytest.fixture
def sip_password(sandbox_paths: sandbox.SandboxPaths) -> str:
    return sandbox.sip_secret(sandbox_paths)


async def agent(bank: PhoneBank, number: int, password: str, auto_answer: bool = True):  # type: ignore[no-untyped-def]
    name = f"agent{number}"
    return await bank.add(PhoneSpec(name, name, password=password, auto_answer=auto_answer))


def asterisk_channels(paths: sandbox.SandboxPaths) -> set[str]:
    """Channel names as `core show channels concise` lists them (fields separated by '!')."""
    out = sandbox.cli(paths, "core show channels concise")
    return {line.split("!")[0] for line in out.splitlines() if "!" in line}


def heard_share(phone: BaresipPhone, hz: int, since: float) -> float:
    """The share of the time since `since` (monotonic) in which `phone` heard `hz`."""
    return heard_tone(phone.heard_audio()[-1], hz, start=-(time.monotonic() - since))


async def hears(phone: BaresipPhone, since: float, share: float, *tones: int, timeout: float = 15.0) -> None:
    """Wait until `phone` has heard `tones` (together: two parties mixed, one dominates each
    100 ms) for `share` of the time since `since`, over at least a second of audio."""
    deadline = time.monotonic() + timeout
    heard = 0.0
    while time.monotonic() < deadline:
        if time.monotonic() - since >= 1.0:
            heard = sum(heard_share(phone, hz, since) for hz in tones)
            if heard > share:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{phone.spec.name} heard {tones} only {heard:.0%} of the time (wanted {share:.0%})")


async def register_again(phone: BaresipPhone, paths: sandbox.SandboxPaths) -> None:
    """The phone registers afresh, its un-REGISTER taken by Asterisk before its REGISTER
    (devtools/phones.py, register_again: in the other order the contact is lost)."""
    aor = phone.spec.user

    def gone() -> bool:
        return f" {aor}/sip:" not in sandbox.cli(paths, f"pjsip show aor {aor}")

    async def unregistered() -> None:
        await wait_until(gone, timeout=10, what=f"Asterisk to let {aor}'s contact go")

    await phone.register_again(unregistered)


def agent_view(ctl: Controller, agent_id: str):  # type: ignore[no-untyped-def]
    """The engine's view of one agent (state, reason, reachable …)."""
    return next(a for a in ctl.engine.agents() if a.agent_id == agent_id)
