"""[recordings] of the configuration: where the files are, what they become, how long they stay.

Retention is counted in whole days of the city's calendar from the day the call ended: a
recording kept 180 days is deleted by the first purge after the 180th day. A call linked to
work orders is kept as long as the longest of their request types (`keep_days` by category:
complaints longer; a site's table is laid over the defaults, so naming one type keeps the
others' periods); a call with none keeps `default_keep_days`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time
from typing import Any

RECORDINGS_CONFIG_ERROR = "recordings-config-error"
FORMATS: dict[str, tuple[str, str, str]] = {  # name → (ffmpeg muxer, codec, file suffix)
    "opus": ("opus", "libopus", ".opus"),
    "mp3": ("mp3", "libmp3lame", ".mp3"),
    "wav": ("wav", "pcm_s16le", ".wav"),  # no compression: for sites that must keep PCM
}


class RecordingsConfigError(ValueError):
    def __init__(self, where: str, detail: str) -> None:
        super().__init__(f"{RECORDINGS_CONFIG_ERROR}: {where}: [recordings] {detail}")


@dataclass(frozen=True, slots=True)
class RecordingsConfig:
    enabled: bool = True  # convert, check and keep; false leaves MixMonitor's WAVs alone
    monitor_dir: str = "/var/spool/asterisk/monitor"  # where MixMonitor writes (names are relative to it)
    store_dir: str = ""  # where converted files go; "" = monitor_dir (shared storage: see the README)
    notice: bool = True  # the citizen hears 本次通话将被录音 before anything else
    format: str = "opus"
    bitrate: str = "24k"
    workers: int = 2  # conversion processes (niced: the controller's event loop goes first)
    silence_floor: float = -55.0  # dBFS: a recording quieter than this is flagged silent
    max_attempts: int = 5
    retry_after: float = 30.0  # seconds before the first retry; doubled each time, at most an hour
    settle: float = 120.0  # seconds after the call a WAV MixMonitor never closed is converted as it is
    poll: float = 2.0  # seconds between looks for new calls' recordings
    default_keep_days: int = 180
    keep_days: Mapping[str, int] = field(default_factory=lambda: {"complaint": 730, "report": 730})
    purge_at: time = time(3, 30)  # the daily retention run, city time

    @property
    def converted_dir(self) -> str:
        return self.store_dir or self.monitor_dir

    @property
    def suffix(self) -> str:
        return FORMATS[self.format][2]


_SCALARS = {"enabled": bool, "monitor_dir": str, "store_dir": str, "notice": bool, "format": str, "bitrate": str,
            "workers": int, "silence_floor": float, "max_attempts": int, "retry_after": float, "settle": float,
            "poll": float, "default_keep_days": int}


def _coerce(key: str, value: Any, kind: type, where: str) -> Any:
    if isinstance(value, str) and kind is not str:
        try:
            return value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
        except ValueError:
            raise RecordingsConfigError(where, f"{key} must be {kind.__name__}, got {value!r}") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise RecordingsConfigError(where, f"{key} must be {kind.__name__}, got {value!r}")
    return value


def parse_recordings(data: Mapping[str, Any], categories: Sequence[str], where: str,
                     env: Mapping[str, str] | None = None) -> RecordingsConfig:
    """The section, checked: a known format, positive counts, request types the catalog has.
    Scalars may come from the environment as HOTLINE_RECORDINGS_<KEY>."""
    given = dict(data)
    for key in set(given) - set(_SCALARS) - {"keep_days", "purge_at"}:
        raise RecordingsConfigError(where, f"unknown key {key}")
    for key in _SCALARS:
        env_key = f"HOTLINE_RECORDINGS_{key.upper()}"
        if env is not None and env_key in env:
            given[key] = env[env_key]
    values: dict[str, Any] = {k: _coerce(k, given[k], kind, where) for k, kind in _SCALARS.items() if k in given}
    if values.get("format", "opus") not in FORMATS:
        raise RecordingsConfigError(where, f"format {values['format']!r}: one of {', '.join(FORMATS)}")
    for key in ("workers", "max_attempts", "default_keep_days"):
        if values.get(key, 1) < 1:
            raise RecordingsConfigError(where, f"{key} must be at least 1")
    for key in ("retry_after", "settle", "poll"):  # nan and inf pass `> 0` and fail later, in timedelta
        if not math.isfinite(values.get(key, 1.0)) or values.get(key, 1.0) <= 0:
            raise RecordingsConfigError(where, f"{key} must be a positive number of seconds")
    if not math.isfinite(values.get("silence_floor", 0.0)):  # nan: no recording would ever be silent
        raise RecordingsConfigError(where, "silence_floor must be a number of dBFS, e.g. -55")
    if not re.fullmatch(r"\d{1,4}k", str(values.get("bitrate", "24k"))):
        raise RecordingsConfigError(where, f"bitrate {values['bitrate']!r}: kbit/s as ffmpeg takes it, e.g. \"24k\"")
    if "keep_days" in given:
        keep = given["keep_days"]
        if not isinstance(keep, Mapping):
            raise RecordingsConfigError(where, "keep_days is a table: { complaint = 730, … }")
        for category, days in keep.items():
            if category not in categories:
                raise RecordingsConfigError(where, f"keep_days: unknown request type {category!r} "
                                                   f"(one of {', '.join(categories)})")
            if not isinstance(days, int) or isinstance(days, bool) or days < 1:
                raise RecordingsConfigError(where, f"keep_days.{category} must be a whole number of days ≥ 1")
        # over the defaults (those of request types the site has): naming one keeps the others'
        values["keep_days"] = {**{c: d for c, d in RecordingsConfig().keep_days.items() if c in categories}, **keep}
    if "purge_at" in given:
        try:
            values["purge_at"] = time.fromisoformat(str(given["purge_at"]))
        except ValueError:
            raise RecordingsConfigError(where, f"purge_at {given['purge_at']!r}: a time of day, e.g. \"03:30\"") from None
    return RecordingsConfig(**values)
