"""Routing decisions at city scale: 1,000 agents x 500 waiting calls x 30 skills.

Measures the two decisions the engine makes on every event: an agent becomes ready with 500
calls waiting (which call?), and a call arrives with many agents ready (which agent?). Prints
p50/p99 per decision (target p99 <= 1 ms) and, as the baseline in the same run, a brute-force
matcher that scores every (call, agent) pair.
    .venv/bin/python bench/routing.py [--decisions N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from acd.routing import (DeskPolicy, OverflowStep, Priority, ReadyAgent, WaitingCall,  # noqa: E402
                         agent_level, agent_order, assign, call_order)

SKILLS = [f"skill{i:02d}" for i in range(30)]


def world(rng: random.Random, agents: int, calls: int, now: float):
    policies = {s: DeskPolicy(s, s, (OverflowStep(0, 3), OverflowStep(20, 2), OverflowStep(45, 1, True)),
                              rng.choice([1.0, 1.0, 1.5])) for s in SKILLS}
    pool = [ReadyAgent(f"a{i}", {**{s: rng.randint(1, 5) for s in rng.sample(SKILLS, 3)},
                                 **({"general": 3} if i % 4 == 0 else {})}, now - rng.uniform(0, 600))
            for i in range(agents)]
    waiting = [WaitingCall(f"c{i}", rng.choice(SKILLS), rng.choice(list(Priority)),
                           now - rng.uniform(0, 120), i) for i in range(calls)]
    policies["general"] = DeskPolicy("general", "general")
    return policies, pool, waiting


def brute_force(calls, agents, policies, now):
    """Baseline: score all pairs, then take them best-first."""
    pairs = []
    for call in calls:
        for agent in agents:
            level = agent_level(agent, call, policies[call.desk], now)
            if level is not None:
                pairs.append((call_order(call, policies, now), agent_order(agent, level), call, agent))
    pairs.sort(key=lambda p: (p[0], p[1]))
    used_calls, used_agents, out = set(), set(), []
    for _, _, call, agent in pairs:
        if call.call_id not in used_calls and agent.agent_id not in used_agents:
            used_calls.add(call.call_id)
            used_agents.add(agent.agent_id)
            out.append((call, agent))
    return out


def timed(fn, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    return samples


def pct(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100)[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=2000)
    args = parser.parse_args()
    rng = random.Random(12345)
    now = 10_000.0
    policies, agents, calls = world(rng, 1000, 500, now)
    print(f"world: {len(agents)} agents, {len(calls)} waiting calls, {len(SKILLS)} skills")

    one_agent = lambda: assign(calls, [rng.choice(agents)], policies, now)  # noqa: E731
    one_call = lambda: assign([rng.choice(calls)], agents, policies, now)  # noqa: E731
    results = {}
    for name, fn in (("agent ready, 500 calls waiting", one_agent), ("call arrives, 1000 agents ready", one_call)):
        samples = timed(fn, args.decisions)
        results[name] = samples
        print(f"{name:34s} p50 {pct(samples, 50):.3f} ms  p99 {pct(samples, 99):.3f} ms"
              f"  (target p99 <= 1 ms: {'met' if pct(samples, 99) <= 1.0 else 'NOT met'})")
    base = timed(lambda: brute_force(calls, [rng.choice(agents)], policies, now), max(50, args.decisions // 10))
    ours = results["agent ready, 500 calls waiting"]
    print(f"baseline brute force (agent ready)  p50 {pct(base, 50):.3f} ms  p99 {pct(base, 99):.3f} ms;"
          f" ours/baseline p50 ratio {pct(ours, 50) / pct(base, 50):.2f}")
    full = timed(lambda: assign(calls, agents[:50], policies, now), 50)
    print(f"full dispatch, 50 ready x 500 waiting p50 {pct(full, 50):.3f} ms  p99 {pct(full, 99):.3f} ms")


if __name__ == "__main__":
    main()
