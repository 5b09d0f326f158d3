"""Answer → queued: the silence the intake adds beyond the greeting itself.

On the real sandbox, a citizen on the carrier trunk (baresip, RTP and all) dials 12345 N times;
a second AMI connection timestamps, on Asterisk's own clock, the caller channel's answer
(Newstate Up) and the start of the queue's music on hold (MusicOnHoldStart in [hotline-wait]).
The gap minus the greeting's length is what the controller adds: the open-order lookup, the
routing decision, the AGI round trips. The baseline is the greeting alone (0 ms added).
Target: no silence added that a caller would notice (printed against 100 ms).

    .venv/bin/python bench/intake_gap.py [--calls N]      (needs `sandbox up`, root)
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import hotline_config  # noqa: E402
from hotline_pbx import SANDBOX_CONFIG, Controller  # noqa: E402
from devtools import sandbox  # noqa: E402
from pbx.ami import Event  # noqa: E402
from pbx.ami_client import AmiClient  # noqa: E402
from devtools.phones import PhoneBank, PhoneSpec  # noqa: E402

NOTICEABLE_MS = 100.0


class Marks:
    """Asterisk timestamps of the caller channel's answer and its first music on hold."""

    def __init__(self, secret: str) -> None:
        self.answered: dict[str, float] = {}
        self.on_hold: dict[str, float] = {}
        self.client = AmiClient("127.0.0.1", 5038, sandbox.LAB_AMI_USER, secret, on_event=self.on_event)

    def on_event(self, event: Event) -> None:
        channel = event.get("Channel")
        if not channel.startswith("PJSIP/carrier-"):
            return
        if event.name == "Newstate" and event.get("ChannelState") == "6":
            self.answered.setdefault(event.get("Linkedid"), float(event.get("Timestamp")))
        elif event.name == "MusicOnHoldStart":
            self.on_hold.setdefault(event.get("Linkedid"), float(event.get("Timestamp")))


def greeting_seconds(paths: sandbox.SandboxPaths, name: str) -> float:
    for folder in ("usr/share/asterisk/sounds", "usr/share/asterisk/sounds/en", "var/lib/asterisk/sounds"):
        path = paths.root / folder / f"{name}.wav"
        if path.exists():
            with wave.open(str(path)) as w:
                return w.getnframes() / w.getframerate()
    raise SystemExit(f"greeting {name}.wav not found in the sandbox: run `hotline_pbx.py prompts build`")


async def run(calls: int) -> None:
    from ivr.intake import GREETING

    paths = sandbox.SandboxPaths()
    base = hotline_config.load(SANDBOX_CONFIG, env={})
    greeting = greeting_seconds(paths, GREETING)
    with tempfile.TemporaryDirectory(prefix="hotline-bench-") as tmp:
        config = dataclasses.replace(
            base, http=dataclasses.replace(base.http, port=0),
            asterisk=dataclasses.replace(base.asterisk, ami_secret_file=str(paths.ami_secret_file)),
            store=dataclasses.replace(base.store, url=f"sqlite+aiosqlite:///{tmp}/bench.db",
                                      journal=f"{tmp}/journal.jsonl"))
        controller = Controller(config)
        await controller.start()
        marks = Marks(sandbox.ami_secret(paths))
        marks_task = asyncio.create_task(marks.client.run())
        bank = PhoneBank(Path(tmp) / "phones")
        added: list[float] = []
        try:
            await marks.client.wait_connected(10)
            await controller.ami.client.wait_connected(10)
            citizen = await bank.add(PhoneSpec("citizen", "13800001234", "测试"))
            for n in range(calls):
                before = set(marks.on_hold)
                await citizen.dial("12345")
                for _ in range(200):
                    if set(marks.on_hold) - before:
                        break
                    await asyncio.sleep(0.05)
                [linkedid] = set(marks.on_hold) - before
                gap = marks.on_hold[linkedid] - marks.answered[linkedid]
                added.append((gap - greeting) * 1000)
                print(f"  call {n + 1:2d}: answer → music on hold {gap * 1000:7.1f} ms, "
                      f"greeting {greeting * 1000:.0f} ms, added {added[-1]:6.1f} ms", flush=True)
                await citizen.hangup()
                await citizen.wait_event("CALL_CLOSED", timeout=10)
                await asyncio.sleep(0.3)
        finally:
            await bank.close()
            await controller.stop()
            marks_task.cancel()
    median = statistics.median(added)
    p90 = statistics.quantiles(added, n=10)[-1] if len(added) >= 2 else added[0]
    print(f"intake gap over {calls} calls: added silence median {median:.1f} ms, p90 {p90:.1f} ms "
          f"(baseline: the greeting alone, {greeting * 1000:.0f} ms, adds 0 ms; "
          f"target < {NOTICEABLE_MS:.0f} ms: {'met' if p90 < NOTICEABLE_MS else 'NOT met'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10)
    asyncio.run(run(parser.parse_args().calls))


if __name__ == "__main__":
    main()
