"""The fact stream on a real mosquitto, as the city's other systems subscribe to it: the topics
and their order, no caller's full number, the retained state of the hall still there after the
broker restarts without persistence, and the call events published while the broker was down
delivered, in order, once it is back."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from devtools.broker import Mosquitto
from events.mqtt import MqttPublisher
from events.stream import EventStream

def need_mosquitto() -> None:
    """Without Debian's mosquitto these tests cannot run: a skip on a developer's machine, a
    failure under CI (scripts/install.sh installs it there)."""
    if not Mosquitto.available():
        message = "mosquitto is not installed (scripts/install.sh)"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must run these)")
        pytest.skip(message)


@pytest.fixture(autouse=True)
def _mosquitto_present() -> None:
    need_mosquitto()


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Mosquitto]:
    started = Mosquitto(tmp_path / "broker")
    started.start()
    yield started
    started.stop()


async def until(test: Any, what: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not test():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.02)


async def collect(port: int, into: list[tuple[str, dict[str, Any], bool]], ready: asyncio.Event,
                  identifier: str | None = None, clean: bool = True) -> None:
    async with aiomqtt.Client("127.0.0.1", port, identifier=identifier, clean_session=clean) as client:
        await client.subscribe("hotline/#", qos=1)
        ready.set()
        async for message in client.messages:
            into.append((message.topic.value, json.loads(message.payload), bool(message.retain)))


def a_call(stream: EventStream, linkedid: str, at: float) -> None:
    stream.publish(at, "call.arrived", linkedid=linkedid, data={"number": "13800138000", "dialed": "12345"})
    stream.publish(at + 1, "agent.state", "a1", data={"state": "on_call", "reason": "general", "since": at + 1})
    stream.publish(at + 1, "call.answered", "a1", linkedid, {"desk": "general", "agent": "a1", "waited": 1.0})
    stream.publish(at + 9, "call.ended", "a1", linkedid, {"disposition": "answered", "agent": "a1",
                                                          "number": "13800138000"})


async def test_a_subscriber_gets_the_calls_events_in_order_and_the_state_retained(broker: Mosquitto) -> None:
    stream = EventStream()
    stream.publish(0.0, "agent.state", "a1", data={"state": "ready", "reason": "", "since": 0.0})
    publisher = MqttPublisher(stream, "127.0.0.1", broker.port, site="hz12345", reconnect_max=1.0)
    running = asyncio.create_task(publisher.run())
    got: list[tuple[str, dict[str, Any], bool]] = []
    ready = asyncio.Event()
    listening = asyncio.create_task(collect(broker.port, got, ready))
    await ready.wait()
    await until(lambda: publisher.connected and publisher.published >= 1, "the publisher connected")
    a_call(stream, "C1", 10.0)
    await until(lambda: sum(1 for t, _, _ in got if t.startswith("hotline/hz12345/calls/")) == 3, "three call events")
    calls = [body for topic, body, _ in got if topic == "hotline/hz12345/calls/C1/events"]
    assert [b["kind"] for b in calls] == ["call.arrived", "call.answered", "call.ended"]
    assert [b["seq"] for b in calls] == sorted(b["seq"] for b in calls)
    assert all("13800138000" not in json.dumps(b) for b in calls) and calls[0]["data"]["number"].endswith("8000")
    states = [b["state"] for topic, b, _ in got if topic == "hotline/hz12345/agents/a1/state"]
    assert states[-1] == "on_call"
    listening.cancel()

    broker.stop()  # no persistence: the broker forgets every retained message
    broker.start()
    await until(lambda: publisher.reconnects >= 1 and publisher.connected, "the publisher back", timeout=20)
    late: list[tuple[str, dict[str, Any], bool]] = []
    ready = asyncio.Event()
    listening = asyncio.create_task(collect(broker.port, late, ready))
    await until(lambda: any(t == "hotline/hz12345/agents/a1/state" for t, _, _ in late), "the retained state")
    [(_, body, retained)] = [m for m in late if m[0] == "hotline/hz12345/agents/a1/state"]
    assert retained and body["state"] == "on_call"  # the hall's state, as it was, for a newcomer
    listening.cancel()
    running.cancel()


async def test_call_events_published_while_the_broker_is_down_arrive_in_order_when_it_is_back(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker", persistence=True)  # it keeps the subscriber's session
    broker.start()
    try:
        stream = EventStream()
        publisher = MqttPublisher(stream, "127.0.0.1", broker.port, reconnect_max=1.0)
        running = asyncio.create_task(publisher.run())
        got: list[tuple[str, dict[str, Any], bool]] = []
        ready = asyncio.Event()
        listening = asyncio.create_task(collect(broker.port, got, ready, identifier="city-bus", clean=False))
        await ready.wait()
        await until(lambda: publisher.connected, "the publisher connected")
        a_call(stream, "C1", 10.0)
        await until(lambda: len([m for m in got if "/calls/" in m[0]]) == 3, "C1's events")
        listening.cancel()
        broker.stop()
        a_call(stream, "C2", 20.0)  # while the broker is down
        broker.start()
        await until(lambda: publisher.connected and publisher.reconnects >= 1, "the publisher back", timeout=20)
        ready = asyncio.Event()
        listening = asyncio.create_task(collect(broker.port, got, ready, identifier="city-bus", clean=False))
        await until(lambda: len([m for m in got if m[0] == "hotline/hotline/calls/C2/events"]) >= 3,
                    f"C2's events: {[(t, b.get('kind')) for t, b, _ in got]} {publisher.published} {publisher.connected}")
        c2 = [b for t, b, _ in got if t == "hotline/hotline/calls/C2/events"]
        assert [b["kind"] for b in c2][:3] == ["call.arrived", "call.answered", "call.ended"]
        listening.cancel()
        running.cancel()
    finally:
        broker.stop()
