"""Call records: the one fact every call leaves behind.

The engine produces a `CallRecord` when the last channel of a call (one linkedid) is gone;
`tickets/` stores it. Defined here, in the core, so the engine never imports the store.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class Disposition(str, enum.Enum):
    """How a call ended, as far as the foundation can tell (the ACD issue refines it)."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"  # caller hung up before anything answered
    FAILED = "failed"  # never reached a state where it could be answered
    UNKNOWN = "unknown"  # ended while the controller could not see it (resync)


@dataclass(frozen=True, slots=True)
class CallRecord:
    linkedid: str
    caller_number: str
    caller_name: str
    dialed_number: str
    arrived_at: datetime  # timezone-aware UTC
    answered_at: datetime | None
    ended_at: datetime
    disposition: Disposition
    hangup_cause: int | None  # Q.850 cause code from the first channel's Hangup event
    hangup_cause_text: str = ""
    recording: str = ""  # MixMonitor file (relative to Asterisk's monitor dir) once an agent answered
