"""The 2026 calendar the hotline ships, day by day, against the State Council's notice (国办发明电
〔2025〕7号, written out below once more) and against the chinese-calendar package; and
`hotline_pbx.py calendar check`, which names every day a config and the package disagree on."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest

import hotline_config
import hotline_pbx
from tickets.calendar import (HOLIDAYS_2026, MAKEUP_WORKDAYS_2026, Reference, chinese_calendar_reference,
                              disagreements)
from tickets.catalog import DEFAULT_CATALOG
from tickets.deadlines import WorkCalendar

REPO = Path(__file__).resolve().parents[2]
SHIPPED = DEFAULT_CATALOG.deadlines.calendar


def days(first: str, last: str) -> list[date]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


# The notice: 元旦 1月1日至3日, 1月4日(周日)上班; 春节 2月15日至23日, 2月14日(周六)、2月28日(周六)上班;
# 清明 4月4日至6日; 劳动节 5月1日至5日, 5月9日(周六)上班; 端午 6月19日至21日; 中秋 9月25日至27日;
# 国庆 10月1日至7日, 9月20日(周日)、10月10日(周六)上班.
NOTICE_HOLIDAYS = (days("2026-01-01", "2026-01-03") + days("2026-02-15", "2026-02-23")
                   + days("2026-04-04", "2026-04-06") + days("2026-05-01", "2026-05-05")
                   + days("2026-06-19", "2026-06-21") + days("2026-09-25", "2026-09-27")
                   + days("2026-10-01", "2026-10-07"))
NOTICE_MAKEUP = [date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9), date(2026, 9, 20),
                 date(2026, 10, 10)]


def test_the_shipped_lists_are_the_notices_and_nothing_more() -> None:
    assert HOLIDAYS_2026 == frozenset(NOTICE_HOLIDAYS) and len(NOTICE_HOLIDAYS) == 33
    assert MAKEUP_WORKDAYS_2026 == frozenset(NOTICE_MAKEUP)
    assert all(d.weekday() >= 5 for d in NOTICE_MAKEUP)  # every make-up day is a weekend day
    assert date(2026, 10, 10).strftime("%A") == "Saturday" and date(2026, 9, 20).strftime("%A") == "Sunday"


@pytest.mark.parametrize("day", NOTICE_HOLIDAYS, ids=str)
def test_every_2026_holiday_is_a_day_off_here_and_in_chinese_calendar(day: date) -> None:
    assert not SHIPPED.is_working_day(day) and SHIPPED.is_day_off(day)
    assert chinese_calendar.is_holiday(day)
    assert day in chinese_calendar_reference(2026).holidays


@pytest.mark.parametrize("day", NOTICE_MAKEUP, ids=str)
def test_every_2026_make_up_day_is_worked_here_and_in_chinese_calendar(day: date) -> None:
    assert SHIPPED.is_working_day(day) and not SHIPPED.is_day_off(day)
    assert chinese_calendar.is_workday(day)
    assert day in chinese_calendar_reference(2026).makeup_workdays


def test_every_day_of_2026_works_or_rests_as_chinese_calendar_says() -> None:
    wrong = [d for d in days("2026-01-01", "2026-12-31") if SHIPPED.is_working_day(d) != chinese_calendar.is_workday(d)]
    assert wrong == []
    assert disagreements(SHIPPED, chinese_calendar_reference(2026)) == []


def test_the_old_calendars_mistakes_are_each_named() -> None:
    old = WorkCalendar(frozenset(days("2026-10-01", "2026-10-07")), frozenset({date(2026, 9, 27), date(2026, 10, 10)}))
    found = {d.day: d for d in disagreements(old, chinese_calendar_reference(2026))}
    assert found[date(2026, 9, 27)].describe("chinese-calendar") == (
        "2026-09-27 Sun: the config says make-up working day, chinese-calendar says holiday (Mid-autumn Festival)")
    assert found[date(2026, 9, 20)].config == "ordinary weekend day (off)"
    assert found[date(2026, 9, 20)].reference == "make-up working day (National Day)"
    assert found[date(2026, 2, 16)].reference == "holiday (Spring Festival)" and found[date(2026, 2, 16)].changes_working_days
    assert set(days("2026-02-15", "2026-02-23")) <= set(found) and date(2026, 2, 14) in found
    assert date(2026, 10, 10) not in found and date(2026, 10, 5) not in found


def test_a_listing_difference_that_changes_no_working_day_is_named_but_said_so() -> None:
    reference = Reference(2026, {date(2026, 10, 3): "National Day"}, {}, "ref")
    [missing] = disagreements(WorkCalendar(), reference)
    assert missing.day == date(2026, 10, 3) and not missing.changes_working_days
    assert missing.describe("ref").endswith("(counted the same either way)")
    both = WorkCalendar(frozenset({date(2026, 3, 2)}), frozenset({date(2026, 3, 2)}))
    [odd] = disagreements(both, Reference(2026, {}, {}, "ref"))
    assert odd.config == "holiday and make-up working day at once" and odd.changes_working_days


def test_days_of_other_years_are_not_compared() -> None:
    calendar = WorkCalendar(HOLIDAYS_2026 | {date(2027, 1, 1)}, MAKEUP_WORKDAYS_2026)
    assert disagreements(calendar, chinese_calendar_reference(2026)) == []


# ---- the command ----

@pytest.mark.parametrize("name", ["hotline.example.toml", "sandbox.toml"])
def test_the_check_passes_on_the_shipped_configs(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert hotline_pbx.main(["calendar", "check", "--config", str(REPO / name), "--year", "2026"]) == 0
    out = capsys.readouterr().out
    assert "agrees with chinese-calendar" in out and "33 holidays, 6 make-up working days" in out


def test_the_check_names_a_planted_disagreement_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (REPO / "hotline.example.toml").read_text(encoding="utf-8")
    planted = text.replace('"2026-09-20", "2026-10-10"', '"2026-09-27", "2026-10-10"')  # the old mistake
    planted = planted.replace('"2026-09-25", "2026-09-26", "2026-09-27",', '"2026-09-25", "2026-09-26",')
    planted = planted.replace('"2026-05-04", "2026-05-05"]', '"2026-05-04", "2026-05-05", "2026-05-08"]')
    planted = planted.replace('"2026-05-04", "2026-05-05",', '"2026-05-04", "2026-05-05", "2026-05-08",')
    assert planted.count("2026-05-08") == 1 and "2026-09-20" not in planted
    path = tmp_path / "city.toml"
    path.write_text(planted, encoding="utf-8")
    assert hotline_pbx.main(["calendar", "check", "--config", str(path), "--year", "2026"]) == 1
    lines = capsys.readouterr().out.splitlines()
    package = f"chinese-calendar {chinese_calendar.__version__}"
    assert lines == [
        f"2026-05-08 Fri: the config says holiday, {package} says ordinary working day",
        f"2026-09-20 Sun: the config says ordinary weekend day (off), {package} says make-up working day (National Day)",
        f"2026-09-27 Sun: the config says make-up working day, {package} says holiday (Mid-autumn Festival)",
        f"3 disagreement(s) between {path} and {package} for 2026",
    ]


def test_a_year_the_package_does_not_know_is_said_plainly(capsys: pytest.CaptureFixture[str]) -> None:
    assert hotline_pbx.main(["calendar", "check", "--config", str(REPO / "hotline.example.toml"),
                             "--year", "1999"]) == 2
    assert "has no data for 1999" in capsys.readouterr().err


def test_the_check_reads_the_calendar_the_deadlines_use() -> None:
    config = hotline_config.load(REPO / "hotline.example.toml", env={})
    assert config.orders.deadlines.calendar == SHIPPED
