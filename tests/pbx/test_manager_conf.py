"""asterisk-conf/manager.conf sends the controller every event it consumes and disables none of them."""

from __future__ import annotations

import re
from pathlib import Path

from pbx.translate import CONSUMED_EVENTS

CONF = Path(__file__).resolve().parents[2] / "asterisk-conf" / "manager.conf"


def _included() -> set[str]:
    return set(re.findall(r"^eventfilter\(action\(include\),name\((\w+)\)\)", CONF.read_text(), re.M))


def _disabled() -> set[str]:
    match = re.search(r"^disabledevents\s*=\s*(.*)$", CONF.read_text(), re.M)
    return {name.strip() for name in match.group(1).split(",")} if match else set()


def test_every_consumed_event_passes_the_filter() -> None:
    assert CONSUMED_EVENTS <= _included()


def test_no_consumed_or_included_event_is_disabled() -> None:
    assert not (_disabled() & (CONSUMED_EVENTS | _included()))


def test_the_filter_sends_little_beyond_what_is_consumed() -> None:
    # boot/reload/shutdown, and MusicOnHoldStart for bench/intake_gap.py
    assert _included() - CONSUMED_EVENTS <= {"FullyBooted", "Shutdown", "Reload", "MusicOnHoldStart"}


def test_a_busy_controller_is_given_seconds_before_asterisk_drops_it() -> None:
    [value] = re.findall(r"^writetimeout\s*=\s*(\d+)", CONF.read_text(), re.M)
    assert int(value) >= 3000
