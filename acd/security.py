"""Registration and authentication floods against the agents' SIP ports (issue 16).

Home seats put the hotline's SIP ports on the internet, where scanners try account names and
passwords by the thousand. Asterisk refuses each and says so in AMI security events; the guard
counts them per source address over a sliding window, and an address that reaches the
threshold is blocked for a while (the firewall edge carries it out; the block expires by
itself). Addresses on the allow-list (known home seats, the carrier) are never blocked.

Pure: `failure`, `expired` and `lift` take the time (or the address) and return decisions.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class BlockAddress:
    """Block `address` for `seconds` (supervisors are told: an effect like any other)."""

    address: str
    seconds: float
    failures: int
    accounts: tuple[str, ...]  # the account names it tried, the most recent last


@dataclass(frozen=True, slots=True)
class UnblockAddress:
    address: str


@dataclass(frozen=True, slots=True)
class BlockView:
    """A block as supervisors see it: since and until on the wall clock (epoch seconds)."""

    address: str
    since: float
    until: float
    failures: int
    accounts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Block:
    until: float  # on the guard's own (monotonic) clock: when it expires
    view: BlockView


@dataclass(slots=True)
class FloodGuard:
    threshold: int = 5
    window: float = 60.0
    block_for: float = 300.0
    allow: frozenset[str] = frozenset()
    failures: dict[str, deque[tuple[float, str]]] = field(default_factory=dict)
    blocked: dict[str, Block] = field(default_factory=dict)

    def failure(self, address: str, account: str, now: float, wall: float | None = None) -> BlockAddress | None:
        """One refusal from `address`; a block when it makes `threshold` within `window`.
        `wall`: the wall-clock time of `now`, for what supervisors see (default: `now`)."""
        if not address or address in self.allow or address in self.blocked or _loopback(address):
            return None
        seen = self.failures.setdefault(address, deque())
        seen.append((now, account))
        while seen and seen[0][0] <= now - self.window:
            seen.popleft()
        if len(seen) < self.threshold:
            return None
        accounts = tuple(dict.fromkeys(a for _, a in seen))[-5:]
        del self.failures[address]
        since = now if wall is None else wall
        self.blocked[address] = Block(now + self.block_for, BlockView(address, since, since + self.block_for,
                                                                      len(seen), accounts))
        return BlockAddress(address, self.block_for, len(seen), accounts)

    def expired(self, now: float) -> list[UnblockAddress]:
        """The blocks whose time is up (an integer-safe comparison: a timer firing exactly at
        the deadline lifts it)."""
        done = [a for a, block in self.blocked.items() if block.until <= now + 1e-6]
        for address in done:
            del self.blocked[address]
        # forget old failures of addresses that went quiet
        for address in [a for a, seen in self.failures.items() if seen and seen[-1][0] <= now - self.window]:
            del self.failures[address]
        return [UnblockAddress(a) for a in done]

    def lift(self, address: str) -> BlockView | None:
        """A supervisor lifts a block before its time (a home seat's own address caught by a
        mistyped password, say): what it was, or None when `address` is not blocked. Its
        failures start afresh (a block already forgot them, and none is counted while it holds)."""
        block = self.blocked.pop(address, None)
        return None if block is None else block.view

    def views(self) -> tuple[BlockView, ...]:
        """The blocks held now, oldest first."""
        return tuple(sorted((b.view for b in self.blocked.values()), key=lambda v: (v.since, v.address)))


def _loopback(address: str) -> bool:
    """This host itself (the controller, the sandbox's phones): never blocked."""
    return address.startswith("127.") or address == "::1"
