"""The callback book (呼损回拨): every lost call becomes — or joins — one entry per number per
window, and every entry ends in a final outcome. Pure: no I/O, no clock; the engine task owns it
(through callback/flow.py) and the store keeps every change (`take_changes`).

Rules:
1. A lost call (hung up in the greeting, the queue, while an agent's phone rang; refused by a
   full queue; after hours) of a number with an open entry inside the window (or being dialed)
   joins that entry; otherwise it opens one: a number never has two open entries. A lost call
   already booked (the same linkedid, as when Asterisk's call journal is replayed after a
   restart) changes nothing. An anonymous caller's entry is closed at once as `anonymous`; a
   number on the do-not-call list as `opted_out`. The entry takes the best priority class of
   its lost calls (a key enterprise stays a key enterprise when called back).
2. An entry is closed as `served` when the citizen calls again and an agent answers — even while
   a callback to them is being dialed (that attempt then only ends; nothing dials them again).
3. An entry is *due* when it is open, not being dialed and its retry time has come. Due
   entries go into the ACD's callback lanes with the time they became due as their queue time
   (for virtual hold, the time the caller joined the queue), so no callback passes a live
   caller of its class who waited longer. Plain lost calls are dialed only in business hours
   (the ACD holds their lane closed outside them); virtual-hold callbacks at any hour.
4. Dialing: one attempt at a time per entry (so never two callbacks to one number). Reached →
   closed `reached`. The citizen did not answer, was busy → another attempt after `spacing`
   seconds, up to `attempts`; then closed with that outcome. An invalid number → closed at
   once. The agent did not answer, or the dial never reached Asterisk → the entry stays due at
   its place; it cost the citizen nothing. An attempt whose end was never seen (the controller
   restarted or its AMI link dropped meanwhile, and no phone of it is left) counts as an
   attempt that did not reach the citizen (`interrupted`), retried after `spacing`: never two
   attempts at once, and never a quick second call to a citizen who may have been reached.
5. Opt-out: a number put on the do-not-call list closes its open entry as `opted_out` (an
   entry being dialed closes when that attempt ends, unless it reached the citizen) and is
   never due again; taken off the list, its next lost call opens an entry as usual.
6. Expiry: an open entry not reached within `window` of its first lost call closes as
   `expired` at that time (an attempt being dialed first ends).
The book's cost per engine step does not grow with the backlog: due times and expiries sit in
heaps, the open entries are indexed by number, and closed entries leave memory once handed to
the store.
"""

from __future__ import annotations

import enum
import heapq
from dataclasses import dataclass, field, replace

from acd.errors import StableError
from acd.routing import TIME_EPSILON, Priority

CALL_PREFIX = "callback:"

UNKNOWN_ENTRY = "unknown-callback"
NOT_DIALING = "callback-not-dialing"
ALREADY_DIALING = "callback-already-dialing"
EXPIRY_RECHECK = 60.0  # seconds: an entry being dialed at its expiry is looked at again then


class CallbackError(StableError):
    pass


class Outcome(str, enum.Enum):
    REACHED = "reached"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    INVALID_NUMBER = "invalid_number"
    AGENT_NO_ANSWER = "agent_no_answer"  # an attempt that never reached the citizen
    NOT_DIALED = "not_dialed"  # Asterisk refused the dial or never received it (AMI link down)
    INTERRUPTED = "interrupted"  # the attempt's end was never seen (restart, AMI outage)
    SERVED = "served"  # the citizen called again and was served
    ANONYMOUS = "anonymous"  # no number to call
    OPTED_OUT = "opted_out"  # on the do-not-call list
    EXPIRED = "expired"  # the window passed before a callback reached the citizen


FINAL_ON_ATTEMPT = {Outcome.REACHED, Outcome.INVALID_NUMBER}
RETRIED = {Outcome.NO_ANSWER, Outcome.BUSY, Outcome.INTERRUPTED}
COSTS_THE_CITIZEN_NOTHING = {Outcome.AGENT_NO_ANSWER, Outcome.NOT_DIALED}


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
    reason: str  # abandoned_ivr | abandoned_queue | abandoned_ringing | queue_full | after_hours | connection_lost
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
    dialing_agent: str = ""  # whose phone the attempt in flight rings (kept across restarts)

    @property
    def open(self) -> bool:
        return self.outcome is None

    @property
    def citizen_attempts(self) -> int:
        return sum(1 for a in self.attempts if a.outcome not in COSTS_THE_CITIZEN_NOTHING)


@dataclass(slots=True)
class CallbackBook:
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    do_not_call: frozenset[str] = frozenset()
    configured: frozenset[str] = frozenset()  # the config file's numbers: on the list for good
    # open entries, and closed ones whose last attempt is still being dialed
    entries: dict[int, Entry] = field(default_factory=dict)
    booked: dict[str, float] = field(default_factory=dict)  # linkedids of lost calls seen -> when
    _next_id: int = 1
    _booked_floor: int = 10_000
    _open_by_number: dict[str, int] = field(default_factory=dict)
    _dialing_by_number: dict[str, int] = field(default_factory=dict)
    _due: list[tuple[float, int]] = field(default_factory=list)  # (due_at, id): not yet in the ACD
    _released: set[int] = field(default_factory=set)  # due and handed to the ACD
    _expiry: list[tuple[float, int]] = field(default_factory=list)
    _changed: dict[int, Entry] = field(default_factory=dict)  # for the store, in change order
    _closed: list[int] = field(default_factory=list)  # closed since the last look (leave the ACD)

    # ---- keeping the indexes ----
    def _put(self, entry: Entry) -> Entry:
        old = self.entries.get(entry.entry_id)
        self._changed[entry.entry_id] = entry
        if entry.open or entry.dialing:
            self.entries[entry.entry_id] = entry
        else:
            self.entries.pop(entry.entry_id, None)  # in the store once saved: not kept in memory
        if entry.open:
            self._open_by_number[entry.number] = entry.entry_id
            if old is None or old.due_at != entry.due_at or (old.dialing and not entry.dialing):
                if not entry.dialing:
                    heapq.heappush(self._due, (entry.due_at, entry.entry_id))
            if old is None:
                heapq.heappush(self._expiry, (entry.opened_at + self.policy.window, entry.entry_id))
        elif self._open_by_number.get(entry.number) == entry.entry_id:
            del self._open_by_number[entry.number]
        if entry.dialing:
            self._dialing_by_number[entry.number] = entry.entry_id
        elif self._dialing_by_number.get(entry.number) == entry.entry_id:
            del self._dialing_by_number[entry.number]
        if not entry.open and (old is None or old.open):
            self._closed.append(entry.entry_id)
        if entry.dialing or not entry.open or (old is not None and old.due_at != entry.due_at):
            self._released.discard(entry.entry_id)  # out of the ACD (dialed, closed, or due later)
        return entry

    def take_changes(self) -> list[Entry]:
        """Every entry changed since the last call, its latest state: for the store."""
        changed, self._changed = list(self._changed.values()), {}
        return changed

    def take_closed(self) -> list[int]:
        """Entries closed since the last call: a callback of theirs waiting in the ACD leaves it."""
        closed, self._closed = self._closed, []
        return closed

    def restore(self, entries: list[Entry], last_id: int, booked: dict[str, float] | None = None) -> None:
        """After a restart: the open entries from the store; new ids continue after `last_id`;
        `booked`, the lost calls of recently closed entries, are not booked a second time. An
        entry that was being dialed stays so until the first resync says whether its attempt
        is still live (`in_flight`, `interrupted`)."""
        for entry in entries:
            self._put(entry)
            self.booked.update((loss.linkedid, loss.at) for loss in entry.losses)
        self._changed.clear()  # these came from the store
        self._closed.clear()
        self.booked.update(booked or {})
        self._next_id = max(self._next_id, last_id + 1)

    # ---- reading ----
    def open_for(self, number: str) -> Entry | None:
        entry_id = self._open_by_number.get(number)
        return None if entry_id is None else self.entries[entry_id]

    def dialing_for(self, number: str) -> Entry | None:
        entry_id = self._dialing_by_number.get(number)
        return None if entry_id is None else self.entries[entry_id]

    def in_flight(self) -> list[Entry]:
        return [self.entries[i] for i in self._dialing_by_number.values()]

    def open_entries(self) -> list[Entry]:
        return [self.entries[i] for i in self._open_by_number.values()]

    # ---- the rules ----
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
        if current is None:
            return None
        return self._put(replace(current, outcome=Outcome.SERVED, closed_at=at))

    def due(self, now: float) -> list[Entry]:
        """Rule 3: the entries that became due since the last call, each handed out once
        (they then wait in the ACD), best class and oldest first."""
        ready: list[Entry] = []
        while self._due and self._due[0][0] <= now + TIME_EPSILON:
            due_at, entry_id = heapq.heappop(self._due)
            entry = self.entries.get(entry_id)
            if entry is None or not entry.open or entry.dialing or entry.due_at != due_at \
                    or entry_id in self._released or entry.number in self.do_not_call:
                continue  # stale: closed, dialed, due at another time, or already in the ACD
            self._released.add(entry_id)
            ready.append(entry)
        return sorted(ready, key=lambda e: (e.priority, e.due_at, e.entry_id))

    def expire(self, now: float) -> list[Entry]:
        """Rule 6: entries whose window passed close now (not at the next lost call)."""
        closed: list[Entry] = []
        while self._expiry and self._expiry[0][0] <= now + TIME_EPSILON:
            _, entry_id = heapq.heappop(self._expiry)
            entry = self.entries.get(entry_id)
            if entry is None or not entry.open:
                continue
            if entry.dialing:  # the attempt ends first
                heapq.heappush(self._expiry, (now + EXPIRY_RECHECK, entry_id))
                continue
            closed.append(self._put(replace(entry, outcome=Outcome.EXPIRED, closed_at=now)))
        return closed

    def start(self, entry_id: int, agent_id: str = "") -> Entry:
        entry = self._entry(entry_id)
        if not entry.open:
            raise CallbackError(UNKNOWN_ENTRY, f"callback {entry_id} is closed")
        if entry.number in self._dialing_by_number:
            raise CallbackError(ALREADY_DIALING, f"{entry.number[-4:]} is being called back already")
        return self._put(replace(entry, dialing=True, dialing_agent=agent_id))

    def result(self, entry_id: int, agent_id: str, outcome: Outcome, at: float) -> Entry:
        """Rule 4: what one attempt came to."""
        entry = self._entry(entry_id)
        if not entry.dialing:
            raise CallbackError(NOT_DIALING, f"callback {entry_id} is not being dialed")
        entry = replace(entry, dialing=False, dialing_agent="",
                        attempts=entry.attempts + (Attempt(at, agent_id, outcome),))
        if not entry.open:  # served (rule 2) while this attempt was dialed: it only ends
            return self._put(entry)
        if outcome in FINAL_ON_ATTEMPT:
            return self._put(replace(entry, outcome=outcome, closed_at=at))
        if entry.number in self.do_not_call:  # rule 5: opted out while this attempt was dialed
            return self._put(replace(entry, outcome=Outcome.OPTED_OUT, closed_at=at))
        if entry.citizen_attempts >= self.policy.attempts:
            return self._put(replace(entry, outcome=outcome, closed_at=at))
        if at - entry.opened_at + TIME_EPSILON >= self.policy.window:  # rule 6: no attempt after the window
            return self._put(replace(entry, outcome=Outcome.EXPIRED, closed_at=at))
        if outcome in COSTS_THE_CITIZEN_NOTHING:
            return self._put(entry)  # due again at once, at its old place
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
        current = self.open_for(number)
        if current is not None and not current.dialing:
            heapq.heappush(self._due, (current.due_at, current.entry_id))  # due() skipped it meanwhile
        return True

    def _entry(self, entry_id: int) -> Entry:
        entry = self.entries.get(entry_id)
        if entry is None:
            raise CallbackError(UNKNOWN_ENTRY, str(entry_id))
        return entry


def call_id_of(entry_id: int) -> str:
    return f"{CALL_PREFIX}{entry_id}"


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
