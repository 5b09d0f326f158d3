from datetime import datetime, timezone

import pytest

from acd import events as ev
from pbx.translate import TranslationError, journal_entry


def test_a_journal_line_with_a_comma_in_the_name_is_read_whole() -> None:
    entry = journal_entry("/hotline-journal/hotline-pbx-1.7",
                          "1795346509.118,1795346519.5,Up,16,12345,13800138000,张,三丰")
    assert entry == ev.JournalEntry(
        "hotline-pbx-1.7", datetime.fromtimestamp(1795346509.118, timezone.utc),
        datetime.fromtimestamp(1795346519.5, timezone.utc), True, 16, "12345", "13800138000", "张,三丰")


def test_a_v2_journal_line_names_desk_agent_and_fallback() -> None:
    entry = journal_entry("/hotline-journal/hotline-pbx-1.8",
                          "v2,1795346509.118,1795346519.5,Up,16,12345,market,PJSIP/agent1003,1,13800138000,张,三丰")
    assert (entry.desk, entry.agent, entry.fell_back, entry.caller_name) == ("market", "agent1003", True, "张,三丰")
    plain = journal_entry("/hotline-journal/hotline-pbx-1.9", "v2,1.0,2.0,Up,16,12345,,,,138,")
    assert (plain.desk, plain.agent, plain.fell_back, plain.caller_number) == ("", "", False, "138")


def test_the_fallback_user_event_becomes_a_fact_and_other_user_events_do_not() -> None:
    from pbx.ami import Event
    from pbx.translate import translate

    def event(**fields: str) -> Event:
        return Event("UserEvent", tuple(fields.items()))

    now = lambda: datetime(2026, 11, 22, tzinfo=timezone.utc)  # noqa: E731
    fact = translate(event(UserEvent="HotlineFallback", Uniqueid="u.1", Linkedid="u.1", Desk="market"), now)
    assert fact == ev.CallFellBack(now(), "u.1", "u.1", "market")
    assert translate(event(UserEvent="Other", Uniqueid="u.1", Linkedid="u.1"), now) is None
    # [hotline-callback] names the file it records to when the agent has answered
    answered = translate(event(UserEvent="HotlineCallback", Number="13800138000", Status="AGENT_ANSWERED",
                               Recording="20261122/u.2.wav", Uniqueid="u.2", Linkedid="u.2"), now)
    assert answered == ev.CallbackDialed(now(), "13800138000", "AGENT_ANSWERED", "u.2", "20261122/u.2.wav")


@pytest.mark.parametrize("value", ["", "1,2,Up", "x,y,Up,16,12345,1,n", "v2,1,2,Up,16,12345,n"])
def test_a_broken_journal_line_is_rejected_with_a_stable_error(value: str) -> None:
    with pytest.raises(TranslationError, match="^bad-journal-entry"):
        journal_entry("/hotline-journal/x", value)


def test_a_legs_rtcp_summary_becomes_its_quality_in_milliseconds_and_percent() -> None:
    from pbx.ami import Event
    from pbx.translate import translate

    now = lambda: datetime(2026, 12, 2, tzinfo=timezone.utc)  # noqa: E731
    # CHANNEL(rtcp,all) of an agent's leg on the sandbox, as [hotline-leg-quality] reported it
    recorded = ("ssrc=476700888;themssrc=2796477446;lp=0;rxjitter=0.001750;rxcount=401;txjitter=0.001375;"
                "txcount=400;rlp=0;rtt=0.000000;rxmes=88.087887;txmes=88.087887")
    fact = translate(Event("UserEvent", (("UserEvent", "HotlineLegQuality"), ("Uniqueid", "u.2"), ("All", recorded))), now)
    assert fact == ev.LegQuality(now(), "u.2", jitter_ms=1.8, loss_pct=0.0, rtt_ms=0.0, mes=88.1)
    lossy = recorded.replace(";lp=0;", ";lp=9;").replace(";rlp=0;", ";rlp=12;").replace("rtt=0.000000", "rtt=0.2514")
    fact = translate(Event("UserEvent", (("UserEvent", "HotlineLegQuality"), ("Uniqueid", "u.2"), ("All", lossy))), now)
    assert isinstance(fact, ev.LegQuality) and (fact.loss_pct, fact.rtt_ms) == (round(100 * 21 / 822, 2), 251.4)
    # a Local channel has no RTP: CHANNEL(rtcp,all) is empty
    assert translate(Event("UserEvent", (("UserEvent", "HotlineLegQuality"), ("Uniqueid", "u.3"), ("All", ""))), now) is None
