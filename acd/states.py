"""State machines as tables, in one file (h11 `_state.py` style).

Rules first, transitions as a dict; an illegal transition raises `IllegalTransition` and leaves
the state unchanged. The ACD issue adds the agent states here.
"""

from __future__ import annotations

import enum

ILLEGAL_TRANSITION = "illegal-transition"


class IllegalTransition(Exception):
    def __init__(self, machine: str, state: enum.Enum, trigger: str) -> None:
        super().__init__(f"{ILLEGAL_TRANSITION}: {machine} cannot {trigger} from {state.value}")
        self.machine = machine
        self.state = state
        self.trigger = trigger


class CallState(str, enum.Enum):
    ARRIVING = "arriving"  # a channel exists, nobody has answered it
    ANSWERED = "answered"  # the caller's channel went up (IVR or agent)
    ENDED = "ended"  # every channel of the call is gone; the record is written


# Rules: a call is answered at most once; it ends exactly once; nothing follows the end.
CALL_TRANSITIONS: dict[tuple[CallState, str], CallState] = {
    (CallState.ARRIVING, "answer"): CallState.ANSWERED,
    (CallState.ARRIVING, "end"): CallState.ENDED,
    (CallState.ANSWERED, "answer"): CallState.ANSWERED,  # a second leg going up changes nothing
    (CallState.ANSWERED, "end"): CallState.ENDED,
}


def next_call_state(state: CallState, trigger: str) -> CallState:
    try:
        return CALL_TRANSITIONS[(state, trigger)]
    except KeyError:
        raise IllegalTransition("call", state, trigger) from None
