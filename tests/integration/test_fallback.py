"""The controller dies (SIGKILL) while a caller waits: Asterisk's wait loop sees the heartbeat
go stale and hands the caller to the desk's static app_queue, where an agent answers. The
controller comes back, resynchronises, and routes the next call itself again."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from hotline_pbx import REPO
from devtools import sandbox
from devtools.phones import PhoneSpec

from .conftest import agent, wait_until

HTTP_PORT = 18345


def serve_config(tmp_path: Path, paths: sandbox.SandboxPaths) -> Path:
    text = (REPO / "sandbox.toml").read_text()
    text = text.replace('ami_secret_file = "/var/cache/hotline-pbx/sandbox/ami.secret"',
                        f'ami_secret_file = "{paths.ami_secret_file}"')
    text = text.replace('url = "sqlite+aiosqlite:////var/lib/hotline-pbx/sandbox.db"',
                        f'url = "sqlite+aiosqlite:///{tmp_path}/calls.db"')
    text = text.replace('journal = "/var/lib/hotline-pbx/sandbox-call-records.journal"',
                        f'journal = "{tmp_path}/journal.jsonl"')
    text = text.replace("port = 8345", f"port = {HTTP_PORT}")
    text = text.replace('tokens = "/var/lib/hotline-pbx/sandbox-api-tokens"', f'tokens = "{tmp_path}/api-tokens"')
    path = tmp_path / "serve.toml"
    path.write_text(text)
    return path


def supervisor_token(config: Path) -> dict[str, str]:
    """A token made the way an operator makes one (the CLI), as request headers."""
    made = subprocess.run([sys.executable, str(REPO / "hotline_pbx.py"), "api-token", "add", "--config", str(config),
                           "--role", "supervisor", "--name", "duty.supervisor"],
                          check=True, capture_output=True, text=True)
    return {"Authorization": f"Bearer {made.stdout.splitlines()[-1]}"}


async def start_controller(config: Path, headers: dict[str, str]) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(REPO / "hotline_pbx.py"), "serve", "--config", str(config),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            try:
                async with http.get(f"http://127.0.0.1:{HTTP_PORT}/api/agents", headers=headers) as resp:
                    if resp.status == 200:
                        return proc
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    proc.kill()
    raise AssertionError("controller did not come up")


async def api(method: str, path: str, headers: dict[str, str]) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, f"http://127.0.0.1:{HTTP_PORT}{path}", headers=headers) as resp:
            return json.loads(await resp.text())


async def test_given_the_controller_is_killed_then_waiting_callers_reach_the_fallback_queue_and_it_takes_over_again(
        tmp_path, phones, sandbox_paths, sip_password) -> None:
    config = serve_config(tmp_path, sandbox_paths)
    boss = supervisor_token(config)
    # earlier tests' calls in Asterisk's journal would become lost calls to call back first
    sandbox.cli(sandbox_paths, "database deltree hotline-journal")
    a1 = await agent(phones, 1001, sip_password)  # a static member of hotline-general
    controller = await start_controller(config, boss)
    try:
        assert (await api("GET", "/api/calls", {}))["error"] == "unauthorized"  # the API is guarded
        citizen = await phones.add(PhoneSpec("citizen", "13866667777", "周九"))
        await citizen.dial("12345")  # nobody is ready in the controller: the caller waits
        await wait_until(lambda: "hotline-wait" in sandbox.cli(sandbox_paths, "core show channels"),
                         timeout=10, what="the caller waiting in [hotline-wait]")
        os.kill(controller.pid, signal.SIGKILL)
        await controller.wait()
        # heartbeat stale after 3 s: the caller falls back to app_queue and agent1001 answers
        await a1.wait_event("CALL_ESTABLISHED", timeout=20)
        assert "Queue" in sandbox.cli(sandbox_paths, "core show channels")

        controller = await start_controller(config, boss)  # back: resync, then route again
        await citizen.hangup()
        await a1.wait_event("CALL_CLOSED", timeout=10)
        await api("POST", "/api/agents/agent1001/login", boss)
        await asyncio.sleep(2.5)  # the fallback queue's wrap-up on agent1001
        await api("POST", "/api/agents/agent1001/ready", boss)
        second = await phones.add(PhoneSpec("citizen2", "13877778888", "吴十"))
        await second.dial("12345")
        await a1.wait_event("CALL_ESTABLISHED", timeout=20)
        answered = 0
        for _ in range(50):  # the phone may say "established" before DialEnd reaches the engine
            answered = (await api("GET", "/api/desks", boss))["general"]["answered"]
            if answered:
                break
            await asyncio.sleep(0.1)
        assert answered == 1  # routed by the controller, not the queue
        await second.hangup()
    finally:
        if controller.returncode is None:
            controller.terminate()
            await controller.wait()
