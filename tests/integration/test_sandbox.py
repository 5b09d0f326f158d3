"""The sandbox itself: our asterisk-conf/ loads without a single config error, the modules the
controller relies on are running, and nothing listens beyond loopback."""

import subprocess

from devtools import sandbox


def test_given_asterisk_conf_when_loaded_then_asterisk_logs_no_warning_or_error(sandbox_paths) -> None:
    assert sandbox.config_problems(sandbox_paths) == []
    assert "22." in sandbox.version(sandbox_paths)


def test_the_modules_the_controller_needs_are_running(sandbox_paths) -> None:
    out = sandbox.cli(sandbox_paths, "module show")
    for module in ("chan_pjsip.so", "res_agi.so", "app_dial.so", "res_musiconhold.so",
                   "app_mixmonitor.so", "app_queue.so", "app_confbridge.so", "app_chanspy.so"):
        assert module in out, module
    # autoload = no: nothing we did not ask for (e.g. the old chan_iax2 or ARI)
    assert "chan_iax2.so" not in out and "res_ari.so" not in out


def test_asterisk_listens_on_loopback_only(sandbox_paths) -> None:
    """Every listening socket and every service port is on 127.0.0.1. pjproject also binds two
    wildcard UDP sockets on ephemeral ports for its DNS client; the sandbox's resolv.conf names
    no server, so that client can only ask 127.0.0.1."""
    pid = sandbox.asterisk_pid(sandbox_paths)
    listing = subprocess.run(["ss", "-H", "-lntup"], capture_output=True, text=True, check=True).stdout
    sockets = []
    for line in listing.splitlines():
        if f"pid={pid}," in line:
            proto, local = line.split()[0], line.split()[4]
            address, port = local.rsplit(":", 1)
            sockets.append((proto, address, int(port)))
    assert {("tcp", "127.0.0.1", 5038), ("tcp", "127.0.0.1", 5060), ("udp", "127.0.0.1", 5060)} <= set(sockets)
    for proto, address, port in sockets:
        if proto == "tcp" or port < 32768:
            assert address == "127.0.0.1", (proto, address, port)
    resolv = (sandbox_paths.root / "etc/resolv.conf").read_text()
    assert "nameserver" not in resolv


def test_status_says_what_runs(sandbox_paths) -> None:
    text = sandbox.status(sandbox_paths)
    assert "asterisk: running" in text and "version 22." in text


def test_the_mirror_comes_from_the_machines_apt_sources() -> None:
    mirror = sandbox.apt_mirror()
    assert mirror.startswith(("http://", "https://", "file:/"))
