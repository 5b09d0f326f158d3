"""Live events under a call storm: the engine's step latency with and without 500 websocket
clients and an MQTT broker attached (issue 17's target: p99 within 1.5× of the bare engine),
and the events per second delivered to them.

One process, as the controller runs: the engine driven through its inbox with the facts of a
call's life in the order the sandbox recorded them (arrival, queue, the agent's leg, answer,
hang-ups); its notifier publishing on the fact stream; the controller's websocket route on a
loopback port with N clients reading; the MQTT publisher to a mosquitto of its own (Debian's)
with one subscriber counting. The baseline is the same storm in the same run with nobody
attached. Step latency is the engine's own measure (the step observer /metrics reads).

    .venv/bin/python bench/events_fanout.py [--calls 400] [--clients 500] [--agents 40]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
import aiomqtt  # noqa: E402
from aiohttp import web  # noqa: E402

from acd import events as ev  # noqa: E402
from acd.desks import AcdConfig, AgentConfig, Desk  # noqa: E402
from acd.engine import Engine  # noqa: E402
from devtools.broker import Mosquitto, free_port  # noqa: E402
from events.mqtt import MqttPublisher  # noqa: E402
from events.notifier import Notifier  # noqa: E402
from events.websocket import add_events  # noqa: E402


def config(agents: int) -> AcdConfig:
    return AcdConfig(desks=(Desk("general", "综合", "general", wrap_up=0),),
                     agents=tuple(AgentConfig(f"a{n}", f"坐席{n}", f"PJSIP/agent{2000 + n}", str(2000 + n), "1",
                                              {"general": 1}) for n in range(agents)))


def at() -> datetime:
    return datetime.now(timezone.utc)


async def storm(engine: Engine, calls: int, in_flight: int) -> float:
    """`calls` citizens, `in_flight` at a time: each arrives, queues, is offered, answered, ends."""
    started = time.perf_counter()
    pending: list[str] = []
    for n in range(calls):
        uid = f"storm-{n}"
        engine.submit(ev.ChannelCreated(at(), uid, uid, f"PJSIP/carrier-{n:08x}", 6, f"138{n:08d}", "", "12345",
                                        "from-trunk"))
        engine.submit(ev.CallQueued(at(), uid, uid, f"PJSIP/carrier-{n:08x}", "general"))
        pending.append(uid)
        await engine.drained()
        queued = engine.acd.queue.get(uid)
        if queued is not None and queued.offered_to is not None:
            agent = engine.acd.agents[queued.offered_to]
            leg = f"{agent.config.device}-{n:08x}"
            engine.submit(ev.ChannelCreated(at(), f"{uid}-a", uid, leg, 0, "", "", "s", "from-agents"))
            engine.submit(ev.DialEnded(at(), uid, uid, leg, "ANSWER"))
        if len(pending) >= in_flight:
            done = pending.pop(0)
            for channel in (done, f"{done}-a"):
                engine.submit(ev.ChannelHungUp(at(), channel, done, 16, "Normal Clearing"))
        await asyncio.sleep(0)  # the loop's other tasks (the clients) run between calls
    for done in pending:
        for channel in (done, f"{done}-a"):
            engine.submit(ev.ChannelHungUp(at(), channel, done, 16, "Normal Clearing"))
    await engine.drained()
    return time.perf_counter() - started


async def run_once(args: argparse.Namespace, attach: bool) -> dict[str, float]:
    notifier = Notifier()
    engine = Engine({}, acd=config(args.agents))
    for kind in notifier.kinds:
        engine.observe(kind, notifier)
    steps: list[float] = []
    engine.step_observer = steps.append
    task = asyncio.create_task(engine.run())
    for agent_id in engine.acd.agents:
        await engine.request("login", agent_id)
        await engine.request("ready", agent_id)
    received = [0]
    mqtt_received = [0]
    helpers: list[asyncio.Task[None]] = []
    runner = None
    broker = None
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    session = None
    tmp = tempfile.TemporaryDirectory(prefix="bench-events-")
    try:
        if attach:
            app = web.Application()
            add_events(app, notifier.stream, engine)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            port = free_port()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
            sockets = list(await asyncio.gather(*(session.ws_connect(f"http://127.0.0.1:{port}/api/events")
                                                  for _ in range(args.clients))))

            async def read(socket: aiohttp.ClientWebSocketResponse) -> None:
                async for message in socket:
                    if message.type is aiohttp.WSMsgType.TEXT:
                        received[0] += 1

            helpers += [asyncio.create_task(read(s)) for s in sockets]
            broker = Mosquitto(Path(tmp.name) / "broker")
            broker.start()
            publisher = MqttPublisher(notifier.stream, "127.0.0.1", broker.port, site="bench")
            helpers.append(asyncio.create_task(publisher.run()))

            async def count_mqtt() -> None:
                async with aiomqtt.Client("127.0.0.1", broker.port) as client:
                    await client.subscribe("hotline/bench/#", qos=1)
                    async for _ in client.messages:
                        mqtt_received[0] += 1

            helpers.append(asyncio.create_task(count_mqtt()))
            while not publisher.connected:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            received[0] = mqtt_received[0] = 0
        steps.clear()
        published_before = notifier.stream.seq
        elapsed = await storm(engine, args.calls, args.in_flight)
        facts = notifier.stream.seq - published_before
        if attach:  # until the clients have what was sent (or a second passes with nothing new)
            last, quiet = (-1, -1), time.perf_counter()
            while time.perf_counter() - quiet < 1.0:
                if (received[0], mqtt_received[0]) != last:
                    last, quiet = (received[0], mqtt_received[0]), time.perf_counter()
                await asyncio.sleep(0.05)
            delivered_in = time.perf_counter() - quiet + elapsed
        ordered = sorted(steps)
        return {"steps": len(ordered), "p50": statistics.median(ordered), "p99": ordered[int(len(ordered) * 0.99)],
                "elapsed": elapsed, "facts": facts, "received": received[0], "mqtt": mqtt_received[0],
                "delivered_in": delivered_in if attach else elapsed, "cut": notifier.stream.cut_off}
    finally:
        for helper in helpers:
            helper.cancel()
        for socket in sockets:
            await socket.close()
        if session is not None:
            await session.close()
        if runner is not None:
            await runner.cleanup()
        if broker is not None:
            broker.stop()
        engine.stop()
        await task
        tmp.cleanup()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--agents", type=int, default=40)
    parser.add_argument("--in-flight", type=int, default=30, help="calls live at once")
    args = parser.parse_args()
    if not Mosquitto.available():
        print("bench: mosquitto is not installed (scripts/install.sh)", file=sys.stderr)
        return 2
    bare = await run_once(args, attach=False)
    loaded = await run_once(args, attach=True)
    ms = 1000.0
    print(f"call storm: {args.calls} calls, {args.in_flight} live at once, {args.agents} agents; "
          f"{bare['facts']} facts published per run")
    print(f"  engine alone (baseline): step p50 {bare['p50'] * ms:.3f} ms  p99 {bare['p99'] * ms:.3f} ms  "
          f"({bare['steps']} steps, storm {bare['elapsed']:.1f} s)")
    print(f"  {args.clients} websockets + MQTT:  step p50 {loaded['p50'] * ms:.3f} ms  p99 {loaded['p99'] * ms:.3f} ms  "
          f"({loaded['steps']} steps, storm {loaded['elapsed']:.1f} s)")
    print(f"  p99 ratio (attached / baseline): {loaded['p99'] / bare['p99']:.2f}x  (target <= 1.5x)")
    print(f"  delivered: {loaded['received']} websocket messages ({loaded['received'] / loaded['delivered_in']:.0f}/s), "
          f"{loaded['mqtt']} MQTT messages ({loaded['mqtt'] / loaded['delivered_in']:.0f}/s); "
          f"clients cut off for being slow: {loaded['cut']}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
