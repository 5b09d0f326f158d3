"""Persistent lines (issue 16): an agent on an ordinary phone who stays on one call for the shift.

The controller dials the agent's phone through the trunk once (AMI Originate of a Local channel
whose far half dials the number, [hotline-seat-line-dial], generated with the number plan, and
whose near half, named `line_uniqueid`, runs [hotline-seat-line]); the agent presses 1 and waits in
a conference of their own (ConfBridge `seat-<agent>`). Each citizen offered to them
joins that conference through a Local channel ([hotline-seat-join]): no dial per call, and no
key per call. The line is the channel the controller named; the facts about it, its far half and
the trunk leg that half dials never reach the call model (it is nobody's call: citizens come and
go through it).

Pure: names, the line's states, and the effects the ACD asks the AMI link to carry out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

LINE_PREFIX = "hotline-line-"  # the uniqueid the controller gives a line (AMI Originate ChannelId)
FAR_SUFFIX = "-far"  # and the Local channel's far half (OtherChannelId)
DIAL_CONTEXT = "hotline-seat-line-dial"  # the far half dials the agent's number through the trunk
JOIN_CONTEXT = "hotline-seat-join"  # a citizen joins the agent's conference from here
LINE_CONTEXT = "hotline-seat-line"  # the agent's phone, once answered, runs here
LINE_NOT_DIALED = "NOT_SENT"


class LineState(enum.Enum):
    DOWN = "down"  # no line: the agent is offered nothing (ready dials it again)
    DIALING = "dialing"  # the phone rings, or the agent has not pressed 1 yet
    UP = "up"  # the agent is in their conference: offers join them at once


def line_uniqueid(agent_id: str, serial: int) -> str:
    return f"{LINE_PREFIX}{agent_id}-{serial}"


def far_half(uniqueid: str) -> str:
    return uniqueid + FAR_SUFFIX


def line_agent(uniqueid: str) -> str | None:
    """The agent whose line this channel (either half) is, or None (not a line)."""
    if not uniqueid.startswith(LINE_PREFIX):
        return None
    agent_id, _, serial = uniqueid.removeprefix(LINE_PREFIX).removesuffix(FAR_SUFFIX).rpartition("-")
    return agent_id if agent_id and serial.isdigit() else None


def line_device(phone: str) -> str:
    """What the line's Originate rings: a Local channel whose far half dials the phone."""
    return f"Local/{phone}@{DIAL_CONTEXT}/n"


def joining_device(agent_id: str) -> str:
    """What an offer to an agent on a persistent line dials: a Local channel into their conference
    (/n: it stays, so the agent's leg keeps a name the controller knows)."""
    return f"Local/{agent_id}@{JOIN_CONTEXT}/n"


@dataclass(frozen=True, slots=True)
class DialLine:
    """Ring the agent's phone through the trunk for a line (the channel gets `uniqueid`)."""

    agent_id: str
    phone: str
    uniqueid: str


@dataclass(frozen=True, slots=True)
class HangUpLine:
    """End the agent's line (they logged out)."""

    agent_id: str
    uniqueid: str


@dataclass(frozen=True, slots=True)
class LineChanged:
    """The line's state, for logs and readers; `cause` is the hang-up cause of a line that went."""

    agent_id: str
    state: LineState
    cause: int | None = None
