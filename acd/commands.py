"""Effects the engine asks its edges to carry out (store writes, AMI actions, notifications).

The engine decides; `hotline_pbx.py` hands it one handler per effect type.
"""

from __future__ import annotations

from dataclasses import dataclass

from acd.acd import AgentSession
from acd.records import CallRecord


@dataclass(frozen=True, slots=True)
class WriteCallRecord:
    record: CallRecord


@dataclass(frozen=True, slots=True)
class CallArrived:
    """Notification: a new call entered the live model."""

    linkedid: str
    caller_number: str
    caller_name: str
    dialed_number: str


@dataclass(frozen=True, slots=True)
class CallWaiting:
    """Notification: a caller joined a desk's queue (the ACD took them; an offer may follow at once)."""

    linkedid: str
    desk: str
    priority: int


@dataclass(frozen=True, slots=True)
class CallEnded:
    """Notification: a call left the live model (for supervisors' views and metrics)."""

    linkedid: str
    disposition: str


@dataclass(frozen=True, slots=True)
class SaveAgentSession:
    """Keep this agent's session in the store (a restarted controller restores it)."""

    session: AgentSession


Effect = WriteCallRecord | CallArrived | CallEnded
