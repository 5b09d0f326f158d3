"""The live call model: calls keyed by linkedid, with their channels and bridges.

Pure: `LiveCalls.apply(fact)` changes the model and returns the effects to carry out. Only the
engine task calls it, so there are no locks. A call ends (and its record is produced, exactly
once) when the last of its channels is gone.

Resynchronisation after an AMI outage: the engine feeds `AmiLinkUp`, then the
`ChannelsSnapshot` Asterisk lists. Channels known before the link came up but missing from the
snapshot hung up while we were blind; channels created after the link came up are kept even if
the snapshot (taken a moment earlier) missed them; channels that hung up after the snapshot was
taken are not brought back.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from acd import events as ev
from acd.acd import CallAbandoned, CallAnswered, OfferCall, QueueRefused
from acd.commands import CallArrived, CallEnded, Effect, WriteCallRecord
from acd.records import CallLeg, CallRecord, Disposition
from acd.states import CallState, next_call_state

STATE_UP = 6
CAUSE_NORMAL_CLEARING = 16
UNSEEN_HANGUP_TEXT = "hung up while the controller was disconnected"
JOURNAL_TEXT = "ended while the controller was away (from Asterisk's call journal)"
RECENT_HANGUPS_KEPT = 4096
FALLBACK_CONTEXT = "hotline-fallback"
# a ConfBridge's own announcer and recorder channels: nobody's leg (Asterisk lists them at a
# resync, with linkedids of their own)
CONFERENCE_CHANNELS = ("CBAnn/", "CBRec/")
BASIC_BRIDGE = "basic"  # the bridges that share the oldest linkedid among their channels


@dataclass(slots=True)
class Channel:
    uniqueid: str
    linkedid: str
    name: str
    state: int
    created_seq: int
    bridge_id: str = ""


@dataclass(slots=True)
class Leg:
    role: str
    who: str
    number: str
    joined_at: datetime
    left_at: datetime | None = None
    ended: str = ""
    quality: tuple[tuple[str, float], ...] = ()

    def fact(self) -> CallLeg:
        return CallLeg(self.role, self.who, self.number, self.joined_at, self.left_at, self.ended, self.quality)


@dataclass(slots=True)
class Call:
    linkedid: str
    arrived_at: datetime
    caller_number: str = ""
    caller_name: str = ""
    dialed_number: str = ""
    state: CallState = CallState.ARRIVING
    answered_at: datetime | None = None
    hangup_cause: int | None = None
    hangup_cause_text: str = ""
    channels: dict[str, Channel] = field(default_factory=dict)
    first_uniqueid: str = ""
    recording: str = ""
    reached_agent: bool = False
    # what the intake and the ACD made of it (the call record's columns)
    desk: str = ""
    queued: bool = False
    agent: str = ""
    agent_answered_at: datetime | None = None
    queue_wait: float | None = None
    lost_while_ringing: bool = False
    fell_back: bool = False  # sent to app_queue (controller silent, or the desk's queue full)
    fallback_answered: bool = False  # an app_queue member answered it (seen live or at resync)
    bridged: bool = False
    internal: bool = False  # placed by an agent's own phone
    survey_score: int | None = None
    open_order: str = ""
    transferred_to: str = ""
    stage: str = "arrival"  # arrival, intake, queue, ringing, talking, survey, fallback
    callback: str = ""  # the callback offer while waiting: offered, accepted, declined
    callback_of: str = ""  # this call is a callback to this number (the agent's leg came first)
    callback_status: str = ""  # Dial's status for the citizen
    legs: dict[str, Leg] = field(default_factory=dict)  # by uniqueid: everyone who was on it

    def answer(self, at: datetime) -> None:
        self.state = next_call_state(self.state, "answer")
        if self.answered_at is None:
            self.answered_at = at

    def disposition(self) -> Disposition:
        """Where the call ended up; a lost call by the stage the caller left in."""
        if self.callback_of:
            return Disposition.CALLED_BACK if self.callback_status == "ANSWER" else Disposition.FAILED
        if self.transferred_to:
            return Disposition.TRANSFERRED
        if self.agent and not self.fallback_answered and not (self.fell_back and self.agent_answered_at is None):
            return Disposition.ANSWERED  # by the controller's offer (a fallback member: below)
        if self.internal:
            return Disposition.INTERNAL
        if self.fell_back:
            return Disposition.FALLBACK_QUEUE if self.bridged or self.agent else Disposition.ABANDONED_QUEUE
        if self.lost_while_ringing:
            return Disposition.ABANDONED_RINGING
        if self.queued:
            return Disposition.ABANDONED_QUEUE
        if self.hangup_cause is None:
            return Disposition.UNKNOWN
        if self.answered_at is not None or self.hangup_cause in (CAUSE_NORMAL_CLEARING, 0, 19, 127):
            return Disposition.ABANDONED_IVR  # greeted (or ringing) and gone before the queue
        return Disposition.FAILED

    def record(self, ended_at: datetime) -> CallRecord:
        talk = None
        if self.agent_answered_at is not None:
            talk = round(max(0.0, (ended_at - self.agent_answered_at).total_seconds()), 3)
        return CallRecord(
            linkedid=self.linkedid, caller_number=self.callback_of or self.caller_number,
            caller_name="" if self.callback_of else self.caller_name,
            dialed_number=self.dialed_number, arrived_at=self.arrived_at,
            answered_at=self.answered_at, ended_at=ended_at, disposition=self.disposition(),
            hangup_cause=self.hangup_cause, hangup_cause_text=self.hangup_cause_text,
            recording=self.recording if self.reached_agent else "", desk=self.desk, agent=self.agent,
            queue_wait=None if self.queue_wait is None else round(self.queue_wait, 3), talk_time=talk,
            survey_score=self.survey_score, repeat_caller=bool(self.open_order),
            order_number=self.open_order, transferred_to=self.transferred_to, left_in=self.stage,
            callback=self.callback, legs=tuple(leg.fact() for leg in self.legs.values()))


@dataclass(frozen=True, slots=True)
class CallView:
    """What readers (API, tests) see of a live call: a copy, never the engine's object."""

    linkedid: str
    state: str
    caller_number: str
    caller_name: str
    dialed_number: str
    arrived_at: datetime
    answered_at: datetime | None
    channels: tuple[str, ...]  # channel names
    bridges: tuple[str, ...]
    desk: str = ""
    open_order: str = ""  # the caller's open work order, found on arrival
    callback: bool = False  # a callback to caller_number (the agent's leg came first)


class LiveCalls:
    def __init__(self) -> None:
        self.calls: dict[str, Call] = {}
        self.channels: dict[str, Channel] = {}
        self._seq = 0
        self._link_up_seq = 0
        self._recent_hangups: OrderedDict[str, None] = OrderedDict()
        self._recent_ended: OrderedDict[str, Call] = OrderedDict()  # a late channel resumes them
        # FastAGI and AMI are two sockets: a session can begin before the AMI event of its channel
        # is read (seen on a loaded machine); it is applied when the channel appears
        self._early_agi: OrderedDict[str, ev.AgiSessionStarted] = OrderedDict()
        self.last_hung_up_name: OrderedDict[str, str] = OrderedDict()  # uniqueid -> channel name
        self._moves_of: tuple[ev.BridgeEntered, list[tuple[str, str]]] | None = None

    # ---- reading ----
    def views(self) -> tuple[CallView, ...]:
        return tuple(
            CallView(
                linkedid=c.linkedid, state=c.state.value, caller_number=c.callback_of or c.caller_number,
                caller_name="" if c.callback_of else c.caller_name, dialed_number=c.dialed_number,
                arrived_at=c.arrived_at, answered_at=c.answered_at,
                channels=tuple(sorted(ch.name for ch in c.channels.values())),
                bridges=tuple(sorted({ch.bridge_id for ch in c.channels.values() if ch.bridge_id})),
                desk=c.desk, open_order=c.open_order, callback=bool(c.callback_of))
            for c in self.calls.values())

    # ---- writing ----
    def apply(self, fact: ev.EngineEvent) -> list[Effect]:
        self._seq += 1
        match fact:
            case ev.ChannelCreated():
                return self._add_channel(fact.uniqueid, fact.linkedid, fact.channel, fact.state,
                                         fact.caller_number, fact.caller_name, fact.exten, fact.at)
            case ev.ChannelStateChanged():
                self._set_state(fact.uniqueid, fact.state, fact.at)
            case ev.CallerIdChanged():
                call = self._call_of(fact.uniqueid)
                if call is not None and call.first_uniqueid == fact.uniqueid:
                    call.caller_number = fact.caller_number or call.caller_number
                    call.caller_name = fact.caller_name or call.caller_name
            case ev.ChannelHungUp():
                moved = self._follow_linkedid(fact.uniqueid, fact.linkedid, fact.at)
                return moved + self._hang_up(fact.uniqueid, fact.cause, fact.cause_text, fact.at)
            case ev.BridgeEntered():
                moved = [e for uniqueid, linkedid in self.linkedid_moves(fact)
                         for e in self._follow_linkedid(uniqueid, linkedid, fact.at)]
                channel = self.channels.get(fact.uniqueid)
                if channel is not None:
                    channel.bridge_id = fact.bridge_id
                    call = self.calls.get(channel.linkedid)
                    if call is not None:
                        call.bridged = True
                        if call.callback_of and call.agent_answered_at is None:
                            # a callback's talk begins as the citizen is put through to the agent
                            # (after the recording notice): its talk time, its recording's length
                            call.agent_answered_at = fact.at
                return moved
            case ev.BridgeLeft():
                moved = self._follow_linkedid(fact.uniqueid, fact.linkedid, fact.at)
                channel = self.channels.get(fact.uniqueid)
                if channel is not None and channel.bridge_id == fact.bridge_id:
                    channel.bridge_id = ""
                return moved
            case ev.BridgeDestroyed():
                for channel in self.channels.values():
                    if channel.bridge_id == fact.bridge_id:
                        channel.bridge_id = ""
            case ev.AmiLinkUp():
                self._link_up_seq = self._seq
            case ev.ChannelsSnapshot():
                return self._resync(fact)
            case ev.CallJournal():
                return self._from_journal(fact.entries)
            case ev.CallQueued():
                queued = self.calls.get(fact.linkedid)
                if queued is not None:
                    queued.queued, queued.desk = True, fact.desk
                    if queued.stage != "ringing":  # offered in this very step (the ACD went first)
                        queued.stage = "queue"
                    queued.recording = fact.recording or queued.recording
                    queued.open_order = fact.open_order or queued.open_order
                    if len(fact.caller_name) > len(queued.caller_name):  # the name Asterisk cut
                        queued.caller_name = fact.caller_name
            case ev.SurveyAnswered():
                surveyed = self.calls.get(fact.linkedid)
                if surveyed is not None:
                    surveyed.stage = "survey"
                    surveyed.survey_score = fact.score if fact.score is not None else surveyed.survey_score
            case ev.CallbackDialed():
                dialed = self.calls.get(fact.linkedid)
                if dialed is not None:
                    dialed.callback_of, dialed.internal = fact.number, False
                    if fact.status == "AGENT_ANSWERED":  # [hotline-callback] records from here on
                        dialed.stage, dialed.reached_agent = "talking", True
                        dialed.recording = fact.recording
                    else:
                        dialed.callback_status = fact.status
            case ev.CallbackChoice():
                offered = self.calls.get(fact.linkedid)
                if offered is not None:
                    offered.callback = fact.choice
            case ev.CallFellBack():
                fallen = self.calls.get(fact.linkedid)
                if fallen is not None:
                    fallen.fell_back, fallen.desk, fallen.stage = True, fact.desk or fallen.desk, "fallback"
            case ev.DialEnded():
                dialing = self.calls.get(fact.linkedid)
                if dialing is not None and fact.status == "ANSWER":
                    dialing.reached_agent, dialing.stage = True, "talking"
                elif dialing is not None and dialing.stage == "ringing" and fact.status != "CANCEL":
                    dialing.stage = "queue"  # back to its place (CANCEL: the caller left while it rang)
            case ev.AgiSessionStarted():
                self._agi_started(fact)
            case ev.LegQuality():
                measured = self._call_of(fact.uniqueid)
                leg = measured.legs.get(fact.uniqueid) if measured is not None else None
                if leg is not None:
                    leg.quality = (("jitter_ms", fact.jitter_ms), ("loss_pct", fact.loss_pct),
                                   ("rtt_ms", fact.rtt_ms), *((("mes", fact.mes),) if fact.mes is not None else ()))
            case _:
                pass  # facts for the ACD, not the call model
        return []

    def note(self, outcome: CallAnswered | CallAbandoned | QueueRefused | OfferCall, at: datetime) -> None:
        """What the ACD decided about a call (answered by whom, abandoned where, refused)."""
        call = self.calls.get(outcome.call_id)
        if call is None:
            return
        match outcome:
            case CallAnswered() if call.agent_answered_at is not None:
                call.stage = "talking"  # answered again after a requeue: the call's answer was the first
            case CallAnswered():
                call.agent, call.desk, call.queue_wait = outcome.agent_id, outcome.desk, outcome.waited
                call.agent_answered_at, call.stage = at, "talking"
            case CallAbandoned():
                call.queue_wait, call.lost_while_ringing = outcome.waited, outcome.while_ringing
                if not outcome.while_ringing and call.stage == "ringing":
                    call.stage = "queue"  # the offer never reached the agent's phone
            case QueueRefused():
                call.fell_back, call.stage = True, "fallback"
            case OfferCall():
                call.stage = "ringing"

    def hung_up(self, uniqueid: str) -> bool:
        """This channel was seen and has hung up (as far as the recent memory goes)."""
        return uniqueid in self._recent_hangups

    def found_talking(self, linkedid: str, agent_id: str, desk: str, answered_at: datetime,
                      by_fallback: bool = False) -> None:
        """An agent talks to this citizen and the ACD did not connect them (a call that began
        before a restart, or app_queue's member when `by_fallback`): an answered call of that
        agent and desk, answered at `answered_at` (a bound when seen only at a resync)."""
        call = self.calls.get(linkedid)
        if call is None:
            return
        call.agent, call.desk, call.queued, call.reached_agent = agent_id, desk or call.desk, True, True
        call.bridged, call.stage, call.agent_answered_at = True, "talking", answered_at
        call.fallback_answered = by_fallback

    def name_leg(self, uniqueid: str, role: str, who: str) -> None:
        """Who a leg is (the engine knows agents' devices and the handovers' third parties)."""
        call = self._call_of(uniqueid)
        leg = call.legs.get(uniqueid) if call is not None else None
        if leg is not None and uniqueid != call.first_uniqueid:  # type: ignore[union-attr]
            leg.role, leg.who = role, who

    def drop_leg(self, uniqueid: str) -> None:
        """A channel that is nobody on the call (the far half of a Local channel): no leg."""
        call = self._call_of(uniqueid)
        if call is not None and uniqueid != call.first_uniqueid:
            call.legs.pop(uniqueid, None)

    def mark_leg_ended(self, uniqueid: str, why: str) -> None:
        """Why a leg ended, when it was not hung up (the record says what happened)."""
        call = self._call_of(uniqueid)
        leg = call.legs.get(uniqueid) if call is not None else None
        if leg is not None:
            leg.ended = why

    def mark_internal(self, linkedid: str) -> None:
        call = self.calls.get(linkedid)
        if call is not None:
            call.internal = True

    def _agi_started(self, fact: ev.AgiSessionStarted) -> None:
        call = self._call_of(fact.uniqueid)
        if call is None:
            if fact.uniqueid not in self._recent_hangups:
                self._early_agi[fact.uniqueid] = fact
                if len(self._early_agi) > RECENT_HANGUPS_KEPT:
                    self._early_agi.popitem(last=False)
            return
        if not call.dialed_number:
            call.dialed_number = fact.dialed_number
        if fact.script.startswith("intake") and call.stage == "arrival":
            call.stage = "intake"
            # the hotline number as the number plan names it (without the carrier's prefix)
            call.dialed_number = fact.dialed_number or call.dialed_number

    def _call_of(self, uniqueid: str) -> Call | None:
        channel = self.channels.get(uniqueid)
        return None if channel is None else self.calls.get(channel.linkedid)

    def _add_channel(self, uniqueid: str, linkedid: str, name: str, state: int, number: str,
                     caller_name: str, exten: str, at: datetime) -> list[Effect]:
        if uniqueid in self.channels or uniqueid in self._recent_hangups or name.startswith(CONFERENCE_CHANNELS):
            return []
        channel = Channel(uniqueid, linkedid or uniqueid, name, state, self._seq)
        self.channels[uniqueid] = channel
        call = self.calls.get(channel.linkedid)
        is_new = call is None
        if call is None and channel.linkedid in self._recent_ended:
            # a channel of a call that already ended (and was recorded): the same call goes on;
            # its next end writes the complete record, which replaces the first
            call = self._recent_ended.pop(channel.linkedid)
            call.state = next_call_state(call.state, "resume_answered" if call.answered_at else "resume")
            self.calls[channel.linkedid] = call
            is_new = False
        if call is None:
            # the linkedid is the uniqueid of the call's oldest channel: the caller's
            call = Call(channel.linkedid, arrived_at=at, first_uniqueid=channel.linkedid)
            self.calls[channel.linkedid] = call
        if uniqueid == call.first_uniqueid or is_new:  # a resumed call keeps its caller
            call.caller_number, call.caller_name = number, caller_name
            call.dialed_number = _dialed(exten) or call.dialed_number
            call.arrived_at = min(call.arrived_at, at)
        call.channels[uniqueid] = channel
        call.legs.setdefault(uniqueid, Leg("citizen" if uniqueid == call.first_uniqueid else "other", "",
                                           number, at))
        if state == STATE_UP and uniqueid == call.first_uniqueid:
            call.answer(at)
        early = self._early_agi.pop(uniqueid, None)
        if early is not None:
            self._agi_started(early)
        if not is_new:
            return []
        return [CallArrived(call.linkedid, call.caller_number, call.caller_name, call.dialed_number)]

    def linkedid_moves(self, fact: ev.BridgeEntered) -> list[tuple[str, str]]:
        """The channels whose linkedid Asterisk changes as this one enters its bridge, each with
        its new linkedid (of a call this model holds). Entering a basic bridge, every channel in
        it takes the oldest linkedid among them, and the entering channel's event reports that
        one; the others are told of it only in their later events (an attended transfer's
        target hears nothing when the citizen enters its bridge), so the model moves them now.
        The channel swapped out by the entry does not count; other bridges (ConfBridge,
        holding) change no linkedid but the entering channel's own."""
        if self._moves_of is not None and self._moves_of[0] is fact:  # the ACD asked first, this very step
            return self._moves_of[1]
        moves: list[tuple[str, str]] = []
        self._moves_of = (fact, moves)
        if not fact.linkedid or fact.linkedid not in self.calls:
            return moves
        entering = self.channels.get(fact.uniqueid)
        if entering is not None and entering.linkedid != fact.linkedid:
            moves.append((fact.uniqueid, fact.linkedid))
        if fact.bridge_type == BASIC_BRIDGE:
            moves += [(c.uniqueid, fact.linkedid) for c in self.channels.values()
                      if c.bridge_id == fact.bridge_id and c.linkedid != fact.linkedid
                      and c.uniqueid not in (fact.uniqueid, fact.swap_uniqueid)]
        return moves

    def _follow_linkedid(self, uniqueid: str, linkedid: str | None, at: datetime) -> list[Effect]:
        """Asterisk gives a channel the linkedid of the oldest channel in the bridge it joins
        (a caller handed to another agent's call, an attended transfer, a pickup): the channel
        is a leg of that call from then on. The call it leaves ends when its last channel has
        gone, as Asterisk's own linkedid ends then. A linkedid of a call this model does not
        hold (never seen) leaves the channel where it is."""
        channel = self.channels.get(uniqueid)
        if channel is None or not linkedid or linkedid == channel.linkedid:
            return []
        joined = self.calls.get(linkedid)
        if joined is None:
            return []
        left = self.calls.get(channel.linkedid)
        channel.linkedid = linkedid
        joined.channels[uniqueid] = channel
        moved = left.legs.get(uniqueid) if left is not None else None
        joined.legs[uniqueid] = Leg(moved.role if moved else "other", moved.who if moved else "",
                                    moved.number if moved else "", at)
        if left is None:
            return []
        left.channels.pop(uniqueid, None)
        if moved is not None:
            moved.left_at = at
        return [] if left.channels else self._end(left, at)

    def _end(self, call: Call, at: datetime) -> list[Effect]:
        del self.calls[call.linkedid]
        self._remember_ended(call)
        call.state = next_call_state(call.state, "end")
        record = call.record(at)
        return [WriteCallRecord(record), CallEnded(call.linkedid, record.disposition.value)]

    def _set_state(self, uniqueid: str, state: int, at: datetime) -> None:
        channel = self.channels.get(uniqueid)
        if channel is None:
            return
        channel.state = state
        call = self.calls.get(channel.linkedid)
        if call is not None and state == STATE_UP and uniqueid == call.first_uniqueid:
            call.answer(at)

    def _hang_up(self, uniqueid: str, cause: int | None, cause_text: str, at: datetime) -> list[Effect]:
        channel = self.channels.pop(uniqueid, None)
        self._recent_hangups[uniqueid] = None
        if len(self._recent_hangups) > RECENT_HANGUPS_KEPT:
            self._recent_hangups.popitem(last=False)
        if channel is None:
            return []
        self.last_hung_up_name[uniqueid] = channel.name
        if len(self.last_hung_up_name) > RECENT_HANGUPS_KEPT:
            self.last_hung_up_name.popitem(last=False)
        call = self.calls.get(channel.linkedid)
        if call is None:
            return []
        call.channels.pop(uniqueid, None)
        leg = call.legs.get(uniqueid)
        if leg is not None and leg.left_at is None:
            leg.left_at = at
        if uniqueid == call.first_uniqueid:
            call.hangup_cause, call.hangup_cause_text = cause, cause_text
        if call.channels:
            return []
        return self._end(call, at)

    def _resync(self, snap: ev.ChannelsSnapshot) -> list[Effect]:
        listed = {c.uniqueid: c for c in snap.channels}
        journal = {j.linkedid: j for j in snap.journal}
        effects: list[Effect] = []
        for uniqueid, channel in list(self.channels.items()):
            if uniqueid not in listed and channel.created_seq <= self._link_up_seq:
                entry = journal.get(channel.linkedid)
                if entry is None:
                    effects += self._hang_up(uniqueid, None, UNSEEN_HANGUP_TEXT, snap.at)
                else:  # Asterisk wrote down when and why the caller left
                    effects += self._hang_up(uniqueid, entry.cause, JOURNAL_TEXT, entry.ended_at)
        for c in snap.channels:
            if c.uniqueid in self.channels:
                self._set_state(c.uniqueid, c.state, snap.at)
                self.channels[c.uniqueid].bridge_id = c.bridge_id
                continue
            born = snap.at - timedelta(seconds=c.seconds_up)
            effects += self._add_channel(c.uniqueid, c.linkedid, c.channel, c.state,
                                         c.caller_number, c.caller_name, c.exten, born)
            if c.uniqueid in self.channels:
                self.channels[c.uniqueid].bridge_id = c.bridge_id
                call = self.calls[self.channels[c.uniqueid].linkedid]
                if c.state == STATE_UP and call.answered_at is None:
                    call.answer(snap.at)  # answered while we were blind: the time is a bound
                call.bridged = call.bridged or bool(c.bridge_id)
                if c.context == FALLBACK_CONTEXT:  # app_queue took it while we were away
                    call.fell_back, call.stage = True, "fallback"
        return effects + self._from_journal(snap.journal)

    def _from_journal(self, entries: tuple[ev.JournalEntry, ...]) -> list[Effect]:
        """Records for calls that began and ended while the controller could not see them.
        Calls still live end normally; calls already recorded are not written again."""
        effects: list[Effect] = []
        for entry in entries:
            if entry.linkedid in self.calls or entry.linkedid in self._recent_ended:
                continue
            call = Call(entry.linkedid, arrived_at=entry.arrived_at, caller_number=entry.caller_number,
                        caller_name=entry.caller_name, dialed_number=entry.dialed_number,
                        hangup_cause=entry.cause, hangup_cause_text=JOURNAL_TEXT)
            self._remember_ended(call)
            if entry.answered:
                call.answer(entry.arrived_at)
                call.answered_at = None  # answered, but Asterisk did not say when
            call.desk, call.agent, call.fell_back = entry.desk, entry.agent, entry.fell_back
            call.queued, call.bridged = bool(entry.desk), bool(entry.agent)
            call.state = next_call_state(call.state, "end")
            record = call.record(entry.ended_at)
            effects += [WriteCallRecord(record), CallEnded(call.linkedid, record.disposition.value)]
        return effects

    def _remember_ended(self, call: Call) -> None:
        self._recent_ended[call.linkedid] = call
        if len(self._recent_ended) > RECENT_HANGUPS_KEPT:
            self._recent_ended.popitem(last=False)


def _dialed(exten: str) -> str:
    """Asterisk's placeholder extensions are not numbers anyone dialed."""
    return "" if exten in ("", "s", "h", "i", "t") else exten
