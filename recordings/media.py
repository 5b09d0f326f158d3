"""The work on one recording's audio, run in the converter's worker processes (never on the event
loop): read MixMonitor's WAV, convert it with ffmpeg (through pydub), decode the result to verify
it, measure its loudness and hash it.

The original is never touched here: the caller deletes it only after the store says the
converted file is verified. A conversion is written to a temporary name beside its target and
renamed into place, so a reader (or a restart) never sees half a file.
"""

from __future__ import annotations

import glob
import hashlib
import math
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

from recordings.config import FORMATS

# stable error strings (the store's `error`, the API's, the logs')
ORIGINAL_MISSING = "original-missing"
ORIGINAL_UNREADABLE = "original-unreadable"  # there, but not ours to read (Asterisk's -U user, its mode)
NOT_WAV = "not-wav"
EMPTY = "empty-recording"  # a header and no sound: the call ended as the bridge began
CONVERSION_FAILED = "conversion-failed"
NOT_DECODABLE = "not-decodable"
DURATION_MISMATCH = "duration-mismatch"
TOLERANCE = 0.5  # seconds: the converted file decodes to the original's duration within this
SILENCE = -120.0  # dBFS standing for digital silence (pydub says -inf)


class MediaError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail

    def __reduce__(self) -> tuple[type[MediaError], tuple[str, str]]:
        """Raised in a worker process, it is pickled back whole (the default would call
        MediaError(message) and break the pool)."""
        return MediaError, (self.code, self.detail)


@dataclass(frozen=True, slots=True)
class WavInfo:
    """What a WAV's header says, and whether whoever wrote it has closed it: MixMonitor writes
    the sizes into the header only when the recording ends."""

    rate: int
    channels: int
    width: int  # bytes per sample
    data_offset: int
    data_size: int  # the bytes of audio there are (the header's figure when closed, else the file's)
    closed: bool

    @property
    def seconds(self) -> float:
        return self.data_size / (self.rate * self.channels * self.width)


def wav_info(path: Path) -> WavInfo:
    """The header of `path` (RIFF chunks: fmt, then data). Raises MediaError."""
    try:
        with path.open("rb") as f:
            head = f.read(4096)
            size = os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        raise MediaError(ORIGINAL_MISSING, str(path)) from None
    except OSError as exc:
        raise MediaError(ORIGINAL_UNREADABLE, f"{path}: {exc.strerror}") from None
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise MediaError(NOT_WAV, f"{path}: no RIFF/WAVE header")
    try:
        return _chunks(path, head, size)
    except struct.error:  # a chunk cut short by the end of the file
        raise MediaError(NOT_WAV, f"{path}: header cut short") from None


def _chunks(path: Path, head: bytes, size: int) -> WavInfo:
    riff_size = struct.unpack_from("<I", head, 4)[0]
    offset, fmt = 12, None
    while offset + 8 <= len(head):
        chunk, length = head[offset:offset + 4], struct.unpack_from("<I", head, offset + 4)[0]
        if chunk == b"fmt ":
            codec, channels, rate = struct.unpack_from("<HHI", head, offset + 8)
            bits = struct.unpack_from("<H", head, offset + 22)[0]
            if codec != 1 or bits not in (8, 16, 32):
                raise MediaError(NOT_WAV, f"{path}: not linear PCM (format {codec}, {bits} bits)")
            if not rate or not channels:
                raise MediaError(NOT_WAV, f"{path}: {rate} Hz, {channels} channel(s)")
            fmt = (rate, channels, bits // 8)
        elif chunk == b"data":
            if fmt is None:
                raise MediaError(NOT_WAV, f"{path}: data before fmt")
            start = offset + 8
            available = size - start
            closed = riff_size == size - 8 and length <= available
            data = length if closed else available
            rate, channels, width = fmt
            frame = channels * width
            return WavInfo(rate, channels, width, start, data - data % frame, closed)
        offset += 8 + length + (length & 1)
    raise MediaError(NOT_WAV, f"{path}: no data chunk")


@dataclass(frozen=True, slots=True)
class Converted:
    target: str  # the converted file's path
    duration: float  # seconds, as the converted file decodes
    original_duration: float
    loudness: float  # dBFS (RMS over the whole call); SILENCE for digital silence
    peak: float  # dBFS of the loudest sample
    sha256: str
    size: int


_SIGNED_BYTES = bytes((b + 128) & 0xFF for b in range(256))


def _dbfs(value: float) -> float:
    return round(value, 2) if math.isfinite(value) else SILENCE


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def convert(original: str, target: str, fmt: str = "opus", bitrate: str = "24k") -> Converted:
    """Convert `original` (a WAV, closed or not: an unclosed one is read to its end) into `target`
    in `fmt`, verify it decodes to the original's duration, and measure and hash it. The target
    is 0600 in 0700 folders. Raises MediaError with a stable code."""
    from pydub import AudioSegment  # imported in the worker process only
    from pydub.exceptions import CouldntDecodeError, CouldntEncodeError

    from tickets.files import private_folder

    source, out = Path(original), Path(target)
    info = wav_info(source)
    if not info.data_size:
        raise MediaError(EMPTY, f"{source}: no audio after the header")
    with source.open("rb") as f:
        f.seek(info.data_offset)
        pcm = f.read(info.data_size)
    if info.width == 1:  # 8-bit WAV samples are unsigned; pydub's are signed
        pcm = pcm.translate(_SIGNED_BYTES)
    audio = AudioSegment(data=pcm, sample_width=info.width, frame_rate=info.rate, channels=info.channels)
    muxer, codec, _ = FORMATS[fmt]
    private_folder(out.parent)
    for stale in out.parent.glob(glob.escape(f".{out.name}.") + "*"):  # a worker killed mid-conversion left them
        if stale.is_dir():
            shutil.rmtree(stale)
        else:
            stale.unlink(missing_ok=True)
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as sink:
            # VoIP mode; compression level 5 of 10: two thirds of the encoder's time for the
            # same size at 24 kbit/s (bench/recordings_convert.py)
            parameters = ["-application", "voip", "-compression_level", "5"] if codec == "libopus" else []
            # pydub copies the audio to temporary files and leaves them when ffmpeg fails: they
            # are made in a private folder beside the target, removed whatever happens
            with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.convert-") as scratch:
                before, tempfile.tempdir = tempfile.tempdir, scratch
                try:
                    audio.export(sink, format=muxer, codec=codec, bitrate=None if fmt == "wav" else bitrate,
                                 parameters=parameters)
                except CouldntEncodeError as exc:
                    raise MediaError(CONVERSION_FAILED, str(exc).strip().splitlines()[-1][:150]) from None
                finally:
                    tempfile.tempdir = before
            sink.flush()
            os.fsync(sink.fileno())
        try:
            decoded = AudioSegment.from_file(str(partial), format="ogg" if muxer == "opus" else muxer)
        except (CouldntDecodeError, IndexError) as exc:
            raise MediaError(NOT_DECODABLE, str(exc).strip().splitlines()[-1][:150] if str(exc) else "") from None
        if abs(decoded.duration_seconds - info.seconds) > TOLERANCE:
            raise MediaError(DURATION_MISMATCH, f"converted {decoded.duration_seconds:.2f} s, "
                                                f"original {info.seconds:.2f} s")
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return Converted(str(out), round(decoded.duration_seconds, 3), round(info.seconds, 3), _dbfs(audio.dBFS),
                     _dbfs(audio.max_dBFS), sha256_of(out), out.stat().st_size)


def lower_priority() -> None:
    """The pool's initializer: converting yields the CPU to the controller (ffmpeg inherits it)."""
    os.nice(10)
