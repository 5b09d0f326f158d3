"""The service KPIs as a center's report computes them (../shared/MISSION.md), from the records
of a day that mixes every way a call can end; each figure is also computed a second way, by the
definitions written out here, and compared."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from acd.kpis import HOTLINE, ServiceFigures
from acd.records import CallRecord, Disposition as D
from tests.host_tz import host_tz  # noqa: F401

BEIJING = ZoneInfo("Asia/Shanghai")
MORNING = datetime(2026, 11, 23, 9, 0, tzinfo=BEIJING)  # a Monday, local time
NUMBERS = {"12345": "general", "12315": "market"}


def record(n: int, disposition: D, *, lasted: float, to_agent: float | None = None, desk: str = "",
           dialed: str = "12345", agent: str = "", transferred: str = "") -> CallRecord:
    arrived = (MORNING + timedelta(minutes=n)).astimezone(timezone.utc)
    ended = arrived + timedelta(seconds=lasted)
    talk = lasted - to_agent if to_agent is not None else None
    return CallRecord(f"L{n}", f"1380000{n:04d}", "", dialed, arrived, arrived + timedelta(seconds=1), ended,
                      disposition, 16, desk=desk, agent=agent or ("a1" if to_agent is not None else ""),
                      talk_time=talk, transferred_to=transferred)


DAY = [
    record(1, D.ANSWERED, lasted=200, to_agent=12, desk="general"),  # within 15 s of arriving
    record(2, D.ANSWERED, lasted=300, to_agent=40, desk="general"),  # answered, late
    record(3, D.ANSWERED, lasted=100, to_agent=15, desk="market", dialed="12315"),  # exactly 15 s: in target
    record(4, D.ABANDONED_IVR, lasted=9),  # gone in the greeting: no desk yet (12345 → general)
    record(5, D.ABANDONED_IVR, lasted=3),  # 秒挂: not an offered call
    record(6, D.ABANDONED_QUEUE, lasted=45, desk="market", dialed="12315"),
    record(7, D.ABANDONED_RINGING, lasted=20, desk="general"),
    record(8, D.FALLBACK_QUEUE, lasted=160, to_agent=25, desk="general", agent="a2"),  # the static queue answered
    record(9, D.FALLBACK_QUEUE, lasted=70, desk="general"),  # queue full, refused, gave up in the static queue
    record(10, D.TRANSFERRED, lasted=90, to_agent=8, desk="general", transferred="110"),
    record(11, D.CALLED_BACK, lasted=120, to_agent=5, desk="general", dialed=""),  # a callback reached a citizen
    record(12, D.FAILED, lasted=30, desk="general", dialed=""),  # a callback nobody answered
    record(13, D.INTERNAL, lasted=60, dialed="1002"),  # seat to seat: counts nowhere
    record(14, D.ABANDONED_QUEUE, lasted=4, desk="general"),  # queued and gone within 5 s: 秒挂 too
]


def second_way(records: list[CallRecord], desk: str | None, short: float = 5.0) -> dict[str, object]:
    """The definitions, written out once more over the records themselves."""
    def desk_of(r: CallRecord) -> str:
        return r.desk or NUMBERS.get(r.dialed_number, "general")

    mine = [r for r in records if desk is None or desk_of(r) == desk]
    citizens = [r for r in mine if r.disposition not in (D.INTERNAL, D.CALLED_BACK)
                and not (r.disposition is D.FAILED and not r.dialed_number)]
    by_agent = [r for r in citizens if r.agent and r.talk_time is not None]
    short_ones = [r for r in citizens if r not in by_agent and (r.ended_at - r.arrived_at).total_seconds() <= short]
    offered = [r for r in citizens if r not in short_ones]
    speeds = [(r.ended_at - r.arrived_at).total_seconds() - (r.talk_time or 0) for r in by_agent]
    return {"offered": len(offered), "answered": len(by_agent), "short_abandons": len(short_ones),
            "service_level_pct": round(100 * sum(s <= 15 for s in speeds) / len(offered), 1),
            "answer_rate_pct": round(100 * len(by_agent) / len(offered), 1),
            "average_speed_of_answer": round(sum(speeds) / len(speeds), 2)}


def test_a_days_figures_count_every_lost_call_as_offered_and_not_answered() -> None:
    figures = ServiceFigures(lambda dialed: NUMBERS.get(dialed, "general")).add_all(DAY).figures()
    whole = figures[HOTLINE]
    # offered: 14 records - internal - 2 callbacks - 2 short abandons = 9 citizens' calls
    assert (whole["offered"], whole["answered"], whole["short_abandons"]) == (9, 5, 2)
    assert whole["answer_rate_pct"] == 55.6  # 5 / 9: IVR, queue, ringing and fallback losses all lower it
    assert whole["service_level_pct"] == 33.3  # 12 s, 15 s, 8 s of arriving: 3 / 9, abandons lower it
    assert whole["average_speed_of_answer"] == round((12 + 40 + 15 + 25 + 8) / 5, 2)
    assert whole["lost_by"] == {"ivr": 1, "queue": 1, "ringing": 1, "fallback_unanswered": 1, "other": 0}
    assert (whole["lost"], whole["lost_rate_pct"]) == (4, 44.4)
    assert whole["callbacks"] == {"dialed": 2, "reached": 1, "callback_rate_pct": 25.0}
    assert (whole["fallback_answered"], whole["transferred"]) == (1, 1)
    for desk in (None, "general", "market"):
        mine = figures[desk or HOTLINE]
        assert {k: mine[k] for k in second_way(DAY, desk)} == second_way(DAY, desk), desk


def test_the_short_abandon_threshold_is_the_centers_setting() -> None:
    strict = ServiceFigures(lambda d: "general", short_abandon=0.0).add_all(DAY).figures()[HOTLINE]
    assert (strict["offered"], strict["short_abandons"]) == (11, 0)
    assert {k: strict[k] for k in second_way(DAY, None, 0.0)} == second_way(DAY, None, 0.0)


def test_a_record_written_again_complete_replaces_the_first() -> None:
    """Heard half-way after a restart, a call is recorded, then recorded again complete: the
    day counts it once, as the complete record says."""
    figures = ServiceFigures(lambda d: "general")
    first = record(20, D.ABANDONED_IVR, lasted=60)
    figures.add(first)
    figures.add(record(20, D.ANSWERED, lasted=60, to_agent=10, desk="general"))
    whole = figures.figures()[HOTLINE]
    assert (whole["offered"], whole["answered"], whole["lost_by"]["ivr"]) == (1, 1, 0)


BUSY_DAY = DAY + [
    record(30, D.ANSWERED, lasted=50, to_agent=0.5, desk="general"),  # an agent ready at once
    record(31, D.ABANDONED_IVR, lasted=12),
    record(32, D.ABANDONED_QUEUE, lasted=33, desk="general"),
    record(33, D.ABANDONED_RINGING, lasted=25, desk="general"),
    record(34, D.FALLBACK_QUEUE, lasted=80, desk="general"),
    record(35, D.FAILED, lasted=8, desk="general"),  # the carrier failed the call: lost
    record(36, D.UNKNOWN, lasted=40, desk="general"),
    record(37, D.ABANDONED_IVR, lasted=5),  # exactly 5 s: within the threshold, 秒挂
    record(38, D.ABANDONED_IVR, lasted=20, dialed=""),  # no number dialed known: still a citizen's call
    record(39, D.CALLED_BACK, lasted=60, to_agent=4, desk="general", dialed=""),
    record(40, D.TRANSFERRED, lasted=70, to_agent=6, desk="general", transferred="120"),
]


def test_every_way_of_losing_a_call_is_counted_where_it_was_lost() -> None:
    whole = ServiceFigures(lambda d: NUMBERS.get(d, "general")).add_all(BUSY_DAY).figures()[HOTLINE]
    assert whole["lost_by"] == {"ivr": 3, "queue": 2, "ringing": 2, "fallback_unanswered": 2, "other": 2}
    assert whole["short_abandons"] == 3 and whole["transferred"] == 2
    assert whole["callbacks"] == {"dialed": 3, "reached": 2, "callback_rate_pct": round(100 * 2 / whole["lost"], 1)}
    assert whole["average_speed_of_answer"] == round((12 + 40 + 15 + 25 + 8 + 0.5 + 6) / 7, 2)
    assert {k: whole[k] for k in second_way(BUSY_DAY, None)} == second_way(BUSY_DAY, None)


def test_a_local_day_runs_from_midnight_to_midnight_in_beijing(host_tz: str) -> None:
    from datetime import date

    from acd.kpis import DayFigures, local_day_bounds

    start, end = local_day_bounds(date(2026, 11, 23), BEIJING)
    assert (start.astimezone(timezone.utc), end.astimezone(timezone.utc)) == (
        datetime(2026, 11, 22, 16, tzinfo=timezone.utc), datetime(2026, 11, 23, 16, tzinfo=timezone.utc))
    today = DayFigures(BEIJING, lambda d: "general", {}, 5.0)
    late = record(0, D.ANSWERED, lasted=30, to_agent=3, desk="general")
    late = dataclasses.replace(late, arrived_at=datetime(2026, 11, 23, 15, 59, 59, tzinfo=timezone.utc),
                               ended_at=datetime(2026, 11, 23, 16, 0, 29, tzinfo=timezone.utc))  # 23:59:59 local
    today.add(late)
    assert today.figures(datetime(2026, 11, 23, 15, 59, 59, tzinfo=timezone.utc))[HOTLINE]["answered"] == 1
    assert today.figures(datetime(2026, 11, 23, 16, 0, 0, tzinfo=timezone.utc))[HOTLINE]["answered"] == 0  # a new day


def test_each_desk_has_its_own_target_and_a_call_lost_in_the_greeting_counts_for_the_number_dialed() -> None:
    """The market desk answers within 20 s by its own rule; a 12315 caller who gave up in the
    greeting is the market desk's lost call."""
    calls = [record(50, D.ANSWERED, lasted=90, to_agent=18, desk="market", dialed="12315"),
             record(51, D.ANSWERED, lasted=90, to_agent=18, desk="general"),
             record(52, D.ABANDONED_IVR, lasted=30, dialed="12315")]
    figures = ServiceFigures(lambda d: NUMBERS.get(d, "general"), {"market": 20.0}).add_all(calls).figures()
    assert (figures["market"]["answered_in_target"], figures["general"]["answered_in_target"]) == (1, 0)
    assert (figures["market"]["offered"], figures["market"]["lost_by"]["ivr"]) == (2, 1)


def test_the_wallboards_hourly_chart_counts_offered_calls_by_the_citys_hour_of_arrival() -> None:
    """Counted a second way: the offered calls of the day, hour by hour on the city's clock."""
    from acd.kpis import hourly_offered

    night = dataclasses.replace(record(30, D.ANSWERED, lasted=60, to_agent=5, desk="general"),
                                arrived_at=datetime(2026, 11, 23, 0, 30, tzinfo=BEIJING).astimezone(timezone.utc))
    records = [*DAY, night]
    desk_of = lambda dialed: NUMBERS.get(dialed, "general")  # noqa: E731
    hours = hourly_offered(ServiceFigures(desk_of), records, BEIJING)
    assert len(hours) == 24 and sum(hours) == ServiceFigures(desk_of).add_all(records).figures()[HOTLINE]["offered"]
    assert hours[0] == 1  # 00:30 local is 16:30 UTC the day before: the city's hour 0, not UTC's 16
    assert hours[9] == sum(hours) - 1 and hours[16] == 0
    strict = hourly_offered(ServiceFigures(desk_of, short_abandon=0.0), records, BEIJING)
    assert strict[9] > hours[9]  # with no 秒挂 threshold the short hang-ups are offered too
    assert sum(strict) == ServiceFigures(desk_of, short_abandon=0.0).add_all(records).figures()[HOTLINE]["offered"]
