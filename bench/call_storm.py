"""A call storm on the real sandbox (say a city-wide power cut): N calls to 12345 within S
seconds, A auto-answering agents (Local channels that answer at once and talk 2–4 s).

Every call goes through the real path: FastAGI intake (greeting), the ACD queue in
[hotline-wait], Redirect, Dial. The caller's side is a Local channel running Wait(300): it never
hangs up before the agent, so every storm call should end `answered`. The calls are placed over
a second AMI connection of the bench's own (a carrier does not use the controller's link).

Strict: prints one line per figure and exits non-zero when any of these fails:
  * reconnects of the controller's AMI link during the run (target 0);
  * the longest a caller waited unoffered while an agent with the desk's skill was READY
    (sampled every 50 ms from the controller's own event loop; target <= 1 s);
  * dispositions that disagree with what the caller lived: `answered` without an agent or a
    talk time, or without a CallAnswered effect / DialEnd ANSWER for the call, and a call that
    reached an agent but is recorded otherwise;
  * the desk's answered count above the calls offered to the desk, or unequal to the number of
    distinct calls answered; every storm call in the store exactly once.
Also: controller and Asterisk CPU per call, the controller's event-loop lag, the AMI reader's
backlog (bytes unread in the kernel), event volume, engine time.

    .venv/bin/python bench/call_storm.py [--calls 1000] [--seconds 20] [--agents 50]
        [--record /tmp/storm.ami] [--trace /tmp/storm-facts.txt]

Impatient callers (issue 12): `--patience 2-15 --seed 7` runs the same seeded traffic twice in
one invocation, first with patient callers (the baseline: no offer can race a hang-up), then
with callers who hang up after a seeded random wait, so offers race hang-ups ("Channel does not
exist"). Besides the strict checks it prints, for both runs, the agent-seconds agents sat unused
while a caller waited (READY with the desk's skill, or OFFERED with no ring on their phone: an
offer frozen on, or looping through, failed actions) and the ratio of the two. `--ghosts N` adds, to
the second run, N intake sessions from a local process speaking FastAGI for channels Asterisk
does not have (the ghost callers of issue 12); it prints how often a ghost was offered.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import resource
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import hotline_config  # noqa: E402
from acd import events as ev  # noqa: E402
from acd.acd import CallAnswered, OfferCall  # noqa: E402
from acd.desks import AcdConfig, AgentConfig, Desk  # noqa: E402
from acd.states import AgentState  # noqa: E402
from devtools import sandbox  # noqa: E402
from hotline_config import CallbacksConfig  # noqa: E402
from hotline_pbx import SANDBOX_CONFIG, Controller  # noqa: E402
from pbx.ami_client import AmiClient, AmiError  # noqa: E402

SAMPLE_EVERY = 0.05
MAX_READY_WAIT = 1.0
AMI_PORT_HEX = "13AE"  # 5038


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def asterisk_cpu(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    import os
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def runqueue_wait() -> float:
    """Seconds the controller's main thread waited for a CPU (runnable, not running)."""
    try:
        return int(Path("/proc/thread-self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def asterisk_tx_queue(local_port: int | None) -> int | None:
    """Bytes Asterisk's side of the controller's AMI connection holds unsent or unacked."""
    if local_port is None:
        return None
    want = f":{local_port:04X}"
    try:
        text = Path("/proc/net/tcp").read_text()
    except OSError:
        return None
    for line in text.splitlines()[1:]:
        f = line.split()
        if f[1].endswith(":" + AMI_PORT_HEX) and f[2].endswith(want):
            return int(f[4].split(":")[0], 16)
    return None


def taskprocessor(paths: sandbox.SandboxPaths, name: str) -> tuple[int, int]:
    """(processed, max depth) of an Asterisk taskprocessor (stasis/m:manager:core …)."""
    try:
        out = sandbox.cli(paths, "core show taskprocessors")
    except Exception:
        return 0, 0
    for line in out.splitlines():
        if line.startswith(name):
            parts = line.split()
            return int(parts[1]), int(parts[3])
    return 0, 0


@dataclasses.dataclass
class Watch:
    """What the bench sees from inside the controller's event loop."""

    answered_effects: Counter[str] = dataclasses.field(default_factory=Counter)
    offers: Counter[str] = dataclasses.field(default_factory=Counter)
    queued: dict[str, str] = dataclasses.field(default_factory=dict)  # linkedid -> desk
    dial_answer: set[str] = dataclasses.field(default_factory=set)
    dial_status: dict[str, list[str]] = dataclasses.field(default_factory=lambda: defaultdict(list))
    facts: Counter[str] = dataclasses.field(default_factory=Counter)
    trace: dict[str, list[tuple[float, str]]] = dataclasses.field(default_factory=lambda: defaultdict(list))
    engine_time: float = 0.0
    engine_max: float = 0.0
    ready_wait: dict[str, float] = dataclasses.field(default_factory=dict)  # call -> since (loop time)
    ready_wait_max: dict[str, float] = dataclasses.field(default_factory=dict)
    lag_max: float = 0.0
    backlog_max: int = 0
    backlog_at: float = 0.0
    ast_tx_max: int = 0
    samples: int = 0
    link_down_at: list[float] = dataclasses.field(default_factory=list)
    storm_calls: set[str] = dataclasses.field(default_factory=set)  # linkedids the carrier placed
    unused_agent_seconds: float = 0.0  # agents READY (skilled) or frozen OFFERED while a caller waited
    offers_not_sent: Counter[str] = dataclasses.field(default_factory=Counter)  # caller gone / refused


def _linkedid(obj: Any) -> str:
    return getattr(obj, "linkedid", "") or getattr(obj, "call_id", "") or ""


def tap_engine(controller: Controller, watch: Watch, t0: list[float]) -> None:
    """Time every fact the engine applies and keep, per linkedid, the facts and their effects."""
    engine = controller.engine
    apply = engine._apply

    def timed(message: Any) -> list[Any]:
        started = time.perf_counter()
        effects = apply(message)
        spent = time.perf_counter() - started
        watch.engine_time += spent
        watch.engine_max = max(watch.engine_max, spent)
        kind = type(message).__name__
        watch.facts[kind] += 1
        lid = _linkedid(message)
        if isinstance(message, ev.ChannelCreated) and message.channel.startswith("Local/12345@from-trunk"):
            watch.storm_calls.add(message.linkedid)
        if isinstance(message, ev.CallQueued) and not message.uniqueid.startswith("ghost"):
            watch.queued.setdefault(message.linkedid, message.desk)
        elif isinstance(message, ev.DialEnded):
            watch.dial_status[message.linkedid].append(message.status)
            if message.status == "ANSWER":
                watch.dial_answer.add(message.linkedid)
        elif isinstance(message, ev.OfferNotSent):
            watch.offers_not_sent["caller gone" if getattr(message, "caller_gone", False) else "refused"] += 1
        elif isinstance(message, (ev.AmiLinkDown, ev.AmiLinkUp, ev.ChannelsSnapshot)):
            watch.link_down_at.append(time.monotonic() - t0[0])
        if lid:
            detail = kind
            if isinstance(message, ev.DialEnded):
                detail += f"({message.status} {message.dest_channel})"
            elif isinstance(message, (ev.ChannelHungUp, ev.ChannelStateChanged, ev.ChannelCreated)):
                detail += f"({getattr(message, 'channel', '')})"
            names = [type(e).__name__ + (f"({getattr(e, 'agent_id', '')})" if hasattr(e, "agent_id") else "")
                     for e in effects]
            watch.trace[lid].append((time.monotonic() - t0[0], detail + (" -> " + ", ".join(names) if names else "")))
        elif isinstance(message, ev.ChannelsSnapshot):
            for lid in {c.linkedid for c in message.channels}:
                watch.trace[lid].append((time.monotonic() - t0[0], f"in ChannelsSnapshot ({len(message.channels)} channels)"))
        return effects

    engine._apply = timed  # type: ignore[method-assign]
    engine.observe(CallAnswered, lambda e: watch.answered_effects.update([e.call_id]))
    engine.observe(OfferCall, lambda e: watch.offers.update([e.call_id]))


async def sample(controller: Controller, watch: Watch, stop: asyncio.Event) -> None:
    """Every 50 ms: loop lag, the AMI reader's backlog, callers unoffered while a skilled agent
    is READY (how long that condition has held continuously, per call)."""
    loop = asyncio.get_running_loop()
    acd = controller.engine.acd
    client = controller.ami.client
    skill_of = {d.name: d.skill for d in acd.config.desks}
    last = loop.time()
    n = 0
    while not stop.is_set():
        await asyncio.sleep(SAMPLE_EVERY)
        now = loop.time()
        watch.lag_max = max(watch.lag_max, now - last - SAMPLE_EVERY)
        last = now
        watch.samples += 1
        backlog = client.unread_bytes()
        if backlog is not None and backlog > watch.backlog_max:
            watch.backlog_max, watch.backlog_at = backlog, now
        n += 1
        if n % 10 == 0:  # /proc/net/tcp is long during a storm: twice a second
            tx = asterisk_tx_queue(client.local_port)
            if tx is not None:
                watch.ast_tx_max = max(watch.ast_tx_max, tx)
        ready_skills = [a.config.skills for a in acd.agents.values() if a.state is AgentState.READY]
        waiting = [q for q in acd.queue.values() if q.offered_to is None]
        if waiting:
            skills = {skill_of.get(q.call.desk, q.call.desk) for q in waiting}
            ringing = {c.name.rsplit("-", 1)[0] for c in controller.engine.calls.channels.values()}
            unused = sum(1 for skills_of in ready_skills if skills & set(skills_of)) + sum(
                1 for a in acd.agents.values() if a.state is AgentState.OFFERED and a.config.device not in ringing)
            watch.unused_agent_seconds += unused * SAMPLE_EVERY
        holding: set[str] = set()
        if ready_skills:
            for call_id, queued in acd.queue.items():
                if queued.offered_to is not None:
                    continue
                skill = skill_of.get(queued.call.desk, queued.call.desk)
                if any(skill in skills for skills in ready_skills):
                    holding.add(call_id)
        for call_id in list(watch.ready_wait):
            if call_id not in holding:
                del watch.ready_wait[call_id]
        for call_id in holding:
            since = watch.ready_wait.setdefault(call_id, now)
            if now - since > watch.ready_wait_max.get(call_id, 0.0):
                watch.ready_wait_max[call_id] = now - since


async def ghost(port: int, n: int) -> None:
    """A local process that speaks FastAGI to the intake for a channel Asterisk does not have,
    answering every command the way Asterisk would."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write((f"agi_network: yes\nagi_network_script: intake?dialed=12345\nagi_channel: PJSIP/ghost-{n:08x}\n"
                  f"agi_uniqueid: ghost-{n}\nagi_callerid: 1370000{n:04d}\nagi_extension: 12345\n\n").encode())
    while line := await reader.readline():
        command = line.decode().strip()
        reply = f"200 result=1 (ghost-{n})" if command.startswith("GET FULL VARIABLE") else "200 result=0"
        writer.write(f"{reply}\n".encode())
        await writer.drain()
    writer.close()


async def run(calls: int, seconds: float, agents: int, record: str | None, trace: str | None,
              patience: tuple[float, float] | None = None, seed: int = 7, label: str = "storm",
              ghosts: int = 0) -> tuple[int, Watch]:
    paths = sandbox.SandboxPaths()
    base = hotline_config.load(SANDBOX_CONFIG, env={})
    acd = AcdConfig(
        desks=(Desk("general", "综合受理", "general", wrap_up=0.0, max_queue=calls),),
        agents=tuple(AgentConfig(f"bench{i:03d}", f"坐席{i}", f"Local/bench{i:03d}@hotline-bench-agent",
                                 str(5000 + i), "0", {"general": 1 + i % 5}) for i in range(agents)),
        numbers={"12345": "general"}, ring_timeout=10)
    failures: list[str] = []
    watch = Watch()
    t0 = [time.monotonic()]
    ast_pid = sandbox.asterisk_pid(paths)
    with tempfile.TemporaryDirectory(prefix="hotline-storm-") as tmp:
        config = dataclasses.replace(
            base, acd=acd, http=dataclasses.replace(base.http, port=0),
            # lost calls wait for business hours that never come: no callback rings a bench agent
            callbacks=CallbacksConfig(business_hours="00:00-00:00"),
            asterisk=dataclasses.replace(base.asterisk, ami_secret_file=str(paths.ami_secret_file)),
            store=dataclasses.replace(base.store, url=f"sqlite+aiosqlite:///{tmp}/storm.db",
                                      journal=f"{tmp}/journal.jsonl"))
        sandbox.cli(paths, "database deltree hotline-journal")
        recorder = None
        if record:
            from devtools.recorder import AmiRecorder
            recorder = AmiRecorder(config.asterisk.ami_host, config.asterisk.ami_port, config.asterisk.ami_user,
                                   config.asterisk.ami_secret(), Path(record))
            await recorder.start()
        controller = Controller(config)
        tap_engine(controller, watch, t0)
        await controller.start()
        await controller.ami.client.wait_connected(10)
        # the carrier: a connection of its own, no events
        carrier = AmiClient(config.asterisk.ami_host, config.asterisk.ami_port, config.asterisk.ami_user,
                            config.asterisk.ami_secret(), on_event=lambda e: None, events="off",
                            ping_interval=30.0, ping_timeout=30.0, action_timeout=30.0,
                            action_id_prefix="storm")
        carrier_task = asyncio.create_task(carrier.run(), name="carrier")
        await carrier.wait_connected(10)
        for a in acd.agents:
            await controller.engine.request("login", a.agent_id)
            await controller.engine.request("ready", a.agent_id)
        await controller.engine.drained()
        before = await controller.store.count()
        client = controller.ami.client
        connects0, bytes0 = client.connects, client.bytes_read
        tp0 = await asyncio.to_thread(taskprocessor, paths, "stasis/m:manager:core")
        cpu0, acpu0, rq0 = cpu(), asterisk_cpu(ast_pid), runqueue_wait()
        t0[0] = time.monotonic()
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample(controller, watch, stop), name="sampler")
        waits = random.Random(seed)
        lives = [round(waits.uniform(*patience), 1) if patience else 300 for _ in range(calls)]
        print(f"{label}: {calls} calls within {seconds:.0f} s, {agents} agents"
              + (f", callers hang up after {patience[0]:.0f}-{patience[1]:.0f} s (seed {seed})" if patience else ""),
              flush=True)
        originate_failed: list[str] = []
        placing: set[asyncio.Task[None]] = set()

        async def place(n: int) -> None:
            try:
                await carrier.send_action("Originate", {
                    "Channel": "Local/12345@from-trunk/n", "Application": "Wait", "Data": str(lives[n]),
                    "CallerID": f'"市民" <139{n:08d}>', "Async": "true"})
            except AmiError as exc:
                originate_failed.append(str(exc))

        ghost_every = calls // ghosts if ghosts else 0
        for n in range(calls):
            due = t0[0] + n * seconds / calls
            if (delay := due - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(place(n))
            placing.add(task)
            task.add_done_callback(placing.discard)
            if ghost_every and n % ghost_every == 0:
                task = asyncio.create_task(ghost(config.agi.port, n))
                placing.add(task)
                task.add_done_callback(placing.discard)
        await asyncio.gather(*placing)
        sent = time.monotonic() - t0[0]
        print(f"  {calls - len(originate_failed)} calls placed in {sent:.1f} s"
              f"{f' ({len(originate_failed)} Originates failed: {originate_failed[0]})' if originate_failed else ''}",
              flush=True)
        last = -1
        deadline = time.monotonic() + 600
        stored = 0
        while time.monotonic() < deadline:
            await asyncio.sleep(2)
            await controller.writer.flush()
            stored = await controller.store.count() - before
            figures = controller.engine.desk_figures()["general"]
            if stored != last:
                print(f"  t+{time.monotonic() - t0[0]:5.1f}s stored {stored:4d}, waiting {figures['waiting']:3d}, "
                      f"answered {figures['answered']:4d}, abandoned {figures['abandoned']}, "
                      f"AMI reconnects {client.connects - connects0}", flush=True)
                last = stored
            if stored >= calls - len(originate_failed) and not controller.engine.snapshot():
                break
        elapsed = time.monotonic() - t0[0]
        used, aused, starved = cpu() - cpu0, asterisk_cpu(ast_pid) - acpu0, runqueue_wait() - rq0
        beat_gap, beat_rtt = controller.ami.heartbeat_gap_max, controller.ami.heartbeat_rtt_max
        stop.set()
        await sampler
        figures = controller.engine.desk_figures()["general"]
        records = await controller.store.recent(max(stored, calls) + 100)
        read_bytes = client.bytes_read - bytes0
        reconnects = client.connects - connects0
        drops = list(client.drops)
        rtt, late = client.ping_rtt_max, client.pings_late
        await controller.stop()
        await carrier.close()
        await carrier_task
        if recorder is not None:
            await recorder.stop()
        tp1 = await asyncio.to_thread(taskprocessor, paths, "stasis/m:manager:core")

    # the carrier's calls (a callback to a storm caller has the same number but its own linkedid)
    is_storm = [r.linkedid in watch.storm_calls for r in records]
    storm = [r for r, mine in zip(records, is_storm) if mine]
    distinct = len({r.linkedid for r in storm})
    others = Counter(f"{r.disposition.value}/{r.dialed_number or '-'}" for r, mine in zip(records, is_storm)
                     if not mine)
    outcomes = Counter(r.disposition.value for r in storm)
    each_once = distinct == len(storm)
    print(f"store: {distinct} of {calls} calls in the store, each once: {each_once}; "
          f"other records: {dict(others) or 'none'}")
    print(f"dispositions of the storm calls: {dict(outcomes)}")
    if trace:
        with open(trace + ".records", "w") as out:
            for r in storm:
                out.write(f"{r.linkedid} {r.caller_number} {r.disposition.value} left_in={r.left_in} "
                          f"agent={r.agent or '-'} wait={r.queue_wait} talk={r.talk_time}\n")
    if distinct != calls - len(originate_failed) or not each_once:
        failures.append(f"store: {distinct} distinct storm calls for {calls - len(originate_failed)} placed, "
                        f"{len(storm)} records")

    # (a) the link
    print(f"AMI reconnects during the run: {reconnects} (target 0)"
          + "".join(f"; dropped at {time.strftime('%H:%M:%S', time.localtime(t))}: {why}" for t, why in drops))
    if reconnects:
        failures.append(f"AMI link reconnected {reconnects} time(s)")
    print(f"AMI read: {read_bytes / 1e6:.1f} MB, {read_bytes / elapsed / 1e3:.0f} kB/s; slowest Ping answer "
          f"{rtt:.2f} s, {late} answered late on a busy link; reader backlog max {watch.backlog_max / 1e3:.0f} kB "
          f"unread in the kernel; Asterisk's send queue max {watch.ast_tx_max / 1e3:.0f} kB")
    print(f"Asterisk manager router: {tp1[0] - tp0[0]} stasis messages ({(tp1[0] - tp0[0]) / calls:.0f} per call), "
          f"max depth {tp1[1]} since boot")
    print(f"controller event loop: max lag {1000 * watch.lag_max:.0f} ms over {watch.samples} samples; engine "
          f"applied {sum(watch.facts.values())} facts in {watch.engine_time:.1f} s (slowest {1000 * watch.engine_max:.1f} ms); "
          f"main thread waited {starved:.1f} s for a CPU")
    print(f"heartbeat: longest beat {beat_gap:.2f} s, slowest answer {beat_rtt:.2f} s (the dialplan falls back after 3 s)")

    # (b) waiting while an eligible agent was ready
    worst = sorted(watch.ready_wait_max.items(), key=lambda kv: -kv[1])
    longest = worst[0][1] if worst else 0.0
    over = [(c, w) for c, w in worst if w > MAX_READY_WAIT]
    print(f"longest wait while an eligible agent was READY: {longest:.2f} s (target <= {MAX_READY_WAIT:.0f} s); "
          f"calls over target: {len(over)}" + (f" {over[:5]}" if over else ""))
    if over:
        failures.append(f"{len(over)} caller(s) waited > {MAX_READY_WAIT:.0f} s with an eligible agent READY "
                        f"(longest {longest:.1f} s)")

    # (c) dispositions against what the callers lived
    wrong: list[str] = []
    for r in storm:
        reached = r.linkedid in watch.answered_effects or r.linkedid in watch.dial_answer
        if r.disposition.value == "answered":
            missing = [what for what, ok in (("agent", bool(r.agent)), ("talk_time", bool(r.talk_time)),
                                             ("CallAnswered", r.linkedid in watch.answered_effects),
                                             ("DialEnd ANSWER", r.linkedid in watch.dial_answer)) if not ok]
            if missing:
                wrong.append(f"{r.linkedid} answered without {'/'.join(missing)}")
        elif reached:
            wrong.append(f"{r.linkedid} reached an agent but recorded {r.disposition.value}")
    print(f"dispositions against the callers' lives: {len(wrong)} disagree" + (f": {wrong[:5]}" if wrong else ""))
    if wrong:
        failures.append(f"{len(wrong)} disposition(s) disagree with the call")

    # (d) the desk's figures
    offered = figures.get("offered", len([c for c, d in watch.queued.items() if d == "general"]))
    answered_calls = len([c for c in watch.answered_effects if not c.startswith("callback:")])
    doubles = [c for c, k in watch.answered_effects.items() if k > 1 and not c.startswith("callback:")]
    print(f"desk figures: answered {figures['answered']}, offered to the desk {offered}, distinct calls answered "
          f"{answered_calls} ({len(doubles)} answered more than once, {sum(k for c, k in watch.answered_effects.items() if not c.startswith('callback:'))} CallAnswered effects for callers), lost {figures['abandoned']}, "
          f"within 15 s {figures['service_level_pct']}%, ASA {figures['average_speed_of_answer']} s")
    if figures["answered"] > offered:
        failures.append(f"desk answered {figures['answered']} > offered {offered}")
    if figures["answered"] != answered_calls:
        failures.append(f"desk answered {figures['answered']} != {answered_calls} distinct calls answered")
    print(f"throughput: {calls / elapsed:.1f} calls/s end to end ({elapsed:.0f} s for all to finish); "
          f"controller CPU {used:.1f} s = {100 * used / elapsed:.0f}% of one core, {1000 * used / calls:.2f} ms "
          f"per call; Asterisk CPU {aused:.1f} s, {1000 * aused / calls:.1f} ms per call")

    if ghosts:
        offered = sum(k for c, k in watch.offers.items() if c.startswith("ghost"))
        print(f"ghost sessions: {ghosts}; offers of a ghost to an agent: {offered} (target 0)")
        if offered:
            failures.append(f"ghosts were offered {offered} time(s)")
    print(f"agents unused while a caller waited: {watch.unused_agent_seconds:.1f} agent-seconds "
          f"(READY with the skill, or OFFERED with no ring on their phone); offers not sent: "
          f"{dict(watch.offers_not_sent) or 'none'}")
    suspects = {c for c, _ in over} | {w.split()[0] for w in wrong}
    if trace:
        with open(trace, "w") as out:
            for lid in sorted(suspects) or sorted(watch.trace)[:20]:
                out.write(f"== {lid} offers={watch.offers.get(lid, 0)} dial={watch.dial_status.get(lid)}\n")
                out.writelines(f"  {t:8.3f} {what}\n" for t, what in watch.trace.get(lid, []))
        print(f"facts applied for {len(suspects) or 'the first 20'} call(s) written to {trace}")
    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1, watch
    print("OK")
    return 0, watch


async def compare(args: argparse.Namespace, patience: tuple[float, float]) -> int:
    """The same seeded traffic, patient (the baseline) then impatient."""
    rc_base, base = await run(args.calls, args.seconds, args.agents, None, None, None, args.seed, "baseline (patient)")
    print()
    rc, watch = await run(args.calls, args.seconds, args.agents, args.record, args.trace, patience, args.seed,
                          "impatient callers" + (f" and {args.ghosts} ghosts" if args.ghosts else ""), args.ghosts)
    ratio = watch.unused_agent_seconds / base.unused_agent_seconds if base.unused_agent_seconds else float("inf")
    print(f"\nagents unused while callers waited: impatient {watch.unused_agent_seconds:.1f} agent-s, "
          f"baseline {base.unused_agent_seconds:.1f} agent-s, ratio {ratio:.2f}")
    return rc or rc_base


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--record", help="also record the raw AMI stream into this file (a second AMI session)")
    parser.add_argument("--trace", help="write the facts the engine applied for each failing call here")
    parser.add_argument("--patience", help="LO-HI seconds: also run with callers who hang up after a random wait")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ghosts", type=int, default=0, help="with --patience: ghost intake sessions in the second run")
    args = parser.parse_args()
    if args.patience:
        lo, _, hi = args.patience.partition("-")
        sys.exit(asyncio.run(compare(args, (float(lo), float(hi or lo)))))
    sys.exit(asyncio.run(run(args.calls, args.seconds, args.agents, args.record, args.trace))[0])


if __name__ == "__main__":
    main()
