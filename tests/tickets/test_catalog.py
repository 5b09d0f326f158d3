"""The city's order tables from the [orders] config section: defaults, overrides, clear errors."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

import hotline_config
from tickets.catalog import DEFAULT_CATALOG, CatalogError, parse_orders

CST = timezone(timedelta(hours=8))


def test_without_an_orders_section_the_shipped_tables_apply() -> None:
    catalog = parse_orders({})
    assert catalog == DEFAULT_CATALOG
    assert "complaint" in catalog.category_codes() and "heating" in catalog.topic_codes()
    assert all(t.department in catalog.department_codes() for t in catalog.topics)


def test_a_citys_tables_and_calendar_decide_the_deadline_across_a_holiday_and_a_makeup_day() -> None:
    catalog = parse_orders({
        "holidays": ["2026-09-25", "2026-09-26", "2026-09-27", "2026-10-01", "2026-10-02", "2026-10-03",
                     "2026-10-04", "2026-10-05", "2026-10-06", "2026-10-07"],
        "makeup_workdays": ["2026-09-20", "2026-10-10"], "day_ends": "17:30", "due_soon_hours": 12,
        "categories": [{"code": "complaint", "name": "投诉"}, {"code": "consultation", "name": "咨询"}],
        "departments": [{"code": "heating", "name": "热力公司"}],
        "topics": [{"code": "heating", "name": "供暖", "department": "heating"}],
        "deadlines": [{"category": "*", "topics": ["heating"], "hours": 24},
                      {"category": "complaint", "working_days": 3}, {"category": "*", "working_days": 1}],
    })
    before_the_holiday = datetime(2026, 9, 30, 10, 0, tzinfo=CST)  # Wednesday
    # working days after it: Oct 8 (Thu), Oct 9 (Fri), Oct 10 (a Saturday worked instead)
    assert catalog.deadlines.due("complaint", "", before_the_holiday) == datetime(2026, 10, 10, 17, 30, tzinfo=CST)
    assert catalog.deadlines.due("complaint", "heating", before_the_holiday) == before_the_holiday + timedelta(hours=24)
    # Saturday Sep 19 → the make-up Sunday Sep 20 counts as the next working day
    assert catalog.deadlines.due("consultation", "", datetime(2026, 9, 19, 9, tzinfo=CST)).date() == date(2026, 9, 20)
    # Thursday Sep 24 → Mid-Autumn Sep 25–27 is off, Monday Sep 28 is the next working day
    assert catalog.deadlines.due("consultation", "", datetime(2026, 9, 24, 9, tzinfo=CST)).date() == date(2026, 9, 28)
    assert catalog.due_soon == timedelta(hours=12)


@pytest.mark.parametrize(("section", "message"), [
    ({"colour": 1}, "unknown key(s) colour"),
    ({"categories": []}, "categories must be a non-empty list"),
    ({"categories": [{"code": "a"}, {"code": "a"}]}, "code 'a' appears twice"),
    ({"topics": [{"code": "x", "department": "nobody"}]}, "unknown department 'nobody'"),
    ({"deadlines": [{"category": "gossip", "hours": 2}]}, "unknown category 'gossip'"),
    ({"deadlines": [{"category": "*", "hours": 2, "working_days": 1}]}, "one of them"),
    ({"deadlines": [{"category": "complaint", "working_days": 2}]}, "should catch everything"),
    ({"deadlines": [{"category": "*", "working_days": 0}]}, "whole number >= 1"),
    ({"holidays": ["2026-13-01"]}, "is not a date"),
    ({"day_ends": "late"}, "day_ends must be a time"),
    ({"holidays": ["2026-10-01"], "makeup_workdays": ["2026-10-01"]}, "both a holiday and a make-up working day"),
])
def test_bad_tables_are_refused_with_the_place_named(section: dict, message: str) -> None:
    with pytest.raises(CatalogError, match="^orders-config-error") as err:
        parse_orders(section, "hotline.toml")
    assert "hotline.toml: [orders]" in str(err.value) and message in str(err.value)


def test_the_config_file_carries_the_orders_section(tmp_path: Path) -> None:
    path = tmp_path / "hotline.toml"
    path.write_text('[orders]\nholidays = ["2027-01-01"]\n[[orders.departments]]\ncode = "x"\nname = "某局"\n'
                    '[[orders.topics]]\ncode = "t"\nname = "话题"\ndepartment = "x"\n', encoding="utf-8")
    config = hotline_config.load(path, env={})
    assert config.orders.department_codes() == ("x",) and config.orders.topic_codes() == ("t",)
    assert config.orders.deadlines.calendar.holidays == frozenset({date(2027, 1, 1)})
    # one list given is the whole calendar: no 2026 make-up day is left over from the defaults
    assert config.orders.deadlines.calendar.makeup_workdays == frozenset()
    path.write_text('[orders]\ndeadlines = [{category = "*", hours = -1}]\n', encoding="utf-8")
    with pytest.raises(hotline_config.ConfigError, match="hours must be a positive number"):
        hotline_config.load(path, env={})


def test_the_shipped_example_and_sandbox_configs_load() -> None:
    repo = Path(__file__).resolve().parents[2]
    for name in ("hotline.example.toml", "sandbox.toml"):
        config = hotline_config.load(repo / name, env={})
        assert config.orders.category_codes()


def test_without_a_calendar_the_state_councils_2026_schedule_applies_in_the_citys_zone() -> None:
    from zoneinfo import ZoneInfo

    from tickets.calendar import HOLIDAYS_2026, MAKEUP_WORKDAYS_2026

    calendar = parse_orders({"day_ends": "17:00"}).deadlines.calendar
    assert (calendar.holidays, calendar.makeup_workdays) == (HOLIDAYS_2026, MAKEUP_WORKDAYS_2026)
    assert calendar.zone == ZoneInfo("Asia/Shanghai")
    assert parse_orders({}, "x.toml", ZoneInfo("Asia/Urumqi")).deadlines.calendar.zone == ZoneInfo("Asia/Urumqi")
    # the shipped files carry the same calendar, written out
    repo = Path(__file__).resolve().parents[2]
    for name in ("hotline.example.toml", "sandbox.toml"):
        shipped = hotline_config.load(repo / name, env={}).orders.deadlines.calendar
        assert (shipped.holidays, shipped.makeup_workdays, shipped.zone) == (
            HOLIDAYS_2026, MAKEUP_WORKDAYS_2026, ZoneInfo("Asia/Shanghai")), name
