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


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
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
    bin_dir = bins[-1]
    data = Path(tempfile.mkdtemp(prefix="hotline-pg-", dir="/tmp"))
    shutil.chown(data, "postgres", "postgres")
    port = _free_port()

    def as_postgres(*args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True)

    as_postgres(str(bin_dir / "initdb"), "-D", str(data / "db"), "-U", "postgres", "--auth=trust",
                "-E", "UTF8", "--locale=C.UTF-8")
    as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-w", "-l", str(data / "log"),
                "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {data}", "start")
    try:
        yield f"{bin_dir}|{port}"
    finally:
        subprocess.run(["runuser", "-u", "postgres", "--", str(bin_dir / "pg_ctl"), "-D", str(data / "db"),
                        "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/calls.db"
    bin_dir, port = str(request.getfixturevalue("postgres_url")).split("|")
    name = f"t{next(_databases)}"  # a fresh database per test
    subprocess.run(["runuser", "-u", "postgres", "--", f"{bin_dir}/createdb", "-h", "127.0.0.1",
                    "-p", port, name], check=True, capture_output=True)
    return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{name}"
