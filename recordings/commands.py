"""`hotline_pbx.py recordings …`: what an operator does with the recordings outside the pages.

    status                      how many recordings are in each state; the failed ones and why; holds
    purge [--dry-run]           retention now (as the daily job does): delete expired files, audit each
    hold ORDER --reason R       legal hold: the order's calls' recordings are never deleted
    release ORDER --reason R    lift it
    retry [LINKEDID …]          queue failed conversions again (all of them without a linkedid)
    verify                      check every kept file against its stored SHA-256
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import datetime, timezone
from typing import Any

from recordings.media import sha256_of
from recordings.naming import under
from recordings.purge import purge
from recordings.store import DONE, FAILED, RecordingStore, RecordingStoreError


def add_parser(sub: Any, config_default: str) -> None:
    rec = sub.add_parser("recordings", help="call recordings: status | purge | hold | release | retry | verify")
    actions = rec.add_subparsers(dest="action", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=config_default, help="its [store] and [recordings] are used")
    actions.add_parser("status", parents=[common], help="counts by state, failed conversions, legal holds")
    purge_cmd = actions.add_parser("purge", parents=[common], help="delete the recordings retention has expired")
    purge_cmd.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    for name, says in (("hold", "put a work order on legal hold"), ("release", "lift a work order's legal hold")):
        cmd = actions.add_parser(name, parents=[common], help=says)
        cmd.add_argument("order", help="the work order's number")
        cmd.add_argument("--reason", required=True)
        cmd.add_argument("--by", default=getpass.getuser(), help="who (default: this login)")
    retry = actions.add_parser("retry", parents=[common], help="queue failed conversions again")
    retry.add_argument("linkedid", nargs="*", help="default: every failed one")
    actions.add_parser("verify", parents=[common], help="check every kept file against its SHA-256")


def run(args: argparse.Namespace, config: Any) -> int:
    from tickets.store import CallRecordStore

    async def main() -> int:
        records = CallRecordStore(config.store.url)
        await records.open()  # the schema at its newest revision
        store = RecordingStore(records.engine)
        try:
            return await _act(args, config, store)
        except RecordingStoreError as exc:
            print(f"hotline_pbx: recordings: {exc}", file=sys.stderr)
            return 1
        finally:
            await records.close()

    return asyncio.run(main())


async def _act(args: argparse.Namespace, config: Any, store: RecordingStore) -> int:
    now = datetime.now(timezone.utc)
    settings = config.recordings
    if args.action == "status":
        counts = await store.counts()
        print("recordings: " + (", ".join(f"{state} {n}" for state, n in sorted(counts.items())) or "none"))
        for failed in await store.listing(state=FAILED, limit=50):
            print(f"  failed {failed.linkedid:32} after {failed.attempts} attempt(s): {failed.error}")
        for hold in await store.holds():
            print(f"  hold   {hold.number:20} since {hold.held_at:%Y-%m-%d} by {hold.held_by}: {hold.reason}")
        return 0
    if args.action == "purge":
        def progress(done: int, total: int) -> None:
            if done % 100 == 0 or done == total:
                print(f"recordings: purge {done}/{total}", file=sys.stderr)

        report = await purge(store, settings, config.city.zone(), now, dry_run=args.dry_run, progress=progress)
        verb = "would delete" if args.dry_run else "deleted"
        print(f"recordings: {verb} {len(report.deleted)} recording(s) ({report.files} file(s)); "
              f"{len(report.held)} expired but on legal hold")
        for linkedid in report.failed:
            print(f"  not deleted (its file would not go; tried again next time): {linkedid}", file=sys.stderr)
        if args.dry_run:
            for linkedid in report.deleted:
                print(f"  {linkedid}")
        return 1 if report.failed else 0
    if args.action == "hold":
        await store.hold(args.order, args.by, args.reason, now)
        print(f"recordings: order {args.order} on legal hold")
        return 0
    if args.action == "release":
        await store.release(args.order, args.by, args.reason, now)
        print(f"recordings: order {args.order} released")
        return 0
    if args.action == "retry":
        count = await store.retry(args.linkedid or None, now, getpass.getuser())
        print(f"recordings: {count} failed recording(s) queued again (the running controller converts them)")
        return 0
    bad = 0
    kept = await store.listing(state=DONE, limit=1_000_000)
    for n, recording in enumerate(kept, start=1):
        path = under(settings.converted_dir, recording.file)
        try:
            digest = await asyncio.to_thread(sha256_of, path)
        except FileNotFoundError:
            print(f"  missing  {recording.linkedid}: {recording.file}")
            bad += 1
            continue
        if digest != recording.sha256:
            print(f"  CORRUPT  {recording.linkedid}: {recording.file}")
            await store.note_corrupt(recording.linkedid, f"{recording.file}: SHA-256 differs (verify)", now)
            bad += 1
        if n % 500 == 0:
            print(f"recordings: verified {n}/{len(kept)}", file=sys.stderr)
    print(f"recordings: {len(kept)} file(s) checked, {bad} missing or corrupt")
    return 1 if bad else 0
