"""The AMI streams recorded on the sandbox (`hotline_pbx.py sandbox record-ami`), for replays."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from pbx.ami import AmiParser, Event

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"


def recorded(name: str) -> list[Event]:
    """The events of tests/fixtures/ami/<name>, those Asterisk time-stamped (FullyBooted is not)."""
    parser = AmiParser()
    parser.receive_data((FIXTURES / name).read_bytes())
    return [m for m in parser.messages() if isinstance(m, Event) and m.get("Timestamp")]


def event_at(event: Event) -> datetime:
    """When Asterisk says the event happened (its Timestamp header)."""
    return datetime.fromtimestamp(float(event.get("Timestamp")), timezone.utc)
