"""Reads and clears Asterisk's call journal (the dialplan's [hotline-journal] lines in AstDB).

A line is deleted only after the store holds that call's record and the call is no longer live,
so a crash at any point loses nothing: the next sweep writes it again and the store ignores the
duplicate (one row per linkedid).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from acd import events as ev
from pbx.translate import JOURNAL_FAMILY, TranslationError, journal_entry

log = logging.getLogger("pbx.journal")


async def read_journal(client: Any) -> tuple[ev.JournalEntry, ...]:
    """DBGetTree over AMI; an empty family answers with an error, which means no lines."""
    try:
        _, events = await client.send_list_action("DBGetTree", {"Family": JOURNAL_FAMILY})
    except Exception as exc:  # noqa: BLE001 - Asterisk says "Database entry not found" as an error
        if "not found" in str(exc).lower():
            return ()
        raise
    entries = []
    for event in events:
        try:
            entries.append(journal_entry(event.get("Key"), event.get("Val")))
        except TranslationError as exc:
            log.warning("call journal: %s", exc)
    return tuple(entries)


async def clear_journal(client: Any, entries: Iterable[ev.JournalEntry],
                        live_linkedids: Callable[[], set[str]],
                        flushed: Callable[[], Awaitable[None]]) -> int:
    """Delete the lines whose calls are recorded: wait for the store, skip live calls."""
    await flushed()
    live = live_linkedids()
    cleared = 0
    for entry in entries:
        if entry.linkedid in live:
            continue
        await client.send_action("DBDel", {"Family": JOURNAL_FAMILY, "Key": entry.linkedid})
        cleared += 1
    return cleared
