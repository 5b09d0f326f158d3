"""The intake flow every citizen call starts in (FastAGI script `intake`).

Answer, greet, and — when desks are configured — name the caller's desk and hand the call to
the ACD: the channel then waits in Asterisk ([hotline-wait]) until the engine connects it.
Without desks (the bare foundation) the call ends after the greeting.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from acd.desks import AcdConfig
from acd.events import CallQueued, EngineEvent

log = logging.getLogger("ivr.intake")

GREETING = "hello-world"


def make_intake(submit: Callable[[EngineEvent], None], acd: AcdConfig,
                greeting: str = GREETING) -> Callable[[Any], Awaitable[None]]:
    async def intake(agi: Any) -> None:
        """A caller who hangs up mid-prompt ends the session (AgiHangup)."""
        await agi.answer()
        dialed = agi.env.params.get("dialed") or agi.env.extension
        desk = acd.desk_for(dialed, datetime.now().strftime("%m-%d"))
        await agi.stream_file(greeting)
        if desk is None:
            await agi.hangup()
            return
        linkedid = (await agi.command("GET FULL VARIABLE ${CHANNEL(linkedid)}")).data
        queued = datetime.now(timezone.utc)
        linkedid = linkedid or agi.env.uniqueid
        recording = f"{queued:%Y%m%d}/{linkedid}.wav"  # MixMonitor writes it once an agent answers
        await agi.set_variable("HOTLINE_DESK", desk)
        # kept on the channel so a restarted controller can re-adopt the caller in place
        await agi.set_variable("HOTLINE_QUEUED_AT", f"{queued.timestamp():.3f}")
        await agi.set_variable("HOTLINE_RECORDING", recording)
        submit(CallQueued(queued, agi.env.uniqueid, linkedid, agi.env.channel, desk,
                          recording=recording))

    return intake
