"""A real Asterisk 22 for development, tests, CI and the demo.

Debian ships Asterisk 22 only in unstable, so the sandbox is a debootstrap root of sid, cached
outside the repo and reused. The project's `asterisk-conf/` is installed into it as-is, plus two
generated files the repo never holds: `manager_secret.conf` (the AMI secret) and
`pjsip_local.conf` (the sandbox's carrier trunk and test agents). Asterisk runs inside the root as
its own `asterisk` user and listens on 127.0.0.1 only; the root shares the host's network, so the
controller and the baresip phones reach it on loopback.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("devtools.sandbox")

REPO = Path(__file__).resolve().parent.parent
CONF_SOURCE = REPO / "asterisk-conf"
SANDBOX_PACKAGES = ("asterisk", "asterisk-core-sounds-en-gsm", "asterisk-moh-opsound-gsm")
SUITE = "sid"
AGENT_COUNT = 12  # test agents agent1001 … agent1012 in the sandbox
# the sandbox's asterisk user gets the highest id below this that no host or root account uses:
# above the ids adduser hands out (100-999 system, 1000-59999 users), below systemd's
# DynamicUser range (61184-65519), whose ids never appear in /etc/passwd
OWN_ID_CEILING = 60000


class SandboxError(RuntimeError):
    """A one-line, user-facing reason why the sandbox could not do what was asked."""


@dataclass(frozen=True, slots=True)
class SandboxPaths:
    cache: Path = Path(os.environ.get("HOTLINE_SANDBOX_CACHE", "/var/cache/hotline-pbx"))

    @property
    def root(self) -> Path:
        return self.cache / "sid-root"

    @property
    def state(self) -> Path:
        """Host-side state: the AMI secret, the agents' SIP password, phone configs."""
        return self.cache / "sandbox"

    @property
    def ami_secret_file(self) -> Path:
        return self.state / "ami.secret"

    @property
    def sip_secret_file(self) -> Path:
        return self.state / "sip.secret"

    @property
    def sounds(self) -> Path:
        return self.root / "usr/share/asterisk/sounds"

    @property
    def etc(self) -> Path:
        return self.root / "etc/asterisk"

    @property
    def messages_log(self) -> Path:
        return self.root / "var/log/asterisk/messages.log"

    @property
    def boot_log(self) -> Path:
        """What Asterisk logged from start to fully booted (config problems show here)."""
        return self.state / "boot.log"

    @property
    def pidfile(self) -> Path:
        return self.root / "run/asterisk/asterisk.pid"  # /var/run links to /run


# ---- the mirror ------------------------------------------------------------------------------

def apt_mirror(etc_apt: Path = Path("/etc/apt")) -> str:
    """The machine's own Debian mirror, read from its apt sources (never hard-coded)."""
    candidates: list[str] = []
    for sources in sorted((etc_apt / "sources.list.d").glob("*.sources")):
        for stanza in sources.read_text().split("\n\n"):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
            if "deb" not in fields.get("types", "").split():
                continue
            if fields.get("enabled", "yes").lower() == "no":
                continue
            if any(s.endswith("-security") for s in fields.get("suites", "").split()):
                continue
            candidates.extend(fields.get("uris", "").split())
    legacy = etc_apt / "sources.list"
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            parts = line.split("#", 1)[0].split()
            if len(parts) >= 3 and parts[0] == "deb":
                uri = next((p for p in parts[1:] if not p.startswith("[")), "")
                suite = parts[parts.index(uri) + 1] if uri in parts[:-1] else ""
                if uri and not suite.endswith("-security"):
                    candidates.append(uri)
    debian = [uri for uri in candidates if "debian" in uri and "security" not in uri]
    if not (debian or candidates):
        raise SandboxError("no Debian mirror found in /etc/apt/sources.list(.d); cannot debootstrap")
    return (debian or candidates)[0]


# ---- building and configuring the root -------------------------------------------------------

def root_ready(paths: SandboxPaths) -> bool:
    return (paths.root / "usr/sbin/asterisk").exists()


def build_root(paths: SandboxPaths, *, echo: bool = True) -> None:
    """debootstrap a sid root with Asterisk into the cache, once; reuse it afterwards."""
    if root_ready(paths):
        return
    if os.geteuid() != 0:
        raise SandboxError("building the sandbox root needs root (debootstrap, chroot)")
    if shutil.which("debootstrap") is None:
        raise SandboxError("debootstrap is not installed (apt-get install debootstrap)")
    mirror = apt_mirror()
    paths.cache.mkdir(parents=True, exist_ok=True)
    tmp = paths.cache / f"sid-root.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(SANDBOX_PACKAGES)}",
           SUITE, str(tmp), mirror]
    _say(f"building the Asterisk 22 root (debootstrap {SUITE}, about a minute) into {paths.root}", echo)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        tail = (tail + [line.rstrip()])[-20:]
        if echo and line.startswith("I: ") and any(w in line for w in ("Retrieving", "Configuring asterisk", "Base system")):
            if "Retrieving" not in line or "asterisk" in line:
                _say("  " + line[3:].rstrip(), echo)
    if proc.wait() != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SandboxError("debootstrap failed:\n  " + "\n  ".join(tail))
    tmp.rename(paths.root)
    _say(f"root ready in {time.monotonic() - started:.0f}s", echo)


def _asterisk_ids(root: Path) -> tuple[int, int]:
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == "asterisk":
            return int(fields[2]), int(fields[3])
    raise SandboxError(f"no asterisk user in {root}/etc/passwd")


def _id_table(path: Path) -> list[tuple[str, int]]:
    """(name, id) of each passwd/group line; lines that are not `name:x:id:…` are skipped."""
    if not path.exists():
        return []
    table = []
    for line in path.read_text(errors="replace").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] and fields[2].isdigit():
            table.append((fields[0], int(fields[2])))
    return table


def _highest_free(taken: set[int]) -> int:
    for candidate in range(OWN_ID_CEILING - 1, 999, -1):
        if candidate not in taken:
            return candidate
    raise SandboxError(f"no free id between 1000 and {OWN_ID_CEILING} for the sandbox's asterisk user")


def _set_id(path: Path, name: str, new_id: int, primary_gid: int | None = None) -> None:
    """Rewrite `name`'s line of a passwd/group file (field 3, and for passwd the primary group),
    in place of the old file at once, keeping its mode and owner."""
    lines = path.read_text().splitlines(keepends=True)
    for i, line in enumerate(lines):
        fields = line.rstrip("\n").split(":")
        if fields[0] == name and len(fields) >= 4:
            fields[2] = str(new_id)
            if primary_gid is not None:
                fields[3] = str(primary_gid)
            lines[i] = ":".join(fields) + ("\n" if line.endswith("\n") else "")
    info = path.stat()
    tmp = path.with_name(path.name + ".hotline-tmp")
    tmp.write_text("".join(lines))
    os.chown(tmp, info.st_uid, info.st_gid)
    tmp.chmod(stat.S_IMODE(info.st_mode))
    os.replace(tmp, path)


def _chown_tree(root: Path, old_uid: int, new_uid: int, old_gid: int, new_gid: int) -> int:
    """Give every entry in `root` owned by the old ids the new ones; symlinks themselves, never
    their targets, and nothing on another filesystem (the root's /proc, /dev, /sys mounts).
    Returns how many entries changed."""
    device = os.lstat(root).st_dev
    changed = 0

    def retag(path: str) -> None:
        nonlocal changed
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return  # gone since it was listed
        uid = new_uid if info.st_uid == old_uid and old_uid != new_uid else -1
        gid = new_gid if info.st_gid == old_gid and old_gid != new_gid else -1
        if uid == -1 and gid == -1:
            return
        os.lchown(path, uid, gid)
        mode = stat.S_IMODE(info.st_mode)
        if stat.S_ISREG(info.st_mode) and mode & (stat.S_ISUID | stat.S_ISGID):
            os.chmod(path, mode)  # chown clears set-id bits; they belong to the file, keep them
        changed += 1

    retag(str(root))
    for top, dirs, files in os.walk(root, followlinks=False):
        kept = []
        for name in dirs:
            path = os.path.join(top, name)
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(info.st_mode) and info.st_dev != device:
                continue  # a mount inside the root: not the root's own files
            retag(path)  # a symlink to a directory is listed here too; lchown takes the link
            if stat.S_ISDIR(info.st_mode):
                kept.append(name)
        dirs[:] = kept
        for name in files:
            retag(os.path.join(top, name))
    return changed


def ensure_own_ids(root: Path, host_etc: Path = Path("/etc")) -> tuple[int, int] | None:
    """Give the root's asterisk user and group ids no host account or group has (and no other
    account of the root), so the host's `ps` and file listings never show the sandbox's Asterisk
    as, say, postgres. Returns the new (uid, gid), or None when there was nothing to change.

    The new id depends only on the other accounts, and files are re-owned before group, then
    passwd, are rewritten: a run cut short is finished by the next one. Only while Asterisk is
    stopped: a running one keeps its old ids."""
    uid, primary = _asterisk_ids(root)
    root_users, root_groups = _id_table(root / "etc/passwd"), _id_table(root / "etc/group")
    host_users, host_groups = _id_table(host_etc / "passwd"), _id_table(host_etc / "group")
    gid = next((i for n, i in root_groups if n == "asterisk"), None)  # None: no group of its own
    users_taken = {i for _, i in host_users} | {i for n, i in root_users if n != "asterisk"}
    groups_taken = {i for _, i in host_groups} | {i for n, i in root_groups if n != "asterisk"}
    uid_clash = uid in users_taken
    gid_clash = gid is not None and gid in groups_taken
    # passwd still names the group's old id (a run stopped between rewriting group and passwd)
    stale = gid is not None and primary != gid and primary not in {i for _, i in root_groups}
    if not (uid_clash or gid_clash or stale):
        return None
    new_id = _highest_free(users_taken | groups_taken)  # one number for both, when both move
    new_uid = new_id if uid_clash else uid
    new_gid = new_id if gid_clash else (primary if gid is None else gid)
    changed = _chown_tree(root, uid, new_uid, gid if gid is not None else primary, new_gid)
    if gid_clash:
        _set_id(root / "etc/group", "asterisk", new_gid)
    _set_id(root / "etc/passwd", "asterisk", new_uid, new_gid)
    log.info("sandbox asterisk user %d:%d → %d:%d (the old ids belong to host or root accounts); "
             "%d file(s) re-owned", uid, primary, new_uid, new_gid, changed)
    return new_uid, new_gid


def _secret(path: Path) -> str:
    """A random secret kept host-side, created once, readable by root only."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(16)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


def ami_secret(paths: SandboxPaths) -> str:
    return _secret(paths.ami_secret_file)


def sip_secret(paths: SandboxPaths) -> str:
    return _secret(paths.sip_secret_file)


def agent_names(count: int = AGENT_COUNT) -> list[str]:
    return [f"agent{1001 + i}" for i in range(count)]


LAB_AMI_USER = "hotline-lab"


def lab_ami_user(secret: str) -> str:
    """The AMI user of the sandbox's load generators and recording scenes (bench/, scenario
    marks): they play the carrier and the hall (QueuePause, QueueAdd, UserEvent), which the
    controller's own user [hotline] may not. Loopback only, the sandbox's secret."""
    return (f"; generated by hotline_pbx.py sandbox up: load generators' and scenes' user\n[{LAB_AMI_USER}]\n"
            f"secret = {secret}\ndeny = 0.0.0.0/0.0.0.0\npermit = 127.0.0.1/255.255.255.255\nwritetimeout = 5000\n"
            "read = system,call,agent,user,dtmf,reporting,dialplan,security\n"
            "write = system,call,agent,user,originate,reporting\n")


SUPERVISOR_NAMES = ("super2001", "super2002")  # the sandbox's supervisors' phones (sandbox.toml)


def sandbox_pjsip(sip_password: str) -> str:
    """The sandbox's carrier trunk (the loopback address plays the carrier), test agents and
    supervisors' phones (same password)."""
    lines = [
        "; generated by hotline_pbx.py sandbox up: sandbox trunk and test agents",
        "[carrier](trunk-endpoint)",
        "aors = carrier",
        "media_address = 127.0.0.1",
        "bind_rtp_to_media_address = yes",
        "",
        "[carrier]",
        "type = aor",
        "contact = sip:127.0.0.1:5090",
        "",
        "[carrier]",
        "type = identify",
        "endpoint = carrier",
        "match = 127.0.0.1",
        "",
    ]
    for name in [*agent_names(), *SUPERVISOR_NAMES]:
        lines += [
            f"[{name}]({'supervisor' if name.startswith('super') else 'agent'}-endpoint)",
            f"auth = {name}",
            f"aors = {name}",
            f"callerid = \"{name}\" <{name[5:]}>",
            "media_address = 127.0.0.1",
            "bind_rtp_to_media_address = yes",
            "",
            f"[{name}](agent-auth)",
            f"username = {name}",
            f"password = {sip_password}",
            "",
            f"[{name}](agent-aor)",
            "",
        ]
    lines += ["; a recording scene may loosen a seat here (devtools.sandbox.lab_seat); empty otherwise",
              f'#tryinclude "{LAB_PJSIP}"', ""]
    return "\n".join(lines)


LAB_PJSIP = "pjsip_lab.conf"


def lab_seat(paths: SandboxPaths, seat: str | None, sections: str = "", **options: dict[str, str]) -> None:
    """Loosen one sandbox seat for a recording scene and reload PJSIP: `options` by PJSIP
    object type, e.g. endpoint={"allow_transfer": "yes"}, aor={"qualify_frequency": "2"}
    (None: every seat as asterisk-conf/ has it again); `sections`: whole ones to add (a transport
    a home network's seat registers on). Real sites' seats are never loosened:
    this exists only so `record-ami` can show what Asterisk does then."""
    uid, gid = _asterisk_ids(paths.root)
    lab = paths.etc / LAB_PJSIP
    lines = [sections] if sections and seat is not None else []  # whole sections (a transport)
    for object_type, values in ({} if seat is None else options).items():
        lines.append(f"[{seat}](+type={object_type})")
        lines += [f"{name} = {value}" for name, value in values.items()]
    lab.write_text("".join(f"{line}\n" for line in lines))
    os.chown(lab, uid, gid)
    lab.chmod(0o640)
    cli(paths, "module reload res_pjsip.so")


# bench/acd_latency.py measures plain app_queue against the controller's ACD in one run
BENCH_QUEUE = """
[hotline-bench](hotline-queue)
retry = 1
wrapuptime = 0
member => PJSIP/agent1012
"""
BENCH_DIALPLAN = """; generated by hotline_pbx.py sandbox up: benchmark contexts
[hotline-bench]
exten => queue,1,Answer()
 same => n,Queue(hotline-bench,t)
 same => n,Hangup()
exten => hold,1,Answer()
 same => n,Wait(600)
 same => n,Hangup()

; bench/call_storm.py: an agent that answers at once and talks 2 to 4 seconds
[hotline-bench-agent]
exten => _[a-z].,1,Answer()
 same => n,Wait(${RAND(2,4)})
 same => n,Hangup(16)
"""


# bench/service_level.py: the same desks as app_queue would run them in a center — one queue
# per desk, members added by the bench with penalty 5 - skill level, the market and enterprise
# desks overflowing to the general queue by timeout, key enterprises with QUEUE_PRIO; one set of
# queues with retry = 1 and one with app_queue's default retry = 5 (wrap-up the same as the ACD's)
SL_NUMBERS = {"12345": "general", "12315": "market", "12366": "enterprise"}
SL_WRAP_UP = 3
SL_MARKET = (3, 6)  # level >= 3 first; after 6 s in queue the general queue (ACD: any general agent)
SL_ENTERPRISE = (4, 4, 2, 12)  # level >= 4, after 4 s level >= 2, after 12 s the general queue
SL_KEY_ENTERPRISE = "057188886666"
SL_RETRIES = {"r1": 1, "r5": 5}


def service_level_queues() -> str:
    lines = ["", "; bench/service_level.py: one queue per desk, retry 1 (r1) and the default 5 (r5)"]
    for variant, retry in SL_RETRIES.items():
        for desk in ("general", "market", "enterprise"):
            lines += [f"[bench-{variant}-{desk}](hotline-queue)", f"retry = {retry}",
                      f"wrapuptime = {SL_WRAP_UP}", "timeout = 15", ""]
    return "\n".join(lines)


SL_QUEUE_RULES = f"""
; bench/service_level.py: the enterprise desk widens from level >= 4 to level >= 2 (penalty 5 - level)
[bench-enterprise]
penaltychange => {SL_ENTERPRISE[1]},{5 - SL_ENTERPRISE[2]}
"""


def service_level_dialplan() -> str:
    lines = ["", "; bench/service_level.py: a desk agent answers at once; the caller ends the call",
             "[hotline-bench-sl-agent]", "exten => _[a-z].,1,Answer()", " same => n,Wait(3600)",
             " same => n,Hangup(16)"]
    market_level, market_after = SL_MARKET
    ent_level, _, _, ent_after = SL_ENTERPRISE
    for variant in SL_RETRIES:
        q = f"bench-{variant}"
        lines += ["", f"; the same greeting as the intake, then app_queue ({variant})", f"[hotline-bench-aq-{variant}]"]
        for number, desk in SL_NUMBERS.items():
            lines += [f"exten => {number},1,Answer()", " same => n,Playback(hotline/greeting)"]
            if desk == "market":
                lines += [f" same => n,Set(QUEUE_MAX_PENALTY={5 - market_level})",
                          f" same => n,Queue({q}-market,t,,,{market_after})", " same => n,Set(QUEUE_MAX_PENALTY=)"]
            elif desk == "enterprise":
                lines += [f' same => n,ExecIf($["${{CALLERID(num)}}" = "{SL_KEY_ENTERPRISE}"]?Set(QUEUE_PRIO=10))',
                          f" same => n,Set(QUEUE_MAX_PENALTY={5 - ent_level})",
                          f" same => n,Queue({q}-enterprise,t,,,{ent_after},,,bench-enterprise)",
                          " same => n,Set(QUEUE_MAX_PENALTY=)"]
            lines += [f" same => n,Queue({q}-general,t)", " same => n,Hangup(16)"]
    return "\n".join(lines) + "\n"


def fallback_queues(config_file: Path = REPO / "sandbox.toml") -> str:
    """One static app_queue per desk of the sandbox's ACD, for when the controller is gone."""
    import hotline_config

    acd = hotline_config.load(config_file, env={}).acd
    lines = ["; generated by hotline_pbx.py sandbox up from sandbox.toml"]
    for desk in acd.desks:
        lines += ["", f"[hotline-{desk.name}](hotline-queue)", f"wrapuptime = {int(desk.wrap_up)}"]
        lines += [f"member => {a.device}" for a in acd.agents if desk.skill in a.skills]
    return "\n".join(lines) + "\n"


def _sandbox_numbers(config_file: Path = REPO / "sandbox.toml") -> str:
    """The sandbox's own number plan (its desks and numbers differ from the example's)."""
    import hotline_config
    from dialplan.generate import render

    return render(hotline_config.load(config_file, env={}).dialplan, config_file.name)


def install_conf(paths: SandboxPaths, conf_source: Path = CONF_SOURCE) -> None:
    """Replace the root's /etc/asterisk with the project's asterisk-conf/ plus generated files."""
    uid, gid = _asterisk_ids(paths.root)
    etc = paths.etc
    for entry in etc.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    generated = {
        "manager_secret.conf": f"secret = {ami_secret(paths)}\n",
        "manager_local.conf": lab_ami_user(ami_secret(paths)),
        "pjsip_local.conf": sandbox_pjsip(sip_secret(paths)),
        "queues_local.conf": fallback_queues() + BENCH_QUEUE + service_level_queues(),
        "extensions_local.conf": BENCH_DIALPLAN + service_level_dialplan(),
        "queuerules.conf": (conf_source / "queuerules.conf").read_text() + SL_QUEUE_RULES,
        "extensions_numbers.conf": _sandbox_numbers(),
    }
    for source in sorted(conf_source.glob("*.conf")):
        shutil.copyfile(source, etc / source.name)
    for name, text in generated.items():
        (etc / name).write_text(text)
    for entry in [etc, *etc.iterdir()]:
        os.chown(entry, uid, gid)
        entry.chmod(0o750 if entry.is_dir() else 0o640)
    # loopback only: no DNS server (pjsip creates no resolver), the host name resolves locally
    (paths.root / "etc/resolv.conf").write_text("# hotline-pbx sandbox: no DNS, loopback only\n")
    (paths.root / "etc/hosts").write_text(f"127.0.0.1\tlocalhost {socket.gethostname()}\n")
    for sub in ("run/asterisk", "var/log/asterisk", "var/lib/asterisk", "var/spool/asterisk",
                "var/cache/asterisk"):
        d = paths.root / sub
        d.mkdir(parents=True, exist_ok=True)
        os.chown(d, uid, gid)


def install_prompts(paths: SandboxPaths, *, echo: bool = True) -> None:
    """The Mandarin prompts into the root's sounds dir (spoken once; later only changed texts)."""
    from ivr import prompts

    written = prompts.build(paths.sounds)
    if written:
        _say(f"spoke {len(written)} prompt file(s) into {paths.sounds}/{prompts.PROMPT_DIR}", echo)
    uid, gid = _asterisk_ids(paths.root)
    for entry in [paths.sounds / prompts.PROMPT_DIR, *(paths.sounds / prompts.PROMPT_DIR).rglob("*")]:
        os.chown(entry, uid, gid)


# ---- running Asterisk ------------------------------------------------------------------------

def cli(paths: SandboxPaths, command: str, timeout: float = 15.0) -> str:
    """Run one Asterisk CLI command in the sandbox (asterisk -rx) and return its output."""
    proc = subprocess.run(["chroot", str(paths.root), "/usr/sbin/asterisk", "-rx", command],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SandboxError(f"asterisk -rx {command!r} failed: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def carrier_put(paths: SandboxPaths, number: str, sip_port: int) -> None:
    """Where the sandbox's carrier reaches `number`: a baresip on this loopback port (sandbox.toml's
    outbound_dial reads it for callbacks and three-way calls)."""
    cli(paths, f"database put sandbox-carrier {number} 127.0.0.1:{sip_port}")


def carrier_forget(paths: SandboxPaths, number: str) -> None:
    cli(paths, f"database del sandbox-carrier {number}")


def asterisk_pid(paths: SandboxPaths) -> int | None:
    try:
        pid = int(paths.pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None
    return pid if exe.endswith("/asterisk") else None


def start(paths: SandboxPaths, *, echo: bool = True, boot_timeout: float = 60.0) -> None:
    """Install the config and start Asterisk as its own user; return once fully booted."""
    if asterisk_pid(paths):
        _say(f"asterisk already running (pid {asterisk_pid(paths)})", echo)
        return
    if (moved := ensure_own_ids(paths.root)) is not None:
        _say(f"the sandbox's asterisk user now runs as {moved[0]}:{moved[1]}, ids no host account uses",
             echo)
    install_conf(paths)
    install_prompts(paths, echo=echo)
    if paths.messages_log.exists():
        paths.messages_log.write_text("")
    uid, gid = _asterisk_ids(paths.root)
    os.chown(paths.messages_log if paths.messages_log.exists() else paths.root / "var/log/asterisk", uid, gid)
    # what Asterisk writes (recordings, its logs, the call journal) is its own and its group's,
    # never everyone's: umask 027, as production's unit sets it (README)
    proc = subprocess.run(["chroot", str(paths.root), "/usr/sbin/asterisk", "-U", "asterisk",
                           "-G", "asterisk"], capture_output=True, text=True, timeout=30, umask=0o027)
    if proc.returncode != 0:
        raise SandboxError(f"asterisk did not start: {(proc.stderr or proc.stdout).strip()}")
    deadline = time.monotonic() + boot_timeout
    while time.monotonic() < deadline:
        try:
            out = cli(paths, "core waitfullybooted", timeout=max(1.0, deadline - time.monotonic()))
        except (SandboxError, subprocess.TimeoutExpired):
            time.sleep(0.2)
            continue
        if "fully booted" in out.lower():
            shutil.copyfile(paths.messages_log, paths.boot_log)
            _say(f"asterisk {version(paths)} fully booted (pid {asterisk_pid(paths)}); "
                 "AMI 127.0.0.1:5038, SIP 127.0.0.1:5060", echo)
            return
        time.sleep(0.2)
    raise SandboxError(f"asterisk did not report fully booted within {boot_timeout:.0f}s; "
                       f"see {paths.messages_log}")


def stop(paths: SandboxPaths, *, echo: bool = True, timeout: float = 20.0) -> None:
    """Stop Asterisk: hang up what is left and exit; kill it only if it will not go."""
    pid = asterisk_pid(paths)
    if pid is None:
        _say("asterisk is not running", echo)
        return
    try:
        cli(paths, "core stop now", timeout=10)
    except (SandboxError, subprocess.TimeoutExpired):
        pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and asterisk_pid(paths) == pid:
        time.sleep(0.1)
    if asterisk_pid(paths) == pid:
        os.kill(pid, 9)
        _say(f"asterisk (pid {pid}) did not stop in {timeout:.0f}s; killed", echo)
    else:
        _say(f"asterisk (pid {pid}) stopped", echo)


def version(paths: SandboxPaths) -> str:
    out = cli(paths, "core show version").strip()
    parts = out.split()
    return parts[1] if len(parts) > 1 else out


def status(paths: SandboxPaths) -> str:
    """What runs: the root, Asterisk, its uptime, channels and registered phones."""
    lines = [f"root: {paths.root} ({'ready' if root_ready(paths) else 'not built'})"]
    pid = asterisk_pid(paths)
    if pid is None:
        lines.append("asterisk: not running")
        return "\n".join(lines)
    lines.append(f"asterisk: running, pid {pid}, version {version(paths)}")
    uptime = cli(paths, "core show uptime").strip().splitlines()
    lines += [f"  {line}" for line in uptime[:1]]
    channels = cli(paths, "core show channels count").strip().splitlines()
    lines += [f"  {line}" for line in channels if line]
    contacts = [ln for ln in cli(paths, "pjsip show contacts").splitlines()
                if ln.strip().startswith("Contact:") and "<" not in ln and "Avail" in ln]
    lines.append(f"  registered phones: {len(contacts)}")
    return "\n".join(lines)


def config_problems(paths: SandboxPaths) -> list[str]:
    """WARNING/ERROR lines Asterisk logged while booting (a clean config logs none)."""
    if not paths.boot_log.exists():
        return []
    return [line for line in paths.boot_log.read_text(errors="replace").splitlines()
            if " WARNING[" in line or " ERROR[" in line]


def _say(message: str, echo: bool) -> None:
    log.info(message)
    if echo:
        print(message, file=sys.stderr, flush=True)
