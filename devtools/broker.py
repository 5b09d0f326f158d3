"""A mosquitto broker of one's own on loopback (Debian's `mosquitto`), for tests and the demo:
a free port, a config and (optionally) a persistence file in a folder of its own; stop and
start again on the same port (a broker restart mid-test)."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Mosquitto:
    def __init__(self, workdir: Path, *, persistence: bool = False, port: int = 0, settings: tuple[str, ...] = ()) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.log = workdir / "mosquitto.log"
        self.conf = workdir / "mosquitto.conf"
        workdir.mkdir(parents=True, exist_ok=True)
        # `user`: started as root, mosquitto would become the mosquitto user, who may not write here
        lines = [f"listener {self.port} 127.0.0.1", f"user {getpass.getuser()}", "allow_anonymous true",
                 f"persistence {str(persistence).lower()}",
                 f"log_dest file {self.log}", "log_type error", "log_type warning", "log_type notice"]
        if persistence:
            lines += [f"persistence_location {workdir}/", "autosave_interval 1"]
        lines += settings  # e.g. the bench's queue for a slow subscriber
        self.conf.write_text("\n".join(lines) + "\n")
        self._proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return Path(MOSQUITTO).exists() or shutil.which("mosquitto") is not None

    def start(self, timeout: float = 10.0) -> None:
        self._proc = subprocess.Popen([MOSQUITTO if Path(MOSQUITTO).exists() else "mosquitto", "-c", str(self.conf)],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                output = self._proc.stdout.read().decode(errors="replace") if self._proc.stdout else ""
                log = self.log.read_text(errors="replace") if self.log.exists() else ""
                raise RuntimeError(f"mosquitto exited with {self._proc.returncode}: {output}{log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"mosquitto did not listen on 127.0.0.1:{self.port} within {timeout} s")

    def stop(self) -> None:
        """SIGTERM (a persistent broker writes its database on the way out)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
