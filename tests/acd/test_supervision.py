"""The pure supervision policy (acd/supervision.py): the mode table as Asterisk's ChanSpy
options and DTMF keys, a session's mode history and duration, the checks, forced steps."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from acd import supervision as sv

T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)
BOSS = sv.SupervisorConfig("super2001", "陈静", "PJSIP/super2001")
OTHER = sv.SupervisorConfig("super2002", "刘洋", "PJSIP/super2002")
EXTENSIONS = Path(__file__).resolve().parents[2] / "asterisk-conf" / "extensions.conf"


def started(book: sv.Supervision, mode: sv.Mode = sv.Mode.LISTEN, wall: float = 100.0) -> sv.MonitorSession:
    session = book.begin("super2001", "agent1001", "call-1", "PJSIP/agent1001-00000001", mode, "api", "super2001", wall)
    book.spy_started(sv.SpyStarted(T0, "spy-1", "PJSIP/super2001-00000002", "a-1", "PJSIP/agent1001-00000001",
                                   "call-1"), wall + 3)
    return session


def test_the_mode_table_is_chanspys_listen_whisper_barge_with_dtmf_4_5_6() -> None:
    assert {m: sv.chanspy_options(m) for m in sv.Mode} == {
        sv.Mode.LISTEN: "qdES", sv.Mode.WHISPER: "qdESw", sv.Mode.BARGE: "qdESB"}
    assert sv.DTMF_MODES == {"4": sv.Mode.LISTEN, "5": sv.Mode.WHISPER, "6": sv.Mode.BARGE}
    assert sv.FEATURE_CODES == {"*25": sv.Mode.LISTEN, "*26": sv.Mode.WHISPER, "*27": sv.Mode.BARGE}


def test_the_dialplan_runs_chanspy_with_the_options_of_the_table() -> None:
    text = EXTENSIONS.read_text()
    found = dict(re.findall(r"^exten => (listen|whisper|barge),1,ChanSpy\(\$\{HOTLINE_SPY_TARGET\},(\w+)\)", text, re.M))
    assert found == {m.value: sv.chanspy_options(m) for m in sv.Mode}


def test_a_session_begins_at_chanspystart_in_the_requested_mode_and_dtmf_switches_it() -> None:
    book = sv.Supervision([BOSS, OTHER])
    session = started(book, sv.Mode.WHISPER)
    assert (session.started_at, session.mode, session.spyer_channel) == (103.0, sv.Mode.WHISPER, "PJSIP/super2001-00000002")
    for digit, wall in (("6", 110.0), ("6", 111.0), ("1", 112.0), ("4", 120.0), ("5", 125.0)):
        book.dtmf(sv.DtmfReceived(T0, "spy-1", digit), wall)
    assert [(m.value, t) for m, t in session.modes] == [("whisper", 103.0), ("barge", 110.0), ("listen", 120.0),
                                                        ("whisper", 125.0)]
    assert book.dtmf(sv.DtmfReceived(T0, "someone-else", "6"), 126.0) is None  # a citizen's key is no switch
    ended = book.hung_up("spy-1", 140.0)
    assert ended is session and book.live == {}
    record = session.record()
    assert (record.duration, record.end_reason, record.ended_at) == (37.0, "ended", 140.0)
    assert [m.mode for m in record.modes] == ["whisper", "barge", "listen", "whisper"]


def test_a_restart_of_chanspy_on_the_same_channel_after_a_mode_switch_keeps_the_session() -> None:
    book = sv.Supervision([BOSS])
    session = started(book)
    same, restart = book.switch(session.session_id, sv.Mode.BARGE, 105.0)
    assert same is session and restart
    assert book.switch(session.session_id, sv.Mode.BARGE, 106.0) == (session, False)  # already barging
    again = book.spy_started(sv.SpyStarted(T0, "spy-1", "PJSIP/super2001-00000002", "a-1", "x", "call-1"), 105.2)
    assert again is session and session.started_at == 103.0
    assert [m.value for m, _ in session.modes] == ["listen", "barge"]


def test_a_switch_before_the_supervisor_answers_changes_the_mode_it_starts_in() -> None:
    book = sv.Supervision([BOSS])
    session = book.begin("super2001", "agent1001", "call-1", "PJSIP/agent1001-1", sv.Mode.LISTEN, "api", "x", 1.0)
    assert book.switch(session.session_id, sv.Mode.BARGE, 2.0) == (session, False)
    book.spy_started(sv.SpyStarted(T0, "spy-1", "PJSIP/super2001-9", "a", "b", "call-1"), 3.0)
    assert session.modes == [(sv.Mode.BARGE, 3.0)]


def test_checks_refuse_with_stable_codes_and_change_nothing() -> None:
    book = sv.Supervision([BOSS, OTHER])
    with pytest.raises(sv.SupervisionError) as refused:
        book.begin("super2001", "agent1001", None, None, sv.Mode.LISTEN, "api", "x", 1.0)
    assert refused.value.code == sv.AGENT_NOT_ON_CALL and book.live == {}
    started(book)
    for supervisor, linkedid, code in (("super2001", "call-1", sv.ALREADY_MONITORING),
                                       ("super2001", "call-2", sv.SUPERVISOR_BUSY),
                                       ("nobody", "call-1", sv.UNKNOWN_SUPERVISOR)):
        with pytest.raises(sv.SupervisionError) as refused:
            book.begin(supervisor, "agent1001", linkedid, "PJSIP/agent1001-1", sv.Mode.BARGE, "api", "x", 2.0)
        assert refused.value.code == code
    assert len(book.live) == 1
    # another supervisor may monitor the same call
    book.begin("super2002", "agent1001", "call-1", "PJSIP/agent1001-1", sv.Mode.LISTEN, "phone", "super2002", 3.0)
    assert len(book.live) == 2
    with pytest.raises(sv.SupervisionError) as refused:
        sv.mode_of("shout")
    assert refused.value.code == sv.BAD_MODE
    with pytest.raises(sv.SupervisionError) as refused:
        book.session("1-99")
    assert refused.value.code == sv.UNKNOWN_SESSION


def test_a_supervisor_who_does_not_answer_ends_the_session_without_a_start() -> None:
    book = sv.Supervision([BOSS])
    session = book.begin("super2001", "agent1001", "call-1", "PJSIP/agent1001-1", sv.Mode.LISTEN, "api", "x", 1.0)
    assert book.not_answered(sv.SpyNotAnswered(T0, "PJSIP/super2001", "NoAnswer"), 31.0) is session
    record = session.record()
    assert (record.started_at, record.duration, record.modes, book.live) == (None, 0.0, (), {})
    assert record.end_reason.startswith("not answered")


def test_forced_steps_wait_for_the_call_and_are_applied_once() -> None:
    book = sv.Supervision([BOSS])
    assert book.force("agent1001", "pause", "meal", "整理", "super2001", on_call=False) == "applied"
    assert book.force("agent1001", "logout", "logout", "下班", "super2001", on_call=True) == "pending"
    assert book.due_forces([]) == [] and "agent1001" in book.pending_force
    assert book.due_forces(["agent1001"]) == [("agent1001", "logout", "logout", "下班", "super2001")]
    assert book.due_forces(["agent1001"]) == []
    with pytest.raises(sv.SupervisionError) as refused:
        book.force("agent1001", "ready", "", "", "super2001", on_call=False)
    assert refused.value.code == sv.BAD_FORCE
    assert sv.forced_reason("training", "super2001") == "training (forced: super2001)"
    assert len(sv.forced_reason("after_call_work", "a-very-long-supervisor-name")) == sv.REASON_LENGTH


def test_supervisors_config_needs_an_id_and_a_device_each_once() -> None:
    assert sv.parse_supervisors([{"id": "super2001", "device": "PJSIP/super2001"}]) == (
        sv.SupervisorConfig("super2001", "super2001", "PJSIP/super2001"),)
    for raw in ([{"id": "super2001"}], [{"id": "a", "device": "PJSIP/a"}, {"id": "a", "device": "PJSIP/b"}]):
        with pytest.raises(sv.SupervisionError):
            sv.parse_supervisors(raw)


def test_a_supervisor_channel_that_hangs_up_before_spying_ends_the_waiting_session() -> None:
    """The agent's call ended while the supervisor's phone rang (ChanSpy's S: nothing to spy on,
    no ChanSpyStart), or the supervisor hung up first: the session ends, they are not left busy."""
    book = sv.Supervision([BOSS, OTHER])
    session = book.begin("super2001", "agent1001", "call-1", "PJSIP/agent1001-1", sv.Mode.LISTEN, "api", "x", 1.0)
    assert book.hung_up("agent-uid", 2.0, "PJSIP/agent1001-1") is None  # the agent's channel: no session's
    assert book.hung_up("other-uid", 2.5, "PJSIP/super2002-00000007") is None
    assert book.hung_up("boss-uid", 3.0, "PJSIP/super2001-00000008") is session
    assert (session.end_reason, session.started_at, book.live) == ("ended before spying", None, {})
    book.begin("super2001", "agent1001", "call-2", "PJSIP/agent1001-2", sv.Mode.BARGE, "api", "x", 4.0)  # not busy
