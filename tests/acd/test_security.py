"""The flood guard (acd/security.py): who is blocked, when, and for how long."""

from __future__ import annotations

from datetime import datetime, timezone

from acd import events as ev
from acd.security import BlockAddress, BlockView, FloodGuard, UnblockAddress
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


def test_a_lifted_block_ends_at_once_and_its_failures_start_afresh() -> None:
    guard = FloodGuard(threshold=2, window=60.0, block_for=300.0)
    guard.failure("203.0.113.9", "1001", 0.0)
    assert guard.failure("203.0.113.9", "1001", 1.0) is not None
    assert guard.lift("198.51.100.1") is None  # never blocked
    # what it was (with no wall clock given, the guard's own clock)
    assert guard.lift("203.0.113.9") == BlockView("203.0.113.9", 1.0, 301.0, 2, ("1001",))
    assert guard.blocked == {} and guard.lift("203.0.113.9") is None  # once only
    assert guard.expired(301.0) == []  # its timer finds nothing left to lift
    assert guard.failure("203.0.113.9", "1001", 2.0) is None  # one failure, not the third
    assert guard.failure("203.0.113.9", "1001", 3.0) is not None


async def test_supervisors_see_each_block_until_it_expires_or_is_lifted_and_both_are_audited() -> None:
    """What a supervisor sees: the address, since and until (wall clock, the city's epoch),
    what it tried; the blocking and the lifting both kept as audit entries."""
    import asyncio

    from acd import supervision as sv
    from acd.engine import UNBLOCK, Engine

    monotonic, wall = [100.0], [1_764_700_000.0]
    seen: list[object] = []
    engine = Engine({BlockAddress: seen.append, UnblockAddress: seen.append, sv.SaveAudit: seen.append},
                    clock=lambda: monotonic[0], wall=lambda: wall[0],
                    guard=FloodGuard(threshold=2, window=60.0, block_for=30.0))
    runner = asyncio.create_task(engine.run())
    at = datetime(2026, 12, 3, 8, tzinfo=timezone.utc)
    try:
        for address in ("10.77.1.2", "10.77.1.2", "10.77.2.2", "10.77.2.2"):
            engine.submit(ev.SecurityFailure(at, "InvalidAccountID", "scan", address))
            await engine.drained()
            wall[0] += 1.0
        assert engine.blocks() == (BlockView("10.77.1.2", 1_764_700_001.0, 1_764_700_031.0, 2, ("scan",)),
                                   BlockView("10.77.2.2", 1_764_700_003.0, 1_764_700_033.0, 2, ("scan",)))
        blocked = [e for e in seen if isinstance(e, sv.SaveAudit)]
        assert [(e.entry.actor, e.entry.action, e.entry.target) for e in blocked] == [
            ("flood-guard", "block_address", "10.77.1.2"), ("flood-guard", "block_address", "10.77.2.2")]
        lifted = await engine.supervise("unblock", address="10.77.2.2", reason="坐席家里的地址", by="chen.li")
        assert lifted.address == "10.77.2.2"
        assert [a.address for a in engine.blocks()] == ["10.77.1.2"] and "10.77.2.2" not in engine.guard.blocked
        assert UnblockAddress("10.77.2.2") in seen
        entry = [e for e in seen if isinstance(e, sv.SaveAudit)][-1].entry
        assert (entry.actor, entry.action, entry.target, entry.reason) == (
            "chen.li", "unblock_address", "10.77.2.2", "坐席家里的地址")
        before = list(seen)
        try:
            await engine.supervise("unblock", address="10.77.2.2", reason="again", by="chen.li")
            raise AssertionError("lifted twice")
        except sv.SupervisionError as exc:
            assert exc.code == sv.NOT_BLOCKED
        assert seen == before  # the refusal changed nothing
        monotonic[0] += 30.0  # the first block's time is up: its timer lifts it
        engine.submit(ev.TimerFired(UNBLOCK))
        await engine.drained()
        assert engine.blocks() == () and UnblockAddress("10.77.1.2") in seen
    finally:
        engine.stop()
        await runner
