"""Deadlines as a supervisor reads them: when an order is due, when it is overdue, when it is
"due soon", counted on the city's working-day calendar, in the city's time zone (the tests that
take `host_tz` run with the host's clock in UTC, in Asia/Shanghai and in New York)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.host_tz import host_tz  # noqa: F401
from tickets.catalog import DEFAULT_CATALOG
from tickets.deadlines import DeadlinePolicy, DeadlineRule, WorkCalendar, due_soon, overdue, parse_days

CST = timezone(timedelta(hours=8))
DUE = datetime(2026, 10, 12, 18, 0, tzinfo=CST)


def test_an_order_due_at_the_end_of_the_day_is_on_time_until_then_and_overdue_after() -> None:
    orders = [("3301-20261009-000001", DUE)]
    assert overdue(orders, DUE - timedelta(seconds=1)) == []
    assert overdue(orders, DUE) == []
    assert overdue(orders, DUE + timedelta(seconds=1)) == ["3301-20261009-000001"]


def test_due_soon_counts_both_ends_of_the_window() -> None:
    window = timedelta(hours=2)
    orders = [("now", DUE), ("at-the-edge", DUE + window), ("later", DUE + window + timedelta(seconds=1)),
              ("late", DUE - timedelta(seconds=1))]
    # due this very moment: not yet overdue, so still on the "due soon" list
    assert due_soon(orders, DUE, window) == ["now", "at-the-edge"]


def test_the_citys_holiday_list_is_read_from_iso_dates() -> None:
    assert parse_days(["2026-10-01", "2026-10-02"]) == frozenset({date(2026, 10, 1), date(2026, 10, 2)})
    assert parse_days([]) == frozenset()


def test_without_a_matching_rule_an_order_has_five_working_days() -> None:
    # received Friday 9 Oct 2026 at 17:00: Mon 12 .. Fri 16 are the five working days
    policy = DeadlinePolicy(rules=(DeadlineRule("complaint", (), working_days=2),),
                            calendar=WorkCalendar(day_ends=time(17, 30)))
    received = datetime(2026, 10, 9, 17, 0, tzinfo=CST)
    assert policy.due("consultation", "school", received) == datetime(2026, 10, 16, 17, 30, tzinfo=CST)
    assert policy.due("complaint", "noise", received) == datetime(2026, 10, 13, 17, 30, tzinfo=CST)


def test_friday_is_a_working_day_and_the_weekend_is_not() -> None:
    cal = WorkCalendar()
    assert [cal.is_working_day(date(2026, 10, d)) for d in range(9, 13)] == [True, False, False, True]
    # one working day from Thursday evening is Friday, from Friday it is Monday
    assert cal.add_working_days(datetime(2026, 10, 8, 20, 0, tzinfo=CST), 1) == datetime(2026, 10, 9, 18, 0, tzinfo=CST)
    assert cal.add_working_days(datetime(2026, 10, 9, 9, 0, tzinfo=CST), 1) == datetime(2026, 10, 12, 18, 0, tzinfo=CST)


# ---- the city's local time (issue 13): days and due times are Beijing's, whatever the host says ----

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc
SHIPPED = DEFAULT_CATALOG.deadlines  # complaints 5 working days, the rest 3, on the 2026 calendar


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def test_a_complaint_at_seven_on_a_beijing_monday_counts_from_monday_not_the_utc_sunday(host_tz: str) -> None:
    received = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)  # Sunday 23:00 UTC = Monday 23 Nov 07:00 in Beijing
    due = SHIPPED.due("complaint", "noise", received)
    # Tue 24, Wed 25, Thu 26, Fri 27, Mon 30: due Monday 30 Nov 18:00 in Beijing (10:00 UTC),
    # not Friday 27 18:00 UTC (= 02:00 on Saturday in Beijing)
    assert due == local(2026, 11, 30, 18, 0)
    assert due.astimezone(SHANGHAI).strftime("%a %H:%M") == "Mon 18:00"
    assert due.astimezone(UTC) == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    # the same moment as a naive UTC value (as SQLite hands it back) and in Beijing's own zone
    assert SHIPPED.due("complaint", "noise", received.replace(tzinfo=None)) == due
    assert SHIPPED.due("complaint", "noise", received.astimezone(SHANGHAI)) == due


@pytest.mark.parametrize(("received_utc", "category", "due_local"), [
    # Wed 30 Sep 10:00 Beijing: Oct 8 (Thu), 9 (Fri), 10 (Sat, worked for National Day), 12, 13
    (datetime(2026, 9, 30, 2, 0, tzinfo=UTC), "complaint", local(2026, 10, 13, 18, 0)),
    # Thu 24 Sep 23:30 Beijing (15:30 UTC): Mid-Autumn Sep 25–27 off → Mon 28, Tue 29, Wed 30
    (datetime(2026, 9, 24, 15, 30, tzinfo=UTC), "consultation", local(2026, 9, 30, 18, 0)),
    # Sun 20 Sep 07:00 Beijing (Sat 23:00 UTC) is a make-up working day: Mon 21 is the first after it
    (datetime(2026, 9, 19, 23, 0, tzinfo=UTC), "consultation", local(2026, 9, 23, 18, 0)),
    # Fri 13 Feb 20:00 Beijing: Sat 14 worked, Spring Festival 15–23 off, then Tue 24, Wed 25
    (datetime(2026, 2, 13, 12, 0, tzinfo=UTC), "consultation", local(2026, 2, 25, 18, 0)),
    # Thu 31 Dec 2026 17:00 UTC = Fri 1 Jan 2027 01:00 Beijing: Mon 4, Tue 5, Wed 6 (2027 not listed)
    (datetime(2026, 12, 31, 17, 0, tzinfo=UTC), "consultation", local(2027, 1, 6, 18, 0)),
])
def test_due_times_are_the_end_of_a_beijing_working_day_whatever_the_hosts_zone(
        host_tz: str, received_utc: datetime, category: str, due_local: datetime) -> None:
    due = SHIPPED.due(category, "other", received_utc)
    assert due == due_local and due.astimezone(SHANGHAI).time() == time(18, 0)


def test_clock_hour_deadlines_are_the_same_moment_in_any_zone(host_tz: str) -> None:
    received = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
    assert SHIPPED.due("help_request", "emergency", received) == received + timedelta(hours=2)
    assert SHIPPED.due("complaint", "heating", received) == received + timedelta(hours=24)


def test_another_citys_zone_moves_its_days() -> None:
    # a city on UTC+5 (Urumqi time, as some Xinjiang offices keep): 23:00 UTC Sunday is 05:00 Monday there
    urumqi = ZoneInfo("Asia/Urumqi")
    calendar = WorkCalendar(zone=urumqi)
    received = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
    assert calendar.local_date(received) == date(2026, 11, 23)
    assert calendar.add_working_days(received, 1) == datetime(2026, 11, 24, 18, 0, tzinfo=urumqi)
    assert WorkCalendar(zone=UTC).local_date(received) == date(2026, 11, 22)
