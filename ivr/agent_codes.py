"""Agent feature codes from the phone (FastAGI script `agent`): *21 log in, *22 ready,
*23 pause (break), *24 log out, each followed by the seat number, then the PIN when asked.

The request goes to the engine like an HTTP one; the agent hears whether it worked.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from acd.desks import AcdConfig

log = logging.getLogger("ivr.agent_codes")

CODES = {"*21": ("login", ""), "*22": ("ready", ""), "*23": ("pause", "break"), "*24": ("logout", "")}
Request = Callable[[str, str, str], Awaitable[Any]]


def make_agent_codes(request: Request, acd: AcdConfig) -> Callable[[Any], Awaitable[None]]:
    seats = {a.seat: a for a in acd.agents}

    async def agent_codes(agi: Any) -> None:
        code, seat = agi.env.params.get("code", ""), agi.env.params.get("seat", "")
        op = CODES.get(code)
        agent = seats.get(seat)
        if op is None or agent is None:
            log.warning("feature code %s for unknown seat %s", code, seat)
            await agi.stream_file("hotline/agent-invalid")
            return
        pin = await agi.get_data("hotline/agent-pin", 6000, 8)
        if not hmac.compare_digest(pin.encode(), agent.pin.encode()):
            log.warning("wrong PIN for seat %s (%s)", seat, code)
            await agi.stream_file("hotline/agent-denied")
            return
        try:
            state = await request(op[0], agent.agent_id, op[1])
        except Exception as exc:  # an illegal transition: say so, change nothing
            log.info("feature code %s for %s refused: %s", code, agent.agent_id, exc)
            await agi.stream_file("hotline/agent-invalid")
            return
        log.info("agent %s is %s (feature code %s)", agent.agent_id, state, code)
        await agi.stream_file("hotline/agent-ok")

    return agent_codes
