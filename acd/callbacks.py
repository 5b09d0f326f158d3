"""The callback book (呼损回拨): every lost call becomes — or joins — one entry per number per
window, and every entry ends in a final outcome. Pure: no I/O, no clock; the engine owns it.

Rules:
1. A lost call (hung up in the greeting, the queue, while an agent's phone rang; refused by a
   full queue; after hours) of a number with an open entry inside the window (or being dialed)
   joins that entry; otherwise it opens one: a number never has two open entries. A lost call
   already booked (the same linkedid, as when Asterisk's call journal is replayed after a
   restart) changes nothing. An anonymous caller's entry is closed at once as `anonymous`; a
   number on the do-not-call list as `opted_out`.
2. An entry is closed as `served` when the citizen calls again and an agent answers.
3. An entry is *due* when it is open, not being dialed, its retry time has come, and — for a
   plain lost call — it is business hours. A virtual-hold entry (the caller accepted the offer
   to be called back) is due at once: it waits in the ACD at the place it had in the queue.
   Due entries go into the ACD's queue like callers, with the time they became due as their
   queue time, so no callback passes a live caller of the same class who waited longer.
4. Dialing: one attempt at a time per entry (so never two callbacks to one number). Reached →
   closed `reached`. The citizen did not answer, was busy → another attempt after `spacing`
   seconds, up to `attempts`; then closed with that outcome. An invalid number → closed at
   once. The agent did not answer → the entry goes back to due; it cost the citizen nothing.
5. Opt-out: a number put on the do-not-call list closes its open entry as `opted_out` (an
   entry being dialed closes when that attempt ends, unless it reached the citizen) and is
   never due again; taken off the list, its next lost call opens an entry as usual.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

from acd.errors import StableError
from acd.routing import Priority, WaitingCall

CALL_PREFIX = "callback:"

UNKNOWN_ENTRY = "unknown-callback"
NOT_DIALING = "callback-not-dialing"
ALREADY_DIALING = "callback-already-dialing"


class CallbackError(StableError):
    pass


class Outcome(str, enum.Enum):
    REACHED = "reached"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    INVALID_NUMBER = "invalid_number"
    AGENT_NO_ANSWER = "agent_no_answer"  # an attempt that never reached the citizen
    SERVED = "served"  # the citizen called again and was served
    ANONYMOUS = "anonymous"  # no number to call
    OPTED_OUT = "opted_out"  # on the do-not-call list
    EXPIRED = "expired"  # the window passed before a callback reached the citizen


FINAL_ON_ATTEMPT = {Outcome.REACHED, Outcome.INVALID_NUMBER}
RETRIED = {Outcome.NO_ANSWER, Outcome.BUSY}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3  # dial attempts to the citizen before giving up
    spacing: float = 600.0  # seconds between attempts
    window: float = 86_400.0  # lost calls of one number within this join one entry


@dataclass(frozen=True, slots=True)
class Loss:
    """One lost call: why, how long the caller waited, and where it would have gone."""

    linkedid: str
    number: str
    desk: str
    reason: str  # abandoned_ivr | abandoned_queue | abandoned_ringing | queue_full | after_hours
    waited: float
    at: float  # epoch seconds
    priority: Priority = Priority.NORMAL
    virtual_hold: bool = False  # the caller accepted a callback that keeps their place
    queued_at: float | None = None  # virtual hold: when they joined the queue (epoch)


@dataclass(frozen=True, slots=True)
class Attempt:
    at: float
    agent_id: str
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class Entry:
    entry_id: int
    number: str
    desk: str
    priority: Priority
    opened_at: float
    losses: tuple[Loss, ...]
    attempts: tuple[Attempt, ...] = ()
    due_at: float = 0.0  # epoch; for virtual hold, the original queue time
    virtual_hold: bool = False
    dialing: bool = False
    outcome: Outcome | None = None  # set once: the entry is closed
    closed_at: float | None = None

    @property
    def open(self) -> bool:
        return self.outcome is None

    @property
    def citizen_attempts(self) -> int:
        return sum(1 for a in self.attempts if a.outcome is not Outcome.AGENT_NO_ANSWER)


@dataclass(slots=True)
class CallbackBook:
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    do_not_call: frozenset[str] = frozenset()
    configured: frozenset[str] = frozenset()  # the config file's numbers: on the list for good
    entries: dict[int, Entry] = field(default_factory=dict)
    booked: dict[str, float] = field(default_factory=dict)  # linkedids of lost calls seen -> when
    _next_id: int = 1
    _booked_floor: int = 10_000
    _open: set[int] = field(default_factory=set)  # the engine asks after every step: not all of today's

    def _put(self, entry: Entry) -> Entry:
        self.entries[entry.entry_id] = entry
        if entry.open:
            self._open.add(entry.entry_id)
        else:
            self._open.discard(entry.entry_id)
        return entry

    def _open_entries(self) -> list[Entry]:
        return [self.entries[i] for i in self._open]

    def restore(self, entries: list[Entry], last_id: int, booked: dict[str, float] | None = None) -> None:
        """After a restart: the open entries from the store; new ids continue after `last_id`;
        `booked`, the lost calls of recently closed entries, are not booked a second time."""
        for entry in entries:
            self._put(replace(entry, dialing=False))
            self.booked.update((loss.linkedid, loss.at) for loss in entry.losses)
        self.booked.update(booked or {})
        self._next_id = max(self._next_id, last_id + 1)

    def open_for(self, number: str) -> Entry | None:
        return next((e for e in self._open_entries() if e.number == number), None)

    def lost(self, loss: Loss) -> Entry | None:
        """Rule 1: join the number's open entry within the window, or open one; None if this
        lost call was booked already."""
        if loss.linkedid in self.booked:
            return None
        self.booked[loss.linkedid] = loss.at
        if len(self.booked) > 2 * self._booked_floor:  # forget what no replay can bring back
            horizon = loss.at - 2 * self.policy.window
            self.booked = {k: t for k, t in self.booked.items() if t >= horizon}
            self._booked_floor = max(self._booked_floor, len(self.booked))
        current = self.open_for(loss.number) if loss.number else None
        # an entry being dialed takes the loss even past its window: never two open per number
        if current is not None and (loss.at - current.opened_at <= self.policy.window or current.dialing):
            virtual = current.virtual_hold or loss.virtual_hold
            due = current.due_at
            if loss.virtual_hold and not current.dialing:
                due = loss.queued_at if loss.queued_at is not None else loss.at
            return self._put(replace(current, losses=current.losses + (loss,), virtual_hold=virtual,
                                     priority=min(current.priority, loss.priority), due_at=due))
        if current is not None:  # outside the window: it ends, a new one starts
            self._put(replace(current, outcome=Outcome.EXPIRED, closed_at=loss.at))
        entry = Entry(self._next_id, loss.number, loss.desk, loss.priority, loss.at, (loss,),
                      due_at=loss.queued_at if loss.virtual_hold and loss.queued_at is not None else loss.at,
                      virtual_hold=loss.virtual_hold)
        self._next_id += 1
        if not loss.number.strip():
            entry = replace(entry, outcome=Outcome.ANONYMOUS, closed_at=loss.at)
        elif loss.number in self.do_not_call:
            entry = replace(entry, outcome=Outcome.OPTED_OUT, closed_at=loss.at)
        return self._put(entry)

    def served(self, number: str, at: float) -> Entry | None:
        """Rule 2: the citizen called again and an agent answered."""
        current = self.open_for(number)
        if current is None or current.dialing:
            return None
        return self._put(replace(current, outcome=Outcome.SERVED, closed_at=at))

    def due(self, now: float, business_hours: bool) -> list[Entry]:
        """Rule 3, oldest first."""
        open_entries = self._open_entries()
        busy = {e.number for e in open_entries if e.dialing}
        ready = [e for e in open_entries if not e.dialing and e.due_at <= now
                 and e.number not in busy and e.number not in self.do_not_call
                 and (business_hours or e.virtual_hold)]
        return sorted(ready, key=lambda e: (e.priority, e.due_at, e.entry_id))

    def start(self, entry_id: int) -> Entry:
        entry = self._entry(entry_id)
        if not entry.open:
            raise CallbackError(UNKNOWN_ENTRY, f"callback {entry_id} is closed")
        if any(e.dialing and e.number == entry.number for e in self._open_entries()):
            raise CallbackError(ALREADY_DIALING, f"{entry.number[-4:]} is being called back already")
        return self._put(replace(entry, dialing=True))

    def result(self, entry_id: int, agent_id: str, outcome: Outcome, at: float) -> Entry:
        """Rule 4: what one attempt came to."""
        entry = self._entry(entry_id)
        if not entry.dialing:
            raise CallbackError(NOT_DIALING, f"callback {entry_id} is not being dialed")
        entry = replace(entry, dialing=False, attempts=entry.attempts + (Attempt(at, agent_id, outcome),))
        if outcome in FINAL_ON_ATTEMPT:
            return self._put(replace(entry, outcome=outcome, closed_at=at))
        if entry.number in self.do_not_call:  # rule 5: opted out while this attempt was dialed
            return self._put(replace(entry, outcome=Outcome.OPTED_OUT, closed_at=at))
        if outcome is Outcome.AGENT_NO_ANSWER:
            return self._put(entry)  # due again at once, at its old place
        if entry.citizen_attempts >= self.policy.attempts:
            return self._put(replace(entry, outcome=outcome, closed_at=at))
        return self._put(replace(entry, due_at=at + self.policy.spacing, virtual_hold=False))

    def opt_out(self, number: str, at: float) -> Entry | None:
        """Rule 5: the number goes on the do-not-call list; its open entry, unless being dialed
        right now, is closed and returned."""
        self.do_not_call = self.do_not_call | {number}
        current = self.open_for(number)
        if current is None or current.dialing:
            return None
        return self._put(replace(current, outcome=Outcome.OPTED_OUT, closed_at=at))

    def opt_in(self, number: str) -> bool:
        """Off the list again; False if it was not on it or is on it by configuration."""
        if number not in self.do_not_call or number in self.configured:
            return False
        self.do_not_call = self.do_not_call - {number}
        return True

    def _entry(self, entry_id: int) -> Entry:
        entry = self.entries.get(entry_id)
        if entry is None:
            raise CallbackError(UNKNOWN_ENTRY, str(entry_id))
        return entry


def as_waiting_call(entry: Entry, desk_seq: int) -> WaitingCall:
    """A due entry as the ACD queues it: its queue time is when it became due (for virtual
    hold, when the caller joined the queue), so the routing order puts it behind every live
    caller of its class who waited longer, and ahead of those who came after."""
    return WaitingCall(f"{CALL_PREFIX}{entry.entry_id}", entry.desk, entry.priority, entry.due_at, desk_seq)


def entry_of(call_id: str) -> int | None:
    """The entry id of a callback's ACD call id, None for a live caller's linkedid."""
    return int(call_id[len(CALL_PREFIX):]) if call_id.startswith(CALL_PREFIX) else None


def figures(entries: list[Entry], now: float, business_hours: bool = True, lost_calls: int | None = None,
            citizen_calls: int | None = None) -> dict[str, float | int | None]:
    """The callback figures a supervisor watches: open, due now, outcomes, success rate (reached
    among entries that could be called: not anonymous, opted out or served by a new call), the
    median time from the first lost call to reaching the citizen, and the lost-call rate when
    the call counts are given."""
    closed = [e for e in entries if not e.open]
    callable_ = [e for e in closed if e.outcome not in (Outcome.ANONYMOUS, Outcome.OPTED_OUT, Outcome.SERVED)]
    reached = [e for e in closed if e.outcome is Outcome.REACHED]
    waits = sorted((e.closed_at or now) - e.losses[0].at for e in reached)
    due = [e for e in entries if e.open and not e.dialing and e.due_at <= now and (business_hours or e.virtual_hold)]
    by_outcome: dict[str, float | int | None] = {o.value: sum(1 for e in closed if e.outcome is o) for o in Outcome}
    return {
        "entries": len(entries), "open": sum(1 for e in entries if e.open), "due": len(due),
        "dialing": sum(1 for e in entries if e.dialing), **by_outcome,
        "success_rate": round(len(reached) / len(callable_), 4) if callable_ else None,
        "median_seconds_to_callback": waits[len(waits) // 2] if waits else None,
        "lost_call_rate": round(lost_calls / citizen_calls, 4) if lost_calls is not None and citizen_calls else None,
    }
