"""An agent's day from their state history, as a supervisor reads it for the 日报: on the
city's local day (Asia/Shanghai), whatever the server's zone; a shift that began before
midnight counts from midnight; pauses per reason; occupancy as centres count it."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from acd.history import Transition, agent_day
from acd.kpis import local_day_bounds

CITY = ZoneInfo("Asia/Shanghai")


def local(hour: int, minute: int = 0, day: int = 2) -> float:
    return datetime(2026, 12, day, hour, minute, tzinfo=CITY).timestamp()


def test_a_night_shift_counts_from_local_midnight_and_the_day_figures_add_up() -> None:
    start, end = (t.timestamp() for t in local_day_bounds(date(2026, 12, 2), CITY))
    # 2026-12-02 00:00 in the city is 2026-12-01 16:00 UTC: the agent was ready from 23:00 the day before
    assert datetime.fromtimestamp(start, timezone.utc).hour == 16
    steps = [Transition(local(23, day=1), "ready"),
             Transition(local(0, 30), "offered", "general"), Transition(local(0, 31), "on_call", "general"),
             Transition(local(0, 41), "wrap_up", "general"), Transition(local(0, 43), "ready"),
             Transition(local(1, 0), "paused", "meal"), Transition(local(1, 30), "ready"),
             Transition(local(2, 0), "paused", "break"), Transition(local(2, 10), "logged_out")]
    day = agent_day(steps, start, end)
    minutes = {k: (v / 60 if isinstance(v, float) else v) for k, v in day.items()}
    assert minutes["logged_in"] == 130  # 00:00 to 02:10
    assert (minutes["ready"], minutes["offered"], minutes["on_call"], minutes["wrap_up"]) == (30 + 17 + 30, 1, 10, 2)
    assert day["paused"] == {"break": 600.0, "meal": 1800.0}
    assert day["occupancy"] == round(13 / (13 + 77), 4)


def test_today_counts_until_now_and_an_agent_never_in_has_no_occupancy() -> None:
    start, _ = (t.timestamp() for t in local_day_bounds(date(2026, 12, 2), CITY))
    now = local(9, 15)
    day = agent_day([Transition(local(9), "ready")], start, now)
    assert (day["logged_in"], day["ready"], day["occupancy"]) == (900.0, 900.0, 0.0)
    assert agent_day([], start, now)["occupancy"] is None
    assert agent_day([Transition(local(8, day=1), "logged_out")], start, now)["logged_in"] == 0.0


def test_states_never_entered_count_nothing_and_a_pause_without_a_reason_is_a_break() -> None:
    start, _ = (t.timestamp() for t in local_day_bounds(date(2026, 12, 2), CITY))
    day = agent_day([Transition(local(9), "ready"), Transition(local(10), "paused", ""),
                     Transition(local(10, 30), "ready")], start, local(11))
    assert {k: day[k] for k in ("offered", "on_call", "wrap_up")} == {"offered": 0.0, "on_call": 0.0, "wrap_up": 0.0}
    assert (day["ready"], day["paused"], day["logged_in"]) == (5400.0, {"break": 1800.0}, 7200.0)


def test_an_agent_still_paused_at_the_days_end_has_the_pause_counted_up_to_midnight() -> None:
    start, end = (t.timestamp() for t in local_day_bounds(date(2026, 12, 2), CITY))
    # paused for training at 23:00 local and never back that day: an hour of training, not more
    day = agent_day([Transition(local(22), "ready"), Transition(local(23), "paused", "training"),
                     Transition(local(1, day=3), "ready")], start, end)
    assert (day["ready"], day["paused"], day["logged_in"]) == (3600.0, {"training": 3600.0}, 7200.0)
