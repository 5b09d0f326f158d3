"""A call storm on the real sandbox (say a city-wide power cut): N calls to 12345 within S
seconds, A auto-answering agents (Local channels that answer at once and talk 2–4 s).

Every call goes through the real path: FastAGI intake (greeting), the ACD queue in
[hotline-wait], Redirect, Dial. At the end every call must be in the store exactly once,
answered or lost. Prints calls/s handled and the controller's CPU.

    .venv/bin/python bench/call_storm.py [--calls 1000] [--seconds 20] [--agents 50]
"""

from __future__ import annotations

import argparse
from collections import Counter
import asyncio
import dataclasses
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import hotline_config  # noqa: E402
from acd.desks import AcdConfig, AgentConfig, Desk  # noqa: E402
from hotline_pbx import SANDBOX_CONFIG, Controller  # noqa: E402
from devtools import sandbox  # noqa: E402


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(calls: int, seconds: float, agents: int) -> None:
    paths = sandbox.SandboxPaths()
    base = hotline_config.load(SANDBOX_CONFIG, env={})
    acd = AcdConfig(
        desks=(Desk("general", "综合受理", "general", wrap_up=0.0, max_queue=calls),),
        agents=tuple(AgentConfig(f"bench{i:03d}", f"坐席{i}", f"Local/bench{i:03d}@hotline-bench-agent",
                                 str(5000 + i), "0", {"general": 1 + i % 5}) for i in range(agents)),
        numbers={"12345": "general"}, ring_timeout=10)
    with tempfile.TemporaryDirectory(prefix="hotline-storm-") as tmp:
        config = dataclasses.replace(
            base, acd=acd, http=dataclasses.replace(base.http, port=0),
            asterisk=dataclasses.replace(base.asterisk, ami_secret_file=str(paths.ami_secret_file)),
            store=dataclasses.replace(base.store, url=f"sqlite+aiosqlite:///{tmp}/storm.db",
                                      journal=f"{tmp}/journal.jsonl"))
        sandbox.cli(paths, "database deltree hotline-journal")
        controller = Controller(config)
        await controller.start()
        await controller.ami.client.wait_connected(10)
        for a in acd.agents:
            await controller.engine.request("login", a.agent_id)
            await controller.engine.request("ready", a.agent_id)
        before = await controller.store.count()
        cpu0, t0 = cpu(), time.monotonic()
        client = controller.ami.client
        print(f"storm: {calls} calls within {seconds:.0f} s, {agents} agents", flush=True)
        for n in range(calls):
            due = t0 + n * seconds / calls
            if (delay := due - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            await client.send_action("Originate", {
                "Channel": "Local/12345@from-trunk/n", "Application": "Wait", "Data": "300",
                "CallerID": f'"市民" <139{n:08d}>', "Async": "true"})
        sent = time.monotonic() - t0
        print(f"  {calls} calls placed in {sent:.1f} s", flush=True)
        last = -1
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            await asyncio.sleep(2)
            await controller.writer.flush()
            stored = await controller.store.count() - before
            figures = controller.engine.desk_figures()["general"]
            if stored != last:
                print(f"  t+{time.monotonic() - t0:5.1f}s stored {stored:4d}, waiting {figures['waiting']:3d}, "
                      f"answered {figures['answered']:4d}, abandoned {figures['abandoned']}", flush=True)
                last = stored
            if stored >= calls and not controller.engine.snapshot():
                break
        elapsed = time.monotonic() - t0
        used = cpu() - cpu0
        figures = controller.engine.desk_figures()["general"]
        records = await controller.store.recent(max(stored, calls))
        await controller.stop()
    is_storm = [r.caller_number.startswith("139") and len(r.caller_number) == 11 for r in records]
    storm = [r for r, mine in zip(records, is_storm) if mine]
    distinct = len({r.linkedid for r in storm})
    others = Counter(f"{r.disposition.value}/{r.dialed_number or '-'}" for r, mine in zip(records, is_storm)
                     if not mine)
    print(f"storm result: {distinct} of {calls} calls in the store (each once: {distinct == len(storm)}); "
          f"other records: {dict(others) or 'none'}; storm calls by outcome: "
          f"{dict(Counter(r.disposition.value for r in storm))}")
    print(f"  answered by agents {figures['answered']}, lost {figures['abandoned']}, "
          f"within 15 s {figures['answered_in_target_pct']}%, ASA {figures['average_speed_of_answer']} s")
    print(f"  {calls / elapsed:.1f} calls/s handled end to end ({elapsed:.0f} s for all to finish); "
          f"controller CPU {used:.1f} s = {100 * used / elapsed:.0f}% of one core, "
          f"{1000 * used / calls:.2f} ms per call")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--agents", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(run(args.calls, args.seconds, args.agents))


if __name__ == "__main__":
    main()
