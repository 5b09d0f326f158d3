"""A home seat provisioned the way a site does it (issue 16): the seat is in the roster, its
password and the PBX's certificate are made by the documented commands, `seats apply` writes
its PJSIP endpoint and reloads Asterisk over AMI (no restart), and the agent's baresip, behind
the NAT of its own home network, registers over TLS and takes a queued call with SRTP audio."""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import hotline_config
from acd.records import Disposition
from devtools import sandbox
from devtools.netns import HomeNetwork
from devtools.phones import PhoneBank, PhoneSpec
from hotline_config import Config
from hotline_pbx import SANDBOX_CONFIG
from seats.pjsip import SEATS_FILE

from .conftest import agent_view, hears, running, wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SEAT = "agent1901"
CITIZEN_HZ, HOME_HZ = 600, 900


@dataclass
class Site:
    network: HomeNetwork
    config_file: Path
    credentials: Path
    tls_dir: Path
    port: int

    def seats(self, *words: str) -> subprocess.CompletedProcess[str]:
        """One `hotline_pbx.py seats …` command as an administrator types it; its output is shown
        when it fails."""
        done = subprocess.run([sys.executable, str(ROOT / "hotline_pbx.py"), "seats", *words,
                               "--config", str(self.config_file)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"seats {' '.join(words)}: rc {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done


def _tcp_port(address: str) -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def site(tmp_path: Path, sandbox_paths: sandbox.SandboxPaths) -> Iterator[Site]:
    """The sandbox's site file plus a home seat in the roster and a [seats] section whose TLS
    transport faces a home network of this test (a port nobody holds)."""
    with HomeNetwork(3) as network:
        port = _tcp_port(network.host_address)
        tls_dir = sandbox_paths.etc / f"keys-{port}"
        credentials = tmp_path / "secrets" / "sip-credentials"
        config_file = tmp_path / "site.toml"
        config_file.write_text(SANDBOX_CONFIG.read_text(encoding="utf-8") + f"""
[[acd.agents]]
id = "{SEAT}"
name = "居家坐席"
device = "PJSIP/{SEAT}"
seat = "1901"
pin = "1901"
skills = {{ general = 5 }}

[seats]
provision = "{SEAT}"
home = "{SEAT}"
credentials = "{credentials}"
conf_dir = "{sandbox_paths.etc}"
tls_dir = "{tls_dir}"
tls_bind = "{network.host_address}:{port}"
media_address = "{network.host_address}"
asterisk_root = "{sandbox_paths.root}"
""", encoding="utf-8")
        try:
            yield Site(network, config_file, credentials, tls_dir, port)
        finally:
            (sandbox_paths.etc / SEATS_FILE).unlink(missing_ok=True)
            shutil.rmtree(tls_dir, ignore_errors=True)
            sandbox.cli(sandbox_paths, "module reload res_pjsip.so")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _site_config(acd_config: Config, site: Site) -> Config:
    """This test's controller: the sandbox's (its store, its AMI) with the site's roster."""
    return dataclasses.replace(acd_config, acd=hotline_config.load(site.config_file, env={}).acd)


async def test_a_home_seat_made_by_the_commands_registers_over_tls_and_talks_with_srtp(
        acd_config: Config, phones: PhoneBank, sandbox_paths: sandbox.SandboxPaths, site: Site) -> None:
    made = site.seats("credentials")
    password = site.seats("password", SEAT).stdout.strip()
    assert len(password) >= 32 and password not in made.stdout + made.stderr  # made, never shown
    assert _mode(site.credentials) == 0o600 and _mode(site.credentials.parent) == 0o700
    again = site.seats("credentials")
    assert "0 password(s) made" in again.stdout and site.seats("password", SEAT).stdout.strip() == password

    uid, gid = sandbox._asterisk_ids(sandbox_paths.root)
    site.seats("certs", "--name", site.network.host_address, "--owner", f"{uid}:{gid}")
    assert _mode(site.tls_dir / "server.key") == 0o600 and (site.tls_dir / "server.key").stat().st_uid == uid
    assert _mode(site.tls_dir / "ca.key") == 0o600 and (site.tls_dir / "ca.key").stat().st_uid == os.getuid()
    # the certificate a phone at home is shown is valid for the address it dials, under the CA
    shown = subprocess.run(site.network.command(
        "openssl", "s_client", "-connect", f"{site.network.host_address}:{site.port}",
        "-CAfile", str(site.tls_dir / "ca.crt"), "-verify_ip", site.network.host_address,
        "-verify_return_error"), input="", capture_output=True, text=True, timeout=30)
    assert shown.returncode != 0  # nothing listens yet: the transport comes with `seats apply`

    booted = sandbox.cli(sandbox_paths, "core show uptime seconds")
    applied = site.seats("apply")
    assert SEAT in applied.stdout and "TLS + SRTP" in applied.stdout, applied.stdout
    generated = sandbox_paths.etc / SEATS_FILE
    assert _mode(generated) == 0o640 and generated.stat().st_gid == gid
    system_uptime = booted.split("System uptime:")[1].split()[0]
    assert int(sandbox.cli(sandbox_paths, "core show uptime seconds").split("System uptime:")[1].split()[0]) \
        >= int(system_uptime)  # a reload, not a restart
    shown = subprocess.run(site.network.command(
        "openssl", "s_client", "-connect", f"{site.network.host_address}:{site.port}",
        "-CAfile", str(site.tls_dir / "ca.crt"), "-verify_ip", site.network.host_address,
        "-verify_return_error"), input="", capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0 and "Verify return code: 0 (ok)" in shown.stdout, shown.stdout + shown.stderr

    async with running(_site_config(acd_config, site)) as ctl:
        agent = await phones.add(PhoneSpec(SEAT, SEAT, password=password, auto_answer=True, tone_hz=HOME_HZ,
                                           keep_audio=True, home=site.network,
                                           server=f"{site.network.host_address}:{site.port}",
                                           tls_ca=site.tls_dir / "ca.crt"))
        _, listed = await ctl.ami.client.send_list_action("PJSIPShowContacts")
        uris = [e.get("Uri") for e in listed if e.name == "ContactList" and e.get("Endpoint") == SEAT]
        # registered through the home's NAT, over TLS: the contact is the router's address
        assert len(uris) == 1 and f"@{site.network.router_address}:" in uris[0] and "transport=tls" in uris[0].lower(), uris
        await wait_until(lambda: agent_view(ctl, SEAT).reachable, what="the home phone reachable (qualified)")
        citizen = await phones.add(PhoneSpec("citizen", "13800138031", "周九", tone_hz=CITIZEN_HZ, keep_audio=True))
        await ctl.engine.do_not_call("13800138031")
        await ctl.engine.request("login", SEAT)
        await ctl.engine.request("ready", SEAT)
        await citizen.dial("12345")
        await agent.wait_event("CALL_ESTABLISHED", timeout=40)
        [channel] = [c for c in sandbox.cli(sandbox_paths, "core show channels concise").splitlines()
                     if c.startswith(f"PJSIP/{SEAT}-")]
        name = channel.split("!")[0]
        secure = await ctl.ami.client.send_action("Getvar", {"Channel": name, "Variable": "CHANNEL(pjsip,secure)"})
        assert secure.get("Value") == "1"  # the agent's leg is signalled over TLS
        srtp = await ctl.ami.client.send_action("Getvar", {"Channel": name, "Variable": "CHANNEL(rtp,secure)"})
        assert srtp.get("Value") == "1"  # and its audio is SRTP
        since = time.monotonic()
        await hears(citizen, since, 0.5, HOME_HZ)  # SRTP both ways: each hears the other's tone
        await hears(agent, since, 0.5, CITIZEN_HZ)
        await citizen.hangup()
        await wait_until(lambda: ctl.engine.snapshot() == (), what="the call to end")
        await ctl.writer.flush()
        [record] = await ctl.store.by_caller("13800138031")
        assert record.disposition is Disposition.ANSWERED and record.agent == SEAT
        [leg] = [leg for leg in record.legs if leg.who == SEAT]
        quality = dict(leg.quality)  # RTCP (SRTCP) across the home line
        assert set(quality) >= {"jitter_ms", "loss_pct", "rtt_ms"} and quality["loss_pct"] < 50, quality
