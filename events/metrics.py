"""Prometheus `/metrics` (issue 17) with prometheus-client, for operations: the hall's figures
per desk and the controller's health. No personal data: desks, states and counts only.

Two kinds of figures. Counted as facts pass (a listener on the fact stream: quick, in-process):
calls answered and abandoned per desk, the wait and talk times. Read when Prometheus scrapes
(a collector over the engine's live state and the health probes): who waits now and for how
long, agents by state, callbacks due, the AMI link, the heartbeat, the engine's inbox, the
store writer's backlog, the journal's size. The engine's step latency and the event loop's lag
are histograms fed by the engine and by a probe task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from events.stream import EventFact, EventStream

ROUTE = "/metrics"
WAIT_BUCKETS = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600)  # 15 s: the answered-within target
TALK_BUCKETS = (30, 60, 120, 180, 300, 450, 600, 900, 1200, 1800, 3600)
STEP_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
LAG_PROBE_EVERY = 0.25


class LiveState(Collector):
    """Gauges read at scrape time: the engine's live state and `health()`'s readings."""

    def __init__(self, engine: Any, health: Callable[[], Mapping[str, float]]) -> None:
        self._engine, self._health = engine, health

    def collect(self) -> Iterator[GaugeMetricFamily]:
        engine = self._engine
        waiting = GaugeMetricFamily("hotline_waiting_calls", "callers waiting in the queue now", labels=["desk"])
        longest = GaugeMetricFamily("hotline_longest_wait_seconds", "the longest wait of a caller waiting now",
                                    labels=["desk"])
        agents = GaugeMetricFamily("hotline_agents", "agents skilled for the desk, by state", labels=["desk", "state"])
        for desk, figures in engine.live_figures().items():
            waiting.add_metric([desk], figures["waiting"])
            longest.add_metric([desk], round(figures["longest_wait"], 3))
            for state, count in figures["agents"].items():
                agents.add_metric([desk, state], count)
        due = GaugeMetricFamily("hotline_callbacks_due", "callbacks waiting for an agent", labels=["desk"])
        per_desk: dict[str, int] = {d.name: 0 for d in engine.acd.config.desks}
        for queued in engine.acd.callbacks.values():
            per_desk[queued.call.desk] = per_desk.get(queued.call.desk, 0) + 1
        for desk, count in per_desk.items():
            due.add_metric([desk], count)
        yield from (waiting, longest, agents, due)
        for name, value in self._health().items():
            yield GaugeMetricFamily(f"hotline_{name}", HEALTH_HELP.get(name, name), value=value)


HEALTH_HELP = {
    "ami_connected": "1 while the AMI link to Asterisk is logged in",
    "heartbeat_age_seconds": "seconds since the heartbeat Asterisk's fallback watches was last set",
    "engine_inbox_depth": "messages waiting in the engine's inbox",
    "store_backlog": "call records submitted but not yet in the database",
    "journal_bytes": "size of the call-record journal kept while the database is away",
    "events_subscribers": "websocket and MQTT consumers of the fact stream",
    "mqtt_connected": "1 while the MQTT broker ([events] mqtt_host) takes the events",
    "events_cut_off": "consumers cut off for being too slow, since start",
    "events_hub_up": "1 while the events hub process ([events] hub) serves the websocket and MQTT",
    "events_hub_restarts": "times the events hub was started again since the controller started",
    "recordings_converted": "call recordings converted and verified since start",
    "recordings_failed": "call recordings given up after [recordings] max_attempts, since start (see the audit)",
    "recordings_silent": "recordings converted since start that were quieter than [recordings] silence_floor",
    "recordings_converting": "recordings being converted now",
}


class Metrics:
    """The controller's registry; `serve(app)` adds the route."""

    def __init__(self, engine: Any, stream: EventStream, health: Callable[[], Mapping[str, float]]) -> None:
        self.registry = CollectorRegistry()
        self.answered = Counter("hotline_calls_answered", "calls answered by an agent", ["desk"], registry=self.registry)
        self.abandoned = Counter("hotline_calls_abandoned", "callers who left while waiting or ringing", ["desk"],
                                 registry=self.registry)
        self.wait = Histogram("hotline_wait_seconds", "a caller's wait until an agent answered", ["desk"],
                              buckets=WAIT_BUCKETS, registry=self.registry)
        self.talk = Histogram("hotline_talk_seconds", "an answered call's talk time", ["desk"],
                              buckets=TALK_BUCKETS, registry=self.registry)
        self.step = Histogram("hotline_engine_step_seconds", "how long the engine took for one message",
                              buckets=STEP_BUCKETS, registry=self.registry)
        self.lag = Histogram("hotline_event_loop_lag_seconds", "how late the event loop ran a timer",
                             buckets=LAG_BUCKETS, registry=self.registry)
        # the stream's own consumers, unless the health says otherwise (the events hub's clients)
        self.registry.register(LiveState(engine, lambda: {"events_subscribers": stream.subscribers,
                                                          "events_cut_off": stream.cut_off, **health()}))
        stream.listen(self.count)

    def count(self, fact: EventFact) -> None:
        desk = str(fact.data.get("desk", ""))
        if fact.kind == "call.answered":
            self.answered.labels(desk).inc()
            self.wait.labels(desk).observe(float(fact.data.get("waited") or 0.0))
        elif fact.kind == "call.abandoned":
            self.abandoned.labels(desk).inc()
        elif fact.kind == "call.ended" and fact.data.get("talk_time") is not None:
            self.talk.labels(desk).observe(float(fact.data["talk_time"]))

    async def probe_lag(self, every: float = LAG_PROBE_EVERY) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(every)
            self.lag.observe(max(0.0, loop.time() - asked - every))

    def serve(self, app: web.Application) -> None:
        async def metrics(request: web.Request) -> web.Response:
            return web.Response(body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

        app.router.add_get(ROUTE, metrics)
