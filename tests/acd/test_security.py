"""The flood guard (acd/security.py): who is blocked, when, and for how long."""

from __future__ import annotations

from datetime import datetime, timezone

from acd import events as ev
from acd.security import BlockAddress, FloodGuard, UnblockAddress
from pbx.ami import Event
from pbx.translate import translate


def test_the_threshold_within_the_window_blocks_and_the_block_expires_exactly_on_time() -> None:
    guard = FloodGuard(threshold=3, window=10.0, block_for=60.0)
    assert guard.failure("203.0.113.9", "1001", 0.0) is None
    assert guard.failure("203.0.113.9", "1002", 4.0) is None
    assert guard.failure("203.0.113.9", "1001", 9.0) == BlockAddress("203.0.113.9", 60.0, 3, ("1001", "1002"))
    assert guard.failure("203.0.113.9", "1003", 9.5) is None  # already blocked: one block, one alert
    assert guard.expired(68.9) == []
    assert guard.expired(69.0) == [UnblockAddress("203.0.113.9")]  # at its deadline, not after
    assert guard.blocked == {}


def test_failures_spread_wider_than_the_window_never_block() -> None:
    guard = FloodGuard(threshold=3, window=10.0)
    assert [guard.failure("203.0.113.9", "x", t) for t in (0.0, 6.0, 10.0, 16.0, 20.0)] == [None] * 5


def test_allowed_and_loopback_addresses_are_never_blocked() -> None:
    guard = FloodGuard(threshold=1, allow=frozenset({"198.51.100.7"}))
    for address in ("198.51.100.7", "127.0.0.1", "127.8.0.1", "::1", ""):
        assert guard.failure(address, "1001", 0.0) is None
    assert guard.failure("198.51.100.8", "1001", 0.0) is not None


def test_quiet_addresses_are_forgotten_once_a_window_has_passed_and_not_before() -> None:
    guard = FloodGuard(threshold=3, window=10.0)
    guard.failure("203.0.113.9", "x", 0.0)
    guard.expired(5.0)
    assert list(guard.failures) == ["203.0.113.9"]
    guard.expired(10.0)
    assert guard.failures == {}


def test_the_alert_names_the_last_five_accounts_tried() -> None:
    guard = FloodGuard(threshold=7, window=60.0)
    for n in range(6):
        guard.failure("203.0.113.9", f"100{n}", float(n))
    block = guard.failure("203.0.113.9", "1005", 6.0)
    assert block is not None and block.accounts == ("1001", "1002", "1003", "1004", "1005")


def test_asterisks_security_events_name_the_remote_address() -> None:
    at = datetime(2026, 12, 2, tzinfo=timezone.utc)
    event = Event("InvalidAccountID", (("Event", "InvalidAccountID"), ("Service", "PJSIP"), ("AccountID", "scan0"),
                                       ("RemoteAddress", "IPV4/UDP/10.77.1.2/40312")))
    assert translate(event, lambda: at) == ev.SecurityFailure(at, "InvalidAccountID", "scan0", "10.77.1.2")
    broken = Event("InvalidPassword", (("Event", "InvalidPassword"), ("RemoteAddress", "garbage")))
    assert translate(broken, lambda: at) is None
