"""`hotline_pbx.py users`, as an operator runs it: an account made from standard input can log in
through the store's rules; the password is never printed; a short password, a taken name and an
unknown account are refused with a clear line and a non-zero status; disable, list and audit say
what they did."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hotline_pbx import REPO


def run(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "hotline_pbx.py"), "users", *args, "--config", str(config)],
                          input=stdin, capture_output=True, text=True, timeout=60)


def test_the_users_command_makes_lists_disables_and_refuses_clearly(tmp_path: Path) -> None:
    config = tmp_path / "hotline.toml"
    config.write_text(f'[store]\nurl = "sqlite+aiosqlite:///{tmp_path}/hotline.db"\n')
    made = run(config, "add", "--name", "zhang.wei", "--role", "supervisor", "--display", "张伟", "--password-stdin",
               stdin="a-long-enough-secret\n")
    assert made.returncode == 0, made.stderr
    assert "a-long-enough-secret" not in made.stdout + made.stderr
    again = run(config, "add", "--name", "zhang.wei", "--role", "agent", "--password-stdin", stdin="another-secret-1\n")
    assert again.returncode == 1 and "user-exists" in again.stderr
    short = run(config, "add", "--name", "li.na", "--role", "agent", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "weak-password" in short.stderr
    assert run(config, "disable", "--name", "zhang.wei").returncode == 0
    ghost = run(config, "disable", "--name", "ghost")
    assert ghost.returncode == 1 and "unknown-user" in ghost.stderr
    listed = run(config, "list")
    assert listed.returncode == 0 and "zhang.wei" in listed.stdout and "disabled" in listed.stdout
    assert "li.na" not in listed.stdout and "argon2" not in listed.stdout
    assert run(config, "audit").returncode == 0
