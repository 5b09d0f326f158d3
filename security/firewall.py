"""Blocks carried out in this host's firewall: an nftables set with per-element timeouts
(`table inet hotline_guard`, set `blocked`, dropped on input), so a block expires by itself in
the kernel even if the controller is gone. Needs root (CAP_NET_ADMIN); where nft is missing or
refused, the block is logged and the hotline runs on (the alert still goes out).

The table is the controller's own: created at start, emptied at stop; nothing else on the host
is touched."""

from __future__ import annotations

import asyncio
import logging
import shutil

log = logging.getLogger("security.firewall")

TABLE = "hotline_guard"
RULES = f"""table inet {TABLE} {{
  set blocked {{ type ipv4_addr; flags timeout; }}
  chain input {{ type filter hook input priority -10; policy accept; ip saddr @blocked drop; }}
}}
"""


class NftFirewall:
    def __init__(self) -> None:
        self.ready = False

    async def _nft(self, *args: str, stdin: str | None = None, quiet: bool = False) -> bool:
        if shutil.which("nft") is None:
            log.warning("nft is not installed: blocks are alerts only")
            return False
        proc = await asyncio.create_subprocess_exec(
            "nft", *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate(stdin.encode() if stdin is not None else None)
        if proc.returncode != 0 and not quiet:
            log.warning("nft %s failed: %s", " ".join(args), err.decode(errors="replace").strip())
        return proc.returncode == 0

    async def start(self) -> None:
        await self._nft("delete", "table", "inet", TABLE, quiet=True)  # a table a killed run left
        self.ready = await self._nft("-f", "-", stdin=RULES)

    async def block(self, address: str, seconds: float) -> None:
        if not self.ready or ":" in address:  # the set holds IPv4 addresses
            return
        await self._nft("add", "element", "inet", TABLE, "blocked",
                        f"{{ {address} timeout {max(1, round(seconds))}s }}")

    async def unblock(self, address: str) -> None:
        if self.ready:  # usually the kernel's timeout already took it out: nothing to delete
            proc = await asyncio.create_subprocess_exec(
                "nft", "delete", "element", "inet", TABLE, "blocked", f"{{ {address} }}",
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            await proc.wait()

    async def stop(self) -> None:
        if self.ready:
            await self._nft("delete", "table", "inet", TABLE)
            self.ready = False
