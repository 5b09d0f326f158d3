"""A call whose recording went through the converter's steps, for the API's and the pages'
tests: MixMonitor's WAV (a tone), its call record, its row noted, converted for real
(recordings.media.convert, ffmpeg), the result stored. The WAV and the record are made as
tests/recordings/ makes them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from recordings.config import RecordingsConfig
from recordings.media import convert
from recordings.naming import converted_name
from recordings.store import RecordingStore
from tests.recordings.sound import tone, write_wav
from tests.recordings.world import call_record
from tickets.store import CallRecordStore


async def recorded(records: CallRecordStore, store: RecordingStore, config: RecordingsConfig, linkedid: str,
                   agent: str, seconds: float = 3.0) -> Path:
    """The converted file of a call `agent` answered; it ended five minutes ago."""
    ended = datetime.now(timezone.utc) - timedelta(minutes=5)
    name = f"{ended:%Y%m%d}/{linkedid}.wav"
    wav = write_wav(Path(config.monitor_dir) / name, tone(seconds, hz=600.0))
    await records.write_many([call_record(linkedid, ended, name, talk=seconds, agent=agent)])
    await store.note_new_calls(0, datetime.now(timezone.utc))
    file = converted_name(name, config.suffix)
    done = convert(str(wav), str(Path(config.converted_dir) / file))
    await store.converted(linkedid, file=file, fmt="opus", duration=done.duration, loudness=done.loudness,
                          silent=False, sha256=done.sha256, size=done.size, now=datetime.now(timezone.utc))
    return Path(done.target)
