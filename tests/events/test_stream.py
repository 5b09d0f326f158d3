"""The fact stream (events/stream.py) as its consumers rely on it: every fact once, in order,
from where each asked; a consumer too far behind is cut off and the rest go on; the hub's copy
takes the controller's numbers and no other order."""

from __future__ import annotations

import asyncio

import pytest

from events.stream import TOO_SLOW, EventFact, EventStream


async def test_each_consumer_reads_every_fact_once_in_order_from_where_it_asked() -> None:
    stream = EventStream(ring=50, depth=20)
    for n in range(5):
        stream.publish(float(n), "x", data={"n": n})
    from_now, from_two = stream.subscribe(), stream.subscribe(after=2)
    stream.publish(5.0, "x", data={"n": 5})
    assert [f.seq for f in from_two.take(10)] == [3, 4, 5, 6]
    assert [f.seq for f in from_now.take(10)] == [6]
    assert from_now.take(10) == [] and from_now.behind == 0
    read: list[int] = []

    async def consume() -> None:
        async for fact in from_now:
            read.append(fact.seq)
            if fact.seq == 8:
                from_now.close()

    consumer = asyncio.create_task(consume())
    for n in range(6, 9):
        stream.publish(float(n), "x")
        await asyncio.sleep(0)
    await asyncio.wait_for(consumer, 2)
    assert read == [7, 8]
    assert stream.subscribers == 1  # the closed one is gone; from_two stays


async def test_a_consumer_ahead_of_the_stream_waits_for_the_fact_it_asked_for() -> None:
    stream = EventStream()
    early = stream.subscribe(after=3)  # the hub's client: the controller's fact 4 not there yet
    waiting = asyncio.create_task(early.wait())
    for n in range(1, 4):
        stream.put(EventFact(n, float(n), "x"))
        await asyncio.sleep(0)
        assert not waiting.done()
    stream.put(EventFact(4, 4.0, "x"))
    await asyncio.wait_for(waiting, 2)
    assert [f.seq for f in early.take(5)] == [4]


async def test_a_consumer_too_far_behind_is_cut_off_and_the_others_go_on() -> None:
    stream = EventStream(ring=100, depth=10)
    slow, quick = stream.subscribe(), stream.subscribe()
    for n in range(10):
        stream.publish(float(n), "x")
    await asyncio.sleep(0)  # the wake-up after the step
    assert (slow.cut, stream.cut_off) == ("", 0)  # ten behind is not more than ten
    assert len(quick.take(100)) == 10
    stream.publish(10.0, "x")
    await asyncio.sleep(0)
    assert (slow.cut, slow.closed, stream.cut_off) == (TOO_SLOW, True, 1)
    assert quick.cut == "" and [f.seq for f in quick.take(100)] == [11]
    assert stream.subscribers == 1


def test_a_fact_no_longer_kept_is_not_resumed_but_said_so() -> None:
    stream = EventStream(ring=10)
    for n in range(25):
        stream.publish(float(n), "x")
    assert [f.seq for f in stream.since(20) or []] == [21, 22, 23, 24, 25]
    assert stream.since(25) == []
    assert stream.since(10) is None  # 11..15 are gone: a fresh snapshot, not a gap
    assert stream.since(26) is None and stream.since(-1) is None  # another life's numbers
    assert stream.at(15) is None and stream.at(16) is not None
    assert [stream.holds(n) for n in (-1, 14, 15, 20, 25, 26)] == [False, False, True, True, True, False]
    assert all(stream.holds(n) == (stream.since(n) is not None) for n in range(-2, 28))  # the same answer, no copy


def test_the_hubs_copy_takes_the_controllers_numbers_in_order_only() -> None:
    controller, hub = EventStream(), EventStream(name="from-the-controller")
    assert hub.name == "from-the-controller" and EventStream().name != EventStream().name
    facts = [controller.publish(float(n), "x") for n in range(30)]
    for fact in facts[20:]:  # it starts with what the controller still keeps
        hub.put(fact)
    assert hub.seq == 30 and hub.since(20) == facts[20:]
    with pytest.raises(ValueError, match="in order"):
        hub.put(facts[5])
    with pytest.raises(ValueError, match="in order"):
        hub.put(facts[-1])


async def test_a_fact_carries_what_was_published_and_every_listener_sees_it_even_after_one_fails() -> None:
    stream = EventStream()
    heard: list[EventFact] = []

    def broken(fact: EventFact) -> None:
        raise RuntimeError("a listener's bug")

    stream.listen(broken)
    stream.listen(heard.append)
    data = {"desk": "general", "number": "13800138000"}
    fact = stream.publish(1796304310.25, "call.arrived", "a1", "L1", data)
    data["desk"] = "changed later"  # the caller's dict is not the fact's
    assert (fact.seq, fact.at, fact.kind, fact.agent_id, fact.linkedid) == (1, 1796304310.25, "call.arrived", "a1", "L1")
    assert fact.data == {"desk": "general", "number": "13800138000"}
    assert heard == [fact] and stream.at(1) is fact
    reader = stream.subscribe(after=0)
    got = await asyncio.wait_for(anext(aiter(reader)), 1)  # there already: read without another publish
    assert got is fact


def test_take_gives_at_most_the_batch_asked_and_a_new_client_resumes_from_nothing_received() -> None:
    stream = EventStream()
    for n in range(5):
        stream.publish(float(n), "x")
    reader = stream.subscribe(after=0)
    assert [f.seq for f in reader.take(2)] == [1, 2]
    assert [f.seq for f in reader.take(2)] == [3, 4]
    assert [f.seq for f in stream.since(0) or []] == [1, 2, 3, 4, 5]  # since=0: it has had nothing yet


async def test_every_client_cut_off_is_counted() -> None:
    stream = EventStream(ring=100, depth=2)
    slow = [stream.subscribe() for _ in range(3)]
    for n in range(3):
        stream.publish(float(n), "x")
    await asyncio.sleep(0)
    assert stream.cut_off == 3 and all(s.cut == TOO_SLOW for s in slow)
    late = stream.subscribe()
    for n in range(3):
        stream.publish(float(n), "x")
    await asyncio.sleep(0)
    assert stream.cut_off == 4 and late.closed
