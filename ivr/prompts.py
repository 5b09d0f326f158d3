"""Mandarin prompts: generated from the texts in ivr/prompts.toml with espeak-ng (voice cmn),
converted with pydub to what Asterisk plays (8 kHz, mono, 16-bit WAV), and numbers spoken by
composing clips.

Asterisk plays them as `hotline/<name>`; the files live in `<sounds dir>/hotline/<name>.wav`
and `<sounds dir>/hotline/digits/<clip>.wav`. `build` is idempotent: a manifest
(`manifest.json` beside the files) keeps each text's hash, so only changed texts are spoken
again. A site that records real voices puts its file in place and marks the entry
`"recorded": true` in the manifest; build never overwrites a recorded prompt.

Numbers read the way a Mandarin announcer reads them: 10–19 as 十, 十一 … (not 一十) at the
start, 一十 inside (一百一十); 零 for gaps (一百零五, 一千零五, 一万零一十); 两 for a 2 that
opens a group before 百, 千, 万 (两百, 两千, 两万, 一万两千), 二 elsewhere (二, 十二, 二十, 一千二百).
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import tempfile
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from acd.errors import StableError

PROMPT_DIR = "hotline"
DIGITS_DIR = f"{PROMPT_DIR}/digits"
DEFAULT_TEXTS = Path(__file__).resolve().parent / "prompts.toml"
MANIFEST = "manifest.json"
SAMPLE_RATE = 8000
PROMPTS_ERROR = "prompts-error"
MAX_NUMBER = 99_999_999
REQUIRED = ("greeting", "queue-busy", "queue-ahead", "queue-people", "queue-wait", "minutes", "seconds",
            "callback-offer", "callback-accepted", "callback-declined", "survey", "survey-retry",
            "survey-thanks", "no-input", "invalid-key", "goodbye", "callback-whisper")
CLIPS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "liang", "ten", "hundred", "thousand", "wan")


class PromptsError(StableError):
    pass


@dataclass(frozen=True, slots=True)
class Prompts:
    """name → text for the prompts, clip → text for the number clips."""

    prompts: tuple[tuple[str, str], ...]
    numbers: tuple[tuple[str, str], ...]

    def files(self) -> list[tuple[str, str]]:
        """(path under the sounds dir without extension, text) for everything to speak."""
        return ([(f"{PROMPT_DIR}/{n}", t) for n, t in self.prompts]
                + [(f"{DIGITS_DIR}/{n}", t) for n, t in self.numbers])


def load_texts(path: Path = DEFAULT_TEXTS) -> Prompts:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PromptsError(PROMPTS_ERROR, f"{path}: {exc}") from None
    prompts, numbers = data.get("prompts", {}), data.get("numbers", {})
    for table, names in (("prompts", REQUIRED), ("numbers", CLIPS)):
        given = prompts if table == "prompts" else numbers
        for name in names:
            text = given.get(name)
            if not isinstance(text, str) or not text.strip():
                raise PromptsError(PROMPTS_ERROR, f"{path}: [{table}] {name} is missing or empty")
    return Prompts(tuple((str(k), str(v)) for k, v in prompts.items()),
                   tuple((str(k), str(v)) for k, v in numbers.items()))


# ---- numbers as clips ---------------------------------------------------------------------------

def _below_10000(n: int, leading: bool) -> list[str]:
    tokens: list[str] = []
    gap = False
    for value, unit in ((n // 1000, "thousand"), (n // 100 % 10, "hundred"), (n // 10 % 10, "ten"), (n % 10, "")):
        if value == 0:
            gap = bool(tokens)
            continue
        if gap:
            tokens.append("0")
            gap = False
        if unit == "ten" and value == 1 and leading and not tokens:
            tokens.append("ten")  # 十, 十五: not 一十 at the start
            continue
        tokens.append("liang" if value == 2 and unit in ("thousand", "hundred") and not tokens else str(value))
        if unit:
            tokens.append(unit)
    return tokens


def number_words(n: int) -> list[str]:
    """Clip names (without the folder) that read `n` in Mandarin."""
    if not isinstance(n, int) or n < 0 or n > MAX_NUMBER:
        raise ValueError(f"cannot read {n!r}: a whole number 0..{MAX_NUMBER}")
    if n == 0:
        return ["0"]
    high, low = divmod(n, 10_000)
    if not high:
        return _below_10000(low, leading=True)
    tokens = _below_10000(high, leading=True)
    if tokens == ["2"]:
        tokens = ["liang"]  # 两万
    tokens.append("wan")
    if low:
        if low < 1000:
            tokens.append("0")
        tokens += _below_10000(low, leading=False)
    return tokens


def number_clips(n: int) -> list[str]:
    """What Asterisk plays for `n`: e.g. 105 → hotline/digits/1, …/hundred, …/0, …/5."""
    return [f"{DIGITS_DIR}/{word}" for word in number_words(n)]


def duration_clips(seconds: float) -> list[str]:
    """An estimated wait: under a minute in seconds (at least 1), else whole minutes rounded up."""
    if seconds < 60:
        return number_clips(max(1, math.ceil(seconds))) + [f"{PROMPT_DIR}/seconds"]
    return number_clips(min(MAX_NUMBER, math.ceil(seconds / 60))) + [f"{PROMPT_DIR}/minutes"]


def spoken(words: Iterable[str], texts: Prompts) -> str:
    """The text the clips say (for tests and logs)."""
    table = dict(texts.numbers)
    return "".join(table[w] for w in words)


# ---- building the files -------------------------------------------------------------------------

def _digest(text: str, voice: str) -> str:
    return hashlib.sha256(f"{voice}\n{text}".encode()).hexdigest()[:16]


def speak(text: str, target: Path, voice: str = "cmn") -> None:
    """espeak-ng → pydub: mono, 8 kHz, 16-bit, silence trimmed to 50 ms, normalised."""
    import warnings

    with warnings.catch_warnings():  # pydub looks for ffmpeg on import; WAV needs none
        warnings.simplefilter("ignore", RuntimeWarning)
        from pydub import AudioSegment, effects
        from pydub.silence import detect_leading_silence

    with tempfile.TemporaryDirectory(prefix="hotline-prompt-") as tmp:
        raw = Path(tmp) / "raw.wav"
        result = subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text],
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0 or not raw.exists():
            raise PromptsError(PROMPTS_ERROR, f"espeak-ng failed for {target.name}: {result.stderr.strip()}")
        sound = AudioSegment.from_wav(str(raw))
    sound = sound.set_channels(1).set_frame_rate(SAMPLE_RATE).set_sample_width(2)
    start = max(0, detect_leading_silence(sound) - 50)
    end = max(start + 1, len(sound) - max(0, detect_leading_silence(sound.reverse()) - 50))
    sound = effects.normalize(sound[start:end], headroom=1.0)
    target.parent.mkdir(parents=True, exist_ok=True)
    sound.export(str(target), format="wav")


def build(out_dir: Path, texts: Prompts | None = None, *, voice: str = "cmn", only: set[str] | None = None,
          force: bool = False, progress: Callable[[int, int, str, str], None] | None = None) -> list[Path]:
    """Speak every prompt and clip whose text changed into `out_dir` (the Asterisk sounds dir);
    returns the files written. `progress(n, total, name, what)` with what = spoken | kept | recorded."""
    texts = texts or load_texts()
    manifest_path = out_dir / PROMPT_DIR / MANIFEST
    manifest: dict[str, dict[str, object]] = {}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    files = [(name, text) for name, text in texts.files()
             if only is None or name.rsplit("/", 1)[-1] in only or name in only]
    written: list[Path] = []
    for n, (name, text) in enumerate(files, 1):
        target = out_dir / f"{name}.wav"
        entry = manifest.get(name, {})
        if entry.get("recorded"):
            what = "recorded"
        elif not force and target.exists() and entry.get("sha") == _digest(text, voice):
            what = "kept"
        else:
            speak(text, target, voice)
            manifest[name] = {"sha": _digest(text, voice), "text": text}
            written.append(target)
            what = "spoken"
        if progress is not None:
            progress(n, len(files), name, what)
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
    return written
