"""The headline, measured: this controller's ACD against Asterisk's app_queue, same traffic.

Three desks on the real sandbox, seeded traffic (Poisson arrivals per desk, log-normal talk
times, callers whose patience runs out, a share of them hanging up within seconds), agents with
mixed skills at levels 1-5 in several desks, the same wrap-up everywhere:

  desk        number  ACD (this controller)                      app_queue, as a center sets it up
  general     12345   any agent with the general skill           queue bench-*-general, penalty 5 - level
  market      12315   level >= 3; after 6 s any market agent     QUEUE_MAX_PENALTY 2; after 6 s
                      and the general pool                       (Queue timeout) the general queue
  enterprise  12366   level >= 4; after 4 s >= 2; after 12 s     QUEUE_MAX_PENALTY 1, queue rule: 3
                      the general pool; key enterprises          after 4 s; after 12 s the general
                      (caller 057188886666) first, hotline-wide  queue; key enterprises QUEUE_PRIO

Both play the same greeting (7.8 s) before queueing; callers and agents are Local channels
(the agents answer at once and stay until the caller ends the call: the caller's seeded talk
time). app_queue runs twice, with retry = 1 and with its default retry = 5 (devtools/sandbox.py
writes the queues, the contexts and the queue rule). The controller runs in-process as in
bench/call_storm.py, with callbacks that never ring (business hours that never come).

One piece of code measures both, on the caller side, from the bench's own AMI connection: the
caller arrives (Newchannel of the Local caller, Asterisk's timestamp), is connected (its first
BridgeEnter: the agent answered), hangs up (Hangup). The bench ends each call: at the seeded
patience if nobody answered, after the seeded talk time if an agent did.

Figures, per desk and overall (../shared/MISSION.md): offered = calls minus short abandons
(gone within 5 s of arriving, unanswered); 15 s level = answered within 15 s of arriving /
offered; 接通率 = answered / offered; ASA = mean wait of answered calls; wait p90 over
answered calls; abandons. Then the ACD runs again with one and two agents fewer and says
whether it still reaches app_queue's 15 s level.

    .venv/bin/python bench/service_level.py [--seed 7] [--minutes 2.5] [--load 0.85] [--agents 12]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import math
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import hotline_config  # noqa: E402
from acd import events as ev  # noqa: E402
from acd.desks import AcdConfig, AgentConfig, Desk  # noqa: E402
from acd.routing import OverflowStep  # noqa: E402
from devtools import sandbox  # noqa: E402
from devtools.sandbox import (SL_ENTERPRISE, SL_KEY_ENTERPRISE, SL_MARKET, SL_NUMBERS,  # noqa: E402
                              SL_WRAP_UP)
from hotline_config import CallbacksConfig  # noqa: E402
from hotline_pbx import SANDBOX_CONFIG, Controller  # noqa: E402
from pbx.ami import Event  # noqa: E402
from pbx.ami_client import AmiClient, AmiError  # noqa: E402

DESKS = ("general", "market", "enterprise")
SHARE = {"general": 0.5, "market": 0.3, "enterprise": 0.2}  # of the offered load
KEY_SHARE = 0.4  # of the enterprise desk's calls: key enterprises
TALK_MEDIAN, TALK_SIGMA, TALK_RANGE = 16.0, 0.5, (5.0, 60.0)  # seconds, log-normal
SHORT_SHARE, SHORT_RANGE = 0.06, (1.0, 4.5)  # callers gone within seconds (秒挂)
PATIENCE_FLOOR, PATIENCE_MEAN, PATIENCE_CAP = 8.0, 35.0, 120.0  # through the greeting, then exp.
SHORT_ABANDON = 5.0
TARGET = 15.0
AGENT_CONTEXT = "hotline-bench-sl-agent"
# a cycle of twelve agents with mixed skills; --agents N takes the first N (N-1, N-2 drop the last)
SKILLS: tuple[dict[str, int], ...] = (
    {"general": 4}, {"market": 5, "general": 2}, {"enterprise": 5}, {"general": 3},
    {"market": 4}, {"enterprise": 4, "general": 3}, {"general": 5, "enterprise": 3},
    {"market": 3, "general": 2}, {"general": 3}, {"enterprise": 2, "market": 2},
    {"enterprise": 3, "market": 3, "general": 2}, {"market": 2, "general": 1},
)


@dataclasses.dataclass(frozen=True, slots=True)
class Call:
    n: int
    at: float  # seconds after the start
    desk: str
    number: str  # the caller's
    patience: float
    talk: float


def traffic(seed: int, minutes: float, load: float, agents: int) -> list[Call]:
    """Poisson arrivals per desk at `load` of the agents' capacity (talk + wrap-up)."""
    rng = random.Random(seed)
    mean_talk = TALK_MEDIAN * math.exp(TALK_SIGMA ** 2 / 2)
    rate = load * agents / (mean_talk + SL_WRAP_UP)  # calls per second, the whole hotline
    calls: list[tuple[float, str]] = []
    for desk in DESKS:
        t = 0.0
        desk_rng = random.Random(f"{seed}-{desk}")
        while True:
            t += desk_rng.expovariate(rate * SHARE[desk])
            if t >= minutes * 60:
                break
            calls.append((t, desk))
    out = []
    for n, (t, desk) in enumerate(sorted(calls)):
        talk = min(max(rng.lognormvariate(math.log(TALK_MEDIAN), TALK_SIGMA), TALK_RANGE[0]), TALK_RANGE[1])
        if rng.random() < SHORT_SHARE:
            patience = rng.uniform(*SHORT_RANGE)
        else:
            patience = min(PATIENCE_FLOOR + rng.expovariate(1 / PATIENCE_MEAN), PATIENCE_CAP)
        key = desk == "enterprise" and rng.random() < KEY_SHARE
        out.append(Call(n, t, desk, SL_KEY_ENTERPRISE if key else f"139{seed % 100:02d}{n:06d}",
                        round(patience, 2), round(talk, 2)))
    return out


def agent_configs(agents: int) -> list[AgentConfig]:
    return [AgentConfig(f"sl{i + 1:02d}", f"坐席{i + 1}", f"Local/sl{i + 1:02d}@{AGENT_CONTEXT}", str(7100 + i), "0",
                        SKILLS[i % len(SKILLS)]) for i in range(agents)]


def acd_config(agents: int) -> AcdConfig:
    m_level, m_after = SL_MARKET
    e_level, e_after1, e_level2, e_after2 = SL_ENTERPRISE
    desks = (
        Desk("general", "综合受理", "general", wrap_up=SL_WRAP_UP, max_queue=500),
        Desk("market", "市场监管", "market", wrap_up=SL_WRAP_UP, max_queue=500,
             steps=(OverflowStep(0.0, m_level), OverflowStep(m_after, 1, True))),
        Desk("enterprise", "营商环境", "enterprise", wrap_up=SL_WRAP_UP, max_queue=500,
             steps=(OverflowStep(0.0, e_level), OverflowStep(e_after1, e_level2),
                    OverflowStep(e_after2, 1, True))),
    )
    return AcdConfig(desks=desks, agents=tuple(agent_configs(agents)), numbers=dict(SL_NUMBERS),
                     ring_timeout=15, short_abandon=SHORT_ABANDON)


@dataclasses.dataclass
class Lived:
    """What one caller lived, from the bench's AMI events (Asterisk's timestamps)."""

    call: Call
    arrived: float | None = None
    bridged: float | None = None
    ended: float | None = None
    channel: str = ""


class Caller:
    """The carrier and the citizens: places the calls and watches them, the same for both systems."""

    def __init__(self, secret: str) -> None:
        self.client = AmiClient("127.0.0.1", 5038, sandbox.LAB_AMI_USER, secret, on_event=self.on_event,
                                ping_interval=30.0, ping_timeout=30.0, action_timeout=30.0,
                                action_id_prefix="sl")
        self.lives: dict[str, Lived] = {}  # uniqueid of either half of the caller's Local -> lived
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.errors: Counter[str] = Counter()
        self.done = asyncio.Event()
        self.pending = 0

    def on_event(self, event: Event) -> None:
        lived = self.lives.get(event.get("Uniqueid"))
        if lived is None:
            return
        stamp = float(event.get("Timestamp") or time.time())
        if event.name == "Newchannel":
            if lived.arrived is None:
                lived.arrived = stamp
                lived.channel = event.get("Channel")  # ;1, the citizen's end (runs Wait)
                self._later(lived, lived.call.patience)
        elif event.name == "BridgeEnter" and lived.bridged is None and lived.ended is None:
            lived.bridged = stamp
            self._later(lived, lived.call.talk)
        elif event.name == "Hangup" and lived.ended is None:
            lived.ended = stamp
            timer = self.timers.pop(lived.channel, None)
            if timer is not None:
                timer.cancel()
            self.pending -= 1
            if self.pending <= 0:
                self.done.set()

    def _later(self, lived: Lived, seconds: float) -> None:
        old = self.timers.pop(lived.channel, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self.timers[lived.channel] = loop.call_later(seconds, self._hang_up, lived)

    def _hang_up(self, lived: Lived) -> None:
        self.timers.pop(lived.channel, None)
        if lived.ended is None:
            self._spawn(self._send("Hangup", {"Channel": lived.channel, "Cause": "16"}))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _send(self, action: str, headers: dict[str, str]) -> None:
        try:
            await self.client.send_action(action, headers)
        except AmiError as exc:
            self.errors[f"{action}: {str(exc)[:60]}"] += 1

    async def place(self, calls: list[Call], target: str, tag: str) -> list[Lived]:
        """Originate each call at its time into `target` (a context); wait until all ended."""
        self.done.clear()
        placed: list[Lived] = []
        self.pending = len(calls)
        t0 = time.monotonic()
        for call in calls:
            if (delay := t0 + call.at - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            number = next(k for k, v in SL_NUMBERS.items() if v == call.desk)
            a, b = f"{tag}-{call.n:05d}-1", f"{tag}-{call.n:05d}-2"
            lived = Lived(call)
            self.lives[a] = self.lives[b] = lived
            placed.append(lived)
            self._spawn(self._originate(lived, {
                "Channel": f"Local/{number}@{target}/n", "Application": "Wait", "Data": "3600",
                "CallerID": f'"市民" <{call.number}>', "Async": "true", "ChannelId": a, "OtherChannelId": b}))
        sent = time.monotonic() - t0
        longest = PATIENCE_CAP + TALK_RANGE[1] + 60
        try:
            await asyncio.wait_for(self.done.wait(), longest)
        except TimeoutError:
            self.errors[f"{self.pending} calls still up {longest:.0f} s after the last was placed"] += 1
        print(f"  {len(calls)} calls placed in {sent:.0f} s, all ended after {time.monotonic() - t0:.0f} s", flush=True)
        return placed

    async def _originate(self, lived: Lived, headers: dict[str, str]) -> None:
        try:
            await self.client.send_action("Originate", headers)
        except AmiError as exc:
            self.errors[f"Originate: {str(exc)[:60]}"] += 1
            lived.ended = lived.ended or time.time()
            self.pending -= 1
            if self.pending <= 0:
                self.done.set()


@dataclasses.dataclass
class Figures:
    calls: int = 0
    offered: int = 0
    answered: int = 0
    in_target: int = 0
    abandoned: int = 0
    short: int = 0
    waits: list[float] = dataclasses.field(default_factory=list)

    @property
    def level(self) -> float:
        return 100 * self.in_target / self.offered if self.offered else 0.0

    @property
    def rate(self) -> float:
        return 100 * self.answered / self.offered if self.offered else 0.0

    @property
    def asa(self) -> float:
        return statistics.fmean(self.waits) if self.waits else 0.0

    @property
    def p90(self) -> float:
        if len(self.waits) < 2:
            return self.waits[0] if self.waits else 0.0
        return statistics.quantiles(self.waits, n=10, method="inclusive")[-1]


def tally(lives: list[Lived]) -> dict[str, Figures]:
    out = {d: Figures() for d in (*DESKS, "all")}
    for lived in lives:
        for key in (lived.call.desk, "all"):
            f = out[key]
            f.calls += 1
            if lived.arrived is None or lived.ended is None:
                f.offered += 1  # never seen: lost
                f.abandoned += 1
                continue
            if lived.bridged is None:
                if lived.ended - lived.arrived < SHORT_ABANDON:
                    f.short += 1
                    continue
                f.offered += 1
                f.abandoned += 1
                continue
            wait = lived.bridged - lived.arrived
            f.offered += 1
            f.answered += 1
            f.waits.append(wait)
            if wait <= TARGET:
                f.in_target += 1
    return out


async def quiet(paths: sandbox.SandboxPaths) -> None:
    """No channel left from an earlier run (ours: the sandbox is the bench's while it runs)."""
    for _ in range(100):
        if "0 active channels" in await asyncio.to_thread(sandbox.cli, paths, "core show channels count"):
            return
        await asyncio.sleep(0.2)
    await asyncio.to_thread(sandbox.cli, paths, "channel request hangup all")
    await asyncio.sleep(2)


def ensure_bench_config(paths: sandbox.SandboxPaths) -> None:
    """The sandbox's queues, contexts and queue rule for this bench; installed and reloaded if
    the running sandbox predates them."""
    def shows(command: str, text: str) -> bool:
        try:
            return text in sandbox.cli(paths, command)
        except sandbox.SandboxError:
            return False

    if shows("queue show bench-r5-enterprise", "bench-r5-enterprise has") and \
            shows(f"dialplan show {AGENT_CONTEXT}", f"'{AGENT_CONTEXT}'") and \
            shows("dialplan show hotline-bench-aq-r5", "'hotline-bench-aq-r5'") and \
            shows("queue show rules bench-enterprise", "bench-enterprise"):
        return
    print("installing the bench's queues and contexts into the running sandbox", flush=True)
    sandbox.install_conf(paths)
    sandbox.cli(paths, "module reload app_queue.so")
    sandbox.cli(paths, "dialplan reload")
    time.sleep(1)


async def run_acd(caller: Caller, calls: list[Call], agents: int, tag: str) -> tuple[list[Lived], Counter[str]]:
    paths = sandbox.SandboxPaths()
    base = hotline_config.load(SANDBOX_CONFIG, env={})
    acd = acd_config(agents)
    seen: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="hotline-sl-") as tmp:
        config = dataclasses.replace(
            base, acd=acd, http=dataclasses.replace(base.http, port=0),
            # lost calls wait for business hours that never come: no callback rings a bench agent
            callbacks=CallbacksConfig(business_hours="00:00-00:00"),
            intake=dataclasses.replace(base.intake, key_enterprises=frozenset({SL_KEY_ENTERPRISE}),
                                       enterprise_desk="enterprise", survey=False, callback_offer_after=0,
                                       night=None, menus=()),
            asterisk=dataclasses.replace(base.asterisk, ami_secret_file=str(paths.ami_secret_file)),
            store=dataclasses.replace(base.store, url=f"sqlite+aiosqlite:///{tmp}/sl.db",
                                      journal=f"{tmp}/journal.jsonl"))
        await asyncio.to_thread(sandbox.cli, paths, "database deltree hotline-journal")
        controller = Controller(config)
        apply = controller.engine._apply

        def counted(message: Any) -> list[Any]:
            if isinstance(message, ev.CallQueued):
                seen[f"queued {message.desk}{' key' if message.priority == 1 else ''}"] += 1
            elif isinstance(message, ev.AmiLinkDown):
                seen["AMI link down"] += 1
            return apply(message)

        controller.engine._apply = counted  # type: ignore[method-assign]
        await controller.start()
        await controller.ami.client.wait_connected(10)
        for a in acd.agents:
            await controller.engine.request("login", a.agent_id)
            await controller.engine.request("ready", a.agent_id)
        await controller.engine.drained()
        await asyncio.sleep(1.5)  # first resync and heartbeat before the first caller
        try:
            lives = await caller.place(calls, "from-trunk", tag)
        finally:
            await controller.writer.flush()
            await controller.stop()
    return lives, seen


async def run_app_queue(caller: Caller, calls: list[Call], agents: int, variant: str,
                        tag: str) -> list[Lived]:
    members: list[tuple[str, str, int]] = []
    for a in agent_configs(agents):
        for skill, level in a.skills.items():
            members.append((f"bench-{variant}-{skill}", a.device, 5 - level))
    for queue, device, penalty in members:
        await caller.client.send_action("QueueAdd", {"Queue": queue, "Interface": device,
                                                     "Penalty": str(penalty), "MemberName": device.split("@")[0][6:]})
    try:
        return await caller.place(calls, f"hotline-bench-aq-{variant}", tag)
    finally:
        for queue, device, _ in members:
            try:
                await caller.client.send_action("QueueRemove", {"Queue": queue, "Interface": device})
            except AmiError:
                pass


def show(title: str, results: dict[str, dict[str, Figures]], names: list[str]) -> None:
    print(f"\n{title}")
    head = f"  {'desk':<11}{'system':<22}{'calls':>6}{'offered':>8}{'short':>6}{'answered':>9}" \
           f"{'15 s level':>11}{'接通率':>8}{'ASA s':>7}{'p90 s':>7}{'abandons':>9}"
    print(head)
    for desk in (*DESKS, "all"):
        for name in names:
            f = results[name][desk]
            print(f"  {desk:<11}{name:<22}{f.calls:>6}{f.offered:>8}{f.short:>6}{f.answered:>9}"
                  f"{f.level:>10.1f}%{f.rate:>8.1f}%{f.asa:>7.1f}{f.p90:>7.1f}{f.abandoned:>9}")


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


async def main_async(args: argparse.Namespace) -> int:
    started = time.monotonic()
    paths = sandbox.SandboxPaths()
    if sandbox.asterisk_pid(paths) is None:
        print("the sandbox is not running: .venv/bin/python hotline_pbx.py sandbox up")
        return 2
    await asyncio.to_thread(ensure_bench_config, paths)
    calls = traffic(args.seed, args.minutes, args.load, args.agents)
    per_desk = Counter(c.desk for c in calls)
    print(f"seed {args.seed}, {args.minutes} min of arrivals at load {args.load} for {args.agents} agents: "
          f"{len(calls)} calls ({', '.join(f'{d} {per_desk[d]}' for d in DESKS)}; "
          f"{sum(c.number == SL_KEY_ENTERPRISE for c in calls)} key enterprises); talk median {TALK_MEDIAN:.0f} s, "
          f"wrap-up {SL_WRAP_UP} s, {sum(c.patience < SHORT_ABANDON for c in calls)} callers hang up within "
          f"{SHORT_ABANDON:.0f} s", flush=True)
    caller = Caller(sandbox.ami_secret(paths))
    caller_task = asyncio.create_task(caller.client.run(), name="caller")
    await caller.client.wait_connected(10)
    results: dict[str, dict[str, Figures]] = {}
    notes: dict[str, Counter[str]] = {}
    plan: list[tuple[str, str, int]] = [
        (f"ACD, {args.agents} agents", "acd", args.agents),
        (f"app_queue retry=1, {args.agents}", "r1", args.agents),
        (f"app_queue retry=5, {args.agents}", "r5", args.agents),
        (f"ACD, {args.agents - 1} agents", "acd", args.agents - 1),
        (f"ACD, {args.agents - 2} agents", "acd", args.agents - 2),
    ]
    try:
        for i, (name, system, agents) in enumerate(plan):
            await quiet(paths)
            print(f"run {i + 1}/{len(plan)}: {name}  (t+{time.monotonic() - started:.0f} s)", flush=True)
            tag = f"sl{int(time.time()) % 100000}r{i}"
            if system == "acd":
                lives, seen = await run_acd(caller, calls, agents, tag)
                notes[name] = seen
            else:
                lives = await run_app_queue(caller, calls, agents, system, tag)
            results[name] = tally(lives)
            f = results[name]["all"]
            print(f"  15 s level {f.level:.1f}%, 接通率 {f.rate:.1f}%, ASA {f.asa:.1f} s, p90 {f.p90:.1f} s, "
                  f"abandons {f.abandoned}", flush=True)
    finally:
        await caller.client.close()
        await caller_task
    acd, r1, r5 = plan[0][0], plan[1][0], plan[2][0]
    show(f"Same traffic, {args.agents} agents (seed {args.seed}, load {args.load}, {args.minutes} min):",
         results, [acd, r1, r5])
    print("\nratios ACD / app_queue (15 s level, 接通率: above 1 the ACD serves more; ASA, p90: below 1 it "
          "answers sooner)")
    for desk in (*DESKS, "all"):
        a = results[acd][desk]
        for name in (r1, r5):
            q = results[name][desk]
            print(f"  {desk:<11}vs {name:<22} level {ratio(a.level, q.level):>5}  接通率 {ratio(a.rate, q.rate):>5}"
                  f"  ASA {ratio(a.asa, q.asa):>5}  p90 {ratio(a.p90, q.p90):>5}")
    show("The ACD with fewer agents, same traffic:", results, [plan[3][0], plan[4][0]])
    best = max(results[r1]["all"].level, results[r5]["all"].level)
    print(f"\nagents the ACD needs for app_queue's 15 s level ({best:.1f}%, the better of retry=1 and 5, "
          f"{args.agents} agents):")
    for name, _, agents in (plan[0], plan[3], plan[4]):
        level = results[name]["all"].level
        print(f"  {agents} agents: {level:.1f}% -> {'reaches it' if level >= best else 'does not reach it'}")
    for name, seen in notes.items():
        print(f"  controller saw ({name}): {dict(seen)}")
    if caller.errors:
        print(f"bench errors: {dict(caller.errors)}")
    print(f"runtime {(time.monotonic() - started) / 60:.1f} min")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--minutes", type=float, default=2.5, help="minutes of arrivals per run (five runs)")
    parser.add_argument("--load", type=float, default=0.85, help="offered load per agent (talk + wrap-up)")
    parser.add_argument("--agents", type=int, default=12)
    args = parser.parse_args()
    if args.agents < 3:
        parser.error("--agents must be at least 3 (the ACD also runs with two fewer)")
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
