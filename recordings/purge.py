"""Retention carried out: delete the expired recordings' files (converted and original) and
write an audit entry for each; a recording whose order was put on hold meanwhile is kept. The
same code runs as the daily job and as `hotline_pbx.py recordings purge`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from recordings.config import RecordingsConfig
from recordings.naming import under
from recordings.retention import Policy, judge, last_day_kept, oldest_kept
from recordings.store import Candidate, RecordingStore

log = logging.getLogger("recordings.purge")


@dataclass
class PurgeReport:
    deleted: list[str] = field(default_factory=list)  # linkedids
    held: list[str] = field(default_factory=list)  # expired, kept by a legal hold
    failed: list[str] = field(default_factory=list)  # expired, but a file would not go: kept, tried tomorrow
    files: int = 0  # files removed
    dry_run: bool = False


def _remove(paths: list[Path]) -> tuple[int, list[str]]:
    """The files removed, and why the others would not go (one bad file must not stop the run,
    nor be audited as deleted while it is still there)."""
    removed, errors = 0, []
    for path in paths:
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            errors.append(f"{path}: {exc.strerror}")
    return removed, errors


def _paths(config: RecordingsConfig, candidate: Candidate) -> list[Path]:
    paths = []
    for root, name in ((config.monitor_dir, candidate.original), (config.converted_dir, candidate.file)):
        if name:
            try:
                paths.append(under(root, name))
            except ValueError:
                log.error("retention: call %s names an unsafe file %r: not touched", candidate.linkedid, name)
    return sorted(set(paths))


async def purge(store: RecordingStore, config: RecordingsConfig, zone: ZoneInfo, now: datetime, *,
                dry_run: bool = False, progress: Callable[[int, int], None] | None = None) -> PurgeReport:
    today = now.astimezone(zone).date()
    now = now.astimezone(timezone.utc)  # what goes to the store is UTC (SQLite keeps no zone)
    policy = Policy(config.default_keep_days, dict(config.keep_days))
    cutoff = oldest_kept(today, policy, zone).astimezone(timezone.utc)
    verdict = judge(await store.candidates(cutoff), today, policy, zone)
    report = PurgeReport(held=[c.linkedid for c in verdict.held], dry_run=dry_run)
    for n, candidate in enumerate(verdict.expired, start=1):
        if await store.call_held(candidate.linkedid):  # held since the candidates were read
            report.held.append(candidate.linkedid)
        elif dry_run:
            report.deleted.append(candidate.linkedid)
        else:
            removed, errors = await asyncio.to_thread(_remove, _paths(config, candidate))
            report.files += removed
            if errors:
                log.error("retention: the recording of call %s is kept, its files would not go: %s",
                          candidate.linkedid, "; ".join(errors))
                report.failed.append(candidate.linkedid)
            else:
                kinds = ", ".join(sorted(candidate.categories)) or "no work order"
                await store.deleted(candidate.linkedid, now,
                                    f"kept {policy.keep_days(candidate.categories)} days ({kinds}), last day "
                                    f"{last_day_kept(candidate.ended_at, candidate.categories, policy, zone)}")
                report.deleted.append(candidate.linkedid)
        if progress is not None:
            progress(n, len(verdict.expired))
    return report
