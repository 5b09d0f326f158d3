"""Retention: which recordings have been kept long enough (pure; recordings/purge.py deletes).

A recording is kept `keep_days` whole days of the city's calendar after the day its call ended
(the longest of the request types of the work orders it is linked to, or the default), and is
due for deletion from the day after. A legal hold on any of its orders keeps it, whatever its
age.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from recordings.store import Candidate


@dataclass(frozen=True, slots=True)
class Policy:
    default_days: int
    days: Mapping[str, int]  # by request type (work-order category)

    def keep_days(self, categories: Iterable[str]) -> int:
        """The longest of the request types' periods (a type without one has the default)."""
        return max((self.days.get(c, self.default_days) for c in categories), default=self.default_days)

    @property
    def shortest(self) -> int:
        return min([self.default_days, *self.days.values()])


def last_day_kept(ended_at: datetime, categories: Iterable[str], policy: Policy, zone: tzinfo) -> date:
    return ended_at.astimezone(zone).date() + timedelta(days=policy.keep_days(categories))


@dataclass(frozen=True, slots=True)
class Verdict:
    expired: list[Candidate]
    held: list[Candidate]  # expired but on legal hold: kept


def judge(candidates: Iterable[Candidate], today: date, policy: Policy, zone: tzinfo) -> Verdict:
    """Of `candidates`, those past their last day (`today` in the city's calendar), split by hold."""
    expired: list[Candidate] = []
    held: list[Candidate] = []
    for candidate in candidates:
        if today > last_day_kept(candidate.ended_at, candidate.categories, policy, zone):
            (held if candidate.held else expired).append(candidate)
    return Verdict(expired, held)


def oldest_kept(today: date, policy: Policy, zone: tzinfo) -> datetime:
    """No call ending at or after this moment can be expired today (the store's first filter)."""
    first = today - timedelta(days=policy.shortest)
    return datetime(first.year, first.month, first.day, tzinfo=zone)
