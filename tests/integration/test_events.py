"""Live events of a real sandbox call (issue 17), as the hall's screens, the city's systems and
operations see them: a baresip citizen calls 12345 and agent1001's baresip answers.

- MQTT (a real mosquitto on loopback): the call's events in order under
  hotline/sandbox/calls/<linkedid>/events, agent1001's states; the broker is restarted without
  persistence mid-call, and a subscriber joining afterwards still finds agent1001's state
  retained, then sees the call end.
- The websocket: a supervisor's client gets the snapshot then the call's events, loses its
  socket mid-call, resumes from its last sequence number and has every event exactly once;
  agent1002's socket never carries agent1001's call.
- /metrics, parsed by prometheus_client's parser: the call answered, its talk time, as the call
  record in the store says.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devtools.broker import Mosquitto
from devtools.phones import PhoneBank, PhoneSpec
from hotline_config import Config
from web.access import Role, add_token

from .conftest import running, wait_until, with_http

pytestmark = pytest.mark.integration


async def collect(port: int, into: list[tuple[str, dict[str, Any], bool]], ready: asyncio.Event) -> None:
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe("hotline/sandbox/#", qos=1)
        ready.set()
        async for message in client.messages:
            into.append((message.topic.value, json.loads(message.payload), bool(message.retain)))


async def read_until(socket: Any, into: list[dict[str, Any]], kind: str, linkedid: str = "") -> None:
    while True:
        message = await asyncio.wait_for(socket.receive_json(), 30)
        into.append(message)
        if message.get("kind") == kind and (not linkedid or message.get("linkedid") == linkedid):
            return


async def test_a_sandbox_call_is_seen_live_over_mqtt_the_websocket_and_metrics(
        acd_config: Config, phones: PhoneBank, sip_password: str, tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    config, port, _ = with_http(acd_config, tmp_path)
    boss = add_token(config.http.tokens, Role.SUPERVISOR, "boss")
    other = add_token(config.http.tokens, Role.AGENT, "agent1002")
    config = dataclasses.replace(config, events=dataclasses.replace(
        config.events, mqtt_host="127.0.0.1", mqtt_port=broker.port, site="sandbox", reconnect_max=1.0))
    url = f"http://127.0.0.1:{port}"
    tasks: list[asyncio.Task[None]] = []
    try:
        async with running(config) as ctl, aiohttp.ClientSession() as http:
            early: list[tuple[str, dict[str, Any], bool]] = []
            ready = asyncio.Event()
            tasks.append(asyncio.create_task(collect(broker.port, early, ready)))
            await ready.wait()
            assert ctl.hub is not None  # the default: the events hub serves MQTT and the websocket
            await wait_until(lambda: ctl.hub.figures.get("mqtt_connected"), what="the events hub's MQTT link")
            await phones.add(PhoneSpec("agent1001", "agent1001", password=sip_password, auto_answer=True))
            citizen = await phones.add(PhoneSpec("citizen", "13800138021", "周九"))
            await ctl.engine.do_not_call("13800138021")
            await ctl.engine.request("login", "agent1001")
            await ctl.engine.request("ready", "agent1001")
            supervisor = await http.ws_connect(f"{url}/api/events", headers={"Authorization": f"Bearer {boss}"})
            agent2 = await http.ws_connect(f"{url}/api/events", headers={"Authorization": f"Bearer {other}"})
            snapshot = await supervisor.receive_json()
            assert snapshot["type"] == "snapshot" and any(a["agent_id"] == "agent1001" and a["state"] == "ready"
                                                          for a in snapshot["agents"])
            await citizen.dial("12345")
            seen: list[dict[str, Any]] = []
            await read_until(supervisor, seen, "call.answered")
            linkedid = seen[-1]["linkedid"]
            await supervisor.close()  # the wallboard's network goes, mid-call
            last = seen[-1]["seq"]

            await wait_until(lambda: any(t == f"hotline/sandbox/calls/{linkedid}/events"
                                         and b["kind"] == "call.answered" for t, b, _ in early),
                             what="the answer over MQTT")
            broker.stop()  # and the broker restarts without persistence, mid-call
            broker.start()
            await wait_until(lambda: ctl.hub.figures.get("mqtt_connected") and ctl.hub.figures.get("mqtt_reconnects"),
                             timeout=20, what="the events hub's MQTT link back")
            late: list[tuple[str, dict[str, Any], bool]] = []
            ready = asyncio.Event()
            tasks.append(asyncio.create_task(collect(broker.port, late, ready)))
            await ready.wait()
            await wait_until(lambda: any(t == "hotline/sandbox/agents/agent1001/state" for t, _, _ in late),
                             what="agent1001's state retained after the restart")
            [(_, state, retained)] = [m for m in late if m[0] == "hotline/sandbox/agents/agent1001/state"]
            assert retained and state["state"] == "on_call"

            await citizen.hangup()
            await wait_until(lambda: ctl.engine.snapshot() == (), what="the call to end")
            async with http.ws_connect(f"{url}/api/events?stream={snapshot['stream']}&since={last}",
                                       headers={"Authorization": f"Bearer {boss}"}) as again:
                resumed: list[dict[str, Any]] = []
                await read_until(again, resumed, "call.ended", linkedid)
            assert resumed[0]["type"] == "resumed"
            events = seen + resumed[1:]
            numbers = [m["seq"] for m in events]
            assert numbers == list(range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(numbers)))  # exactly once
            mine = [m["kind"] for m in events if m.get("linkedid") == linkedid]
            assert mine[0] == "call.arrived" and mine[-1] == "call.ended"
            assert [k for k in mine if k in ("call.queued", "call.offered", "call.answered")] == [
                "call.queued", "call.offered", "call.answered"]

            await wait_until(lambda: any(t == f"hotline/sandbox/calls/{linkedid}/events" and b["kind"] == "call.ended"
                                         for t, b, _ in late), what="the call's end over MQTT")
            over_mqtt = [b for t, b, _ in early + late if t == f"hotline/sandbox/calls/{linkedid}/events"]
            kinds = [b["kind"] for b in over_mqtt]
            assert kinds[0] == "call.arrived" and kinds[-1] == "call.ended"
            assert [b["seq"] for b in over_mqtt] == sorted(b["seq"] for b in over_mqtt)  # in order
            assert not any("13800138021" in json.dumps(b) for b in over_mqtt)  # masked: no personal data

            with pytest.raises(asyncio.TimeoutError):  # agent1002's socket: their own seat only
                while True:
                    message = await asyncio.wait_for(agent2.receive_json(), 0.5)
                    assert message.get("linkedid") != linkedid and message.get("agent") in ("", "agent1002", None)
            await agent2.close()

            await ctl.writer.flush()
            [record] = await ctl.store.by_caller("13800138021")
            async with http.get(f"{url}/metrics") as got:
                text = await got.text()
            figures = {(s.name, tuple(sorted(s.labels.items()))): s.value
                       for family in text_string_to_metric_families(text) for s in family.samples}
            desk = (("desk", record.desk),)
            assert figures[("hotline_calls_answered_total", desk)] == 1
            assert figures[("hotline_talk_seconds_sum", desk)] == record.talk_time
            assert figures[("hotline_ami_connected", ())] == 1 and figures[("hotline_mqtt_connected", ())] == 1
            assert figures[("hotline_events_hub_up", ())] == 1 and figures[("hotline_events_hub_restarts", ())] == 0
    finally:
        for task in tasks:
            task.cancel()
        broker.stop()
