"""The service KPIs as centers count them (../shared/MISSION.md), from call records. Pure.

Per desk and for the whole hotline, over any set of records (a local day from the store, or
today's records as they are written):

- offered (呼入量): citizens' calls that reached the hotline, minus short abandons (秒挂: the
  caller hung up within `short_abandon` seconds of arriving, before any agent answered);
- answered: offered calls an agent talked to (the ACD's, the fallback queue's, transferred ones);
- 接通率 answer rate = answered / offered: IVR, queue and ringing abandons, queue-full refusals
  and calls that ended in the fallback queue unanswered are offered and not answered;
- 15 s level = answered within the desk's target (15 s) of *arriving* / offered: abandons lower it;
- ASA = mean seconds from arrival to an agent's answer, over answered calls (a call that ended
  while the controller was away, known from Asterisk's journal only, counts as answered but
  not within target and not in ASA: its answer time is unknown);
- lost (呼损) = offered - answered, lost rate = lost / offered;
- callbacks (回拨) are not offered calls: dialed, reached, and the callback rate = reached / lost.
Agents' own calls (internal) count nowhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from acd.records import TRANSFERS, CallRecord, Disposition

HOTLINE = "all"  # the key of the whole hotline's figures
ANSWERED_BY_AN_AGENT = frozenset({Disposition.ANSWERED, Disposition.FALLBACK_QUEUE, *TRANSFERS})


def speed_of_answer(record: CallRecord) -> float | None:
    """Seconds from arrival to the agent's answer, or None if not known (or not answered)."""
    if not answered_by_agent(record) or record.talk_time is None:
        return None
    return max(0.0, (record.ended_at - record.arrived_at).total_seconds() - record.talk_time)


def is_callback(record: CallRecord) -> bool:
    """An outbound callback's record: reached (called_back) or not (failed, with no hotline
    number dialed: the agent's leg was originated, nobody dialed in)."""
    return record.disposition is Disposition.CALLED_BACK or (
        record.disposition is Disposition.FAILED and not record.dialed_number)


def answered_by_agent(record: CallRecord) -> bool:
    """The fallback queue's member or the ACD's agent talked to the caller (a fallback call
    that ended unanswered has no agent)."""
    if record.disposition is Disposition.FALLBACK_QUEUE:
        return bool(record.agent)
    return record.disposition in ANSWERED_BY_AN_AGENT


@dataclass(slots=True)
class Tally:
    offered: int = 0
    answered: int = 0
    answered_in_target: int = 0
    short_abandons: int = 0
    abandoned_ivr: int = 0
    abandoned_queue: int = 0
    abandoned_ringing: int = 0
    fallback_unanswered: int = 0
    fallback_answered: int = 0
    transferred: int = 0
    other_lost: int = 0  # failed, unknown
    total_speed: float = 0.0
    timed: int = 0  # answered calls whose time to answer is known
    callbacks_dialed: int = 0
    callbacks_reached: int = 0

    def figures(self) -> dict[str, Any]:
        lost = self.offered - self.answered
        return {
            "offered": self.offered, "answered": self.answered, "lost": lost,
            "answer_rate_pct": _pct(self.answered, self.offered),
            "service_level_pct": _pct(self.answered_in_target, self.offered),
            "answered_in_target": self.answered_in_target,
            "average_speed_of_answer": round(self.total_speed / self.timed, 2) if self.timed else None,
            "lost_rate_pct": _pct(lost, self.offered),
            "short_abandons": self.short_abandons,
            "abandoned": lost, "abandoned_while_ringing": self.abandoned_ringing,
            "lost_by": {"ivr": self.abandoned_ivr, "queue": self.abandoned_queue, "ringing": self.abandoned_ringing,
                        "fallback_unanswered": self.fallback_unanswered, "other": self.other_lost},
            "fallback_answered": self.fallback_answered, "transferred": self.transferred,
            "callbacks": {"dialed": self.callbacks_dialed, "reached": self.callbacks_reached,
                          "callback_rate_pct": _pct(self.callbacks_reached, lost)},
        }


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


@dataclass(slots=True)
class ServiceFigures:
    """The records of a period, one per call (a record written again later, complete after
    a resync, replaces the first); `figures()` counts them per desk and for the hotline (a
    busy center's day is a few thousand records: counted on each read)."""

    desk_of: Callable[[str], str]  # dialed number -> desk, for calls lost before a desk was known
    targets: Mapping[str, float] = field(default_factory=dict)  # desk -> service level seconds
    short_abandon: float = 5.0
    records: dict[str, CallRecord] = field(default_factory=dict)

    def add(self, record: CallRecord) -> None:
        self.records[record.linkedid] = record

    def add_all(self, records: Iterable[CallRecord]) -> ServiceFigures:
        for record in records:
            self.add(record)
        return self

    def figures(self) -> dict[str, dict[str, Any]]:
        desks: dict[str, Tally] = {HOTLINE: Tally()}
        for record in self.records.values():
            desk = record.desk or self.desk_of(record.dialed_number)
            for tally in (desks.setdefault(desk, Tally()), desks[HOTLINE]):
                _count(tally, record, self.targets.get(desk, 15.0), self.short_abandon)
        return {desk: tally.figures() for desk, tally in desks.items()}


def _count(t: Tally, r: CallRecord, target: float, short_abandon: float) -> None:
    if r.disposition is Disposition.INTERNAL:
        return
    if is_callback(r):
        t.callbacks_dialed += 1
        t.callbacks_reached += int(r.disposition is Disposition.CALLED_BACK)
        return
    if answered_by_agent(r):
        t.offered += 1
        t.answered += 1
        speed = speed_of_answer(r)
        if speed is not None:  # unknown for a call that ended while the controller was away
            t.timed += 1
            t.total_speed += speed
            t.answered_in_target += int(speed <= target)
        t.fallback_answered += int(r.disposition is Disposition.FALLBACK_QUEUE)
        t.transferred += int(r.disposition in TRANSFERS)
        return
    if (r.ended_at - r.arrived_at).total_seconds() <= short_abandon:
        t.short_abandons += 1
        return
    t.offered += 1
    if r.disposition is Disposition.ABANDONED_IVR:
        t.abandoned_ivr += 1
    elif r.disposition is Disposition.ABANDONED_QUEUE:
        t.abandoned_queue += 1
    elif r.disposition is Disposition.ABANDONED_RINGING:
        t.abandoned_ringing += 1
    elif r.disposition is Disposition.FALLBACK_QUEUE:
        t.fallback_unanswered += 1
    else:
        t.other_lost += 1


def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a local day as aware datetimes (a day is 24 h in China; zoneinfo keeps
    it right where it is not)."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)


def hourly_offered(figures: ServiceFigures, records: Iterable[CallRecord], zone: ZoneInfo) -> list[int]:
    """Offered calls (as the day's figures count them: short abandons and callbacks are not
    offered) per local hour of arrival, 0 to 23, for the hotline (the wallboard's chart)."""
    by_hour: list[list[CallRecord]] = [[] for _ in range(24)]
    for record in records:
        by_hour[record.arrived_at.astimezone(zone).hour].append(record)
    return [int(ServiceFigures(figures.desk_of, figures.targets, figures.short_abandon).add_all(hour)
                .figures()[HOTLINE]["offered"]) for hour in by_hour]  # the hotline's line is always there


class DayFigures:
    """Today's records (the city's local day of arrival) for the live figures: filled from the
    store at start, then from every record the engine writes; a new local day starts empty."""

    def __init__(self, zone: ZoneInfo, desk_of: Callable[[str], str], targets: Mapping[str, float],
                 short_abandon: float) -> None:
        self.zone = zone
        self._desk_of, self._targets, self._short = desk_of, targets, short_abandon
        self.day: date | None = None
        self.records = self._make()

    def _make(self) -> ServiceFigures:
        return ServiceFigures(self._desk_of, self._targets, self._short)

    def _roll(self, day: date) -> None:
        if self.day is None or day > self.day:
            self.day, self.records = day, self._make()

    def add(self, record: CallRecord) -> None:
        day = record.arrived_at.astimezone(self.zone).date()
        self._roll(day)
        if day == self.day:
            self.records.add(record)

    def figures(self, now: datetime, live: Iterable[CallRecord] = ()) -> dict[str, dict[str, Any]]:
        """Today's figures; `live` adds the calls still going on (an answered call counts from
        the moment an agent answered, not from its end)."""
        self._roll(now.astimezone(self.zone).date())
        today = self._make().add_all(self.records.records.values())
        for record in live:
            if record.arrived_at.astimezone(self.zone).date() == self.day:
                today.add(record)
        return today.figures()
