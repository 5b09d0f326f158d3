"""Monitoring sessions and the supervisors' audit in the store, on SQLite and PostgreSQL: a
session saved at each change keeps its last state once; modes come back in order with their
times; filters and newest-first order; the audit keeps who, what, whom, why and when."""

from __future__ import annotations

from datetime import datetime, timezone

from acd.supervision import AuditEntry, ModeSpan, SessionRecord
from tickets.store import CallRecordStore
from tickets.supervision import SupervisionStore

T0 = 1_796_000_000.0  # 2026-11-30, epoch seconds


def session(n: int, supervisor: str = "super2001", agent: str = "agent1001", **changes: object) -> SessionRecord:
    fields: dict[str, object] = dict(session_id=f"{int(T0)}-{n}", supervisor=supervisor, agent=agent,
                                     linkedid=f"hotline-pbx-{n}.1", source="api", requested_by=supervisor,
                                     requested_at=T0 + n, started_at=None, ended_at=None, modes=(), end_reason="")
    fields.update(changes)
    return SessionRecord(**fields)  # type: ignore[arg-type]


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


async def test_a_session_saved_at_each_change_is_one_row_with_its_modes_in_order_and_its_duration(store_url: str) -> None:
    store = CallRecordStore(store_url)
    await store.open()
    try:
        kept = SupervisionStore(store.engine)
        requested = session(1)
        spying = session(1, started_at=T0 + 4, modes=(ModeSpan("listen", T0 + 4),))
        switched = session(1, started_at=T0 + 4, modes=(ModeSpan("listen", T0 + 4), ModeSpan("whisper", T0 + 9.5),
                                                        ModeSpan("barge", T0 + 12.25)))
        ended = session(1, started_at=T0 + 4, ended_at=T0 + 34.5, modes=switched.modes, end_reason="ended")
        await kept.save_sessions([requested, spying])
        await kept.save_sessions([switched])
        await kept.save_sessions([ended])
        [row] = await kept.sessions()
        assert (row.supervisor, row.agent, row.linkedid, row.source) == ("super2001", "agent1001", "hotline-pbx-1.1", "api")
        assert (row.requested_at, row.started_at, row.ended_at) == (at(T0 + 1), at(T0 + 4), at(T0 + 34.5))
        assert row.duration == 30.5 and row.end_reason == "ended"
        assert [(m["mode"], m["began_at"]) for m in row.modes] == [
            ("listen", at(T0 + 4)), ("whisper", at(T0 + 9.5)), ("barge", at(T0 + 12.25))]
    finally:
        await store.close()


async def test_sessions_filter_by_supervisor_agent_and_call_newest_first(store_url: str) -> None:
    store = CallRecordStore(store_url)
    await store.open()
    try:
        kept = SupervisionStore(store.engine)
        await kept.save_sessions([session(1), session(2, agent="agent1002"), session(3, supervisor="super2002"),
                                  session(4, source="phone")])
        assert [s.session_id.split("-")[1] for s in await kept.sessions()] == ["4", "3", "2", "1"]
        assert [s.session_id.split("-")[1] for s in await kept.sessions(agent="agent1001")] == ["4", "3", "1"]
        assert [s.session_id.split("-")[1] for s in await kept.sessions(supervisor="super2002")] == ["3"]
        assert [s.source for s in await kept.sessions(linkedid="hotline-pbx-4.1")] == ["phone"]
        assert len(await kept.sessions(limit=2)) == 2
    finally:
        await store.close()


async def test_the_audit_keeps_who_what_whom_why_and_when_newest_first(store_url: str) -> None:
    store = CallRecordStore(store_url)
    await store.open()
    try:
        kept = SupervisionStore(store.engine)
        await kept.add_audit([AuditEntry(T0, "super2001", "force_pause", "agent1001", "质检抽查", "pending: training"),
                              AuditEntry(T0 + 5, "super2001", "hangup_call", "hotline-pbx-9.1", "辱骂坐席",
                                         "2 channel(s) ended")])
        await kept.add_audit([AuditEntry(T0 + 9, "super2002", "force_pause", "agent1001", "质检抽查",
                                         "applied after the call: training"), AuditEntry(T0 - 100, "x", "y", "z", "r" * 500)])
        entries = await kept.audit()
        assert [(e.action, e.actor) for e in entries[:3]] == [
            ("force_pause", "super2002"), ("hangup_call", "super2001"), ("force_pause", "super2001")]
        assert entries[1].reason == "辱骂坐席" and entries[1].at == at(T0 + 5)
        assert [e.detail for e in await kept.audit(target="agent1001")] == [
            "applied after the call: training", "pending: training"]
        assert [e.target for e in await kept.audit(actor="super2001")] == ["hotline-pbx-9.1", "agent1001"]
        assert len(next(e for e in entries if e.actor == "x").reason) == 200  # cut to the column, not refused
    finally:
        await store.close()


async def test_sessions_left_open_by_a_previous_run_are_closed_at_start(store_url: str) -> None:
    store = CallRecordStore(store_url)
    await store.open()
    try:
        kept = SupervisionStore(store.engine)
        await kept.save_sessions([session(1, started_at=T0 + 2, modes=(ModeSpan("listen", T0 + 2),)),
                                  session(2, started_at=T0 + 3, ended_at=T0 + 9, end_reason="ended")])
        assert await kept.close_open(at(T0 + 60)) == 1
        rows = {s.session_id.split("-")[1]: s for s in await kept.sessions()}
        assert (rows["1"].ended_at, rows["1"].end_reason) == (at(T0 + 60), "controller restarted")
        assert (rows["2"].ended_at, rows["2"].end_reason) == (at(T0 + 9), "ended")
        assert await kept.close_open(at(T0 + 70)) == 0
    finally:
        await store.close()
