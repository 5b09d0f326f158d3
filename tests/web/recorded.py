"""A call whose recording went through the converter's steps, for the API's and the pages'
tests: MixMonitor's WAV (sox: a tone), its call record, its row noted, converted for real
(recordings.media.convert, ffmpeg), the result stored."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

from acd.records import CallRecord, Disposition
from recordings.config import RecordingsConfig
from recordings.media import convert
from recordings.naming import converted_name
from recordings.store import RecordingStore
from tickets.store import CallRecordStore


async def recorded(records: CallRecordStore, store: RecordingStore, config: RecordingsConfig, linkedid: str,
                   agent: str, seconds: float = 3.0) -> Path:
    """The converted file of a call `agent` answered; it ended five minutes ago."""
    ended = datetime.now(timezone.utc) - timedelta(minutes=5)
    name = f"{ended:%Y%m%d}/{linkedid}.wav"
    wav = Path(config.monitor_dir) / name
    wav.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(wav), "synth", str(seconds),
                    "sine", "600", "vol", "0.1"], check=True)
    await records.write_many([CallRecord(
        linkedid, "13800009999", "市民", "12345", ended - timedelta(seconds=seconds + 10),
        ended - timedelta(seconds=seconds + 10), ended, Disposition.ANSWERED, 16, recording=name, desk="general",
        agent=agent, queue_wait=2.0, talk_time=seconds)])
    await store.note_new_calls(0, datetime.now(timezone.utc))
    target = Path(config.converted_dir) / converted_name(name, config.suffix)
    done = convert(str(wav), str(target))
    await store.converted(linkedid, file=converted_name(name, config.suffix), fmt="opus", duration=done.duration,
                          loudness=done.loudness, silent=False, sha256=done.sha256, size=done.size,
                          now=datetime.now(timezone.utc))
    return target
