"""Three-way calls with 110 on the real sandbox: how fast 110 rings, how fast the agent is out.

Two figures, each against a baseline measured in the same run on the same Asterisk:
- "agent asks for 110" → "110 is ringing": t0 just before the agent's request enters the
  engine (`Engine.handover`, what the API calls); the end is Asterisk's Newstate Ringing of the
  leg to 110 (its Timestamp header, Asterisk's clock on this host). Baseline: AMI Originate of
  the same trunk leg straight from a second AMI connection (Asterisk dialing, no controller).
- "agent leaves" → "citizen and 110 bridged without the agent": t0 just before the agent's
  phone hangs up; the end is the BridgeLeave of the agent's channel from the conference, with
  the citizen and 110 still in it. Baseline: the same phone hanging up a plain seat-to-seat
  call (BridgeLeave of its channel from a two-party bridge).
Prints median and p90 of each and the ratios.

    .venv/bin/python bench/threeway.py [--rounds 20]      (root; starts the sandbox if needed)
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
from devtools import sandbox  # noqa: E402
from devtools.phones import BaresipPhone, PhoneBank, PhoneSpec  # noqa: E402
from hotline_pbx import SANDBOX_CONFIG, Controller  # noqa: E402
from pbx.ami import Event  # noqa: E402
from pbx.ami_client import AmiClient  # noqa: E402

RINGING = "5"


class Marks:
    """A second AMI connection that timestamps the events the figures end on."""

    def __init__(self, secret: str) -> None:
        self.waiters: list[tuple[str, str, asyncio.Future[float]]] = []
        self.client = AmiClient("127.0.0.1", 5038, sandbox.LAB_AMI_USER, secret, on_event=self.on_event)

    def on_event(self, event: Event) -> None:
        for name, prefix, future in list(self.waiters):
            if event.name != name or future.done() or not event.get("Channel").startswith(prefix):
                continue
            if name == "Newstate" and (event.get("ChannelState") != RINGING or event.get("Exten") == "12345"):
                continue
            future.set_result(float(event.get("Timestamp")))
            self.waiters.remove((name, prefix, future))

    def expect(self, name: str, prefix: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiters.append((name, prefix, future))
        return future


def _stage(ctl: Controller, stage: str) -> bool:
    return (ctl.engine.handover_of("agent1001") or {}).get("stage") == stage


async def _until(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the sandbox did not get there")
        await asyncio.sleep(0.01)


async def _ring_baseline(marks: Marks, operator: BaresipPhone) -> float:
    ringing = marks.expect("Newstate", "PJSIP/carrier-")
    t0 = time.time()
    # the address the three-way's Dial reads from the sandbox's carrier directory
    channel = f"PJSIP/carrier/sip:110@127.0.0.1:{operator.spec.sip_port}"
    await marks.client.send_action("Originate", {"Channel": channel, "Application": "Wait",
                                                 "Data": "5", "Async": "true", "Timeout": "10000"})
    elapsed = await asyncio.wait_for(ringing, 10) - t0
    await operator.wait_event("CALL_INCOMING", timeout=10)
    await operator.hangup()  # declined: the baseline's leg ends
    await operator.wait_event("CALL_CLOSED", timeout=10)
    return elapsed


async def _leave_baseline(marks: Marks, seat: BaresipPhone, other: BaresipPhone) -> float:
    await seat.dial("1003")
    await seat.wait_event("CALL_ESTABLISHED", timeout=10)
    await asyncio.sleep(0.3)
    left = marks.expect("BridgeLeave", "PJSIP/agent1002-")
    t0 = time.time()
    await seat.hangup()
    elapsed = await asyncio.wait_for(left, 10) - t0
    await other.wait_event("CALL_CLOSED", timeout=10)
    return elapsed


async def _round(ctl: Controller, marks: Marks, citizen: BaresipPhone, agent: BaresipPhone,
                 operator: BaresipPhone) -> tuple[float, float]:
    await ctl.engine.request("ready", "agent1001")
    await citizen.dial("12345")
    await agent.wait_event("CALL_ESTABLISHED", timeout=40)
    await _until(lambda: next(a.state for a in ctl.engine.agents() if a.agent_id == "agent1001") == "on_call")
    ringing = marks.expect("Newstate", "PJSIP/carrier-")
    t0 = time.time()
    await ctl.engine.handover("threeway", "agent1001", target="110")
    ring = await asyncio.wait_for(ringing, 10) - t0
    await operator.wait_event("CALL_INCOMING", timeout=10)
    await operator.answer()
    await _until(lambda: _stage(ctl, "joined"))
    await asyncio.sleep(0.3)
    left = marks.expect("BridgeLeave", "PJSIP/agent1001-")
    t1 = time.time()
    await agent.hangup()
    leave = await asyncio.wait_for(left, 10) - t1
    await _until(lambda: _stage(ctl, "handed_over"))
    await citizen.hangup()
    await operator.wait_event("CALL_CLOSED", timeout=10)
    await _until(lambda: not ctl.engine.snapshot())
    return ring, leave


def _show(name: str, values: list[float], baseline: list[float], base_name: str) -> None:
    def figures(v: list[float]) -> tuple[float, float]:
        ordered = sorted(v)
        return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]

    med, p90 = figures(values)
    bmed, bp90 = figures(baseline)
    print(f"{name:<44} median {med * 1000:7.1f} ms  p90 {p90 * 1000:7.1f} ms  (n={len(values)})")
    print(f"  baseline: {base_name:<32} median {bmed * 1000:7.1f} ms  p90 {bp90 * 1000:7.1f} ms")
    print(f"  ratio to the baseline: median {med / bmed:5.2f}  p90 {p90 / bp90:5.2f}")


async def main(rounds: int) -> None:
    paths = sandbox.SandboxPaths()
    sandbox.build_root(paths, echo=False)
    sandbox.start(paths, echo=False)
    sandbox.cli(paths, "database deltree hotline-journal")
    base = hotline_config.load(SANDBOX_CONFIG, env={})
    with tempfile.TemporaryDirectory(prefix="hotline-bench-3w-") as tmp:
        config = dataclasses.replace(
            base, asterisk=dataclasses.replace(base.asterisk, ami_secret_file=str(paths.ami_secret_file)),
            store=dataclasses.replace(base.store, url=f"sqlite+aiosqlite:///{tmp}/calls.db",
                                      journal=f"{tmp}/journal.jsonl"),
            http=dataclasses.replace(base.http, port=0))
        ctl = Controller(config)
        await ctl.start()
        marks = Marks(sandbox.ami_secret(paths))
        marks_task = asyncio.create_task(marks.client.run())
        bank = PhoneBank(Path(tmp) / "phones")
        password = sandbox.sip_secret(paths)
        try:
            await marks.client.wait_connected(10)
            await _until(lambda: ctl.ami.resyncs >= 1)
            agent = await bank.add(PhoneSpec("agent1001", "agent1001", password=password, auto_answer=True))
            seat = await bank.add(PhoneSpec("agent1002", "agent1002", password=password))
            other = await bank.add(PhoneSpec("agent1003", "agent1003", password=password, auto_answer=True))
            operator = await bank.add(PhoneSpec("operator-110", "110"))
            sandbox.carrier_put(paths, "110", operator.spec.sip_port)
            citizen = await bank.add(PhoneSpec("citizen", "13800138001", "张三"))
            await ctl.engine.do_not_call("13800138001")
            await ctl.engine.request("login", "agent1001")
            ring, leave, ring_base, leave_base = [], [], [], []
            for n in range(rounds):
                ring_base.append(await _ring_baseline(marks, operator))
                leave_base.append(await _leave_baseline(marks, seat, other))
                r, lv = await _round(ctl, marks, citizen, agent, operator)
                ring.append(r)
                leave.append(lv)
                print(f"round {n + 1}/{rounds}: 110 ringing {r * 1000:.1f} ms (bare {ring_base[-1] * 1000:.1f}), "
                      f"agent out {lv * 1000:.1f} ms (bare {leave_base[-1] * 1000:.1f})", flush=True)
            print()
            _show("agent asks for 110 -> 110 ringing", ring, ring_base, "AMI Originate to the trunk")
            _show("agent leaves -> citizen and 110 bridged", leave, leave_base, "hang-up of a seat-to-seat call")
        finally:
            await bank.close()
            sandbox.carrier_forget(paths, "110")
            await marks.client.close()
            marks_task.cancel()
            await ctl.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    asyncio.run(main(parser.parse_args().rounds))
