"""Mandarin prompts: numbers read right, files Asterisk can play, rebuilds that respect a site's
recorded voices. Uses the real espeak-ng."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest

from ivr.announce import make_announce
from ivr.prompts import (DIGITS_DIR, PROMPT_DIR, Prompts, PromptsError, build, duration_clips, load_texts,
                         number_clips, number_words, spoken)

TEXTS = load_texts()


@pytest.mark.parametrize(("n", "reading"), [
    (0, "零"), (2, "二"), (7, "七"), (10, "十"), (12, "十二"), (20, "二十"), (22, "二十二"), (99, "九十九"),
    (100, "一百"), (105, "一百零五"), (110, "一百一十"), (200, "两百"), (215, "两百一十五"),
    (1005, "一千零五"), (1010, "一千零一十"), (1050, "一千零五十"), (1200, "一千二百"), (2000, "两千"),
    (10000, "一万"), (10010, "一万零一十"), (12345, "一万两千三百四十五"), (20000, "两万"),
    (100000, "十万"), (105000, "十万五千"), (1000000, "一百万"), (2000000, "两百万"),
    (99999999, "九千九百九十九万九千九百九十九"),
])
def test_numbers_are_read_the_way_an_announcer_reads_them(n: int, reading: str) -> None:
    assert spoken(number_words(n), TEXTS) == reading


@pytest.mark.parametrize("bad", [-1, 100_000_000])
def test_numbers_out_of_range_are_refused_clearly(bad: int) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        number_words(bad)


def test_durations_round_up_to_what_the_caller_will_wait() -> None:
    assert duration_clips(0) == [f"{DIGITS_DIR}/1", f"{PROMPT_DIR}/seconds"]
    assert duration_clips(45.2) == [f"{DIGITS_DIR}/4", f"{DIGITS_DIR}/ten", f"{DIGITS_DIR}/6", f"{PROMPT_DIR}/seconds"]
    assert duration_clips(61) == [f"{DIGITS_DIR}/2", f"{PROMPT_DIR}/minutes"]
    assert number_clips(105) == [f"{DIGITS_DIR}/1", f"{DIGITS_DIR}/hundred", f"{DIGITS_DIR}/0", f"{DIGITS_DIR}/5"]


def test_a_missing_text_is_a_stable_error(tmp_path: Path) -> None:
    path = tmp_path / "prompts.toml"
    path.write_text('[prompts]\ngreeting = ""\n[numbers]\n', encoding="utf-8")
    with pytest.raises(PromptsError, match="^prompts-error: .*greeting is missing or empty"):
        load_texts(path)


def test_build_speaks_8khz_mono_wavs_once_and_never_overwrites_a_recorded_voice(tmp_path: Path) -> None:
    small = Prompts((("greeting", "您好"), ("goodbye", "再见")), (("5", "五"),))
    events: list[tuple[str, str]] = []
    written = build(tmp_path, small, progress=lambda n, total, name, what: events.append((name, what)))
    assert sorted(p.name for p in written) == ["5.wav", "goodbye.wav", "greeting.wav"]
    with wave.open(str(tmp_path / PROMPT_DIR / "greeting.wav")) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert 0.2 < w.getnframes() / 8000 < 5
    assert build(tmp_path, small) == []  # unchanged texts: nothing spoken again
    manifest_path = tmp_path / PROMPT_DIR / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest[f"{PROMPT_DIR}/greeting"]["recorded"] = True  # the site recorded a real voice
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    (tmp_path / PROMPT_DIR / "greeting.wav").write_bytes(b"recorded by the site")
    changed = Prompts((("greeting", "您好，欢迎"), ("goodbye", "再见了")), (("5", "五"),))
    assert [p.name for p in build(tmp_path, changed)] == ["goodbye.wav"]
    assert (tmp_path / PROMPT_DIR / "greeting.wav").read_bytes() == b"recorded by the site"
    assert len(build(tmp_path, changed, force=True)) == 2  # force: all but the recorded one


async def test_the_announcement_composes_position_and_wait_and_offers_the_callback_once() -> None:
    played: list[str] = []
    facts: list = []

    class Reply:
        data = "pbx-1.1"

    class Agi:
        class env:  # noqa: N801
            uniqueid = "pbx-1.1"

        async def command(self, text: str) -> Reply:
            return Reply()

        async def stream_file(self, name: str) -> None:
            played.append(name)

        async def get_data(self, prompt: str, timeout_ms: int, digits: int) -> str:
            played.append(prompt)
            return "1"

        async def hangup(self) -> None:
            played.append("hangup")

    announce = make_announce(lambda linkedid: (3, 125.0), facts.append, lambda linkedid: not facts)
    await announce(Agi())
    assert played == ["hotline/queue-ahead", f"{DIGITS_DIR}/3", "hotline/queue-people", "hotline/queue-wait",
                      f"{DIGITS_DIR}/3", "hotline/minutes", "hotline/callback-offer", "hotline/callback-accepted",
                      "hangup"]
    assert [f.choice for f in facts] == ["offered", "accepted"]
    played.clear()
    await announce(Agi())  # offered already: position and wait only
    assert "hotline/callback-offer" not in played and len(facts) == 2


async def test_a_waiting_caller_the_acd_does_not_hold_is_queued_again_at_their_old_place() -> None:
    """After a controller restart, an agent's ring that began before it came back unanswered: the
    caller is back in [hotline-wait] but not in the ACD. Their next announcement hears nothing
    and queues them again with the desk, queue time and priority the intake kept on the channel."""
    from acd.events import CallQueued

    facts: list = []
    kept = {"HOTLINE_DESK": "market", "HOTLINE_QUEUED_AT": "1795000000.250", "HOTLINE_PRIORITY": "1"}

    class Reply:
        data = "1795000000.7"

    class Agi:
        class env:  # noqa: N801
            uniqueid = "1795000000.7"
            channel = "PJSIP/carrier-00000007"

        async def command(self, text: str) -> Reply:
            return Reply()

        async def get_variable(self, name: str) -> str | None:
            return kept.get(name)

        async def stream_file(self, name: str) -> None:
            raise AssertionError("nothing is said to a caller the ACD does not hold")

    await make_announce(lambda linkedid: None, facts.append)(Agi())
    [queued] = facts
    assert isinstance(queued, CallQueued)
    assert (queued.linkedid, queued.channel, queued.desk, queued.queued_epoch, queued.priority) == (
        "1795000000.7", "PJSIP/carrier-00000007", "market", 1795000000.25, 1)
    kept.clear()  # not a caller the intake queued (no desk on the channel): left alone
    await make_announce(lambda linkedid: None, facts.append)(Agi())
    assert len(facts) == 1
