"""The intake flow every citizen call starts in (FastAGI script `intake`).

Foundation version: answer, play the greeting, and end. The ACD and IVR issues grow this into
greeting → desk by dialed number → queue; the shape (a handler that gets an AGI channel and
reports what happened) stays.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("ivr.intake")

GREETING = "hello-world"


async def intake(agi: Any, greeting: str = GREETING) -> None:
    """Answer and greet. A caller who hangs up mid-prompt ends the session (AgiHangup)."""
    await agi.answer()
    await agi.stream_file(greeting)
    await agi.hangup()
