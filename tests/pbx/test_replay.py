"""Replays of AMI streams recorded from the sandbox (`hotline_pbx.py sandbox record-ami`):
the real bytes, cut into TCP-sized pieces at arbitrary points, through the parser, the
translation and the live model."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from acd.calls import LiveCalls
from acd.commands import CallArrived, WriteCallRecord
from acd.records import CallRecord, Disposition
from pbx.ami import AmiParser, Event, Greeting, MalformedFrame, Response
from pbx.translate import translate

RECORDING = Path(__file__).resolve().parent.parent / "fixtures" / "ami" / "sandbox_calls.raw"
STREAM = RECORDING.read_bytes()


def replay(chunks: list[bytes]) -> tuple[list[object], list[CallRecord], LiveCalls]:
    parser = AmiParser()
    calls = LiveCalls()
    messages: list[object] = []
    records: list[CallRecord] = []
    for chunk in chunks:
        parser.receive_data(chunk)
        for message in parser.messages():
            messages.append(message)
            if isinstance(message, Event):
                fact = translate(message, lambda: datetime.now(timezone.utc))
                if fact is not None:
                    records += [e.record for e in calls.apply(fact) if isinstance(e, WriteCallRecord)]
    return messages, records, calls


def cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({0, len(data), *(p % (len(data) + 1) for p in points)})
    return [data[a:b] for a, b in zip(edges, edges[1:])]


def test_the_recording_replays_to_three_calls_with_one_record_each() -> None:
    messages, records, calls = replay([STREAM])
    assert isinstance(messages[0], Greeting)
    assert not any(isinstance(m, MalformedFrame) for m in messages)
    assert isinstance(messages[1], Response) and messages[1].success
    assert calls.calls == {} and calls.channels == {}
    assert len(records) == len({r.linkedid for r in records}) == 3
    greeted, gave_up, seats = records
    assert (greeted.caller_number, greeted.caller_name, greeted.dialed_number) == ("13800138001", "张三", "12345")
    assert greeted.disposition is Disposition.ABANDONED_IVR and greeted.hangup_cause == 16  # greeting only
    assert greeted.answered_at is not None
    assert greeted.arrived_at <= greeted.answered_at < greeted.ended_at
    assert greeted.ended_at - greeted.answered_at > timedelta(seconds=1)  # the greeting played
    assert (gave_up.caller_name, gave_up.dialed_number) == ("李四", "12345")
    assert gave_up.ended_at - gave_up.arrived_at < greeted.ended_at - greeted.arrived_at
    assert (seats.caller_number, seats.dialed_number) == ("1001", "1002")


def test_the_bridged_seat_call_is_seen_with_both_channels_in_one_bridge() -> None:
    parser = AmiParser()
    parser.receive_data(STREAM)
    calls = LiveCalls()
    seen_bridged = False
    for message in parser.messages():
        if isinstance(message, Event) and (fact := translate(message, lambda: datetime.now(timezone.utc))):
            calls.apply(fact)
            for view in calls.views():
                if len(view.channels) == 2 and len(view.bridges) == 1:
                    seen_bridged = True
                    assert view.dialed_number == "1002"
    assert seen_bridged


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=40))
def test_any_cutting_of_the_stream_into_reads_gives_the_same_result(points: list[int]) -> None:
    whole = replay([STREAM])
    pieces = replay(cut(STREAM, points))
    assert pieces[0] == whole[0]
    assert [r.linkedid for r in pieces[1]] == [r.linkedid for r in whole[1]]


def test_chinese_names_split_mid_character_arrive_whole() -> None:
    index = STREAM.index("张三".encode())
    messages, records, _ = replay([STREAM[:index + 1], STREAM[index + 1:index + 4], STREAM[index + 4:]])
    names = {m.get("CallerIDName") for m in messages if isinstance(m, Event)}
    assert "张三" in names and "李四" in names
    assert records[0].caller_name == "张三"


def test_arrivals_are_announced_once_per_call() -> None:
    parser = AmiParser()
    parser.receive_data(STREAM)
    calls = LiveCalls()
    arrived = []
    for message in parser.messages():
        if isinstance(message, Event) and (fact := translate(message, lambda: datetime.now(timezone.utc))):
            arrived += [e.linkedid for e in calls.apply(fact) if isinstance(e, CallArrived)]
    assert len(arrived) == len(set(arrived)) == 3
