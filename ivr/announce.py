"""Periodic announcement for a waiting caller (FastAGI script `announce`, called from
[hotline-wait] every HOTLINE_ANNOUNCE_EVERY seconds): how many callers are ahead and the
estimated wait from live figures. English core prompts until the Mandarin prompts land."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

QueuePosition = Callable[[str], "tuple[int, float] | None"]


def make_announce(position_of: QueuePosition) -> Callable[[Any], Awaitable[None]]:
    async def announce(agi: Any) -> None:
        linkedid = (await agi.command("GET FULL VARIABLE ${CHANNEL(linkedid)}")).data
        place = position_of(linkedid)
        if place is None:
            return  # not (or no longer) waiting in the ACD: say nothing
        ahead, seconds = place
        if ahead == 0:
            await agi.stream_file("queue-youarenext")
        else:
            await agi.stream_file("queue-thereare")
            await agi.command(f"SAY NUMBER {ahead} \"\"")
            await agi.stream_file("queue-callswaiting")
        minutes = max(1, math.ceil(seconds / 60))
        await agi.stream_file("queue-holdtime")
        await agi.command(f"SAY NUMBER {minutes} \"\"")
        await agi.stream_file("queue-minutes")

    return announce
