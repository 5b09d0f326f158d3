"""Three-way calls and transfers: an agent brings a third party into a citizen's call (110,
119, 120, 122 or a department), or hands the citizen to another desk or agent.

Pure policy, one handover at a time per call. `Handovers.request(...)` checks a request
against what the engine knows (the agent's call, its legs, the number plan, the catalog) and
returns the AMI steps for the edge to carry out; `on_dial_end`, `on_leg_gone` follow what
Asterisk then says. Stages and their table are in acd/states.py.

The mechanism (README, "Three-way calls and transfers"): the citizen moves into a ConfBridge
named after their call's linkedid and the agent's own leg dials the third party from the
dialplan ([hotline-threeway], [hotline-consult]), so every leg is born with the citizen's
linkedid: one call, one record, whose recording (the citizen's MixMonitor) goes on through
every step. While the third party rings the citizen hears music; if nobody answers the agent
is back with them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from acd.errors import StableError
from acd.records import Disposition
from acd.states import HandoverStage, next_handover_stage

NO_CALL = "no-call"  # the agent has no citizen's call to hand over
NOT_EMERGENCY = "not-an-emergency-number"
UNKNOWN_DEPARTMENT = "unknown-department"
NO_DEPARTMENT_PHONE = "department-has-no-phone"
UNKNOWN_DESK = "unknown-desk"
UNKNOWN_AGENT = "unknown-agent"
UNKNOWN_TARGET_AGENT = "unknown-target-agent"  # a transfer to an agent the hotline does not have
AGENT_NOT_READY = "agent-not-ready"
NO_AGENT_READY = "no-agent-ready"
IN_PROGRESS = "handover-in-progress"
NO_HANDOVER = "no-handover"
WRONG_STAGE = "wrong-stage"
SAME_DESK = "same-desk"
SELF_TRANSFER = "transfer-to-self"


class HandoverError(StableError):
    pass


class Kind(str, enum.Enum):
    EMERGENCY = "emergency"  # three-way with 110/119/120/122
    DEPARTMENT = "department"  # three-way with a department (承办单位) of the catalog
    DESK = "desk"  # transfer to another desk
    AGENT = "agent"  # transfer to a named agent


@dataclass(frozen=True, slots=True)
class Department:
    code: str
    name: str
    phone: str


@dataclass(frozen=True, slots=True)
class HandoverPlan:
    """What may be dialed: the number plan's emergency list (with the trunk's prefix) and the
    catalog's departments that have a phone number."""

    emergency: dict[str, str] = field(default_factory=dict)  # number -> who answers it
    emergency_prefix: str = ""
    departments: dict[str, Department] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CallLegs:
    """What the engine knows of the agent's call when a request comes."""

    call_id: str
    desk: str
    citizen_channel: str  # channel name
    agent_channel: str
    agent_uniqueid: str
    in_conference: bool  # the citizen is in their call's conference already


# ---- the AMI steps the edge carries out (pbx/link.py) ----
@dataclass(frozen=True, slots=True)
class MoveLegs:
    """Redirect `channel` (and `extra`, when given) into the dialplan at context/exten."""

    call_id: str
    moves: tuple[tuple[str, str, str], ...]  # (channel, context, exten)
    variables: tuple[tuple[str, str, str], ...] = ()  # (channel, name, value) set first


@dataclass(frozen=True, slots=True)
class HangUpLeg:
    call_id: str
    channel: str
    why: str
    cause: int = 16  # the Q.850 cause the leg ends with (a persistent line's, when it went)


@dataclass(frozen=True, slots=True)
class HandoverChanged:
    """Notification: a handover's stage changed (the agent's desk shows it; the record keeps it)."""

    call_id: str
    agent_id: str
    kind: Kind
    target: str
    stage: HandoverStage
    reason: str = ""


CONFERENCE = "hotline-conference"
THREEWAY = "hotline-threeway"
CONSULT = "hotline-consult"
LEAVE = "hotline-leave"
WAIT = "hotline-wait"


@dataclass(slots=True)
class Handover:
    call_id: str
    agent_id: str
    kind: Kind
    target: str  # the number, the department's code, the desk or the agent
    label: str  # who answers: 公安, the department's name, the desk, the agent
    private: bool  # the consult first (a department's private three-way, a warm transfer)
    stage: HandoverStage
    agent_uniqueid: str
    agent_channel: str
    citizen_channel: str
    started: float  # wall clock
    third_uniqueid: str = ""
    third_channel: str = ""
    reason: str = ""  # why it returned (no-answer, busy, cancelled …)
    citizen_left: bool = False  # the citizen hung up: what the others do next changes nothing
    citizen_bridge: str = ""  # the conference's bridge, once the citizen is in it
    citizen_moved: bool = False  # the citizen left the bridge they talked in (for the conference)
    steps: list[tuple[str, float]] = field(default_factory=list)  # (stage, wall clock)

    @property
    def open(self) -> bool:
        return self.stage not in (HandoverStage.RETURNED, HandoverStage.HANDED_OVER, HandoverStage.REQUEUED)

    def view(self) -> dict[str, object]:
        return {"call_id": self.call_id, "agent": self.agent_id, "kind": self.kind.value,
                "target": self.target, "label": self.label, "private": self.private,
                "stage": self.stage.value, "reason": self.reason, "started": self.started,
                "steps": [{"stage": s, "at": at} for s, at in self.steps]}


Effect = MoveLegs | HangUpLeg | HandoverChanged


class Handovers:
    def __init__(self, plan: HandoverPlan | None = None) -> None:
        self.plan = plan or HandoverPlan()
        self.by_call: dict[str, Handover] = {}  # the latest handover of each live call
        self.done: dict[str, list[Handover]] = {}  # earlier ones, for the record

    # ---- requests ----
    def three_way(self, agent_id: str, legs: CallLegs | None, kind: Kind, target: str, private: bool,
                  wall: float) -> tuple[Handover, list[Effect]]:
        legs = self._check(legs)
        if kind is Kind.EMERGENCY:
            if target not in self.plan.emergency:
                raise HandoverError(NOT_EMERGENCY, f"{target} is not in the number plan's emergency list")
            label, number = self.plan.emergency[target], self.plan.emergency_prefix + target
        elif kind is Kind.DEPARTMENT:
            department = self.plan.departments.get(target)
            if department is None:
                raise HandoverError(UNKNOWN_DEPARTMENT, f"no department {target!r} in the catalog")
            if not department.phone:
                raise HandoverError(NO_DEPARTMENT_PHONE, f"the catalog has no phone number for {target!r}")
            label, number = department.name, department.phone
        else:
            raise HandoverError(WRONG_STAGE, f"{kind.value} is a transfer, not a three-way call")
        handover = self._start(agent_id, legs, kind, target, label, private, wall)
        exten = ("p" if private else "o") + number
        return handover, [self._into_conference(legs, (legs.agent_channel, THREEWAY, exten)),
                          self._changed(handover)]

    def warm_transfer(self, agent_id: str, legs: CallLegs | None, kind: Kind, target: str, label: str,
                      device: str, wall: float) -> tuple[Handover, list[Effect]]:
        """Consult first: the agent's leg rings `target` (an agent the caller chose, or the
        desk's next ready agent) while the citizen holds; then complete, or cancel and return."""
        legs = self._check(legs)
        handover = self._start(agent_id, legs, kind, target, label, True, wall)
        variables = ((legs.agent_channel, "HOTLINE_CONSULT_DEVICE", device),) if device != f"PJSIP/{target}" else ()
        move = self._into_conference(legs, (legs.agent_channel, CONSULT, target))
        return handover, [MoveLegs(move.call_id, move.moves, variables), self._changed(handover)]

    def cold_transfer(self, agent_id: str, legs: CallLegs | None, kind: Kind, target: str, label: str,
                      desk: str, wall: float) -> tuple[Handover, list[Effect]]:
        """The citizen goes back to waiting, at `desk` (the engine queues them at their old
        place), and hears that desk's messages; the agent's leg ends."""
        legs = self._check(legs)
        handover = self._start(agent_id, legs, kind, target, label, False, wall)
        handover.stage = HandoverStage.REQUEUED  # (the stage table has no trigger: it starts so)
        handover.steps.append((handover.stage.value, wall))
        move = MoveLegs(legs.call_id, ((legs.citizen_channel, WAIT, "s"), (legs.agent_channel, LEAVE, "s")),
                        ((legs.citizen_channel, "HOTLINE_DESK", desk),))
        return handover, [move, self._changed(handover)]

    def step(self, agent_id: str, call_id: str | None, step: str, wall: float) -> tuple[Handover, list[Effect]]:
        """join (a private consult becomes a three-way), complete (a warm transfer: the third
        party stays, the agent leaves), leave (the agent leaves a three-way), cancel (the third
        party is hung up; the agent is back with the citizen)."""
        handover = self.by_call.get(call_id or "")
        if handover is None or handover.agent_id != agent_id or not handover.open:
            raise HandoverError(NO_HANDOVER, f"{agent_id} has no handover in progress")
        stage = handover.stage
        if step == "join" and stage is HandoverStage.CONSULTING and handover.kind in (Kind.EMERGENCY, Kind.DEPARTMENT):
            self._move(handover, "join", wall)
            return handover, [MoveLegs(handover.call_id, ((handover.agent_channel, CONFERENCE, "party"),
                                                        (handover.third_channel, CONFERENCE, "party"))),
                              self._changed(handover)]
        if step == "complete" and stage is HandoverStage.CONSULTING:
            self._move(handover, "complete", wall)
            return handover, [MoveLegs(handover.call_id, ((handover.third_channel, CONFERENCE, "party"),
                                                        (handover.agent_channel, LEAVE, "s"))),
                              self._changed(handover)]
        if step == "leave" and stage is HandoverStage.JOINED:
            return handover, [HangUpLeg(handover.call_id, handover.agent_channel, "the agent leaves the three-way call")]
        if step == "cancel" and stage in (HandoverStage.DIALING, HandoverStage.CONSULTING, HandoverStage.JOINED) \
                and (handover.third_channel or stage is HandoverStage.DIALING):
            handover.reason = "cancelled"
            if not handover.third_channel:  # still ringing: the agent's dial gives up
                return handover, [MoveLegs(handover.call_id, ((handover.agent_channel, CONFERENCE, "party"),))]
            return handover, [HangUpLeg(handover.call_id, handover.third_channel, "the agent called it off")]
        raise HandoverError(WRONG_STAGE, f"cannot {step} a handover that is {stage.value}")

    # ---- what Asterisk says ----
    def on_dial_end(self, call_id: str, dialing_uniqueid: str, dest_uniqueid: str, dest_channel: str,
                    status: str, wall: float) -> list[Effect]:
        """The agent's leg dialed the third party: answered (joined, or the consult begins) or
        not (the dialplan takes the agent back to the citizen)."""
        handover = self.by_call.get(call_id)
        if handover is None or handover.stage is not HandoverStage.DIALING or dialing_uniqueid != handover.agent_uniqueid:
            return []
        if status == "ANSWER":
            handover.third_uniqueid, handover.third_channel = dest_uniqueid, dest_channel
            self._move(handover, "answered_private" if handover.private else "answered", wall)
        else:
            handover.reason = handover.reason or {"NOANSWER": "no-answer", "BUSY": "busy",
                                                  "CANCEL": "cancelled"}.get(status, "unavailable")
            self._move(handover, "not_answered", wall)
        return [self._changed(handover)]

    def on_leg_gone(self, call_id: str, uniqueid: str, wall: float, citizen: bool = False) -> list[Effect]:
        """A leg of the call hung up. Once the citizen has (the conference then lets the
        others go), the handover stays what it was: the agent was with them to the end."""
        handover = self.by_call.get(call_id)
        if handover is None or not handover.open or handover.citizen_left:
            return []
        if citizen:
            handover.citizen_left = True
            return []
        if uniqueid == handover.agent_uniqueid and handover.stage is HandoverStage.CONSULTING:
            # the consult's bridge ends with the agent: the third party never had the citizen
            handover.reason = "agent-left-consult"
            self._move(handover, "third_left", wall)
            return [self._changed(handover)]
        if uniqueid == handover.agent_uniqueid and handover.stage is HandoverStage.JOINED:
            self._move(handover, "agent_left", wall)
            return [self._changed(handover)]
        if uniqueid == handover.third_uniqueid and handover.stage in (HandoverStage.JOINED, HandoverStage.CONSULTING):
            handover.reason = handover.reason or "third-party-left"
            self._move(handover, "third_left", wall)
            return [self._changed(handover)]
        if uniqueid == handover.agent_uniqueid and handover.stage is HandoverStage.DIALING:
            handover.reason = "agent-left"
            self._move(handover, "not_answered", wall)
            return [self._changed(handover)]
        return []

    def alone_effects(self, call_id: str, citizen_channel: str, others_live: bool) -> str:
        """When only the citizen is left on a call that went through a handover: "end" (the
        third party had them and left), "requeue" (nobody else ever had them), or "" (others
        are still there, or the citizen is waiting in a queue)."""
        handover = self.by_call.get(call_id)
        if handover is None or others_live or handover.stage is HandoverStage.REQUEUED or handover.citizen_left:
            return ""  # (the citizen hung up: their channel is on its way out)
        return "end" if handover.stage is HandoverStage.HANDED_OVER else "requeue"

    def ended(self, call_id: str) -> list[Handover]:
        """The call is over: every handover it had (the record keeps them)."""
        past = self.done.pop(call_id, [])
        latest = self.by_call.pop(call_id, None)
        return past + ([latest] if latest is not None else [])

    # ---- inside ----
    def _check(self, legs: CallLegs | None) -> CallLegs:
        if legs is None:
            raise HandoverError(NO_CALL, "the agent is not talking to a citizen")
        current = self.by_call.get(legs.call_id)
        if current is not None and current.open:
            raise HandoverError(IN_PROGRESS, f"a {current.kind.value} handover is {current.stage.value}")
        return legs

    def _start(self, agent_id: str, legs: CallLegs, kind: Kind, target: str, label: str, private: bool,
               wall: float) -> Handover:
        previous = self.by_call.pop(legs.call_id, None)
        if previous is not None:
            self.done.setdefault(legs.call_id, []).append(previous)
        handover = Handover(legs.call_id, agent_id, kind, target, label, private, HandoverStage.DIALING,
                            legs.agent_uniqueid, legs.agent_channel, legs.citizen_channel, wall,
                            steps=[(HandoverStage.DIALING.value, wall)])
        self.by_call[legs.call_id] = handover
        return handover

    @staticmethod
    def _into_conference(legs: CallLegs, agent_move: tuple[str, str, str]) -> MoveLegs:
        if legs.in_conference:
            return MoveLegs(legs.call_id, (agent_move,))
        return MoveLegs(legs.call_id, ((legs.citizen_channel, CONFERENCE, "citizen"), agent_move))

    @staticmethod
    def _move(handover: Handover, trigger: str, wall: float) -> None:
        handover.stage = next_handover_stage(handover.stage, trigger)
        handover.steps.append((handover.stage.value, wall))

    @staticmethod
    def _changed(handover: Handover) -> HandoverChanged:
        return HandoverChanged(handover.call_id, handover.agent_id, handover.kind, handover.target,
                               handover.stage, handover.reason)


def handover_disposition(handover: Handover) -> Disposition:
    """Where a completed handover took the citizen."""
    if handover.kind is Kind.EMERGENCY:
        try:
            return Disposition(f"transferred_to_{handover.target}")
        except ValueError:  # an emergency number of the city's own (not 110/119/120/122)
            return Disposition.TRANSFERRED
    return {Kind.DEPARTMENT: Disposition.TRANSFERRED_DEPARTMENT, Kind.DESK: Disposition.TRANSFERRED_DESK,
            Kind.AGENT: Disposition.TRANSFERRED_AGENT}[handover.kind]


# ---- keys pressed on the agent's phone during the call (AMI DTMFEnd, Direction Received) ----
KEY_PREFIX = "*"
KEY_STEPS = {"1": "join", "0": "leave", "9": "cancel", "8": "complete"}  # *1 join, *0 leave, *9 call off, *8 complete
KEY_THREEWAY = "7"  # *7 and the emergency number: a three-way with it (*7110)
KEYS_KEPT = 8


@dataclass(frozen=True, slots=True)
class KeyRequest:
    """What the agent asked for by keys: a three-way with `target`, or a `step`."""

    op: str  # threeway | step
    target: str = ""
    step: str = ""


class AgentKeys:
    """Collects each agent channel's keys: `*7` followed by an emergency number of the plan
    (all are three digits: 110, 119, 120, 122 — or longer city numbers, matched as they
    complete), `*1` join, `*0` leave, `*9` call off, `*8` complete a warm transfer. Anything
    else is dropped at the next `*`."""

    def __init__(self, emergency: tuple[str, ...]) -> None:
        self.emergency = emergency
        self._keys: dict[str, str] = {}

    def key(self, uniqueid: str, digit: str) -> KeyRequest | None:
        keys = digit if digit == KEY_PREFIX else self._keys.get(uniqueid, "") + digit
        if not keys.startswith(KEY_PREFIX):
            self._keys.pop(uniqueid, None)
            return None
        self._keys[uniqueid] = keys[-KEYS_KEPT:]
        request: KeyRequest | None = None
        if len(keys) == 2 and keys[1] in KEY_STEPS:
            request = KeyRequest("step", step=KEY_STEPS[keys[1]])
        elif keys[1:2] == KEY_THREEWAY and keys[2:] in self.emergency:
            request = KeyRequest("threeway", target=keys[2:])
        elif keys[1:2] == KEY_THREEWAY and any(n.startswith(keys[2:]) for n in self.emergency):
            return None  # more digits to come
        elif len(keys) >= 2:
            self._keys.pop(uniqueid, None)
            return None
        if request is not None:
            self._keys.pop(uniqueid, None)
        return request

    def forget(self, uniqueid: str) -> None:
        self._keys.pop(uniqueid, None)
