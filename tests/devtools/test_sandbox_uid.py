"""The sandbox's asterisk user never shares an id with a host account: on a host where its uid is
postgres's, `ps` showed the sandbox's Asterisk as postgres. A fake root and a fake host /etc in
tmp_path; the chowns are real (the tests run as root, as the sandbox does)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from devtools import sandbox
from devtools.sandbox import ensure_own_ids

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")

ROOT_PASSWD = ("root:x:0:0:root:/root:/bin/bash\n"
               "_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\n"
               "asterisk:x:101:101:Asterisk PBX daemon:/var/lib/asterisk:/usr/sbin/nologin\n")
ROOT_GROUP = "root:x:0:\ndialout:x:20:asterisk\naudio:x:29:asterisk\nasterisk:x:101:\n"
HOST_PASSWD = ("root:x:0:0:root:/root:/bin/bash\n"
               "messagebus:x:100:102::/nonexistent:/usr/sbin/nologin\n"
               "postgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n"
               "ops:x:59999:59999::/home/ops:/bin/bash\n"
               "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
HOST_GROUP = "root:x:0:\n_ssh:x:101:\npostgres:x:104:\nops:x:59999:\nlab:x:59998:\n"


def make(tmp_path: Path, root_passwd: str = ROOT_PASSWD, root_group: str = ROOT_GROUP,
         host_passwd: str = HOST_PASSWD, host_group: str = HOST_GROUP) -> tuple[Path, Path]:
    root, host = tmp_path / "sid-root", tmp_path / "host-etc"
    (root / "etc").mkdir(parents=True)
    host.mkdir()
    (root / "etc/passwd").write_text(root_passwd)
    (root / "etc/group").write_text(root_group)
    (host / "passwd").write_text(host_passwd)
    (host / "group").write_text(host_group)
    for d in ("var/lib/asterisk/keys", "var/log/asterisk", "usr/sbin"):
        (root / d).mkdir(parents=True)
    owned = {"var/lib/asterisk": (101, 101), "var/lib/asterisk/keys": (101, 101),
             "var/lib/asterisk/astdb.sqlite3": (101, 101), "var/log/asterisk": (101, 101),
             "var/log/asterisk/messages.log": (101, 0), "etc/asterisk.conf": (0, 101),
             "usr/sbin/asterisk": (0, 0)}
    for name, (uid, gid) in owned.items():
        path = root / name
        if not path.exists():
            path.write_text(name)
        os.chown(path, uid, gid)
    return root, host


def owner(path: Path) -> tuple[int, int]:
    info = os.lstat(path)
    return info.st_uid, info.st_gid


def test_given_the_hosts_postgres_has_asterisks_ids_then_asterisk_moves_to_ids_free_everywhere(
        tmp_path: Path) -> None:
    root, host = make(tmp_path)
    (root / "etc/passwd").chmod(0o644)
    outside = tmp_path / "host-file"
    outside.write_text("not the sandbox's")
    (root / "var/lib/asterisk/outside").symlink_to(outside)
    os.lchown(root / "var/lib/asterisk/outside", 101, 101)
    (root / "var/lib/asterisk/keys-link").symlink_to(root / "var/lib/asterisk/keys")
    os.lchown(root / "var/lib/asterisk/keys-link", 101, 101)
    setgid = root / "usr/sbin/astgenkey"
    setgid.write_text("#!/bin/sh\n")
    os.chown(setgid, 101, 101)
    setgid.chmod(0o2755)

    assert ensure_own_ids(root, host) == (59997, 59997)  # 59999, 59998 are the host's

    assert sandbox._asterisk_ids(root) == (59997, 59997)
    assert (root / "etc/passwd").read_text() == ROOT_PASSWD.replace(":101:101:", ":59997:59997:")
    assert (root / "etc/group").read_text() == ROOT_GROUP.replace("asterisk:x:101:", "asterisk:x:59997:")
    assert stat.S_IMODE((root / "etc/passwd").stat().st_mode) == 0o644
    assert owner(root / "var/lib/asterisk") == (59997, 59997)
    assert owner(root / "var/lib/asterisk/astdb.sqlite3") == (59997, 59997)
    assert owner(root / "var/log/asterisk/messages.log") == (59997, 0)  # only what was asterisk's
    assert owner(root / "etc/asterisk.conf") == (0, 59997)
    assert owner(root / "usr/sbin/asterisk") == (0, 0)
    assert owner(root / "var/lib/asterisk/outside") == (59997, 59997)  # the link itself …
    assert owner(outside) == (0, 0)  # … never what it points to
    assert owner(root / "var/lib/asterisk/keys-link") == (59997, 59997)
    assert stat.S_IMODE(setgid.stat().st_mode) == 0o2755 and owner(setgid) == (59997, 59997)


def test_given_ids_already_moved_then_a_second_run_changes_nothing(tmp_path: Path) -> None:
    root, host = make(tmp_path)
    assert ensure_own_ids(root, host) is not None
    passwd_inode = (root / "etc/passwd").stat().st_ino
    ctimes = {p: os.lstat(p).st_ctime_ns for p in root.rglob("*")}

    assert ensure_own_ids(root, host) is None

    assert (root / "etc/passwd").stat().st_ino == passwd_inode
    assert {p: os.lstat(p).st_ctime_ns for p in root.rglob("*")} == ctimes


def test_given_a_run_cut_short_after_the_group_file_then_the_next_run_finishes_it(
        tmp_path: Path) -> None:
    root, host = make(tmp_path, root_group=ROOT_GROUP.replace("asterisk:x:101:", "asterisk:x:59997:"))
    for path in [root, *root.rglob("*")]:  # the files were re-owned before the cut
        info = os.lstat(path)
        os.lchown(path, 59997 if info.st_uid == 101 else -1, 59997 if info.st_gid == 101 else -1)

    assert ensure_own_ids(root, host) == (59997, 59997)

    assert sandbox._asterisk_ids(root) == (59997, 59997)
    assert owner(root / "var/lib/asterisk/astdb.sqlite3") == (59997, 59997)
    assert ensure_own_ids(root, host) is None


def test_given_ids_no_host_account_uses_then_nothing_is_touched(tmp_path: Path) -> None:
    root, host = make(tmp_path, host_passwd="root:x:0:0:root:/root:/bin/bash\n",
                      host_group="root:x:0:\n")
    ctimes = {p: os.lstat(p).st_ctime_ns for p in root.rglob("*")}

    assert ensure_own_ids(root, host) is None

    assert sandbox._asterisk_ids(root) == (101, 101)
    assert {p: os.lstat(p).st_ctime_ns for p in root.rglob("*")} == ctimes


def test_given_only_the_group_id_is_taken_on_the_host_then_only_the_group_moves(tmp_path: Path) -> None:
    root, host = make(tmp_path, host_passwd="root:x:0:0:root:/root:/bin/bash\n")

    assert ensure_own_ids(root, host) == (101, 59997)

    assert owner(root / "var/lib/asterisk/astdb.sqlite3") == (101, 59997)
    assert "asterisk:x:101:59997:" in (root / "etc/passwd").read_text()


def test_given_another_account_of_the_root_shares_the_uid_then_asterisk_moves(tmp_path: Path) -> None:
    root, host = make(tmp_path, root_passwd=ROOT_PASSWD + "mail:x:101:8:mail:/var/mail:/usr/sbin/nologin\n",
                      host_passwd="root:x:0:0:root:/root:/bin/bash\n", host_group="root:x:0:\n")

    assert ensure_own_ids(root, host) == (59999, 101)

    assert "mail:x:101:8:" in (root / "etc/passwd").read_text()


def test_given_a_mount_inside_the_root_then_its_files_are_left_alone(tmp_path: Path) -> None:
    root, host = make(tmp_path)
    proc = root / "proc"
    proc.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "hotline-test", str(proc)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        (proc / "1").write_text("a process")
        os.chown(proc / "1", 101, 101)

        ensure_own_ids(root, host)

        assert owner(proc / "1") == (101, 101)
        assert owner(root / "var/lib/asterisk/astdb.sqlite3") == (59997, 59997)
    finally:
        subprocess.run(["umount", str(proc)], check=True)


def test_given_no_free_id_then_the_reason_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, host = make(tmp_path)
    monkeypatch.setattr(sandbox, "OWN_ID_CEILING", 1002)
    taken = "".join(f"u{i}:x:{i}:{i}::/:/bin/false\n" for i in (1000, 1001))
    (host / "passwd").write_text(HOST_PASSWD + taken)
    with pytest.raises(sandbox.SandboxError, match="no free id between 1000 and 1002"):
        ensure_own_ids(root, host)
    assert sandbox._asterisk_ids(root) == (101, 101)


def test_given_a_stopped_sandbox_when_started_then_ids_are_fixed_before_the_config_goes_in(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[str] = []

    class Stop(Exception):
        pass

    def install_conf(paths: sandbox.SandboxPaths) -> None:
        steps.append("install_conf")
        raise Stop

    monkeypatch.setattr(sandbox, "ensure_own_ids", lambda root: steps.append(f"ids {root.name}"))
    monkeypatch.setattr(sandbox, "install_conf", install_conf)
    paths = sandbox.SandboxPaths(tmp_path)
    monkeypatch.setattr(sandbox, "asterisk_pid", lambda p: None)
    with pytest.raises(Stop):
        sandbox.start(paths, echo=False)
    assert steps == ["ids sid-root", "install_conf"]
    steps.clear()
    monkeypatch.setattr(sandbox, "asterisk_pid", lambda p: 4242)  # running: its ids stay as they are
    sandbox.start(paths, echo=False)
    assert steps == []

