"""Recordings as MixMonitor leaves them, made here: WAVs closed (the sizes in the header) or
still open (sizes 0, as while it writes or after Asterisk died), and ffprobe's independent word
on what a converted file is."""

from __future__ import annotations

import json
import math
import struct
import subprocess
import wave
from pathlib import Path

RATE = 8000  # MixMonitor's .wav: 16-bit linear PCM at 8 kHz, mono


def tone(seconds: float, *, rate: int = RATE, amplitude: float = 0.1, hz: float = 440.0, channels: int = 1) -> bytes:
    """16-bit PCM of a sine at `amplitude` of full scale (RMS = amplitude/√2: 0.1 is ≈ -23 dBFS)."""
    frames = int(seconds * rate)
    samples = (int(amplitude * 32767 * math.sin(2 * math.pi * hz * i / rate)) for i in range(frames))
    return b"".join(struct.pack("<h", s) * channels for s in samples)


def silence(seconds: float, *, rate: int = RATE) -> bytes:
    return b"\0\0" * int(seconds * rate)


def write_wav(path: Path, pcm: bytes, *, rate: int = RATE, channels: int = 1, width: int = 2,
              closed: bool = True) -> Path:
    """A WAV as a writer leaves it: `closed` with its sizes (the stdlib writer, as MixMonitor
    on stopping), or open with RIFF and data sizes 0 (MixMonitor while writing, or killed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if closed:
        with wave.open(str(path), "wb") as w:
            w.setnchannels(channels)
            w.setsampwidth(width)
            w.setframerate(rate)
            w.writeframes(pcm)
        return path
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * width, channels * width, width * 8)
    path.write_bytes(b"RIFF" + struct.pack("<I", 0) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
                     + b"data" + struct.pack("<I", 0) + pcm)
    return path


def probe(path: Path) -> tuple[str, str, float]:
    """(container, codec, seconds) as ffprobe decodes the file: not the code under test's word."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=format_name,duration:stream=codec_name",
                          "-of", "json", str(path)], check=True, capture_output=True, text=True).stdout
    found = json.loads(out)
    return found["format"]["format_name"], found["streams"][0]["codec_name"], float(found["format"]["duration"])


def decoded_seconds(path: Path) -> float:
    """The length of the audio when decoded to the end (ffmpeg counts the samples)."""
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", "8000", "-"],
                         check=True, capture_output=True).stdout
    return len(out) / 2 / 8000
