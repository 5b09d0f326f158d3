"""The callback feature's steps inside the engine (acd/ports.py `CallbackPort`).

Due entries wait in the ACD's callback lanes like callers; when the ACD offers one to an agent,
the agent's phone is rung first (`DialCallback`: pbx/ originates it into [hotline-callback],
which whispers 回拨 and the desk, then dials the citizen). How each dial went comes back as
`CallbackDialed` facts; every change of an entry goes to the store (`SaveCallback`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from acd import events as ev
from acd.acd import Acd, AcdError, CallAbandoned, OfferCall
from acd.calls import LiveCalls
from acd.ports import Queued
from acd.records import CALLBACK_AFTER_LOST_CONNECTION, LOST, CallRecord, Disposition
from acd.routing import Priority
from callback.book import CallbackBook, CallbackError, Entry, Loss, Outcome, call_id_of, entry_of

log = logging.getLogger("callback.flow")

LOST_CONNECTION = "connection_lost"  # a callback entry's reason: the agent's connection went mid-call

CITIZEN_OUTCOMES = {"ANSWER": Outcome.REACHED, "NOANSWER": Outcome.NO_ANSWER, "CANCEL": Outcome.NO_ANSWER,
                    "BUSY": Outcome.BUSY, "CHANUNAVAIL": Outcome.INVALID_NUMBER,
                    "CONGESTION": Outcome.INVALID_NUMBER, "AGENT_NOANSWER": Outcome.AGENT_NO_ANSWER,
                    "NOT_SENT": Outcome.NOT_DIALED,
                    "": Outcome.AGENT_NO_ANSWER}  # the agent hung up before the citizen was dialed


@dataclass(frozen=True, slots=True)
class DialCallback:
    """Ring the agent first (whisper: 回拨 and the desk), then the citizen through the trunk."""

    entry_id: int
    number: str
    agent_id: str
    device: str
    desk: str


@dataclass(frozen=True, slots=True)
class SaveCallback:
    """Persist this callback entry (the store keeps the last state of each)."""

    entry: Entry


class CallbackFlow:
    def __init__(self, book: CallbackBook | None = None,
                 business_hours: Callable[[float], bool] = lambda _: True) -> None:
        self.book = book or CallbackBook()
        self._business_hours = business_hours
        self._hours_minute = -1  # business hours are given in minutes: looked up once a minute
        self._hours_open = True

    def is_callback(self, call_id: str) -> bool:
        return entry_of(call_id) is not None

    # ---- entries ----
    def call_ended(self, record: CallRecord, queued: Queued | None, desk: str, wall: float) -> list[Any]:
        """Every lost call goes into the book; an answered call closes its number's entry, unless
        the agent's connection went and the citizen was promised a callback: that is booked as a
        virtual hold at the time in `queued` (the engine's head of the queue), due at once."""
        if record.callback == CALLBACK_AFTER_LOST_CONNECTION:
            self.book.lost(Loss(record.linkedid, record.caller_number, record.desk or desk, LOST_CONNECTION,
                                record.queue_wait or 0.0, record.ended_at.timestamp(),
                                priority=queued.priority if queued is not None else Priority.NORMAL,
                                virtual_hold=True,
                                queued_at=queued.queued_epoch if queued is not None else record.ended_at.timestamp()))
            return []
        if record.disposition is Disposition.ANSWERED:
            self.book.served(record.caller_number, record.ended_at.timestamp())
            return []
        if record.disposition not in LOST:
            return []
        waited = record.queue_wait or 0.0
        reason = record.disposition.value if record.left_in != "fallback" else "fallback_queue"
        virtual = record.callback == "accepted"
        queued_at = queued.queued_epoch if queued is not None else record.ended_at.timestamp() - waited
        self.book.lost(Loss(record.linkedid, record.caller_number, record.desk or desk, reason, waited,
                            record.ended_at.timestamp(),
                            priority=queued.priority if queued is not None else Priority.NORMAL,
                            virtual_hold=virtual, queued_at=queued_at if virtual else None))
        return []

    def citizen_answered(self, number: str, wall: float) -> list[Any]:
        """Closed now, not when the call ends, so no agent is rung to call back a citizen who is
        on the line (or in the survey); a callback being dialed to them only ends."""
        if number:
            self.book.served(number, wall)
        return []

    def can_call_back(self, number: str) -> bool:
        return bool(number.strip()) and number not in self.book.do_not_call

    def do_not_call(self, number: str, add: bool, wall: float) -> Entry | None:
        if add:
            return self.book.opt_out(number, wall)
        self.book.opt_in(number)
        return None

    # ---- the ACD's side ----
    def step(self, acd: Acd, now: float, wall: float) -> list[Any]:
        effects: list[Any] = []
        minute = int(wall // 60)
        if minute != self._hours_minute:
            self._hours_minute, self._hours_open = minute, self._business_hours(wall)
        effects += acd.set_business_hours(self._hours_open, now)
        self.book.expire(wall)
        for entry_id in self.book.take_closed():  # served, expired, opted out … while waiting
            still_dialed = entry_id in self.book.entries  # its attempt ends first (then `dialed`)
            if not still_dialed and call_id_of(entry_id) in acd.callbacks:
                effects += acd.withdraw(call_id_of(entry_id), now)
        for entry in self.book.due(wall):
            try:
                effects += acd.enqueue_callback(call_id_of(entry.entry_id), entry.desk, entry.priority, now,
                                                queued_at=now - max(0.0, wall - entry.due_at),
                                                after_hours=entry.virtual_hold)
            except AcdError as exc:  # a desk no longer in the config: the entry waits for a person
                log.warning("callback %d not queued: %s", entry.entry_id, exc.code)
        return effects

    def offered(self, offer: OfferCall, acd: Acd, now: float, wall: float) -> list[Any]:
        entry_id = entry_of(offer.call_id)
        assert entry_id is not None
        try:
            entry = self.book.start(entry_id, offer.agent_id)
        except CallbackError as exc:  # closed in this very step (its citizen was just served)
            log.info("callback %d withdrawn from %s: %s", entry_id, offer.agent_id, exc.code)
            return [e for e in acd.withdraw(offer.call_id, now) if not isinstance(e, CallAbandoned)]
        return [DialCallback(entry_id, entry.number, offer.agent_id, offer.device, offer.desk)]

    def dialed(self, fact: ev.CallbackDialed, acd: Acd, calls: LiveCalls, now: float, wall: float) -> list[Any]:
        entry = self.book.dialing_for(fact.number)
        if entry is None:
            return []
        call_id = call_id_of(entry.entry_id)
        if fact.status == "AGENT_ANSWERED":
            call = calls.calls.get(fact.linkedid)
            if call is not None:
                call.agent, call.desk = entry.dialing_agent, entry.desk
            return list(acd.offer_answered(call_id, now))
        outcome = CITIZEN_OUTCOMES.get(fact.status, Outcome.NO_ANSWER)
        self.book.result(entry.entry_id, entry.dialing_agent, outcome, wall)
        if outcome is Outcome.AGENT_NO_ANSWER:  # back to its place; the next ready agent may take it
            return list(acd.offer_failed(call_id, now))
        if outcome is Outcome.NOT_DIALED:  # never reached Asterisk: nobody's miss
            return list(acd.offer_not_sent(call_id, now))
        return [e for e in acd.withdraw(call_id, now) if not isinstance(e, CallAbandoned)]

    def resynced(self, snapshot: ev.ChannelsSnapshot, acd: Acd, now: float, wall: float) -> list[Any]:
        """An attempt whose agent has no phone channel left ended while the controller could
        not see it (a restart, an AMI outage): it ends as `interrupted` (or, if its agent was
        never rung, `not_dialed`), and the agent the ACD still shows offered is free again."""
        effects: list[Any] = []
        names = [c.channel for c in snapshot.channels]
        for entry in self.book.in_flight():
            agent = acd.agents.get(entry.dialing_agent)
            device = f"{agent.config.device}-" if agent is not None else None
            if device is not None and any(n.startswith(device) for n in names):
                continue  # still ringing or talking: its UserEvent will tell
            call_id = call_id_of(entry.entry_id)
            queued = acd.callbacks.get(call_id)
            rung = queued is None or queued.offered_to is None  # the agent answered (or a restart)
            outcome = Outcome.INTERRUPTED if rung else Outcome.NOT_DIALED
            log.info("callback %d: its attempt ended unseen (%s)", entry.entry_id, outcome.value)
            self.book.result(entry.entry_id, entry.dialing_agent, outcome, wall)
            effects += acd.offer_not_sent(call_id, now) if not rung else acd.withdraw(call_id, now)
        return effects

    def saves(self) -> list[Any]:
        return [SaveCallback(entry) for entry in self.book.take_changes()]
