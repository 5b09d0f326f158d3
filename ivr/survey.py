"""The satisfaction survey after the agent hangs up (FastAGI script `survey`, from
[hotline-survey]): the citizen stays on the line and rates the service — 1 满意, 2 基本满意,
3 不满意 — with one retry on no input or a wrong key. The agent cannot skip it: the dialplan
sends the caller here whenever the agent's leg ends first.

The score goes to the engine (the call record) and to the work orders linked to the call."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from acd.events import EngineEvent, SurveyAnswered

log = logging.getLogger("ivr.survey")

SCORES = {"1": 1, "2": 2, "3": 3}
RecordScore = Callable[[str, int], Awaitable[Any]]  # (linkedid, score) → the linked work orders


def make_survey(submit: Callable[[EngineEvent], None], record_score: RecordScore | None = None,
                timeout: float = 5.0, enabled: bool = True) -> Callable[[Any], Awaitable[None]]:
    async def survey(agi: Any) -> None:
        if not enabled:  # the site turned the survey off: the dialplan hangs up
            return
        linkedid = (await agi.command("GET FULL VARIABLE ${CHANNEL(linkedid)}")).data or agi.env.uniqueid
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

    return survey
