"""The controller as an operator runs it (`hotline_pbx.py serve`, a process of its own that a
test can SIGKILL), on a free loopback port, with its log kept for the failure message."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from hotline_pbx import REPO
from devtools import sandbox
from tests.conftest import remember_token


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """One `serve` configuration (its store, tokens and port) and the process running it."""

    def __init__(self, tmp_path: Path, paths: sandbox.SandboxPaths) -> None:
        self.port = free_port()
        self.folder = tmp_path
        # a fresh store: earlier tests' calls in Asterisk's journal would become its lost calls
        sandbox.cli(paths, "database deltree hotline-journal")
        text = (REPO / "sandbox.toml").read_text()
        text = text.replace('ami_secret_file = "/var/cache/hotline-pbx/sandbox/ami.secret"',
                            f'ami_secret_file = "{paths.ami_secret_file}"')
        text = text.replace('url = "sqlite+aiosqlite:////var/lib/hotline-pbx/sandbox.db"',
                            f'url = "sqlite+aiosqlite:///{tmp_path}/calls.db"')
        text = text.replace('journal = "/var/lib/hotline-pbx/sandbox-call-records.journal"',
                            f'journal = "{tmp_path}/journal.jsonl"')
        text = text.replace("port = 8345", f"port = {self.port}")
        text = text.replace('tokens = "/var/lib/hotline-pbx/sandbox-api-tokens"', f'tokens = "{tmp_path}/api-tokens"')
        self.config = tmp_path / "serve.toml"
        self.config.write_text(text)
        self.store_url = f"sqlite+aiosqlite:///{tmp_path}/calls.db"
        self.proc: asyncio.subprocess.Process | None = None
        self.lives = 0
        made = subprocess.run([sys.executable, str(REPO / "hotline_pbx.py"), "api-token", "add", "--config",
                               str(self.config), "--role", "supervisor", "--name", "duty.supervisor"],
                              check=True, capture_output=True, text=True)  # as an operator makes one
        token = made.stdout.splitlines()[-1]
        remember_token(token)  # the run's log scan looks for it (tests/conftest.py)
        self.headers = {"Authorization": f"Bearer {token}"}

    @property
    def log(self) -> Path:
        """Under the test's tmp_path: tests/conftest.py scans every `serve-*.log` of the run."""
        return self.folder / f"serve-{self.lives}.log"

    async def start(self) -> None:
        """Start and wait until the API answers and the first AMI resync is done."""
        self.lives += 1
        with self.log.open("wb") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, str(REPO / "hotline_pbx.py"), "serve", "--config", str(self.config),
                stdout=out, stderr=subprocess.STDOUT)
        for _ in range(200):
            if self.proc.returncode is not None:
                break
            try:
                if await self.api("GET", "/api/agents") is not None and "resynchronised" in self.log.read_text():
                    return
            except (aiohttp.ClientError, json.JSONDecodeError):
                pass
            await asyncio.sleep(0.1)
        self.proc.kill()
        raise AssertionError(f"controller did not come up; its log:\n{self.log.read_text()[-4000:]}")

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no goodbye, no flush
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()

    async def api(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        async with aiohttp.ClientSession() as http:
            async with http.request(method, f"http://127.0.0.1:{self.port}{path}", json=body,
                                    headers=self.headers if headers is None else headers) as resp:
                return json.loads(await resp.text())

    async def agents(self) -> dict[str, tuple[str, str]]:
        return {a["agent_id"]: (a["state"], a["reason"]) for a in await self.api("GET", "/api/agents")}
