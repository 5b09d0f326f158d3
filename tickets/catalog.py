"""The city's tables for work orders: request types, topics, departments, deadline rules and the
working-day calendar. Read once from the `[orders]` section of the config into frozen objects;
a table left out of the config takes the shipped default below.

The shipped request types are the six the 12345 centers use (and GB/T 39666 lists for hotline
requests): consultation 咨询, help request 求助, complaint 投诉, report 举报, suggestion 建议,
praise 表扬. Topics are the common subject areas of a municipal hotline with the department
that usually handles them; every city replaces them with its own list.

    [orders]
    holidays = ["2026-10-01", …]          # public holidays, every day off of each holiday
    makeup_workdays = ["2026-09-20", …]   # weekend days worked instead (调休上班)
    day_ends = "18:00"                    # "N working days" ends at this time, in the city's zone
    due_soon_hours = 24
    [[orders.categories]]  code = "complaint"  name = "投诉"
    [[orders.topics]]      code = "water"  name = "供水"  department = "water"
    [[orders.departments]] code = "water"  name = "市水务集团"
    [[orders.deadlines]]   category = "*"  topics = ["water"]  hours = 24

The calendar (holidays and makeup_workdays together) defaults to the State Council's 2026
schedule (tickets/calendar.py); a config that gives either list gives the whole calendar, the
other list being empty when left out. Its days are the city's (`[city] time_zone`);
`hotline_pbx.py calendar check` compares it with the chinese-calendar package.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from acd.errors import StableError
from tickets.calendar import HOLIDAYS_2026, MAKEUP_WORKDAYS_2026
from tickets.deadlines import CITY_ZONE, DeadlinePolicy, DeadlineRule, WorkCalendar

CATALOG_ERROR = "orders-config-error"


class CatalogError(StableError):
    pass


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of a table: a stable code (stored on orders) and the name people read."""

    code: str
    name: str
    department: str = ""  # topics only: who usually handles it
    phone: str = ""  # departments only: the number an agent's three-way call dials (trunk digits)


@dataclass(frozen=True, slots=True)
class Catalog:
    categories: tuple[Entry, ...]
    topics: tuple[Entry, ...]
    departments: tuple[Entry, ...]
    deadlines: DeadlinePolicy = field(default_factory=DeadlinePolicy)
    due_soon: timedelta = timedelta(hours=24)

    def category_codes(self) -> tuple[str, ...]:
        return tuple(e.code for e in self.categories)

    def topic_codes(self) -> tuple[str, ...]:
        return tuple(e.code for e in self.topics)

    def department_codes(self) -> tuple[str, ...]:
        return tuple(e.code for e in self.departments)

    def as_json(self) -> dict[str, Any]:
        """For the agents' screens: what to choose from, with the deadline each choice brings."""
        return {
            "categories": [{"code": e.code, "name": e.name} for e in self.categories],
            "topics": [{"code": e.code, "name": e.name, "department": e.department} for e in self.topics],
            "departments": [{"code": e.code, "name": e.name, "three_way": bool(e.phone)}
                            for e in self.departments],
            "deadlines": [{"category": r.category, "topics": list(r.topics), "hours": r.hours,
                           "working_days": r.working_days} for r in self.deadlines.rules],
            "due_soon_hours": self.due_soon.total_seconds() / 3600,
        }


DEFAULT_CATEGORIES = (
    Entry("consultation", "咨询"), Entry("help_request", "求助"), Entry("complaint", "投诉"),
    Entry("report", "举报"), Entry("suggestion", "建议"), Entry("praise", "表扬"),
)
DEFAULT_DEPARTMENTS = (
    Entry("housing", "住房和城乡建设局"), Entry("market", "市场监督管理局"),
    Entry("hrss", "人力资源和社会保障局"), Entry("transport", "交通运输局"),
    Entry("environment", "生态环境局"), Entry("health", "卫生健康委员会"),
    Entry("education", "教育局"), Entry("urban", "城市管理局"), Entry("police", "公安局"),
    Entry("water", "水务集团"), Entry("power", "供电公司"), Entry("gas", "燃气集团"),
    Entry("heating", "热力公司"), Entry("district", "区人民政府"),
)
DEFAULT_TOPICS = (
    Entry("emergency", "紧急求助", "police"), Entry("water", "供水", "water"),
    Entry("power", "供电", "power"), Entry("gas", "燃气", "gas"), Entry("heating", "供暖", "heating"),
    Entry("housing", "住房与物业", "housing"), Entry("construction", "城乡建设", "housing"),
    Entry("market", "市场监管与消费", "market"), Entry("labour", "劳动就业与社保", "hrss"),
    Entry("traffic", "交通出行", "transport"), Entry("environment", "生态环境", "environment"),
    Entry("health", "医疗卫生", "health"), Entry("education", "教育", "education"),
    Entry("city", "市容市政", "urban"), Entry("safety", "公共安全", "police"),
    Entry("other", "其他", "district"),
)
# Emergencies 2 h, utilities 24 h, complaints and reports 5 working days, the rest 3 (GB/T 33358
# practice); the first matching rule decides.
DEFAULT_RULES = (
    DeadlineRule("*", ("emergency",), hours=2),
    DeadlineRule("*", ("water", "power", "gas", "heating"), hours=24),
    DeadlineRule("complaint", (), working_days=5),
    DeadlineRule("report", (), working_days=5),
    DeadlineRule("*", (), working_days=3),
)
DEFAULT_CALENDAR = WorkCalendar(HOLIDAYS_2026, MAKEUP_WORKDAYS_2026, time(18, 0), ZoneInfo(CITY_ZONE))
DEFAULT_CATALOG = Catalog(DEFAULT_CATEGORIES, DEFAULT_TOPICS, DEFAULT_DEPARTMENTS,
                          DeadlinePolicy(DEFAULT_RULES, DEFAULT_CALENDAR))

_KEYS = {"holidays", "makeup_workdays", "day_ends", "due_soon_hours", "categories", "topics",
         "departments", "deadlines"}


def _fail(where: str, message: str) -> CatalogError:
    return CatalogError(CATALOG_ERROR, f"{where}: [orders] {message}")


def _entries(rows: Any, table: str, where: str, with_department: bool = False,
             with_phone: bool = False) -> tuple[Entry, ...]:
    if not isinstance(rows, list) or not rows:
        raise _fail(where, f"{table} must be a non-empty list of tables")
    seen: set[str] = set()
    entries = []
    for n, row in enumerate(rows, 1):
        allowed = {"code", "name"} | ({"department"} if with_department else set()) | ({"phone"} if with_phone else set())
        if not isinstance(row, Mapping) or set(row) - allowed:
            raise _fail(where, f"{table} #{n}: keys are {', '.join(sorted(allowed))}")
        code, name = row.get("code"), row.get("name", "")
        if not isinstance(code, str) or not code.strip() or len(code) > 32 or not isinstance(name, str):
            raise _fail(where, f"{table} #{n}: code must be text of 1..32 characters")
        if code in seen:
            raise _fail(where, f"{table} #{n}: code {code!r} appears twice")
        seen.add(code)
        phone = row.get("phone", "")
        if not isinstance(phone, str) or not re.fullmatch(r"[0-9]{0,20}", phone):
            raise _fail(where, f"{table} #{n}: phone must be the digits the trunk dials")
        entries.append(Entry(code, name or code, str(row.get("department", "")), phone))
    return tuple(entries)


def _days(values: Any, key: str, where: str) -> frozenset[date]:
    if not isinstance(values, list):
        raise _fail(where, f"{key} must be a list of dates")
    days = set()
    for value in values:
        try:
            days.add(value if isinstance(value, date) else date.fromisoformat(str(value)))
        except ValueError:
            raise _fail(where, f"{key}: {value!r} is not a date (YYYY-MM-DD)") from None
    return frozenset(days)


def _rules(rows: Any, where: str, categories: Sequence[str], topics: Sequence[str]) -> tuple[DeadlineRule, ...]:
    if not isinstance(rows, list) or not rows:
        raise _fail(where, "deadlines must be a non-empty list of tables")
    rules = []
    for n, row in enumerate(rows, 1):
        if not isinstance(row, Mapping) or set(row) - {"category", "topics", "hours", "working_days"}:
            raise _fail(where, f"deadlines #{n}: keys are category, topics, hours, working_days")
        category, names = row.get("category", "*"), row.get("topics", [])
        if category != "*" and category not in categories:
            raise _fail(where, f"deadlines #{n}: unknown category {category!r}")
        if not isinstance(names, list) or any(t not in topics for t in names):
            raise _fail(where, f"deadlines #{n}: topics must be codes of [[orders.topics]]")
        hours, days = row.get("hours"), row.get("working_days")
        if (hours is None) == (days is None):
            raise _fail(where, f"deadlines #{n}: give hours or working_days (one of them)")
        if hours is not None and (isinstance(hours, bool) or not isinstance(hours, (int, float)) or hours <= 0):
            raise _fail(where, f"deadlines #{n}: hours must be a positive number")
        if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
            raise _fail(where, f"deadlines #{n}: working_days must be a whole number >= 1")
        rules.append(DeadlineRule(category, tuple(names), hours=None if hours is None else float(hours),
                                  working_days=days))
    if not any(r.category == "*" and not r.topics for r in rules):
        raise _fail(where, "deadlines: the last rule should catch everything (category = \"*\", no topics)")
    return tuple(rules)


def parse_orders(data: Mapping[str, Any], where: str = "<config>", zone: tzinfo | None = None) -> Catalog:
    """The `[orders]` section → Catalog; errors name the table and row. `zone` is the city's
    (`[city] time_zone`; default Asia/Shanghai): its days are the calendar's."""
    unknown = set(data) - _KEYS
    if unknown:
        raise _fail(where, f"unknown key(s) {', '.join(sorted(unknown))}")
    categories = _entries(data["categories"], "categories", where) if "categories" in data else DEFAULT_CATEGORIES
    departments = (_entries(data["departments"], "departments", where, with_phone=True) if "departments" in data
                   else DEFAULT_DEPARTMENTS)
    topics = _entries(data["topics"], "topics", where, True) if "topics" in data else DEFAULT_TOPICS
    known_departments = {d.code for d in departments}
    for topic in topics:
        if topic.department and topic.department not in known_departments:
            raise _fail(where, f"topic {topic.code!r}: unknown department {topic.department!r}")
    category_codes, topic_codes = [c.code for c in categories], [t.code for t in topics]
    if "deadlines" in data:
        rules = _rules(data["deadlines"], where, category_codes, topic_codes)
    else:
        rules = tuple(r for r in DEFAULT_RULES if (r.category == "*" or r.category in category_codes)
                      and all(t in topic_codes for t in r.topics))
    try:
        day_ends = time.fromisoformat(str(data.get("day_ends", "18:00")))
    except ValueError:
        raise _fail(where, "day_ends must be a time (HH:MM)") from None
    if "holidays" in data or "makeup_workdays" in data:
        holidays = _days(data.get("holidays", []), "holidays", where)
        makeup = _days(data.get("makeup_workdays", []), "makeup_workdays", where)
    else:
        holidays, makeup = DEFAULT_CALENDAR.holidays, DEFAULT_CALENDAR.makeup_workdays
    both = sorted(holidays & makeup)
    if both:
        raise _fail(where, f"{both[0].isoformat()} is both a holiday and a make-up working day")
    calendar = WorkCalendar(holidays, makeup, day_ends, zone or DEFAULT_CALENDAR.zone)
    soon = data.get("due_soon_hours", 24)
    if isinstance(soon, bool) or not isinstance(soon, (int, float)) or soon <= 0:
        raise _fail(where, "due_soon_hours must be a positive number")
    return Catalog(categories, topics, departments, DeadlinePolicy(rules, calendar), timedelta(hours=soon))
