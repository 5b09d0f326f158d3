"""Retention as a citizen's complaint and the center's rules see it: a recording is kept whole
days of the city's calendar (China time, not the UTC date), complaints longer, a legal hold
keeps it whatever its age; the rules alone, without a store."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from recordings.config import RecordingsConfig
from recordings.retention import Policy, judge, last_day_kept, oldest_kept
from recordings.store import Candidate

CITY = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc
DEFAULTS = RecordingsConfig()
POLICY = Policy(DEFAULTS.default_keep_days, dict(DEFAULTS.keep_days))  # 180 days; complaints, reports 730
# 2026-03-01 23:30 in the city is 15:30 UTC the same day; 00:30 in the city is still February in UTC
LATE_EVENING = datetime(2026, 3, 1, 23, 30, tzinfo=CITY)
JUST_AFTER_MIDNIGHT = datetime(2026, 2, 28, 16, 30, tzinfo=UTC)


def candidate(ended_at: datetime, *categories: str, held: bool = False, linkedid: str = "1772380000.1") -> Candidate:
    return Candidate(linkedid, "20260301/x.wav", "20260301/x.opus", ended_at, frozenset(categories), held)


def expired_on(day: date, *candidates: Candidate, policy: Policy = POLICY) -> list[str]:
    return [c.linkedid for c in judge(candidates, day, policy, CITY).expired]


def test_the_day_a_call_ended_is_the_city_s_day_not_the_utc_date() -> None:
    assert LATE_EVENING.astimezone(UTC) == datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
    assert last_day_kept(LATE_EVENING, (), POLICY, CITY) == date(2026, 3, 1) + timedelta(days=180)
    assert last_day_kept(LATE_EVENING.astimezone(UTC), (), POLICY, CITY) == date(2026, 8, 28)
    assert last_day_kept(JUST_AFTER_MIDNIGHT, (), POLICY, CITY) == date(2026, 8, 28)  # 00:30 on March 1 in the city
    assert last_day_kept(datetime(2026, 3, 1, 16, 0, tzinfo=UTC), (), POLICY, CITY) == date(2026, 8, 29)  # March 2


def test_a_recording_is_kept_exactly_its_days_the_last_one_included() -> None:
    call = candidate(LATE_EVENING)
    assert expired_on(date(2026, 8, 28), call) == []  # the 180th day after March 1
    assert expired_on(date(2026, 8, 29), call) == ["1772380000.1"]
    early = candidate(JUST_AFTER_MIDNIGHT)  # the same city day, though February in UTC
    assert expired_on(date(2026, 8, 28), early) == [] and expired_on(date(2026, 8, 29), early) == ["1772380000.1"]


def test_a_call_about_a_complaint_is_kept_as_long_as_complaints() -> None:
    complaint = candidate(LATE_EVENING, "complaint")
    assert last_day_kept(LATE_EVENING, ["complaint"], POLICY, CITY) == date(2028, 2, 29)  # 730 days, a leap year
    assert expired_on(date(2026, 8, 29), complaint) == []
    assert expired_on(date(2028, 2, 29), complaint) == [] and expired_on(date(2028, 3, 1), complaint) == ["1772380000.1"]


def test_a_call_linked_to_several_orders_is_kept_for_the_longest_of_them() -> None:
    policy = Policy(180, {"consultation": 30, "complaint": 730, "praise": 90})
    assert policy.keep_days(["consultation", "praise"]) == 90
    assert policy.keep_days(["consultation", "complaint", "praise"]) == 730
    assert policy.keep_days(["consultation", "suggestion"]) == 180  # suggestion has the default
    assert policy.keep_days([]) == 180


def test_a_request_type_configured_shorter_than_the_default_is_deleted_sooner() -> None:
    policy = Policy(180, {"consultation": 30})
    consultation, plain = candidate(LATE_EVENING, "consultation", linkedid="a"), candidate(LATE_EVENING, linkedid="b")
    assert expired_on(date(2026, 3, 31), consultation, plain, policy=policy) == []
    assert expired_on(date(2026, 4, 1), consultation, plain, policy=policy) == ["a"]


def test_a_legal_hold_keeps_an_expired_recording_and_says_so() -> None:
    held, fresh_held = candidate(LATE_EVENING, held=True, linkedid="a"), candidate(
        datetime(2026, 8, 1, tzinfo=CITY), held=True, linkedid="b")
    verdict = judge([held, fresh_held], date(2026, 9, 1), POLICY, CITY)
    assert verdict.expired == [] and [c.linkedid for c in verdict.held] == ["a"]  # b is not expired at all


def test_the_store_s_first_filter_lets_through_every_call_that_may_be_due_today() -> None:
    today = date(2026, 8, 29)
    cutoff = oldest_kept(today, Policy(180, {"consultation": 30}), CITY)
    assert cutoff == datetime(2026, 7, 30, tzinfo=CITY) == datetime(2026, 7, 29, 16, tzinfo=UTC)


ZONES = [CITY, ZoneInfo("UTC"), ZoneInfo("America/New_York")]
CATEGORIES = ["consultation", "help_request", "complaint", "report", "suggestion", "praise"]
moments = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))
policies = st.builds(Policy, st.integers(1, 800), st.dictionaries(st.sampled_from(CATEGORIES), st.integers(1, 800)))
candidates = st.lists(st.builds(
    Candidate, st.text("0123456789.", min_size=1, max_size=12), st.just("d/x.wav"), st.just("d/x.opus"), moments,
    st.frozensets(st.sampled_from(CATEGORIES), max_size=3), st.booleans()), max_size=20)
days = st.dates(min_value=date(2024, 1, 1), max_value=date(2033, 12, 31))


@given(candidates, days, policies, st.sampled_from(ZONES))
def test_nothing_held_is_ever_expired_and_only_candidates_are(
        found: list[Candidate], today: date, policy: Policy, zone: ZoneInfo) -> None:
    verdict = judge(found, today, policy, zone)
    assert all(not c.held for c in verdict.expired) and all(c.held for c in verdict.held)
    assert all(any(c is f for f in found) for c in verdict.expired + verdict.held)
    assert len(verdict.expired) + len(verdict.held) <= len(found)
    for c in found:  # due exactly when past its last day, kept or deleted by its hold
        due = today > c.ended_at.astimezone(zone).date() + timedelta(days=policy.keep_days(c.categories))
        assert due == any(c is v for v in verdict.expired + verdict.held)


@given(candidates, days, policies, st.sampled_from(ZONES), st.integers(1, 400))
def test_once_expired_a_recording_stays_expired_on_every_later_day(
        found: list[Candidate], today: date, policy: Policy, zone: ZoneInfo, later: int) -> None:
    now = {id(c) for c in judge(found, today, policy, zone).expired}
    then = {id(c) for c in judge(found, today + timedelta(days=later), policy, zone).expired}
    assert now <= then


@given(candidates, days, policies, st.sampled_from(ZONES))
def test_a_call_ending_after_the_store_s_cutoff_is_never_due_today(
        found: list[Candidate], today: date, policy: Policy, zone: ZoneInfo) -> None:
    cutoff = oldest_kept(today, policy, zone)
    verdict = judge(found, today, policy, zone)
    assert all(c.ended_at < cutoff for c in verdict.expired + verdict.held)


@given(policies, st.lists(st.sampled_from(CATEGORIES), max_size=4))
def test_an_order_never_shortens_what_another_keeps(policy: Policy, categories: list[str]) -> None:
    alone = [policy.keep_days([c]) for c in categories]
    assert policy.keep_days(categories) == max(alone, default=policy.default_days)
    assert policy.keep_days(categories) >= policy.shortest
