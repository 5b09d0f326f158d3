"""The store is tested on SQLite and on a real PostgreSQL (Debian's postgresql), started here
on loopback in a throwaway cluster."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import itertools
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


_databases = itertools.count(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """A throwaway PostgreSQL cluster on 127.0.0.1, run as the postgres user."""

    def __init__(self, bin_dir: Path, data: Path, port: int) -> None:
        self.bin_dir, self.data, self.port = bin_dir, data, port

    def _run(self, *args: str, check: bool = True) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=check, capture_output=True)

    def init(self) -> None:
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data / "db"), "-U", "postgres",
                  "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")

    def start(self) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data / "db"), "-w", "-l", str(self.data / "log"),
                  "-o", f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data}", "start")

    def stop(self) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data / "db"), "-m", "fast", "-w", "stop",
                  check=False)

    def database(self) -> str:
        name = f"t{next(_databases)}"  # a fresh database per test
        self._run(str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), name)
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgCluster]:
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    reason = None
    if not bins:
        reason = "PostgreSQL is not installed (apt-get install postgresql)"
    elif os.geteuid() != 0 or shutil.which("runuser") is None:
        reason = "starting a PostgreSQL cluster here needs root (runuser -u postgres)"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"POSTGRESQL TESTS NOT RUN: {reason} (CI must run them)")
        pytest.skip(f"POSTGRESQL TESTS NOT RUN: {reason}")
    data = Path(tempfile.mkdtemp(prefix="hotline-pg-", dir="/tmp"))
    shutil.chown(data, "postgres", "postgres")
    cluster = PgCluster(bins[-1], data, _free_port())
    cluster.init()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/calls.db"
    cluster: PgCluster = request.getfixturevalue("postgres")
    return cluster.database()
