"""Recordings converted in the worker pool: conversions per minute on this machine, and the
controller's event-loop lag while a burst of N calls' recordings (default 200) is converted
(issue 19's target: loop lag p99 <= 20 ms while converting).

N WAVs like MixMonitor's (8 kHz, 16-bit, mono, `--seconds` long, default 60: two tones that come
and go plus a little noise, made once and copied) sit in a temporary monitor directory, and N
call records in a temporary SQLite store point at them. A ticker task sleeps 5 ms again and
again on the loop; its lag is how late it wakes (actual - intended). Three runs, one process:

1. idle (the baseline): the loop with nothing but the ticker, `--idle` seconds.
2. on the loop (the second baseline, why the pool exists): `--inline` of the same files
   (default 5) converted by calling media.convert directly between ticks.
3. the pool: a Converter (`--workers` processes, default 2, started lazily as the controller
   starts them) run as the controller runs it (Converter.run: look, wait for a conversion to
   end or the poll, look again) until every recording is converted. Its start-up is measured.

Printed: conversions per minute, seconds in all, lag p50/p99/max during the conversions and the
p99's ratio to the idle baseline's, whether the target is met, the mean compression (WAV bytes /
converted bytes), the CPU count and how the machine's CPU was spent (the pool is niced, so other
work at normal priority shows apart: a run that shared the machine is flagged, its figures are
not this machine's; on a VM, time stolen by the host is shown too). At the end every row must be
`done` (converted, verified, hashed, the original deleted); failures are printed, and then no
speed is reported for them.

    .venv/bin/python bench/recordings_convert.py [--count 200] [--seconds 60] [--workers 2]
                                                 [--format opus] [--quick]
"""

from __future__ import annotations

import argparse
import array
import asyncio
import logging
import math
import os
import random
import shutil
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recordings import media  # noqa: E402
from recordings.config import FORMATS, RecordingsConfig  # noqa: E402
from recordings.naming import converted_name, recording_name  # noqa: E402
from recordings.store import DONE, FAILED, RecordingStore  # noqa: E402
from recordings.worker import Converter, ConverterFigures  # noqa: E402
from tickets.schema import call_records  # noqa: E402
from tickets.store import CallRecordStore  # noqa: E402

RATE = 8000  # MixMonitor's WAV for a narrowband call: 8 kHz, 16-bit, mono
TICK = 0.005  # seconds the ticker sleeps
TARGET_P99 = 0.020  # seconds: issue 19
OTHERS_LIMIT = 0.05  # of the machine's CPU used by other work, beyond which a run is not this machine's figure
MS = 1000.0


def make_wav(path: Path, seconds: float) -> None:
    """Two tones (350 and 1100 Hz) that come and go like talk, plus noise at about -50 dBFS:
    not silence, and not so regular that the encoder has nothing to do."""
    rng = random.Random(19)
    samples = array.array("h")
    step = 2 * math.pi / RATE
    for n in range(int(seconds * RATE)):
        t = n / RATE
        talk = 0.5 + 0.5 * math.sin(2 * math.pi * 0.7 * t) * math.sin(2 * math.pi * 3.1 * t)  # syllables
        value = talk * (2600 * math.sin(350 * step * n) + 1600 * math.sin(1100 * step * n)) + rng.gauss(0, 100)
        samples.append(max(-32768, min(32767, int(value))))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(samples.tobytes())


class Ticker:
    """How late the loop wakes a task that sleeps TICK: (seconds since start, lag) samples."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._task: asyncio.Task[None] | None = None
        self._began = 0.0

    async def _run(self) -> None:
        while True:
            intended = time.perf_counter() + TICK
            await asyncio.sleep(TICK)
            now = time.perf_counter()
            self.samples.append((now - self._began, now - intended))

    def start(self) -> None:
        self.samples.clear()
        self._began = time.perf_counter()
        self._task = asyncio.create_task(self._run(), name="lag-ticker")

    async def stop(self) -> list[tuple[float, float]]:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return list(self.samples)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def lag_figures(samples: list[tuple[float, float]]) -> dict[str, float]:
    lags = [lag for _, lag in samples]
    return {"n": len(lags), "p50": quantile(lags, 0.50), "p99": quantile(lags, 0.99), "max": max(lags)}


def lag_line(figures: dict[str, float]) -> str:
    return (f"lag p50 {figures['p50'] * MS:6.2f} ms  p99 {figures['p99'] * MS:6.2f} ms  "
            f"max {figures['max'] * MS:7.1f} ms  ({figures['n']} ticks)")


@dataclass(frozen=True)
class CpuShares:
    """Of all the machine's CPU time over a run (Linux's /proc/stat)."""

    busy: float
    others: float  # user time at normal priority not of this process: other work on the machine (the pool is niced)
    steal: float  # taken by the hypervisor for other guests

    def __str__(self) -> str:
        return f"busy {self.busy * 100:.0f} %, others {self.others * 100:.0f} %, stolen {self.steal * 100:.1f} %"


class CpuMeter:
    def __init__(self) -> None:
        self._fields, self._own = self._read(), os.times().user

    @staticmethod
    def _read() -> list[int] | None:
        try:  # user nice system idle iowait irq softirq steal (guest time is in user already)
            return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        except (OSError, ValueError):
            return None

    def shares(self) -> CpuShares | None:
        after, before = self._read(), self._fields
        if before is None or after is None or len(after) < 8 or sum(after) <= sum(before):
            return None
        delta = [a - b for a, b in zip(after, before)]
        total = sum(delta)
        own = (os.times().user - self._own) * os.sysconf("SC_CLK_TCK")
        return CpuShares((total - delta[3] - delta[4]) / total, max(0.0, delta[0] - own) / total, delta[7] / total)


async def calls(store: CallRecordStore, monitor: Path, template: Path, count: int, seconds: float) -> int:
    """`count` WAVs under monitor/YYYYMMDD/ and their call records (answered, ended a minute ago)."""
    ended = datetime.now(timezone.utc) - timedelta(minutes=1)
    rows = []
    for n in range(count):
        linkedid = f"1700000000.{n}"
        arrived = ended - timedelta(seconds=seconds + 30)
        name = recording_name(linkedid, arrived)
        (monitor / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, monitor / name)
        rows.append({"linkedid": linkedid, "caller_number": f"138{n:08d}", "dialed_number": "12345",
                     "arrived_at": arrived, "answered_at": arrived + timedelta(seconds=30), "ended_at": ended,
                     "disposition": "answered", "recording": name, "desk": "general", "agent": f"a{n % 40}",
                     "queue_wait": 12.0, "talk_time": seconds})
    async with store.engine.begin() as conn:
        await conn.execute(call_records.insert(), rows)
    return len(rows)


def disturbed(cpu: CpuShares | None) -> bool:
    """Whether other work shared the machine: then no figure is this machine's."""
    return cpu is not None and cpu.others > OTHERS_LIMIT


async def idle_run(seconds: float) -> tuple[dict[str, float], CpuShares | None]:
    ticker, cpu = Ticker(), CpuMeter()
    ticker.start()
    await asyncio.sleep(seconds)
    return lag_figures(await ticker.stop()), cpu.shares()


async def inline_run(template: Path, folder: Path, count: int, fmt: str,
                     bitrate: str) -> tuple[dict[str, float], float]:
    """`count` conversions called on the loop itself, a quarter second of ticks between them:
    (the lag, seconds per conversion)."""
    originals = []
    for n in range(count):
        originals.append(folder / f"inline-{n}.wav")
        shutil.copyfile(template, originals[-1])
    import pydub  # noqa: F401  # imported before the ticks: the import is not what is measured
    ticker = Ticker()
    ticker.start()
    await asyncio.sleep(0.25)
    spent = 0.0
    for original in originals:
        started = time.perf_counter()
        media.convert(str(original), str(original.with_suffix(FORMATS[fmt][2])), fmt, bitrate)  # blocks the loop
        spent += time.perf_counter() - started
        await asyncio.sleep(0.25)
    return lag_figures(await ticker.stop()), spent / count


@dataclass
class PoolRun:
    elapsed: float  # seconds from the Converter's start to the last conversion stored
    samples: list[tuple[float, float]]  # the ticker's (at, lag)
    figures: ConverterFigures
    first_done: float | None  # seconds to the first conversion stored (the pool's start-up in it)
    process_cpu: float  # CPU seconds of the controller's process (the loop and its threads)
    cpu: CpuShares | None  # the whole machine's


async def pool_run(store: RecordingStore, config: RecordingsConfig, count: int) -> PoolRun:
    """The Converter as the controller runs it, until `count` recordings are converted or failed
    (or nothing happens for two minutes)."""
    converter = Converter(store, config)
    ticker = Ticker()
    cpu, process_before = CpuMeter(), time.process_time()
    ticker.start()
    started = time.perf_counter()
    first_done: float | None = None
    runner = asyncio.create_task(converter.run(), name="converter")
    progress, progressed = 0, time.perf_counter()
    while True:
        figures = converter.figures
        done = figures.converted + figures.failed
        if done and first_done is None:
            first_done = time.perf_counter() - started
        if done != progress:
            progress, progressed = done, time.perf_counter()
        if done >= count or time.perf_counter() - progressed > 120:
            break
        await asyncio.sleep(0.05)
    await converter.idle()
    elapsed = time.perf_counter() - started
    samples = await ticker.stop()
    process_cpu, shares = time.process_time() - process_before, cpu.shares()
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    await converter.close()
    return PoolRun(elapsed, samples, converter.figures, first_done, process_cpu, shares)


async def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    cpus, usable = os.cpu_count(), len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="bench-recordings-") as tmp_name:
        tmp = Path(tmp_name)
        monitor, converted, inline = tmp / "monitor", tmp / "converted", tmp / "inline"
        for folder in (monitor, converted, inline):
            folder.mkdir(mode=0o700)
        template = tmp / "template.wav"
        make_wav(template, args.seconds)
        wav_bytes = template.stat().st_size
        store = CallRecordStore(f"sqlite+aiosqlite:///{tmp}/bench.db")
        await store.open()
        try:
            await calls(store, monitor, template, args.count, args.seconds)
            config = RecordingsConfig(monitor_dir=str(monitor), store_dir=str(converted), workers=args.workers,
                                      format=args.format, bitrate=args.bitrate, max_attempts=1)  # a failure is final
            print(f"recordings: {args.count} calls of {args.seconds:.0f} s (WAV 8 kHz 16-bit mono, "
                  f"{wav_bytes / 1e6:.2f} MB each) to {args.format} {args.bitrate}; {args.workers} worker(s); "
                  f"{cpus} CPUs ({usable} usable); Python {sys.version.split()[0]}", flush=True)

            idle, idle_cpu = await idle_run(args.idle)
            print(f"  idle loop (baseline), {args.idle:.0f} s:        {lag_line(idle)}; CPU {idle_cpu or '?'}",
                  flush=True)
            if args.inline:
                on_loop, each = await inline_run(template, inline, args.inline, args.format, args.bitrate)
                print(f"  {args.inline} converted ON the loop:           {lag_line(on_loop)}; "
                      f"{each:.2f} s each ({60 / each:.0f}/min on one core)", flush=True)

            run = await pool_run(RecordingStore(store.engine), config, args.count)
            recordings = RecordingStore(store.engine)
            counts = await recordings.counts()
            failed = await recordings.listing(state=FAILED, limit=args.count)
            done = await recordings.listing(state=DONE, limit=args.count)
            figures, lag, elapsed = run.figures, lag_figures(run.samples), run.elapsed
            print(f"  {args.count} converted in the pool ({args.workers} workers):", flush=True)
            print(f"      {lag_line(lag)}; p99 ratio to idle {lag['p99'] / idle['p99']:.1f}x; "
                  f"target p99 <= {TARGET_P99 * MS:.0f} ms: {'met' if lag['p99'] <= TARGET_P99 else 'NOT met'}")
            worst = sorted(run.samples, key=lambda s: s[1], reverse=True)[:5]
            print("      longest stalls: " + ", ".join(f"{lag_ms * MS:.0f} ms at {at:.1f} s" for at, lag_ms in worst))
            after_start = [s for s in run.samples if s[0] >= 2.0]
            if after_start:
                print(f"      from 2 s on (the pool started): {lag_line(lag_figures(after_start))}")
            print(f"      first conversion done after {run.first_done or 0:.2f} s; CPU {run.cpu or '?'}; the "
                  f"controller's process used {run.process_cpu:.1f} s CPU ({run.process_cpu / elapsed * 100:.0f} % "
                  f"of one core)")

            broken = counts.get(DONE, 0) != args.count or bool(failed) or bool(figures.silent)
            sizes = [r.size for r in done if r.size]
            left = sum(1 for r in done if (monitor / r.original).exists())
            wrong_length = [r.linkedid for r in done if r.duration is None or abs(r.duration - args.seconds) > 0.5]
            missing = [r.linkedid for r in done if not (converted / converted_name(r.original, config.suffix)).exists()]
            broken = broken or bool(left or wrong_length or missing)
            print(f"      states {dict(sorted(counts.items()))}; silent {figures.silent}; "
                  f"originals left behind {left}; wrong length {len(wrong_length)}; converted file missing "
                  f"{len(missing)}")
            for recording in failed[:20]:
                print(f"      FAILED {recording.linkedid}: {recording.error}")
            if broken:
                print("  NOT every recording was converted as it should be: no speed is reported")
                return 1
            per_minute = args.count / elapsed * 60
            mean_size = sum(sizes) / len(sizes)
            print(f"      {per_minute:.0f} conversions/min ({elapsed:.1f} s for {args.count}; "
                  f"{args.count * args.seconds / elapsed:.0f} s of audio per second)")
            if args.inline:
                print(f"      {per_minute / (60 / each):.2f}x the conversions on the loop (one core)")
            print(f"      compression: WAV {wav_bytes / 1e3:.0f} kB -> {mean_size / 1e3:.1f} kB mean, "
                  f"{wav_bytes / mean_size:.1f}x")
            if disturbed(idle_cpu) or disturbed(run.cpu):
                print(f"  WARNING: other work used more than {OTHERS_LIMIT * 100:.0f} % of the machine meanwhile "
                      f"(load average {', '.join(f'{v:.1f}' for v in os.getloadavg())}): these figures are not "
                      f"this machine's; run again when it is quiet")
            return 0
        finally:
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200, help="calls' recordings in the burst")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each call")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--format", choices=sorted(FORMATS), default="opus")
    parser.add_argument("--bitrate", default="24k")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of the idle baseline")
    parser.add_argument("--inline", type=int, default=5, help="conversions on the loop (0: none)")
    parser.add_argument("--quick", action="store_true", help="20 calls, a 2 s idle baseline, 2 on the loop")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.count, arguments.idle, arguments.inline = 20, 2.0, 2
    if not shutil.which("ffmpeg"):
        print("bench: ffmpeg is not installed (scripts/install.sh)", file=sys.stderr)
        sys.exit(2)
    sys.exit(asyncio.run(main(arguments)))
