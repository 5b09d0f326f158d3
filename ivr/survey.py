"""The satisfaction survey after the agent hangs up (FastAGI script `survey`, from
[hotline-survey]): the citizen stays on the line and rates the service — 1 满意, 2 基本满意,
3 不满意 — with one retry on no input or a wrong key. The agent cannot skip it: the dialplan
sends the caller here whenever the agent's leg ends first. Unless that leg ended because the
agent's connection went (a home seat's network): then the citizen hears an apology and goes
back to the head of their queue, or, by config ([acd] lost_connection = "callback"), hears that
they will be called back first and the line ends (issue 16).

The score goes to the engine (the call record) and to the work orders linked to the call."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from acd.events import EngineEvent, SurveyAnswered

log = logging.getLogger("ivr.survey")

SCORES = {"1": 1, "2": 2, "3": 3}
RecordScore = Callable[[str, int], Awaitable[Any]]  # (linkedid, score) → the linked work orders
# the citizen's Dial returns as the agent's leg hangs up; Asterisk's Hangup event of that leg
# (how it ended) comes within milliseconds on the other socket
LOST_WAIT = 2.0


def make_survey(submit: Callable[[EngineEvent], None], record_score: RecordScore | None = None,
                timeout: float = 5.0, enabled: bool = True,
                after_agent: Callable[[str], Awaitable[str]] | None = None,
                requeue_lost: Callable[[str], Awaitable[bool]] | None = None,
                lost_wait: float = LOST_WAIT) -> Callable[[Any], Awaitable[None]]:
    """`after_agent` and `requeue_lost` are the engine's: whether the agent's leg ended because
    their connection went (then the citizen hears the apology and goes back to the head of the
    queue, or is told they will be called back, instead of the survey)."""
    async def survey(agi: Any) -> None:
        asks_engine = after_agent is not None and requeue_lost is not None
        if not enabled and not asks_engine:  # the site turned the survey off: the dialplan hangs up
            return
        linkedid = (await agi.command("GET FULL VARIABLE ${CHANNEL(linkedid)}")).data or agi.env.uniqueid
        verdict = await _after(linkedid) if asks_engine else "survey"
        if verdict == "lost-callback":  # the engine books the callback as the call ends
            await agi.stream_file("hotline/agent-lost-callback")
            return  # [hotline-survey] hangs up: no survey of a call that was cut off
        if verdict == "lost":
            assert requeue_lost is not None
            await agi.stream_file("hotline/agent-lost")
            if await requeue_lost(linkedid):
                await agi.command("SET VARIABLE HOTLINE_REQUEUED 1")  # [hotline-survey] goes back to the wait
                return
        if not enabled:
            return
        submit(SurveyAnswered(datetime.now(timezone.utc), agi.env.uniqueid, linkedid, None))  # asked
        score = None
        for attempt in range(2):
            key = await agi.get_data("hotline/survey", int(timeout * 1000), 1)
            score = SCORES.get(key)
            if score is not None:
                break
            if attempt == 0:
                await agi.stream_file("hotline/survey-retry")
        if score is None:
            await agi.stream_file("hotline/goodbye")
            return
        submit(SurveyAnswered(datetime.now(timezone.utc), agi.env.uniqueid, linkedid, score))
        if record_score is not None:
            try:
                await record_score(linkedid, score)
            except Exception as exc:  # the call record still has it
                log.warning("survey score of %s not put on its orders: %s", linkedid, type(exc).__name__)
        await agi.stream_file("hotline/survey-thanks")

    async def _after(linkedid: str) -> str:
        assert after_agent is not None
        try:
            return await asyncio.wait_for(after_agent(linkedid), lost_wait)
        except asyncio.TimeoutError:  # Asterisk never said how the agent's leg ended: the survey
            log.warning("call %s: no word of how the agent's leg ended within %.1fs", linkedid, lost_wait)
            return "survey"

    return survey
