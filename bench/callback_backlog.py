"""Engine cost per event against the callback backlog (issue 11, item 6).

Before, the due-callback scan ran over every open entry on every engine step: 0.5 / 8.8 / 29 ms
of engine CPU per AMI event with 100 / 1,000 / 3,000 due entries (and a log line per entry per
step once the queue was full). Now due times sit in a heap and callbacks wait in ACD lanes
whose heads alone are looked at, so the cost per event should not depend on the backlog.

The run: N due callbacks wait for the heating desk (out of season: nobody logged in there, so
they stay due in their lane and are looked at on every dispatch), while live calls to 12345
go through the engine's inbox one after another — arrival, greeting, queue, offer, answer,
talk, hang-ups, wrap-up — with the event order Asterisk produces. Prints engine CPU per event
at each backlog and its ratio to the 0-backlog run of the same process (the baseline).

    .venv/bin/python bench/callback_backlog.py [--calls 2000] [--backlogs 0,1000,10000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from acd import events as ev  # noqa: E402
from acd.acd import OfferCall  # noqa: E402
from acd.desks import AcdConfig, AgentConfig, Desk  # noqa: E402
from acd.engine import Engine  # noqa: E402
from callback.book import CallbackBook, Loss, RetryPolicy  # noqa: E402
from callback.flow import CallbackFlow  # noqa: E402

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)  # 10:00 in Beijing
CFG = AcdConfig(desks=(Desk("general", "综合受理", "general", wrap_up=0.0, max_queue=100),
                       Desk("heating", "供暖专席", "heating", wrap_up=0.0)),
                agents=(AgentConfig("a1", "甲", "PJSIP/agent1001", "1001", "1", {"general": 3}),),
                numbers={"12345": "general"})


async def measure(backlog: int, calls: int) -> tuple[float, int, int]:
    clock = {"t": 0.0}
    flow = CallbackFlow(CallbackBook(RetryPolicy(window=10.0 ** 9)))
    engine: Engine

    def at() -> datetime:
        return NOW + timedelta(seconds=clock["t"])

    def on_offer(offer: OfferCall) -> None:  # the agent's phone rings and is answered
        uid = offer.call_id
        engine.submit(ev.ChannelCreated(at(), f"{uid}-a", uid, f"PJSIP/agent1001-{uid}", 5, "1001", "", "s",
                                        "from-agents"))
        engine.submit(ev.DialEnded(at(), uid, uid, f"PJSIP/agent1001-{uid}", "ANSWER"))
        engine.submit(ev.BridgeEntered(at(), f"b-{uid}", uid, uid))
        engine.submit(ev.ChannelHungUp(at(), f"{uid}-a", uid, 16, ""))
        engine.submit(ev.ChannelHungUp(at(), uid, uid, 16, ""))

    engine = Engine({OfferCall: on_offer}, acd=CFG, clock=lambda: clock["t"],
                    wall=lambda: NOW.timestamp() + clock["t"], callbacks=flow, callback_tick=3600)
    runner = asyncio.create_task(engine.run())
    for n in range(backlog):  # lost during the night: due now, waiting for a heating agent
        flow.book.lost(Loss(f"night-{n}", f"139{n:08d}", "heating", "abandoned_queue", 30.0,
                            NOW.timestamp() - 36_000 + n))
    engine.submit(ev.TimerFired(("callbacks", "tick", 0)))
    await engine.drained()
    assert len(engine.acd.callbacks) == backlog
    await engine.request("login", "a1")
    await engine.request("ready", "a1")
    await engine.drained()
    events0, cpu0 = engine.processed, time.process_time()
    for n in range(calls):
        clock["t"] += 1.0
        uid = f"live-{n}"
        engine.submit(ev.ChannelCreated(at(), uid, uid, f"PJSIP/carrier-{uid}", 4, f"138{n:08d}", "市民", "12345",
                                        "from-trunk"))
        engine.submit(ev.ChannelStateChanged(at(), uid, uid, 6))
        engine.submit(ev.AgiSessionStarted(at(), uid, "intake", "12345"))
        engine.submit(ev.AgiSessionEnded(at(), uid, "intake", "completed"))
        engine.submit(ev.CallQueued(at(), uid, uid, f"PJSIP/carrier-{uid}", "general"))
        await engine.drained()
        await asyncio.sleep(0)  # the wrap-up timer (0 s) fires
        await engine.drained()
    used, events = time.process_time() - cpu0, engine.processed - events0
    left = len(engine.acd.callbacks)
    engine.stop()
    await runner
    return used, events, left


async def main(calls: int, backlogs: list[int]) -> None:
    print(f"callback backlog: {calls} live calls through the engine inbox at each backlog of due callbacks")
    baseline = None
    for backlog in backlogs:
        used, events, left = await measure(backlog, calls)
        per_event = 1e6 * used / events
        baseline = per_event if baseline is None else baseline
        print(f"  {backlog:6d} due callbacks: {events} events, engine CPU {per_event:6.1f} µs per event "
              f"(x{per_event / baseline:.2f} of the {backlogs[0]}-backlog run), {left} callbacks still due")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--backlogs", default="0,1000,10000")
    args = parser.parse_args()
    asyncio.run(main(args.calls, [int(b) for b in args.backlogs.split(",")]))
