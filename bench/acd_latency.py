"""Agent becomes ready → agent's phone is dialed: this controller's ACD against app_queue.

Both on the real sandbox Asterisk, in one run, with a caller already waiting each time:
- ACD: the agent's `ready` request goes into the engine inbox at t0; the engine offers the
  waiting call and redirects it into [hotline-connect], which dials the agent.
- app_queue (the baseline): a caller waits in queue hotline-bench (retry = 1) whose only
  member is paused; at t0 the member is unpaused with QueuePause.
The end mark is the same for both: Asterisk's Newchannel event for the agent's PJSIP channel
(its Timestamp header: Asterisk's own clock on this host). Prints median and p90 and the ratio.

    .venv/bin/python bench/acd_latency.py [--rounds N]      (needs `sandbox up`, root)
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import hotline_config  # noqa: E402
from acd.desks import AcdConfig, AgentConfig, Desk  # noqa: E402
from hotline_pbx import SANDBOX_CONFIG, Controller  # noqa: E402
from devtools import sandbox  # noqa: E402
from pbx.ami import Event  # noqa: E402
from pbx.ami_client import AmiClient  # noqa: E402
from devtools.phones import PhoneBank, PhoneSpec  # noqa: E402

ACD_AGENT, QUEUE_AGENT = "agent1011", "agent1012"


class Observer:
    """A second AMI connection that timestamps when an agent's channel appears."""

    def __init__(self, secret: str) -> None:
        self.waiters: dict[str, asyncio.Future[float]] = {}
        self.client = AmiClient("127.0.0.1", 5038, sandbox.LAB_AMI_USER, secret, on_event=self.on_event)

    def on_event(self, event: Event) -> None:
        if event.name != "Newchannel":
            return
        for prefix, future in list(self.waiters.items()):
            if event.get("Channel").startswith(prefix) and not future.done():
                future.set_result(float(event.get("Timestamp")))

    def expect(self, device: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiters[f"{device}-"] = future
        return future


async def originate(client: AmiClient, exten: str, context: str, number: str) -> None:
    await client.send_action("Originate", {
        "Channel": f"Local/{exten}@{context}/n", "Application": "Wait", "Data": "600",
        "CallerID": f"\"bench\" <{number}>", "Async": "true"})


async def hang_up_all(paths: sandbox.SandboxPaths) -> None:
    sandbox.cli(paths, "channel request hangup all")
    for _ in range(50):
        if "0 active channels" in sandbox.cli(paths, "core show channels count"):
            return
        await asyncio.sleep(0.1)


async def run(rounds: int) -> None:
    paths = sandbox.SandboxPaths()
    base = hotline_config.load(SANDBOX_CONFIG, env={})
    with tempfile.TemporaryDirectory(prefix="hotline-bench-") as tmp:
        acd = AcdConfig(desks=(Desk("general", "综合受理", "general", wrap_up=0.0),),
                        agents=(AgentConfig(ACD_AGENT, "bench", f"PJSIP/{ACD_AGENT}", "1011", "0",
                                            {"general": 3}),),
                        numbers={"12345": "general"}, ring_timeout=10)
        config = dataclasses.replace(
            base, acd=acd, http=dataclasses.replace(base.http, port=0),
            asterisk=dataclasses.replace(base.asterisk, ami_secret_file=str(paths.ami_secret_file)),
            store=dataclasses.replace(base.store, url=f"sqlite+aiosqlite:///{tmp}/bench.db",
                                      journal=f"{tmp}/journal.jsonl"))
        controller = Controller(config)
        await controller.start()
        observer = Observer(sandbox.ami_secret(paths))
        observer_task = asyncio.create_task(observer.client.run())
        bank = PhoneBank(Path(tmp) / "phones")
        password = sandbox.sip_secret(paths)
        await bank.add(PhoneSpec(ACD_AGENT, ACD_AGENT, password=password, auto_answer=True))
        await bank.add(PhoneSpec(QUEUE_AGENT, QUEUE_AGENT, password=password, auto_answer=True))
        await observer.client.wait_connected(10)
        await controller.ami.client.wait_connected(10)
        client = observer.client
        ours: list[float] = []
        theirs: list[float] = []
        try:
            await controller.engine.request("login", ACD_AGENT)
            for n in range(rounds):
                # --- our ACD: a caller waits in [hotline-wait]; the agent becomes ready ---
                await originate(client, "12345", "from-trunk", f"1390000{n:04d}")
                while not controller.engine.acd.queue:
                    await asyncio.sleep(0.02)
                await asyncio.sleep(0.3)  # the caller settles into the wait loop
                dialed = observer.expect(f"PJSIP/{ACD_AGENT}")
                t0 = time.time()
                await controller.engine.request("ready", ACD_AGENT)
                ours.append((await asyncio.wait_for(dialed, 10) - t0) * 1000)
                await asyncio.sleep(0.3)
                await hang_up_all(paths)
                await controller.engine.drained()
                while controller.engine.acd.agents[ACD_AGENT].state.value not in ("ready", "wrap_up"):
                    await asyncio.sleep(0.02)
                await asyncio.sleep(0.1)
                await controller.engine.request("pause", ACD_AGENT, "break")

                # --- app_queue: a caller waits in hotline-bench; the paused member is unpaused ---
                await client.send_action("QueuePause", {"Queue": "hotline-bench", "Interface":
                                                        f"PJSIP/{QUEUE_AGENT}", "Paused": "true"})
                await originate(client, "queue", "hotline-bench", f"1380000{n:04d}")
                await asyncio.sleep(1.3)  # in the queue, past the first retry
                dialed = observer.expect(f"PJSIP/{QUEUE_AGENT}")
                t0 = time.time()
                await client.send_action("QueuePause", {"Queue": "hotline-bench", "Interface":
                                                        f"PJSIP/{QUEUE_AGENT}", "Paused": "false"})
                theirs.append((await asyncio.wait_for(dialed, 10) - t0) * 1000)
                await asyncio.sleep(0.3)
                await hang_up_all(paths)
                print(f"round {n + 1}/{rounds}: ACD {ours[-1]:.1f} ms, app_queue {theirs[-1]:.1f} ms",
                      flush=True)
        finally:
            await hang_up_all(paths)
            await bank.close()
            await observer.client.close()
            observer_task.cancel()
            await controller.stop()

    def p90(xs: list[float]) -> float:
        return statistics.quantiles(xs, n=10)[-1] if len(xs) > 1 else xs[0]

    m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
    print(f"ready -> agent dialed, {rounds} rounds on the sandbox:")
    print(f"  this ACD (event-driven)        median {m_ours:7.1f} ms   p90 {p90(ours):7.1f} ms"
          f"   target median <= 20 ms: {'met' if m_ours <= 20 else 'NOT met'}")
    print(f"  app_queue, retry = 1 (baseline) median {m_theirs:7.1f} ms   p90 {p90(theirs):7.1f} ms")
    print(f"  ratio ACD / app_queue (median) {m_ours / m_theirs:.3f}   target <= 0.05: "
          f"{'met' if m_ours / m_theirs <= 0.05 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    asyncio.run(run(parser.parse_args().rounds))


if __name__ == "__main__":
    main()
