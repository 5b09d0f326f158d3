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


# Rules: a call is answered at most once; it ends when its last channel is gone. A channel of
# an ended call that appears later (the controller heard the call half-way, after a start or a
# reconnect) resumes it: the call ends again with one record, the complete one, which replaces
# the first in the store.
CALL_TRANSITIONS: dict[tuple[CallState, str], CallState] = {
    (CallState.ARRIVING, "answer"): CallState.ANSWERED,
    (CallState.ARRIVING, "end"): CallState.ENDED,
    (CallState.ANSWERED, "answer"): CallState.ANSWERED,  # a second leg going up changes nothing
    (CallState.ANSWERED, "end"): CallState.ENDED,
    (CallState.ENDED, "resume"): CallState.ARRIVING,
    (CallState.ENDED, "resume_answered"): CallState.ANSWERED,
}


def next_call_state(state: CallState, trigger: str) -> CallState:
    try:
        return CALL_TRANSITIONS[(state, trigger)]
    except KeyError:
        raise IllegalTransition("call", state, trigger) from None


class AgentState(str, enum.Enum):
    LOGGED_OUT = "logged_out"
    READY = "ready"  # idle and present: may be offered a call
    OFFERED = "offered"  # a call is ringing on the agent's phone
    ON_CALL = "on_call"  # on any call, inbound or outbound: never offered another
    WRAP_UP = "wrap_up"  # after-call work; ready again when the desk's wrap-up time ends
    PAUSED = "paused"  # with a reason: break, meal, training, meeting, after-call work, auto


class PauseReason(str, enum.Enum):
    BREAK = "break"
    MEAL = "meal"
    TRAINING = "training"
    MEETING = "meeting"
    AFTER_CALL_WORK = "after_call_work"
    AUTO_NO_ANSWER = "auto_no_answer"  # paused by the ACD after N unanswered offers
    LOGIN = "login"  # logged in, not yet ready
    CONNECTION_LOST = "connection_lost"  # the phone's network went mid-call; ready again by hand


# Rules: only a READY agent is offered a call; an agent on any call (an outbound one included)
# is never offered another; logging out is refused while a call rings or is up; a ring-no-answer
# returns the agent to READY or pauses them (the engine decides by the miss count); an offer
# that never reached the agent's phone (the caller left, the AMI link was down, Asterisk refused
# the action) returns them to READY and is never their miss.
AGENT_TRANSITIONS: dict[tuple[AgentState, str], AgentState] = {
    (AgentState.LOGGED_OUT, "login"): AgentState.PAUSED,
    (AgentState.PAUSED, "ready"): AgentState.READY,
    (AgentState.WRAP_UP, "ready"): AgentState.READY,
    (AgentState.READY, "ready"): AgentState.READY,
    (AgentState.READY, "pause"): AgentState.PAUSED,
    (AgentState.PAUSED, "pause"): AgentState.PAUSED,
    (AgentState.WRAP_UP, "pause"): AgentState.PAUSED,
    (AgentState.READY, "offer"): AgentState.OFFERED,
    (AgentState.OFFERED, "answer"): AgentState.ON_CALL,
    (AgentState.OFFERED, "no_answer"): AgentState.READY,
    (AgentState.OFFERED, "no_answer_pause"): AgentState.PAUSED,
    (AgentState.OFFERED, "caller_gone"): AgentState.READY,
    (AgentState.OFFERED, "offer_not_sent"): AgentState.READY,  # Asterisk never got the offer: no miss
    (AgentState.OFFERED, "withdrawn"): AgentState.READY,  # a callback closed while it was offered
    (AgentState.ON_CALL, "hangup"): AgentState.WRAP_UP,
    (AgentState.WRAP_UP, "wrap_up_done"): AgentState.READY,
    (AgentState.READY, "outbound"): AgentState.ON_CALL,
    (AgentState.PAUSED, "outbound"): AgentState.ON_CALL,
    (AgentState.WRAP_UP, "outbound"): AgentState.ON_CALL,
    (AgentState.READY, "logout"): AgentState.LOGGED_OUT,
    (AgentState.PAUSED, "logout"): AgentState.LOGGED_OUT,
    (AgentState.WRAP_UP, "logout"): AgentState.LOGGED_OUT,
}


def next_agent_state(state: AgentState, trigger: str) -> AgentState:
    try:
        return AGENT_TRANSITIONS[(state, trigger)]
    except KeyError:
        raise IllegalTransition("agent", state, trigger) from None


class HandoverStage(str, enum.Enum):
    """A three-way call or a transfer of one citizen's call (acd/handover.py)."""

    DIALING = "dialing"  # the third party rings; the citizen hears music in their conference
    CONSULTING = "consulting"  # the agent and the third party talk; the citizen holds (music)
    JOINED = "joined"  # the citizen, the agent and the third party talk together
    HANDED_OVER = "handed_over"  # the agent left: the citizen and the third party go on
    RETURNED = "returned"  # not answered, or called off: the agent is back with the citizen
    REQUEUED = "requeued"  # a transfer to a desk or an agent: the citizen waits at their old place


# Rules: one handover at a time per call. The citizen never loses the line: whatever the third
# party does (not answering, busy, hanging up during the consult) the agent is back with them.
# The agent leaves only once somebody else has the citizen (joined, or a transfer completed).
HANDOVER_TRANSITIONS: dict[tuple[HandoverStage, str], HandoverStage] = {
    (HandoverStage.DIALING, "answered"): HandoverStage.JOINED,  # open: all three at once
    (HandoverStage.DIALING, "answered_private"): HandoverStage.CONSULTING,
    (HandoverStage.DIALING, "not_answered"): HandoverStage.RETURNED,
    (HandoverStage.DIALING, "cancel"): HandoverStage.RETURNED,
    (HandoverStage.CONSULTING, "join"): HandoverStage.JOINED,
    (HandoverStage.CONSULTING, "complete"): HandoverStage.HANDED_OVER,  # warm transfer
    (HandoverStage.CONSULTING, "cancel"): HandoverStage.RETURNED,
    (HandoverStage.CONSULTING, "third_left"): HandoverStage.RETURNED,
    (HandoverStage.JOINED, "agent_left"): HandoverStage.HANDED_OVER,
    (HandoverStage.JOINED, "leave"): HandoverStage.HANDED_OVER,
    (HandoverStage.JOINED, "third_left"): HandoverStage.RETURNED,
}


def next_handover_stage(stage: HandoverStage, trigger: str) -> HandoverStage:
    try:
        return HANDOVER_TRANSITIONS[(stage, trigger)]
    except KeyError:
        raise IllegalTransition("handover", stage, trigger) from None
