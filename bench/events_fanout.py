"""Live events under a call storm: the engine's step latency with and without 500 websocket
clients and an MQTT broker attached (issue 17's target: p99 within 1.5× of the bare engine),
and the events per second delivered to them.

The engine is driven through its inbox with the facts of a call's life in the order the
sandbox recorded them (arrival, queue, the agent's leg, answer, hang-ups); its notifier
publishes on the fact stream; the controller's websocket route listens on a loopback port. The
listeners (N websocket clients and one MQTT subscriber, bench/events_clients.py) run in a
process of their own, as browsers and the city's systems are elsewhere, and a mosquitto of its
own (Debian's) is the broker. The engine's process is pinned to core 0; the listeners, the
broker and the events hub to core 1 (the machine has two).

Four runs in one process: the engine alone, the fan-out served in the engine's process
(`[events] hub = false`), the fan-out served by the events hub (the default), the engine alone
again. The baseline is the better of the two bare runs. Step latency is the engine's own
measure (the step observer /metrics reads).

    .venv/bin/python bench/events_fanout.py [--calls 1000] [--clients 500] [--agents 40]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web  # noqa: E402

from acd import events as ev  # noqa: E402
from acd.desks import AcdConfig, AgentConfig, Desk  # noqa: E402
from acd.engine import Engine  # noqa: E402
from devtools.broker import Mosquitto, free_port  # noqa: E402
from events.hub import HubLink  # noqa: E402
from events.mqtt import MqttPublisher  # noqa: E402
from events.notifier import Notifier  # noqa: E402
from events.websocket import add_events  # noqa: E402


ENGINE_CORE, OTHERS_CORE = 0, 1  # the controller's process on one core, the listeners and broker on the other


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


async def run_once(args: argparse.Namespace, mode: str) -> dict[str, float]:
    """One storm: `alone`/`alone again` (the baseline), `inline` (websockets and MQTT served in the engine's
    process) or `hub` (served by the events hub process, as the controller runs)."""
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
    received = mqtt_received = 0
    closed = [0]  # websocket clients whose socket the server closed (cut off for being slow)
    helpers: list[asyncio.Task[None]] = []
    runner = broker = link = publisher = None
    listeners: asyncio.subprocess.Process | None = None
    tmp = tempfile.TemporaryDirectory(prefix="bench-events-")
    try:
        if not mode.startswith("alone"):
            # mosquitto drops QoS 1 messages beyond 1,000 queued for a slow subscriber: the bench
            # counts what the publisher delivered, so its subscriber's queue is not limited
            broker = Mosquitto(Path(tmp.name) / "broker", settings=("max_queued_messages 0",))
            broker.start()
            assert broker._proc is not None
            os.sched_setaffinity(broker._proc.pid, {OTHERS_CORE})
            mqtt = {"host": "127.0.0.1", "port": broker.port, "site": "bench"}
            app = web.Application()
            if mode == "hub":
                link = HubLink(notifier.stream, mqtt)
                helpers.append(asyncio.create_task(link.run()))
                await link.ready.wait()
                assert link.pid is not None
                os.sched_setaffinity(link.pid, {OTHERS_CORE})
            else:
                publisher = MqttPublisher(notifier.stream, **mqtt)  # type: ignore[arg-type]
                helpers.append(asyncio.create_task(publisher.run()))
            add_events(app, notifier.stream, engine, hub=link)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            port = free_port()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            listeners = await asyncio.create_subprocess_exec(
                sys.executable, str(Path(__file__).with_name("events_clients.py")), str(port), str(broker.port),
                str(args.clients), "bench", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
            assert listeners.stdout is not None and listeners.stdin is not None
            os.sched_setaffinity(listeners.pid, {OTHERS_CORE})
            if await asyncio.wait_for(listeners.stdout.readline(), 60) != b"ready\n":
                raise RuntimeError("bench: the listeners' process did not start (see its error above)")

            async def counts() -> tuple[int, int]:
                assert listeners is not None and listeners.stdin is not None and listeners.stdout is not None
                listeners.stdin.write(b"?\n")
                answer = json.loads(await listeners.stdout.readline())
                closed[0] = answer["closed"]
                return answer["ws"], answer["mqtt"]

            def mqtt_connected() -> bool:
                return bool(link.figures.get("mqtt_connected")) if link is not None else bool(publisher.connected)

            while not mqtt_connected():
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            start_counts = await counts()
        steps.clear()
        published_before = notifier.stream.seq
        storm_began = time.perf_counter()
        elapsed = await storm(engine, args.calls, args.in_flight)
        facts = notifier.stream.seq - published_before
        delivered_in = elapsed
        if not mode.startswith("alone"):  # until the clients have what was sent (or a second passes with nothing new)
            last, changed = (-1, -1), time.perf_counter()
            while time.perf_counter() - changed < 1.0:
                now = await counts()
                if now != last:
                    last, changed = now, time.perf_counter()
                await asyncio.sleep(0.05)
            received, mqtt_received = last[0] - start_counts[0], last[1] - start_counts[1]
            delivered_in = changed - storm_began  # from the storm's start to the last message received
        ordered = sorted(steps)
        cut = closed[0]
        return {"steps": len(ordered), "p50": statistics.median(ordered), "p99": ordered[int(len(ordered) * 0.99)],
                "elapsed": elapsed, "facts": facts, "received": received, "mqtt": mqtt_received,
                "delivered_in": delivered_in, "cut": cut}
    finally:
        if listeners is not None and listeners.stdin is not None:
            listeners.stdin.close()
            await listeners.wait()
        if link is not None:
            await link.stop()
        for helper in helpers:
            helper.cancel()
        if runner is not None:
            await runner.cleanup()
        if broker is not None:
            broker.stop()
        engine.stop()
        await task
        tmp.cleanup()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--agents", type=int, default=40)
    parser.add_argument("--in-flight", type=int, default=30, help="calls live at once")
    args = parser.parse_args()
    if not Mosquitto.available():
        print("bench: mosquitto is not installed (scripts/install.sh)", file=sys.stderr)
        return 2
    os.sched_setaffinity(0, {ENGINE_CORE})
    runs = {mode: await run_once(args, mode) for mode in ("alone", "inline", "hub", "alone again")}
    # the baseline is the better of the two bare runs (before and after): the stricter ratio
    bare = min(runs["alone"], runs["alone again"], key=lambda run: run["p99"])
    ms = 1000.0
    print(f"call storm: {args.calls} calls, {args.in_flight} live at once, {args.agents} agents; "
          f"{bare['facts']} facts published per run; the engine's process on core {ENGINE_CORE}, "
          f"the listeners, broker and hub on core {OTHERS_CORE}")
    for mode in ("alone", "alone again"):
        run = runs[mode]
        print(f"  engine {mode}{' (baseline)' if run is bare else ''}: step p50 {run['p50'] * ms:.3f} ms  "
              f"p99 {run['p99'] * ms:.3f} ms  ({run['steps']} steps, storm {run['elapsed']:.1f} s)")
    for mode, label in (("inline", "served in the engine's process"), ("hub", "served by the events hub")):
        run = runs[mode]
        print(f"  {args.clients} websockets + MQTT, {label}:")
        print(f"      step p50 {run['p50'] * ms:.3f} ms  p99 {run['p99'] * ms:.3f} ms  ({run['steps']} steps, "
              f"storm {run['elapsed']:.1f} s); p99 ratio to the baseline {run['p99'] / bare['p99']:.2f}x "
              f"(target <= 1.5x)")
        print(f"      delivered: {run['received']} websocket messages ({run['received'] / run['delivered_in']:.0f}/s), "
              f"{run['mqtt']} MQTT messages ({run['mqtt'] / run['delivered_in']:.0f}/s); "
              f"clients cut off for being slow: {run['cut']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
