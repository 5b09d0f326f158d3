"""Supervision (issue 15, items 6 and 7): supervisors listen to, whisper to or barge into an
agent's live call, switch mode by DTMF, and force an agent to pause or log out or end a call in
an emergency. Pure policy: the sessions, the mode table, the checks; the engine feeds it facts
and carries out the effects it returns; Asterisk's ChanSpy does the audio.

Mode table (Asterisk's ChanSpy options; `d` makes DTMF 4/5/6 switch the mode while spying):

    mode     ChanSpy option   who hears the supervisor     DTMF key
    listen   (none)           nobody (silent)              4
    whisper  w                the agent only               5
    barge    B                the agent and the citizen    6

Every session runs ChanSpy with `qdES` plus the mode's option: q no beep, d DTMF switching, E
exit when the agent's channel hangs up, S stop when there is nobody to spy on.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from acd.errors import StableError

# ---- stable error codes ----------------------------------------------------------------------
UNKNOWN_SUPERVISOR = "unknown-supervisor"
UNKNOWN_SESSION = "unknown-session"
UNKNOWN_CALL = "unknown-call"
AGENT_NOT_ON_CALL = "agent-not-on-call"
ALREADY_MONITORING = "already-monitoring"  # this supervisor already monitors that call
SUPERVISOR_BUSY = "supervisor-busy"  # this supervisor's phone is in another session
PHONE_NOT_REGISTERED = "phone-not-registered"
SESSION_ENDED = "session-ended"
BAD_MODE = "bad-mode"
BAD_FORCE = "bad-force"
SUPERVISOR_CONFIG_ERROR = "supervisor-config-error"
NOT_BLOCKED = "not-blocked"  # lifting a block the flood guard does not hold (acd/security.py)


class SupervisionError(StableError):
    pass


class Mode(str, enum.Enum):
    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"


CHANSPY_BASE = "qdES"
MODE_OPTION: dict[Mode, str] = {Mode.LISTEN: "", Mode.WHISPER: "w", Mode.BARGE: "B"}
DTMF_MODES: dict[str, Mode] = {"4": Mode.LISTEN, "5": Mode.WHISPER, "6": Mode.BARGE}
# the supervisor's feature codes from the phone: *25<seat> listen, *26<seat> whisper, *27<seat> barge
FEATURE_CODES: dict[str, Mode] = {"*25": Mode.LISTEN, "*26": Mode.WHISPER, "*27": Mode.BARGE}
SPY_CONTEXT = "hotline-spy"  # asterisk-conf/extensions.conf: runs ChanSpy, extension = the mode
SUPERVISORS_CONTEXT = "from-supervisors"


def chanspy_options(mode: Mode) -> str:
    return CHANSPY_BASE + MODE_OPTION[mode]


def mode_of(value: str) -> Mode:
    try:
        return Mode(value)
    except ValueError:
        raise SupervisionError(BAD_MODE, f"{value!r}: listen, whisper or barge") from None


# ---- configuration -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SupervisorConfig:
    supervisor_id: str  # e.g. "super2001": also the PJSIP endpoint and the API token's name
    name: str
    device: str  # e.g. "PJSIP/super2001"


def parse_supervisors(raw: Iterable[Mapping[str, Any]], where: str = "<config>") -> tuple[SupervisorConfig, ...]:
    """`[[acd.supervisors]]` entries: id, name, device."""
    found: list[SupervisorConfig] = []
    for entry in raw:
        supervisor_id, device = str(entry.get("id", "")), str(entry.get("device", ""))
        if not supervisor_id or not device:
            raise SupervisionError(SUPERVISOR_CONFIG_ERROR, f"{where}: a supervisor needs an id and a device")
        found.append(SupervisorConfig(supervisor_id, str(entry.get("name", supervisor_id)), device))
    if len({s.supervisor_id for s in found}) != len(found) or len({s.device for s in found}) != len(found):
        raise SupervisionError(SUPERVISOR_CONFIG_ERROR, f"{where}: two supervisors share an id or a device")
    return tuple(found)


# ---- facts from Asterisk (pbx/translate.py makes them) ------------------------------------------
@dataclass(frozen=True, slots=True)
class SpyStarted:
    """AMI ChanSpyStart: the spyer channel (the supervisor's) began spying on the spyee."""

    at: Any  # datetime
    spyer_uniqueid: str
    spyer_channel: str
    spyee_uniqueid: str
    spyee_channel: str
    spyee_linkedid: str


@dataclass(frozen=True, slots=True)
class SpyStopped:
    at: Any
    spyer_uniqueid: str


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    """AMI DTMFEnd with Direction Received: a key pressed on that channel's phone."""

    at: Any
    uniqueid: str
    digit: str


@dataclass(frozen=True, slots=True)
class SpyNotAnswered:
    """The Originate of the supervisor's phone into [hotline-spy] failed (not answered, busy)."""

    at: Any
    device: str
    reason: str


SupervisionFact = SpyStarted | SpyStopped | DtmfReceived | SpyNotAnswered


# ---- effects --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class OriginateSpy:
    """Ring the supervisor's phone; once answered it runs ChanSpy on the agent's channel."""

    session_id: str
    device: str
    mode: Mode
    target_channel: str
    options: str


@dataclass(frozen=True, slots=True)
class RedirectSpy:
    """Restart the session's ChanSpy in another mode (the API's mode switch)."""

    session_id: str
    spyer_channel: str
    mode: Mode


@dataclass(frozen=True, slots=True)
class HangupChannels:
    """End these channels (a session's spy channel, or every channel of a call)."""

    channels: tuple[str, ...]
    cause: int = 16


@dataclass(frozen=True, slots=True)
class ModeSpan:
    mode: str
    began_at: float  # epoch seconds


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """What the store keeps of a monitoring session (saved at every change)."""

    session_id: str
    supervisor: str
    agent: str
    linkedid: str
    source: str  # api | phone
    requested_by: str
    requested_at: float
    started_at: float | None
    ended_at: float | None
    modes: tuple[ModeSpan, ...]
    end_reason: str

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None if self.ended_at is None else 0.0
        return None if self.ended_at is None else max(0.0, self.ended_at - self.started_at)


@dataclass(frozen=True, slots=True)
class SaveMonitorSession:
    record: SessionRecord


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: float
    actor: str
    action: str  # force_pause | force_logout | hangup_call | block_address | unblock_address
    target: str  # the agent id, the call's linkedid or the blocked address
    reason: str
    detail: str = ""  # applied | pending (until the agent's call ends) | the channels ended


@dataclass(frozen=True, slots=True)
class SaveAudit:
    entry: AuditEntry


# ---- sessions ---------------------------------------------------------------------------------
@dataclass
class MonitorSession:
    session_id: str
    supervisor: SupervisorConfig
    agent: str
    linkedid: str
    agent_channel: str
    source: str
    requested_by: str
    requested_at: float
    modes: list[tuple[Mode, float]] = field(default_factory=list)  # (mode, epoch it began)
    requested_mode: Mode = Mode.LISTEN
    spyer_uniqueid: str = ""
    spyer_channel: str = ""
    started_at: float | None = None
    ended_at: float | None = None
    end_reason: str = ""

    @property
    def mode(self) -> Mode:
        return self.modes[-1][0] if self.modes else self.requested_mode

    def record(self) -> SessionRecord:
        return SessionRecord(self.session_id, self.supervisor.supervisor_id, self.agent, self.linkedid,
                             self.source, self.requested_by, self.requested_at, self.started_at, self.ended_at,
                             tuple(ModeSpan(m.value, t) for m, t in self.modes), self.end_reason)


FORCE_OPS = ("pause", "logout")


class Supervision:
    """The live monitoring sessions and the forced steps waiting for an agent's call to end."""

    def __init__(self, supervisors: Sequence[SupervisorConfig] = ()) -> None:
        self.supervisors = {s.supervisor_id: s for s in supervisors}
        self.live: dict[str, MonitorSession] = {}
        self.pending_force: dict[str, tuple[str, str, str, str]] = {}  # agent -> (op, kind, why, by)
        self._seq = 0

    def supervisor(self, supervisor_id: str) -> SupervisorConfig:
        found = self.supervisors.get(supervisor_id)
        if found is None:
            raise SupervisionError(UNKNOWN_SUPERVISOR, supervisor_id)
        return found

    def supervisor_of_channel(self, channel: str) -> SupervisorConfig | None:
        for supervisor in self.supervisors.values():
            if channel.startswith(f"{supervisor.device}-"):
                return supervisor
        return None

    def session(self, session_id: str) -> MonitorSession:
        found = self.live.get(session_id)
        if found is None:
            raise SupervisionError(UNKNOWN_SESSION, session_id)
        return found

    # ---- checks, then the new session ----
    def begin(self, supervisor_id: str, agent: str, linkedid: str | None, agent_channel: str | None,
              mode: Mode, source: str, requested_by: str, wall: float) -> MonitorSession:
        """A new session (not yet spying: ChanSpyStart says when it does). Refused with a
        stable code, changing nothing, when the agent is not on a call, this supervisor already
        monitors that call, or their phone is in another session."""
        supervisor = self.supervisor(supervisor_id)
        if not linkedid or not agent_channel:
            raise SupervisionError(AGENT_NOT_ON_CALL, agent)
        for other in self.live.values():
            if other.supervisor.supervisor_id == supervisor_id:
                code = ALREADY_MONITORING if other.linkedid == linkedid else SUPERVISOR_BUSY
                raise SupervisionError(code, f"{supervisor_id} in session {other.session_id}")
        self._seq += 1
        session = MonitorSession(f"{int(wall)}-{self._seq}", supervisor, agent, linkedid, agent_channel, source,
                                 requested_by, wall, requested_mode=mode)
        self.live[session.session_id] = session
        return session

    # ---- what Asterisk says ----
    def spy_started(self, fact: SpyStarted, wall: float) -> MonitorSession | None:
        """The supervisor's channel spies now: on the first ChanSpyStart the session begins in
        the requested mode; after a mode switch by redirect the same channel starts again."""
        for session in self.live.values():
            if session.spyer_uniqueid == fact.spyer_uniqueid:
                return session
        supervisor = self.supervisor_of_channel(fact.spyer_channel)
        if supervisor is None:
            return None
        for session in self.live.values():
            if session.supervisor is supervisor and not session.spyer_uniqueid:
                session.spyer_uniqueid, session.spyer_channel = fact.spyer_uniqueid, fact.spyer_channel
                session.started_at = wall
                session.modes.append((session.requested_mode, wall))
                return session
        return None

    def dtmf(self, fact: DtmfReceived, wall: float) -> MonitorSession | None:
        """4, 5, 6 on a spying supervisor's channel switch the mode (ChanSpy's `d`)."""
        mode = DTMF_MODES.get(fact.digit)
        session = self._by_spyer(fact.uniqueid)
        if mode is None or session is None or session.started_at is None or session.mode is mode:
            return None
        session.modes.append((mode, wall))
        return session

    def switch(self, session_id: str, mode: Mode, wall: float) -> tuple[MonitorSession, bool]:
        """The API's mode switch: (session, whether ChanSpy must restart in the new mode)."""
        session = self.session(session_id)
        if session.started_at is None:
            session.requested_mode = mode  # not spying yet: it will start in this mode
            return session, False
        if session.mode is mode:
            return session, False
        session.modes.append((mode, wall))
        return session, True

    def hung_up(self, uniqueid: str, wall: float, channel: str = "") -> MonitorSession | None:
        """A channel hung up: the spy channel of a session ends it; a supervisor's channel that
        never spied (the agent's call ended while the phone rang, or they hung up first) ends
        their session that had not begun, so they are not left "busy"."""
        session = self._by_spyer(uniqueid)
        if session is not None:
            return self.end(session, wall, "ended")
        supervisor = self.supervisor_of_channel(channel) if channel else None
        waiting = next((s for s in self.live.values() if s.supervisor is supervisor and not s.spyer_uniqueid), None)
        return self.end(waiting, wall, "ended before spying") if waiting is not None else None

    def not_answered(self, fact: SpyNotAnswered, wall: float) -> MonitorSession | None:
        for session in list(self.live.values()):
            if session.supervisor.device == fact.device and not session.spyer_uniqueid:
                return self.end(session, wall, f"not answered: {fact.reason}"[:60])
        return None

    def phone_call_gone(self, channel_names: Iterable[str], wall: float) -> list[MonitorSession]:
        """Sessions whose spy channel never appeared or is no longer live (after a resync)."""
        live = set(channel_names)
        return [self.end(s, wall, "gone at resync") for s in list(self.live.values())
                if s.spyer_channel and s.spyer_channel not in live]

    def _by_spyer(self, uniqueid: str) -> MonitorSession | None:
        return next((s for s in self.live.values() if uniqueid and s.spyer_uniqueid == uniqueid), None)

    def end(self, session: MonitorSession, wall: float, reason: str) -> MonitorSession:
        session.ended_at, session.end_reason = wall, reason
        del self.live[session.session_id]
        return session

    # ---- supervisor controls ----
    def force(self, agent: str, op: str, kind: str, why: str, by: str, on_call: bool) -> str:
        """A forced pause (`kind`: the pause reason) or logout: "applied" now, or "pending"
        until the agent's call ends (a supervisor never cuts a citizen off by pausing or logging
        out the agent; a later force replaces a pending one)."""
        if op not in FORCE_OPS:
            raise SupervisionError(BAD_FORCE, f"{op!r}: pause or logout")
        if on_call:
            self.pending_force[agent] = (op, kind, why, by)
            return "pending"
        self.pending_force.pop(agent, None)
        return "applied"

    def due_forces(self, free: Iterable[str]) -> list[tuple[str, str, str, str, str]]:
        """(agent, op, kind, why, by) of the pending forced steps whose agents are off their call."""
        due = [(agent, *self.pending_force[agent]) for agent in free if agent in self.pending_force]
        for agent, *_ in due:
            del self.pending_force[agent]
        return due


REASON_LENGTH = 32  # the agent's state reason as the store keeps it (agent_sessions.reason)


def forced_reason(reason: str, by: str) -> str:
    """The agent's state reason after a forced step: what and by whom (shown by /api/agents);
    the audit entry keeps the supervisor's full reason."""
    return f"{reason} (forced: {by})"[:REASON_LENGTH]
