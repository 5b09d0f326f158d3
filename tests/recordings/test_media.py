"""One recording's audio, as quality review and a dispute will need it: converted to a small
file that plays back the whole call, with a hash that proves it unchanged, a loudness that tells
a dead line from a conversation, and nothing half-written or readable by others left behind."""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recordings import media
from recordings.config import RecordingsConfig
from tests.recordings.sound import decoded_seconds, probe, silence, tone, write_wav


@pytest.fixture
def umask_zero() -> Iterator[None]:
    """The controller started with umask 000: nothing may come out world-readable."""
    before = os.umask(0)
    try:
        yield
    finally:
        os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def test_a_call_becomes_opus_by_default_and_plays_back_as_long_as_it_was(tmp_path: Path) -> None:
    original = write_wav(tmp_path / "monitor/20260301/1772380000.1.wav", tone(7.3))
    done = media.convert(str(original), str(tmp_path / "store/20260301/1772380000.1.opus"))
    assert RecordingsConfig().format == "opus"
    container, codec, _ = probe(Path(done.target))
    assert (container, codec) == ("ogg", "opus")
    assert abs(decoded_seconds(Path(done.target)) - 7.3) <= media.TOLERANCE
    assert done.original_duration == pytest.approx(7.3) and abs(done.duration - 7.3) <= media.TOLERANCE
    assert done.size < original.stat().st_size / 4  # 24 kbit/s against 128 kbit/s of PCM
    assert original.exists()  # the caller deletes it, once the result is stored


@pytest.mark.parametrize("fmt, container, codec", [("mp3", "mp3", "mp3"), ("wav", "wav", "pcm_s16le"),
                                                   ("opus", "ogg", "opus")])
def test_each_format_a_site_may_choose_is_what_it_says_and_keeps_the_whole_call(
        tmp_path: Path, fmt: str, container: str, codec: str) -> None:
    original = write_wav(tmp_path / "a.wav", tone(4.0, rate=16000), rate=16000)
    done = media.convert(str(original), str(tmp_path / f"out/a.{fmt}"), fmt, "32k")
    assert probe(Path(done.target))[:2] == (container, codec)
    assert abs(decoded_seconds(Path(done.target)) - 4.0) <= media.TOLERANCE


def test_the_stored_hash_and_size_are_the_converted_file_s_own(tmp_path: Path) -> None:
    original = write_wav(tmp_path / "a.wav", tone(2.0))
    done = media.convert(str(original), str(tmp_path / "a.opus"))
    data = Path(done.target).read_bytes()
    assert done.sha256 == hashlib.sha256(data).hexdigest() and done.size == len(data)
    assert media.sha256_of(original) == hashlib.sha256(original.read_bytes()).hexdigest()


def test_a_conversation_is_loud_and_a_dead_line_is_digital_silence(tmp_path: Path) -> None:
    floor = RecordingsConfig().silence_floor
    talk = media.convert(str(write_wav(tmp_path / "talk.wav", tone(2.0, amplitude=0.1))), str(tmp_path / "talk.opus"))
    dead = media.convert(str(write_wav(tmp_path / "dead.wav", silence(2.0))), str(tmp_path / "dead.opus"))
    assert talk.loudness == pytest.approx(-23.0, abs=0.5)  # RMS of a sine at 0.1 of full scale
    assert talk.peak == pytest.approx(-20.0, abs=0.5)
    assert talk.loudness > floor
    assert dead.loudness == media.SILENCE == dead.peak and dead.loudness < floor


def test_an_unclosed_wav_is_read_to_its_end(tmp_path: Path) -> None:
    """MixMonitor writes the sizes only when it stops: while it writes, or after Asterisk died,
    the header says 0 and the audio is all there is."""
    original = write_wav(tmp_path / "open.wav", tone(5.0), closed=False)
    info = media.wav_info(original)
    assert not info.closed and info.seconds == pytest.approx(5.0)
    done = media.convert(str(original), str(tmp_path / "open.opus"))
    assert abs(decoded_seconds(Path(done.target)) - 5.0) <= media.TOLERANCE


def test_an_unclosed_wav_cut_in_the_middle_of_a_sample_keeps_the_whole_samples(tmp_path: Path) -> None:
    original = write_wav(tmp_path / "cut.wav", tone(1.0, channels=2) + b"\x01\x02\x03", channels=2, closed=False)
    info = media.wav_info(original)
    assert info.seconds == pytest.approx(1.0) and info.data_size % 4 == 0
    assert media.convert(str(original), str(tmp_path / "cut.opus")).original_duration == pytest.approx(1.0)


def test_a_closed_wav_counts_its_audio_not_what_follows_it(tmp_path: Path) -> None:
    original = write_wav(tmp_path / "a.wav", tone(1.5))
    extra = b"LIST" + struct.pack("<I", 12) + b"INFOISFT\x00\x00\x00\x00"
    grown = original.stat().st_size + len(extra)
    with original.open("r+b") as f:  # a trailing chunk, the RIFF size grown to cover it
        f.seek(0, 2)
        f.write(extra)
        f.seek(4)
        f.write(struct.pack("<I", grown - 8))
    info = media.wav_info(original)
    assert info.closed and info.seconds == pytest.approx(1.5)


def test_a_wav_made_by_another_tool_with_chunks_before_the_audio_is_read(tmp_path: Path) -> None:
    made = tmp_path / "ffmpeg.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=300:duration=3:sample_rate=8000",
                    "-metadata", "title=x", "-c:a", "pcm_s16le", str(made)], check=True)
    assert media.wav_info(made).closed
    done = media.convert(str(made), str(tmp_path / "ffmpeg.mp3"), "mp3")
    assert abs(done.duration - 3.0) <= media.TOLERANCE


def test_an_eight_bit_wav_sounds_as_loud_as_the_same_call_in_sixteen_bits(tmp_path: Path) -> None:
    """8-bit WAV samples are unsigned: read as signed they would be a loud buzz."""
    sixteen = tone(2.0, amplitude=0.1)
    eight = bytes((struct.unpack_from("<h", sixteen, i)[0] >> 8) + 128 for i in range(0, len(sixteen), 2))
    a = media.convert(str(write_wav(tmp_path / "16.wav", sixteen)), str(tmp_path / "16.opus"))
    b = media.convert(str(write_wav(tmp_path / "8.wav", eight, width=1)), str(tmp_path / "8.opus"))
    assert b.loudness == pytest.approx(a.loudness, abs=1.0)


def riff(*chunks: bytes, size: int = 0) -> bytes:
    return b"RIFF" + struct.pack("<I", size) + b"WAVE" + b"".join(chunks)


FMT = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
NOT_WAVS = {
    "empty": b"",
    "text": "本次通话将被录音".encode(),
    "an mp3 named .wav": b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 100,
    "cut inside the RIFF header": b"RIFF\x24\x00",
    "cut inside the fmt chunk": riff(FMT[:14]),
    "fmt, no data chunk": riff(FMT),
    "data before fmt": riff(b"data" + struct.pack("<I", 4) + b"\0\0\0\0", FMT),
    "GSM in a WAV": riff(b"fmt " + struct.pack("<IHHIIHH", 16, 49, 1, 8000, 1625, 65, 0), b"data\0\0\0\0"),
    "no sample rate": riff(b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 0, 0, 2, 16), b"data\0\0\0\0" + b"\1\0" * 800),
    "no channels": riff(b"fmt " + struct.pack("<IHHIIHH", 16, 1, 0, 8000, 0, 0, 16), b"data\0\0\0\0" + b"\1\0" * 800),
}


@pytest.mark.parametrize("what", sorted(NOT_WAVS))
def test_a_file_that_is_not_a_wav_gives_a_stable_code_and_leaves_nothing_behind(tmp_path: Path, what: str) -> None:
    original = tmp_path / "monitor/x.wav"
    original.parent.mkdir()
    original.write_bytes(NOT_WAVS[what])
    with pytest.raises(media.MediaError) as raised:
        media.convert(str(original), str(tmp_path / "store/20260301/x.opus"))
    assert raised.value.code == media.NOT_WAV and str(raised.value).startswith("not-wav: ")
    assert leftovers(tmp_path / "store") in ([], ["20260301"])
    assert original.read_bytes() == NOT_WAVS[what]  # the original is never touched


def test_a_missing_original_says_so(tmp_path: Path) -> None:
    with pytest.raises(media.MediaError) as raised:
        media.convert(str(tmp_path / "gone.wav"), str(tmp_path / "gone.opus"))
    assert raised.value.code == media.ORIGINAL_MISSING


def test_a_recording_with_no_audio_at_all_is_said_to_be_empty(tmp_path: Path) -> None:
    """The call ended as the bridge began: MixMonitor closed a header and no sound."""
    original = write_wav(tmp_path / "none.wav", b"")
    with pytest.raises(media.MediaError) as raised:
        media.convert(str(original), str(tmp_path / "out/none.opus"))
    assert raised.value.code == media.EMPTY
    assert leftovers(tmp_path / "out") == []


def test_a_failed_encoding_leaves_no_partial_file_and_no_copy_of_the_voice_in_tmp(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "system-tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr("tempfile.tempdir", None)  # read TMPDIR again
    original = write_wav(tmp_path / "nine.wav", tone(1.0, channels=9), channels=9)  # the Opus encoder refuses 9
    with pytest.raises(media.MediaError) as raised:
        media.convert(str(original), str(tmp_path / "out/nine.opus"))
    assert raised.value.code == media.CONVERSION_FAILED
    assert leftovers(tmp_path / "out") == [] and leftovers(scratch) == []


def test_a_media_error_crosses_the_process_boundary_whole() -> None:
    """The converter's worker processes send their errors back pickled."""
    again = pickle.loads(pickle.dumps(media.MediaError(media.NOT_WAV, "x.wav: no RIFF/WAVE header")))
    assert (again.code, again.detail, str(again)) == ("not-wav", "x.wav: no RIFF/WAVE header",
                                                      "not-wav: x.wav: no RIFF/WAVE header")


def test_converted_files_are_0600_in_0700_folders_whatever_the_umask(tmp_path: Path, umask_zero: None) -> None:
    original = write_wav(tmp_path / "monitor/20260301/a.wav", tone(1.0))
    done = media.convert(str(original), str(tmp_path / "store/recordings/20260301/a.opus"))
    assert mode(Path(done.target)) == 0o600
    assert mode(tmp_path / "store/recordings/20260301") == mode(tmp_path / "store/recordings") == 0o700
    assert mode(tmp_path / "store") == 0o700
    assert leftovers(tmp_path / "store/recordings/20260301") == ["a.opus"]


def test_a_stale_partial_file_left_open_to_others_does_not_make_the_result_readable(
        tmp_path: Path, umask_zero: None) -> None:
    target = tmp_path / "out/a.opus"
    target.parent.mkdir(mode=0o700)
    stale = target.with_name(f".a.opus.{os.getpid()}.partial")
    stale.write_bytes(b"old")
    stale.chmod(0o666)
    done = media.convert(str(write_wav(tmp_path / "a.wav", tone(1.0))), str(target))
    assert mode(Path(done.target)) == 0o600 and not stale.exists()


def test_what_a_killed_worker_left_beside_the_target_is_cleared_by_the_next_conversion(tmp_path: Path) -> None:
    target = tmp_path / "out/a.opus"
    (tmp_path / "out/.a.opus.convert-k2j4").mkdir(parents=True)
    (tmp_path / "out/.a.opus.convert-k2j4/tmpx").write_bytes(b"a copy of the voice")
    (tmp_path / "out/.a.opus.99999.partial").write_bytes(b"half")
    (tmp_path / "out/.b.opus.99999.partial").write_bytes(b"another call's, converting now")
    media.convert(str(write_wav(tmp_path / "a.wav", tone(1.0))), str(target))
    assert leftovers(tmp_path / "out") == [".b.opus.99999.partial", "a.opus"]


def test_a_folder_where_the_wav_should_be_is_unreadable_not_missing(tmp_path: Path) -> None:
    (tmp_path / "a.wav").mkdir()
    with pytest.raises(media.MediaError) as raised:
        media.wav_info(tmp_path / "a.wav")
    assert raised.value.code == media.ORIGINAL_UNREADABLE


def test_converting_again_replaces_the_file_whole(tmp_path: Path) -> None:
    original = write_wav(tmp_path / "a.wav", tone(2.0))
    first = media.convert(str(original), str(tmp_path / "a.opus"))
    again = media.convert(str(original), str(tmp_path / "a.opus"))
    assert again.sha256 == media.sha256_of(Path(again.target)) and first.duration == again.duration
    assert leftovers(tmp_path) == ["a.opus", "a.wav"]


chunk = st.tuples(st.sampled_from([b"fmt ", b"data", b"LIST", b"fact", b"junk"]), st.binary(max_size=40),
                  st.one_of(st.none(), st.integers(0, 2**32 - 1))).map(
    lambda c: c[0] + struct.pack("<I", len(c[1]) if c[2] is None else c[2]) + c[1])
fmt_chunk = st.tuples(st.integers(0, 3), st.integers(0, 3), st.sampled_from([0, 8000, 16000]),
                      st.sampled_from([0, 8, 16, 24, 32])).map(
    lambda f: b"fmt " + struct.pack("<IHHIIHH", 16, f[0], f[1], f[2], f[2] * f[1] * f[3] // 8, f[1] * f[3] // 8, f[3]))
headers = st.one_of(
    st.binary(max_size=64),
    st.tuples(st.integers(0, 2**32 - 1), st.lists(st.one_of(chunk, fmt_chunk), max_size=4), st.binary(max_size=64)).map(
        lambda h: b"RIFF" + struct.pack("<I", h[0]) + b"WAVE" + b"".join(h[1]) + h[2]))


@settings(max_examples=300)
@given(headers)
def test_whatever_bytes_are_in_the_file_the_answer_is_a_sane_header_or_a_media_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.wav"
        path.write_bytes(data)
        try:
            info = media.wav_info(path)
        except media.MediaError as exc:
            assert exc.code == media.NOT_WAV
            return
    assert info.rate > 0 and info.channels > 0 and info.width in (1, 2, 4)
    assert info.data_size % (info.channels * info.width) == 0 and info.data_offset + info.data_size <= len(data)
    assert info.seconds >= 0
