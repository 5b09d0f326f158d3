"""Supervisors' feature codes from the phone (FastAGI script `supervise`, [from-supervisors]):
*25<seat> listen, *26<seat> whisper, *27<seat> barge into the agent's live call.

The caller is known by the authenticated SIP endpoint the call came from (its channel name,
PJSIP/super2001-…): only a configured supervisor's phone is let through. The engine checks
the agent is on a call and that this supervisor is not already in a session, opens the session
and names the agent's channel; the dialplan then runs ChanSpy in [hotline-spy]. Refused: the
supervisor hears so and nothing is spied.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from acd.desks import AcdConfig
from acd.supervision import FEATURE_CODES

log = logging.getLogger("ivr.supervise")

Supervise = Callable[..., Awaitable[Any]]


def make_supervise(supervise: Supervise, acd: AcdConfig) -> Callable[[Any], Awaitable[None]]:
    seats = {a.seat: a for a in acd.agents}

    async def supervise_code(agi: Any) -> None:
        code, seat = agi.env.params.get("code", ""), agi.env.params.get("seat", "")
        mode, agent = FEATURE_CODES.get(code), seats.get(seat)
        if mode is None or agent is None:
            log.warning("supervisor feature code %s for unknown seat %s", code, seat)
            await agi.stream_file("hotline/agent-invalid")
            return
        try:
            session = await supervise("monitor", agent=agent.agent_id, mode=mode.value, source="phone",
                                      phone_channel=agi.env.channel)
        except Exception as exc:  # not a supervisor, agent not on a call, already monitoring …
            log.info("supervisor code %s for %s refused: %s", code, agent.agent_id, exc)
            await agi.stream_file("hotline/agent-invalid")
            return
        await agi.set_variable("HOTLINE_SPY_TARGET", session.agent_channel)
        await agi.set_variable("HOTLINE_SPY_SESSION", session.session_id)
        await agi.set_variable("HOTLINE_SPY_MODE", mode.value)
        log.info("%s monitors %s (%s, session %s)", session.supervisor.supervisor_id, agent.agent_id,
                 mode.value, session.session_id)

    return supervise_code
