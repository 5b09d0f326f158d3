"""What the engine asks of the callback feature (callback/flow.py implements it).

The core defines the port, the feature implements it, `hotline_pbx.py` hands it in: callback/
sits above acd/ like every other edge, with no import cycle. Every method runs inside the engine
task, takes the engine's clocks (`now` monotonic, `wall` epoch) and returns effects for the
engine to carry out (ACD effects such as offers, and the feature's own: dials, saves).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from acd import events as ev
from acd.records import CallRecord
from acd.routing import Priority

if TYPE_CHECKING:
    from acd.acd import Acd, OfferCall
    from acd.calls import LiveCalls


@dataclass(frozen=True, slots=True)
class Queued:
    """What the engine knew of a citizen's call while it waited: for the callback it may need."""

    queued_epoch: float
    priority: Priority


class CallbackPort(Protocol):
    def is_callback(self, call_id: str) -> bool:
        """This ACD call id is a callback's, not a live caller's linkedid."""
        ...

    def call_ended(self, record: CallRecord, queued: Queued | None, desk: str, wall: float) -> list[Any]:
        """A citizen's call ended: a lost one is booked (for `desk` if it never reached one),
        an answered one serves the number, one whose agent's connection went is booked to be
        called back first (record.callback is CALLBACK_AFTER_LOST_CONNECTION; `queued` then
        holds the head of the queue)."""
        ...

    def citizen_answered(self, number: str, wall: float) -> list[Any]:
        """An agent answered this number on a live call."""
        ...

    def can_call_back(self, number: str) -> bool:
        """A callback to this number could be made (a number, not on the do-not-call list)."""
        ...

    def offered(self, offer: OfferCall, acd: Acd, now: float, wall: float) -> list[Any]:
        """The ACD offered a callback to an agent: dial it, or withdraw it."""
        ...

    def dialed(self, fact: ev.CallbackDialed, acd: Acd, calls: LiveCalls, now: float, wall: float) -> list[Any]:
        """How a callback's dial went (agent answered, citizen's outcome, never sent)."""
        ...

    def resynced(self, snapshot: ev.ChannelsSnapshot, acd: Acd, now: float, wall: float) -> list[Any]:
        """After a (re)connect: settle callbacks whose end was not seen."""
        ...

    def step(self, acd: Acd, now: float, wall: float) -> list[Any]:
        """After every engine step: due entries into the ACD's lanes, closed ones out,
        expiries, business hours."""
        ...

    def saves(self) -> list[Any]:
        """What changed in this step, for the store."""
        ...

    def do_not_call(self, number: str, add: bool, wall: float) -> Any:
        """Opt a number out of callbacks (or back in); the entry this closed, or None."""
        ...


class NoCallbacks:
    """A hotline without the callback feature (and the engine's tests of everything else)."""

    def is_callback(self, call_id: str) -> bool:
        return False

    def call_ended(self, record: CallRecord, queued: Queued | None, desk: str, wall: float) -> list[Any]:
        return []

    def citizen_answered(self, number: str, wall: float) -> list[Any]:
        return []

    def can_call_back(self, number: str) -> bool:
        return False

    def offered(self, offer: OfferCall, acd: Acd, now: float, wall: float) -> list[Any]:
        return [offer]

    def dialed(self, fact: ev.CallbackDialed, acd: Acd, calls: LiveCalls, now: float, wall: float) -> list[Any]:
        return []

    def resynced(self, snapshot: ev.ChannelsSnapshot, acd: Acd, now: float, wall: float) -> list[Any]:
        return []

    def step(self, acd: Acd, now: float, wall: float) -> list[Any]:
        return []

    def saves(self) -> list[Any]:
        return []

    def do_not_call(self, number: str, add: bool, wall: float) -> Any:
        return None
