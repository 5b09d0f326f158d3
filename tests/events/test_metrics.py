"""/metrics as operations read it: parsed by prometheus_client's own parser, and each figure
computed a second way — from the call records the engine wrote, and from the engine's state."""

from __future__ import annotations

import math
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from acd import events as ev
from acd.commands import WriteCallRecord
from acd.records import Disposition
from tests.acd.test_engine_promises import at

from .test_websocket import Hotline


def scraped(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_the_figures_prometheus_reads_are_the_ones_the_call_records_give(tmp_path: Path) -> None:
    health = {"ami_connected": 1.0, "heartbeat_age_seconds": 0.4, "engine_inbox_depth": 0.0,
              "store_backlog": 3.0, "journal_bytes": 0.0}
    async with Hotline(tmp_path, health=lambda: health) as hotline:
        records: list[WriteCallRecord] = []
        hotline.engine.observe(WriteCallRecord, records.append)
        await hotline.engine.request("login", "a1")
        await hotline.engine.request("ready", "a1")
        await hotline.call("C1", 1, "13800138000")  # answered by a1 ...
        await hotline.hang_up("C1", 95)  # ... after 94 s of talk
        await hotline.engine.request("pause", "a1", "meal")
        for uid, t in (("C2", 100), ("C3", 101)):  # two callers wait; one gives up
            hotline.engine.submit(ev.ChannelCreated(at(t), uid, uid, f"PJSIP/carrier-{uid}", 6, "13800138001", "",
                                                    "12345", "from-trunk"))
            hotline.engine.submit(ev.CallQueued(at(t), uid, uid, f"PJSIP/carrier-{uid}", "general"))
        await hotline.hang_up("C2", 130)
        async with hotline.http.get(hotline.server.make_url("/metrics")) as got:
            assert got.status == 200 and got.headers["Content-Type"].startswith("text/plain")
            figures = scraped(await got.text())
        desk = (("desk", "general"),)
        answered = [r.record for r in records if r.record.disposition is Disposition.ANSWERED]
        abandoned = [r.record for r in records if r.record.disposition is Disposition.ABANDONED_QUEUE]
        assert figures[("hotline_calls_answered_total", desk)] == len(answered) == 1
        assert figures[("hotline_calls_abandoned_total", desk)] == len(abandoned) == 1
        assert figures[("hotline_talk_seconds_sum", desk)] == answered[0].talk_time
        assert math.isclose(figures[("hotline_wait_seconds_sum", desk)], answered[0].queue_wait or 0.0, abs_tol=1e-3)
        assert figures[("hotline_waiting_calls", desk)] == len(hotline.engine.acd.queue) == 1  # C3 waits
        agents = {dict(k[1])["state"]: v for k, v in figures.items() if k[0] == "hotline_agents"}
        assert agents["paused"] == 1 and agents["logged_out"] == 1 and sum(agents.values()) == 2
        assert figures[("hotline_store_backlog", ())] == 3.0 and figures[("hotline_ami_connected", ())] == 1.0
        assert figures[("hotline_engine_step_seconds_count", ())] >= hotline.engine.processed - 1
        assert ("hotline_callbacks_due", desk) in figures
        assert not any("13800138" in str(key) for key in figures)  # no caller's number on /metrics
