"""Call records: the one fact every call leaves behind.

The engine produces a `CallRecord` when the last channel of a call (one linkedid) is gone;
`tickets/` stores it. Defined here, in the core, so the engine never imports the store.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class Disposition(str, enum.Enum):
    """How a call ended: the centers' own categories (lost calls by where they were lost)."""

    ANSWERED = "answered"  # an agent of the controller's ACD took it
    ABANDONED_IVR = "abandoned_ivr"  # caller hung up before being queued (greeting, menu)
    ABANDONED_QUEUE = "abandoned_queue"  # hung up while waiting for an agent
    ABANDONED_RINGING = "abandoned_ringing"  # hung up while an agent's phone rang
    CALLED_BACK = "called_back"  # an outbound callback that reached the citizen
    TRANSFERRED = "transferred"  # handed to 110/119/120/122 (records before issue 15)
    # the agent handed the citizen over and left (acd/handover.py); `transferred_to` says to whom
    TRANSFERRED_TO_110 = "transferred_to_110"  # 公安 (and 119, 120, 122 below)
    TRANSFERRED_TO_119 = "transferred_to_119"
    TRANSFERRED_TO_120 = "transferred_to_120"
    TRANSFERRED_TO_122 = "transferred_to_122"
    TRANSFERRED_DEPARTMENT = "transferred_department"  # a department's staff (三方通话)
    TRANSFERRED_DESK = "transferred_desk"  # to another desk's queue or agent
    TRANSFERRED_AGENT = "transferred_agent"  # to a named agent
    FALLBACK_QUEUE = "fallback_queue"  # answered by app_queue while the controller was silent
    INTERNAL = "internal"  # an agent's own call (feature codes, seat to seat): not a citizen's
    FAILED = "failed"  # never reached a state where it could be answered
    UNKNOWN = "unknown"  # ended while the controller could not see it (resync)


TRANSFERS = frozenset({Disposition.TRANSFERRED, Disposition.TRANSFERRED_TO_110, Disposition.TRANSFERRED_TO_119,
                       Disposition.TRANSFERRED_TO_120, Disposition.TRANSFERRED_TO_122,
                       Disposition.TRANSFERRED_DEPARTMENT, Disposition.TRANSFERRED_DESK,
                       Disposition.TRANSFERRED_AGENT})
CALLBACK_AFTER_LOST_CONNECTION = "lost_connection"  # CallRecord.callback
LOST = frozenset({Disposition.ABANDONED_IVR, Disposition.ABANDONED_QUEUE, Disposition.ABANDONED_RINGING})


@dataclass(frozen=True, slots=True)
class CallRecord:
    linkedid: str
    caller_number: str
    caller_name: str
    dialed_number: str
    arrived_at: datetime  # timezone-aware UTC
    answered_at: datetime | None  # when Asterisk answered (the greeting), not the agent
    ended_at: datetime
    disposition: Disposition
    hangup_cause: int | None  # Q.850 cause code from the first channel's Hangup event
    hangup_cause_text: str = ""
    recording: str = ""  # MixMonitor file (relative to Asterisk's monitor dir) once an agent answered
    desk: str = ""
    agent: str = ""  # the agent who talked to the caller
    queue_wait: float | None = None  # seconds from queued to answered by an agent / abandoned
    talk_time: float | None = None  # seconds from the agent's answer to the end
    survey_score: int | None = None  # 1 satisfied, 2 basically satisfied, 3 dissatisfied
    repeat_caller: bool = False  # the number had an open work order when it called
    order_number: str = ""  # the open order the call was linked to on arrival
    transferred_to: str = ""  # 110, 119, 120 or 122
    left_in: str = ""  # the stage the call was in when it ended: arrival, intake (greeting, menu),
    # queue, ringing, talking, survey, fallback
    # the callback offer while waiting: offered, accepted, declined; or lost_connection:
    # the agent's connection went mid-call and the citizen was told they will be called back
    callback: str = ""
    legs: tuple[CallLeg, ...] = ()  # everyone who was on the call, in the order they joined


@dataclass(frozen=True, slots=True)
class CallLeg:
    """One party's time on a call: the citizen, an agent, 110, a department's staff."""

    role: str  # citizen | agent | emergency | department | other
    who: str  # the agent's id, the number dialed (110), the department's code; "" for the citizen
    number: str  # the caller ID Asterisk showed for the leg
    joined_at: datetime
    left_at: datetime | None
    ended: str = ""  # why the leg ended when it was not hung up: "connection_lost" (its network went)
    # RTCP at its end (a phone's leg): jitter_ms, loss_pct, rtt_ms, mes
    quality: tuple[tuple[str, float], ...] = ()



def legs_json(legs: tuple[CallLeg, ...]) -> list[dict[str, Any]]:
    """The legs as the store and the journal keep them (times in ISO 8601, UTC)."""
    return [{"role": leg.role, "who": leg.who, "number": leg.number, "joined_at": leg.joined_at.isoformat(),
             "left_at": None if leg.left_at is None else leg.left_at.isoformat(),
             **({"ended": leg.ended} if leg.ended else {}),
             **({"quality": dict(leg.quality)} if leg.quality else {})} for leg in legs]


def legs_from_json(rows: list[dict[str, Any]] | None) -> tuple[CallLeg, ...]:
    return tuple(CallLeg(str(r["role"]), str(r["who"]), str(r["number"]), datetime.fromisoformat(str(r["joined_at"])),
                         None if r.get("left_at") is None else datetime.fromisoformat(str(r["left_at"])),
                         str(r.get("ended") or ""),
                         tuple((str(k), float(v)) for k, v in dict(r.get("quality") or {}).items()))
                 for r in rows or [])
