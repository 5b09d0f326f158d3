"""Deadlines as a supervisor reads them: when an order is due, when it is overdue, when it is
"due soon", counted on the city's working-day calendar."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

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
