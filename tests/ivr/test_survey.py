"""The survey through the real FastAGI server, Asterisk played by a client that answers like
Asterisk (the sandbox test presses the keys from a baresip phone)."""

from __future__ import annotations

from acd.events import SurveyAnswered
from ivr.survey import make_survey
from pbx.fastagi import FastAgiServer

from .asterisk_peer import converse


async def run(keys: list[str], enabled: bool = True) -> tuple[list[str], list[SurveyAnswered], list[tuple[str, int]]]:
    facts: list = []
    scored: list[tuple[str, int]] = []

    async def record(linkedid: str, score: int) -> None:
        scored.append((linkedid, score))

    server = FastAgiServer("127.0.0.1", 0)
    server.route("survey", make_survey(facts.append, record, timeout=1.0, enabled=enabled))
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
