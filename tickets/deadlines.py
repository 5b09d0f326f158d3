"""Deadlines of work orders: rules by category and topic, counted on a working-day calendar.

Emergencies count in clock hours (2 h: the order is signed at once); utilities in 24 clock
hours; general matters in working days, skipping weekends and public holidays but counting the
make-up working days (调休上班) a city announces. All settings come from config.

Days are the city's days: a moment (stored in UTC) is turned into the city's local time before
its date is taken, and "the end of the N-th working day" is that day's `day_ends` in the city.
A naive datetime is taken as UTC, as the store keeps it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

CITY_ZONE = "Asia/Shanghai"  # China Standard Time: the default of [city] time_zone


def local_time(moment: datetime, zone: tzinfo) -> datetime:
    """`moment` in the city's zone (naive: UTC, as stored)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(zone)


@dataclass(frozen=True, slots=True)
class WorkCalendar:
    holidays: frozenset[date] = frozenset()
    makeup_workdays: frozenset[date] = frozenset()
    day_ends: time = time(18, 0)  # an order due "in N working days" is due at this time
    zone: tzinfo = field(default_factory=lambda: ZoneInfo(CITY_ZONE))  # the city's, whose days count

    def is_working_day(self, day: date) -> bool:
        if day in self.makeup_workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def is_day_off(self, day: date) -> bool:
        """A weekend or public holiday that is not a make-up working day (the intake's holiday plan)."""
        return not self.is_working_day(day)

    def local_date(self, moment: datetime) -> date:
        return local_time(moment, self.zone).date()

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The end of the N-th working day after `start` (the day it arrives, in the city, does
        not count), in the city's zone."""
        day = self.local_date(start)
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return datetime.combine(day, self.day_ends, tzinfo=self.zone)


@dataclass(frozen=True, slots=True)
class DeadlineRule:
    category: str  # "*" for any
    topics: tuple[str, ...] = ()  # empty: any topic
    hours: float | None = None  # clock hours …
    working_days: int | None = None  # … or working days

    def matches(self, category: str, topic: str) -> bool:
        return (self.category in ("*", category)) and (not self.topics or topic in self.topics)


@dataclass(frozen=True, slots=True)
class DeadlinePolicy:
    rules: tuple[DeadlineRule, ...] = field(default_factory=tuple)
    calendar: WorkCalendar = field(default_factory=WorkCalendar)

    def due(self, category: str, topic: str, received: datetime) -> datetime:
        """The first matching rule decides; without one, 5 working days."""
        for rule in self.rules:
            if rule.matches(category, topic):
                if rule.hours is not None:
                    return received + timedelta(hours=rule.hours)
                return self.calendar.add_working_days(received, rule.working_days or 0)
        return self.calendar.add_working_days(received, 5)


def overdue(orders: Iterable[tuple[str, datetime]], now: datetime) -> list[str]:
    return [number for number, due in orders if due < now]


def due_soon(orders: Iterable[tuple[str, datetime]], now: datetime, within: timedelta) -> list[str]:
    return [number for number, due in orders if now <= due <= now + within]


def order_number(city_code: str, day: date, sequence: int) -> str:
    """City code + date + daily sequence, e.g. 3301-20261122-000042 (the store hands out the
    sequence atomically per city and day)."""
    return f"{city_code}-{day:%Y%m%d}-{sequence:06d}"


def parse_days(values: Sequence[str]) -> frozenset[date]:
    return frozenset(date.fromisoformat(v) for v in values)
