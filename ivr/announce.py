"""Periodic announcement for a waiting caller (FastAGI script `announce`, called from
[hotline-wait] every HOTLINE_ANNOUNCE_EVERY seconds), in Mandarin composed from clips:
您前面还有3位，预计等待2分钟. After `callback_offer_after` seconds of waiting, once, the offer
of a callback that keeps the caller's place: 1 accepts (the caller may hang up; the callback
issue calls them back when their turn comes), anything else keeps them waiting."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from acd.events import CallbackChoice, CallQueued, EngineEvent
from ivr.prompts import duration_clips, number_clips

QueuePosition = Callable[[str], "tuple[int, float] | None"]
CallbackDue = Callable[[str], bool]


def make_announce(position_of: QueuePosition, submit: Callable[[EngineEvent], None] | None = None,
                  callback_due: CallbackDue | None = None,
                  offer_timeout: float = 5.0) -> Callable[[Any], Awaitable[None]]:
    async def adopt(agi: Any, linkedid: str) -> None:
        """A caller in [hotline-wait] whom the ACD does not hold (an agent's ring that began
        before a controller restart came back unanswered): queued again at their old place."""
        desk = await agi.get_variable("HOTLINE_DESK")
        if submit is None or not desk:
            return
        kept = [await agi.get_variable(name) for name in ("HOTLINE_QUEUED_AT", "HOTLINE_PRIORITY", "HOTLINE_OPEN_ORDER")]
        submit(CallQueued.adopted(datetime.now(timezone.utc), agi.env.uniqueid, linkedid, agi.env.channel, desk, *kept))

    async def announce(agi: Any) -> None:
        linkedid = (await agi.command("GET FULL VARIABLE ${CHANNEL(linkedid)}")).data or agi.env.uniqueid
        place = position_of(linkedid)
        if place is None:  # not waiting in the ACD: say nothing, but do not leave them unheard
            await adopt(agi, linkedid)
            return
        ahead, seconds = place
        if ahead == 0:
            await agi.stream_file("hotline/queue-busy")
        else:
            for clip in ["hotline/queue-ahead", *number_clips(ahead), "hotline/queue-people"]:
                await agi.stream_file(clip)
        for clip in ["hotline/queue-wait", *duration_clips(seconds)]:
            await agi.stream_file(clip)
        if submit is None or callback_due is None or not callback_due(linkedid):
            return
        submit(CallbackChoice(datetime.now(timezone.utc), agi.env.uniqueid, linkedid, "offered"))
        key = await agi.get_data("hotline/callback-offer", int(offer_timeout * 1000), 1)
        accepted = key == "1"
        submit(CallbackChoice(datetime.now(timezone.utc), agi.env.uniqueid, linkedid,
                              "accepted" if accepted else "declined"))
        await agi.stream_file("hotline/callback-accepted" if accepted else "hotline/callback-declined")
        if accepted:
            await agi.hangup()

    return announce
