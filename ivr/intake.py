"""The intake flow every citizen call starts in (FastAGI script `intake`).

Answer, greet, and — when desks are configured — name the caller's desk and hand the call to
the ACD: the channel then waits in Asterisk ([hotline-wait]) until the engine connects it.
Without desks (the bare foundation) the call ends after the greeting.

Repeat callers (first-contact responsibility, 首接负责): while the greeting plays, the caller's
open work orders are looked up; the call is linked to the newest and queued with it, so the
record says so and the agent sees it. A slow or failed lookup never delays the caller: after
the greeting the call is queued with whatever is known by then.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from acd.desks import AcdConfig
from acd.events import CallQueued, EngineEvent
from acd.privacy import mask_number

log = logging.getLogger("ivr.intake")

GREETING = "hello-world"
LOOKUP_GRACE = 0.3  # seconds to wait after the greeting for a slow open-order lookup

OpenOrders = Callable[[str], Awaitable[Sequence[Any]]]  # caller number → open orders, newest first
LinkRepeat = Callable[[str, str], Awaitable[Any]]  # (order number, linkedid)


def make_intake(submit: Callable[[EngineEvent], None], acd: AcdConfig, greeting: str = GREETING,
                open_orders: OpenOrders | None = None,
                link_repeat: LinkRepeat | None = None) -> Callable[[Any], Awaitable[None]]:
    async def newest_open_order(caller: str) -> str:
        if open_orders is None or not caller.strip():
            return ""
        try:
            found = await open_orders(caller)
        except Exception as exc:  # the store is away: the caller is served all the same
            log.warning("open orders of %s not looked up: %s", mask_number(caller), type(exc).__name__)
            return ""
        return str(found[0].number) if found else ""

    async def intake(agi: Any) -> None:
        """A caller who hangs up mid-prompt ends the session (AgiHangup)."""
        await agi.answer()
        dialed = agi.env.params.get("dialed") or agi.env.extension
        desk = acd.desk_for(dialed, datetime.now().strftime("%m-%d"))
        lookup = asyncio.ensure_future(newest_open_order(agi.env.callerid)) if desk is not None else None
        try:
            await agi.stream_file(greeting)
        except BaseException:
            if lookup is not None:
                lookup.cancel()
            raise
        if desk is None or lookup is None:
            await agi.hangup()
            return
        try:
            open_order = await asyncio.wait_for(asyncio.shield(lookup), LOOKUP_GRACE)
        except TimeoutError:
            lookup.cancel()
            open_order = ""
        linkedid = (await agi.command("GET FULL VARIABLE ${CHANNEL(linkedid)}")).data
        queued = datetime.now(timezone.utc)
        linkedid = linkedid or agi.env.uniqueid
        recording = f"{queued:%Y%m%d}/{linkedid}.wav"  # MixMonitor writes it once an agent answers
        await agi.set_variable("HOTLINE_DESK", desk)
        # kept on the channel so a restarted controller can re-adopt the caller in place
        await agi.set_variable("HOTLINE_QUEUED_AT", f"{queued.timestamp():.3f}")
        await agi.set_variable("HOTLINE_RECORDING", recording)
        if open_order:
            await agi.set_variable("HOTLINE_OPEN_ORDER", open_order)
            if link_repeat is not None:
                await _link(link_repeat, open_order, linkedid)
        submit(CallQueued(queued, agi.env.uniqueid, linkedid, agi.env.channel, desk,
                          recording=recording, open_order=open_order))

    return intake


async def _link(link_repeat: LinkRepeat, order: str, linkedid: str) -> None:
    try:
        await link_repeat(order, linkedid)
    except Exception as exc:  # the record still names the order; an agent can link it by hand
        log.warning("repeat call %s not linked to order %s: %s", linkedid, order, type(exc).__name__)
