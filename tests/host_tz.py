"""The host's clock set to another zone for one test: the city's days and hours must not move.

POSIX TZ strings, so the C library needs no zone files: UTC, China Standard Time, US Eastern."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

HOST_ZONES = {"UTC": "UTC0", "Asia/Shanghai": "CST-8", "America/New_York": "EST5EDT,M3.2.0,M11.1.0"}


@pytest.fixture(params=sorted(HOST_ZONES))
def host_tz(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The host's local time is `request.param` for the test (time.tzset), then back."""
    monkeypatch.setenv("TZ", HOST_ZONES[request.param])
    time.tzset()
    # the zone took: 2026-07-01 00:00 UTC seen on the host's clock
    assert time.localtime(1782864000).tm_hour == {"UTC": 0, "Asia/Shanghai": 8, "America/New_York": 20}[request.param]
    try:
        yield request.param
    finally:
        monkeypatch.undo()
        time.tzset()
