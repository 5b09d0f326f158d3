"""The survey through the real FastAGI server, Asterisk played by a client that answers like
Asterisk (the sandbox test presses the keys from a baresip phone)."""

from __future__ import annotations

import asyncio

import pytest

from acd.events import SurveyAnswered
from ivr.survey import make_survey
from pbx.fastagi import FastAgiServer

from .asterisk_peer import converse


async def run(keys: list[str], enabled: bool = True, after: str | None = None,
              requeued: list[str] | None = None) -> tuple[list[str], list[SurveyAnswered], list[tuple[str, int]]]:
    """`after`: what the engine says of the agent's leg (None: a survey that does not ask; "never":
    the engine never answers)."""
    facts: list = []
    scored: list[tuple[str, int]] = []

    async def record(linkedid: str, score: int) -> None:
        scored.append((linkedid, score))

    async def after_agent(linkedid: str) -> str:
        if after == "never":
            await asyncio.Event().wait()
        return str(after)

    async def requeue_lost(linkedid: str) -> bool:
        assert requeued is not None
        requeued.append(linkedid)
        return True

    server = FastAgiServer("127.0.0.1", 0)
    asks = {} if after is None else {"after_agent": after_agent, "requeue_lost": requeue_lost, "lost_wait": 0.2}
    server.route("survey", make_survey(facts.append, record, timeout=1.0, enabled=enabled, **asks))
    await server.start()
    try:
        said = await converse(server.bound_port, "survey", keys=keys)
    finally:
        await server.close()
    return said, facts, scored


async def test_a_score_reaches_the_engine_and_the_orders() -> None:
    said, facts, scored = await run(["2"])
    assert [f.score for f in facts] == [None, 2] and facts[1].linkedid == "pbx-1.1"
    assert scored == [("pbx-1.1", 2)]
    assert said[-1] == 'STREAM FILE hotline/survey-thanks ""'


async def test_no_input_then_a_wrong_key_leaves_no_score_after_one_retry() -> None:
    said, facts, scored = await run(["", "7"])
    assert [c for c in said if c.startswith("GET DATA")] == ["GET DATA hotline/survey 1000 1"] * 2
    assert 'STREAM FILE hotline/survey-retry ""' in said and said[-1] == 'STREAM FILE hotline/goodbye ""'
    assert [f.score for f in facts] == [None] and scored == []


async def test_the_retry_can_still_score() -> None:
    _, facts, scored = await run(["9", "3"])
    assert [f.score for f in facts] == [None, 3] and scored == [("pbx-1.1", 3)]


async def test_a_site_without_the_survey_hears_nothing() -> None:
    said, facts, _ = await run(["1"], enabled=False)
    assert said == [] and facts == []


@pytest.mark.parametrize("enabled", [True, False], ids=["survey-on", "survey-off"])
async def test_a_citizen_whose_agent_was_lost_hears_the_apology_and_waits_again_instead(enabled: bool) -> None:
    requeued: list[str] = []
    said, facts, scored = await run(["1"], enabled=enabled, after="lost", requeued=requeued)
    assert said[-2:] == ['STREAM FILE hotline/agent-lost ""', "SET VARIABLE HOTLINE_REQUEUED 1"]
    assert requeued == ["pbx-1.1"] and facts == [] and scored == []


@pytest.mark.parametrize("enabled", [True, False], ids=["survey-on", "survey-off"])
async def test_a_citizen_promised_a_callback_hears_so_and_the_line_ends_without_survey_or_queue(enabled: bool) -> None:
    requeued: list[str] = []
    said, facts, scored = await run(["1"], enabled=enabled, after="lost-callback", requeued=requeued)
    assert said[-1] == 'STREAM FILE hotline/agent-lost-callback ""'  # then [hotline-survey] hangs up
    assert not any("REQUEUED" in c or "GET DATA" in c for c in said)
    assert requeued == [] and facts == [] and scored == []


async def test_when_asterisk_never_says_how_the_agents_leg_ended_the_survey_goes_on() -> None:
    said, facts, scored = await run(["1"], after="never", requeued=[])
    assert not any("agent-lost" in c for c in said) and scored == [("pbx-1.1", 1)]


async def test_after_a_normal_hang_up_the_survey_as_before() -> None:
    said, facts, scored = await run(["3"], after="survey", requeued=[])
    assert scored == [("pbx-1.1", 3)] and not any("REQUEUED" in c for c in said)
