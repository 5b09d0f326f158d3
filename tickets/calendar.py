"""The State Council's holiday schedule (放假安排) as the shipped default calendar, and the check of
a configured calendar against the `chinese-calendar` package (`hotline_pbx.py calendar check`).

Each year the General Office of the State Council publishes the public holidays and the weekend
days worked instead (调休上班). The holidays listed here are every day off of each holiday period,
weekends inside it included, as the notice writes them ("2月15日至23日放假调休，共9天").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from tickets.deadlines import WorkCalendar

# 国务院办公厅关于2026年部分节假日安排的通知 (国办发明电〔2025〕7号)
# (name, first day off, last day off, make-up working days)
SCHEDULE_2026: tuple[tuple[str, date, date, tuple[date, ...]], ...] = (
    ("元旦 New Year's Day", date(2026, 1, 1), date(2026, 1, 3), (date(2026, 1, 4),)),  # Thu–Sat; Sun 4 worked
    ("春节 Spring Festival", date(2026, 2, 15), date(2026, 2, 23),
     (date(2026, 2, 14), date(2026, 2, 28))),  # Sun–Mon; Sat 14 and Sat 28 worked
    ("清明节 Qingming", date(2026, 4, 4), date(2026, 4, 6), ()),  # Sat–Mon
    ("劳动节 Labour Day", date(2026, 5, 1), date(2026, 5, 5), (date(2026, 5, 9),)),  # Fri–Tue; Sat 9 worked
    ("端午节 Dragon Boat", date(2026, 6, 19), date(2026, 6, 21), ()),  # Fri–Sun
    ("中秋节 Mid-Autumn", date(2026, 9, 25), date(2026, 9, 27), ()),  # Fri–Sun
    ("国庆节 National Day", date(2026, 10, 1), date(2026, 10, 7),
     (date(2026, 9, 20), date(2026, 10, 10))),  # Thu–Wed; Sun Sep 20 and Sat Oct 10 worked
)


def _span(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


HOLIDAYS_2026: frozenset[date] = frozenset(d for _, first, last, _ in SCHEDULE_2026 for d in _span(first, last))
MAKEUP_WORKDAYS_2026: frozenset[date] = frozenset(d for *_, worked in SCHEDULE_2026 for d in worked)


@dataclass(frozen=True, slots=True)
class Reference:
    """One year of another source's calendar: day → the holiday's name."""

    year: int
    holidays: Mapping[date, str]
    makeup_workdays: Mapping[date, str]
    source: str


@dataclass(frozen=True, slots=True)
class Disagreement:
    day: date
    config: str  # what the config makes of the day: holiday, make-up working day, ordinary weekday, …
    reference: str  # what the reference makes of it, with the holiday's name
    changes_working_days: bool  # False: a listing difference that changes no deadline

    def describe(self, source: str = "the reference") -> str:
        effect = "" if self.changes_working_days else " (counted the same either way)"
        return f"{self.day.isoformat()} {self.day:%a}: the config says {self.config}, {source} says {self.reference}{effect}"


class ReferenceUnavailable(Exception):
    pass


def chinese_calendar_reference(year: int) -> Reference:
    """The `chinese-calendar` package's holidays and make-up working days of `year`."""
    try:
        import chinese_calendar
        from chinese_calendar import constants
    except ImportError:
        raise ReferenceUnavailable("the chinese-calendar package is not installed "
                                   "(pip install chinesecalendar)") from None
    version = str(getattr(chinese_calendar, "__version__", "?"))
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
        chinese_calendar.is_workday(date(year, 12, 31))
    except NotImplementedError:
        raise ReferenceUnavailable(f"chinese-calendar {version} has no data for {year}") from None
    holidays: dict[date, Any] = constants.holidays
    workdays: dict[date, Any] = constants.workdays
    return Reference(year, {d: str(n) for d, n in holidays.items() if d.year == year},
                     {d: str(n) for d, n in workdays.items() if d.year == year}, f"chinese-calendar {version}")


def _what(calendar: WorkCalendar, day: date) -> str:
    if day in calendar.holidays and day in calendar.makeup_workdays:
        return "holiday and make-up working day at once"
    if day in calendar.holidays:
        return "holiday"
    if day in calendar.makeup_workdays:
        return "make-up working day"
    return _ordinary(day)


def _theirs(reference: Reference, day: date) -> str:
    if day in reference.holidays:
        return f"holiday ({reference.holidays[day]})"
    if day in reference.makeup_workdays:
        return f"make-up working day ({reference.makeup_workdays[day]})"
    return _ordinary(day)


def _ordinary(day: date) -> str:
    return "ordinary weekend day (off)" if day.weekday() >= 5 else "ordinary working day"


def disagreements(calendar: WorkCalendar, reference: Reference) -> list[Disagreement]:
    """Every day of the reference's year on which the configured calendar lists something else:
    a holiday it lacks or has too many, a make-up working day it lacks or has too many, a day it
    lists both ways. Days of other years in the config are not looked at."""
    found = []
    theirs_holidays, theirs_makeup = set(reference.holidays), set(reference.makeup_workdays)
    days: Iterable[date] = _span(date(reference.year, 1, 1), date(reference.year, 12, 31))
    for day in days:
        ours = (day in calendar.holidays, day in calendar.makeup_workdays)
        if ours == (day in theirs_holidays, day in theirs_makeup):
            continue
        working_theirs = day in theirs_makeup or (day.weekday() < 5 and day not in theirs_holidays)
        found.append(Disagreement(day, _what(calendar, day), _theirs(reference, day),
                                  calendar.is_working_day(day) != working_theirs or all(ours)))
    return found
