"""A home network for tests: a remote agent's phone behind a NAT router, in network namespaces.

    host (Asterisk's remote-seat transport) 10.77.N.1 ── veth ── 10.77.N.2 router ── veth ── 192.168.77.2 home
                                                            (nftables masquerade)

The router namespace forwards the home's traffic and masquerades it (nftables), so Asterisk sees
the router's address and ports, not the ones the phone writes in its SIP messages: what NAT
does to a home seat. The host has no route to the home's addresses. Addresses are private and
exist only while the test runs; the namespaces go with it (their veths with them).

The test process talks to a phone inside the home namespace (its ctrl_tcp on the home's
loopback) through a socket opened in that namespace (`connect_inside`).
"""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CLONE_NEWNET = 0x40000000
HOME_ADDRESS = "192.168.77.2"
HOME_GATEWAY = "192.168.77.1"


class NetnsError(RuntimeError):
    pass


def _run(*args: str, stdin: str | None = None) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, input=stdin)
    if proc.returncode != 0:
        raise NetnsError(f"{' '.join(args)}: {(proc.stderr or proc.stdout).strip()}")


@dataclass
class HomeNetwork:
    """`index` keeps two home networks of one machine apart (10.77.<index>.0/30)."""

    index: int = 0
    sip_port: int = 0  # the remote-seat transport's port on host_address (free_port: one nobody holds)

    @property
    def home(self) -> str:
        return f"hlhome{self.index}"

    @property
    def router(self) -> str:
        return f"hlrouter{self.index}"

    @property
    def phone_address(self) -> str:
        return HOME_ADDRESS

    @property
    def phone_interface(self) -> str:
        return f"hll{self.index}h"

    @property
    def host_address(self) -> str:
        """Where Asterisk's remote-seat transport listens (the home reaches it through NAT)."""
        return f"10.77.{self.index}.1"

    @property
    def router_address(self) -> str:
        """The address Asterisk sees the home's traffic come from."""
        return f"10.77.{self.index}.2"

    def __enter__(self) -> HomeNetwork:
        self.close()  # what a killed run left
        n = self.index
        wan_host, wan_router, lan_router, lan_home = f"hlw{n}h", f"hlw{n}r", f"hll{n}r", f"hll{n}h"
        try:
            for ns in (self.home, self.router):
                _run("ip", "netns", "add", ns)
                _run("ip", "-n", ns, "link", "set", "lo", "up")
            _run("ip", "link", "add", wan_host, "type", "veth", "peer", "name", wan_router)
            _run("ip", "link", "set", wan_router, "netns", self.router)
            _run("ip", "addr", "add", f"{self.host_address}/30", "dev", wan_host)
            _run("ip", "link", "set", wan_host, "up")
            _run("ip", "-n", self.router, "addr", "add", f"{self.router_address}/30", "dev", wan_router)
            _run("ip", "-n", self.router, "link", "set", wan_router, "up")
            _run("ip", "-n", self.router, "route", "add", "default", "via", self.host_address)
            _run("ip", "-n", self.router, "link", "add", lan_router, "type", "veth", "peer", "name", lan_home)
            _run("ip", "-n", self.router, "link", "set", lan_home, "netns", self.home)
            _run("ip", "-n", self.router, "addr", "add", f"{HOME_GATEWAY}/24", "dev", lan_router)
            _run("ip", "-n", self.router, "link", "set", lan_router, "up")
            _run("ip", "-n", self.home, "addr", "add", f"{HOME_ADDRESS}/24", "dev", lan_home)
            _run("ip", "-n", self.home, "link", "set", lan_home, "up")
            _run("ip", "-n", self.home, "route", "add", "default", "via", HOME_GATEWAY)
            _run("ip", "netns", "exec", self.router, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
            rules = (f"table ip hotline_nat {{\n chain post {{\n  type nat hook postrouting priority 100;\n"
                     f"  oifname \"{wan_router}\" masquerade\n }}\n}}\n")
            _run("ip", "netns", "exec", self.router, "nft", "-f", "-", stdin=rules)
        except Exception:
            self.close()
            raise
        return self

    def free_port(self) -> int:
        """A UDP port free on the host's side of the home line, for Asterisk's transport there."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((self.host_address, 0))
            return int(probe.getsockname()[1])

    def cut(self) -> None:
        """The home's line goes down (the router's WAN side), as when a home router restarts."""
        _run("ip", "-n", self.router, "link", "set", f"hlw{self.index}r", "down")

    def restore(self) -> None:
        _run("ip", "-n", self.router, "link", "set", f"hlw{self.index}r", "up")

    def close(self) -> None:
        for ns in (self.home, self.router):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", f"hlw{self.index}h"], capture_output=True)

    def __exit__(self, *exc: object) -> None:
        self.close()

    def command(self, *args: str) -> list[str]:
        """A command line that runs inside the home namespace."""
        return ["ip", "netns", "exec", self.home, *args]

    def connect_inside(self, port: int, host: str = "127.0.0.1") -> socket.socket:
        """A TCP connection opened inside the home namespace (to a phone's ctrl_tcp there)."""
        sock = self.socket_inside(lambda: socket.create_connection((host, port), timeout=2))
        sock.setblocking(False)
        return sock

    def udp_inside(self) -> socket.socket:
        """A UDP socket of the home namespace (what a scanner in that home sends from)."""
        return self.socket_inside(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))

    def socket_inside(self, make: Callable[[], socket.socket]) -> socket.socket:
        result: list[socket.socket | BaseException] = []

        def inside() -> None:  # setns applies to the calling thread only
            libc = ctypes.CDLL(None, use_errno=True)
            try:
                with open(Path("/run/netns") / self.home) as target:
                    if libc.setns(target.fileno(), CLONE_NEWNET) != 0:
                        raise NetnsError(f"setns {self.home}: {os.strerror(ctypes.get_errno())}")
                    result.append(make())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                result.append(exc)

        thread = threading.Thread(target=inside)
        thread.start()
        thread.join()
        if isinstance(result[0], BaseException):
            raise result[0]
        return result[0]
