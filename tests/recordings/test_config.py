"""[recordings] as the site's administrator writes it: a mistake stops the controller with a
message naming the key and what it takes, before any recording is touched."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

import hotline_config
from hotline_config import ConfigError
from recordings.config import RecordingsConfig


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> hotline_config.Config:
    path = tmp_path / "hotline.toml"
    path.write_text(text, encoding="utf-8")
    return hotline_config.load(path, env=env or {})


def test_without_a_section_recordings_are_opus_kept_180_days_complaints_730() -> None:
    config = hotline_config.load(None, env={}).recordings
    assert config == RecordingsConfig()
    assert (config.format, config.suffix, config.default_keep_days) == ("opus", ".opus", 180)
    assert config.keep_days == {"complaint": 730, "report": 730} and config.purge_at == time(3, 30)
    assert config.converted_dir == config.monitor_dir == "/var/spool/asterisk/monitor"


def test_a_section_is_read_with_its_types(tmp_path: Path) -> None:
    config = load(tmp_path, """
[recordings]
format = "mp3"
bitrate = "32k"
store_dir = "/srv/recordings"
workers = 4
settle = 30
keep_days = { consultation = 30, complaint = 1095 }
purge_at = 04:15:00
""").recordings
    assert (config.format, config.suffix, config.bitrate, config.workers) == ("mp3", ".mp3", "32k", 4)
    assert config.converted_dir == "/srv/recordings" and config.settle == 30.0
    # laid over the defaults: reports keep their 730 days although only two types were named
    assert config.keep_days == {"consultation": 30, "complaint": 1095, "report": 730} and config.purge_at == time(4, 15)
    assert load(tmp_path, '[recordings]\npurge_at = "02:00"\n').recordings.purge_at == time(2, 0)


def test_the_format_can_come_from_the_environment_over_the_file(tmp_path: Path) -> None:
    assert load(tmp_path, "", {"HOTLINE_RECORDINGS_FORMAT": "mp3"}).recordings.suffix == ".mp3"
    config = load(tmp_path, '[recordings]\nformat = "wav"\nworkers = 3\n',
                  {"HOTLINE_RECORDINGS_FORMAT": "mp3", "HOTLINE_RECORDINGS_WORKERS": "1",
                   "HOTLINE_RECORDINGS_ENABLED": "false"}).recordings
    assert (config.format, config.workers, config.enabled) == ("mp3", 1, False)


def test_keep_days_may_name_the_site_s_own_request_types(tmp_path: Path) -> None:
    config = load(tmp_path, """
[[orders.categories]]
code = "consultation"
[[orders.categories]]
code = "heating_complaint"
[recordings]
keep_days = { heating_complaint = 365 }
""").recordings
    assert config.keep_days == {"heating_complaint": 365}


@pytest.mark.parametrize("text, env, needle", [
    ('format = "flac"', {}, "[recordings] format 'flac': one of opus, mp3, wav"),
    ("", {"HOTLINE_RECORDINGS_FORMAT": "aac"}, "format 'aac': one of opus, mp3, wav"),
    ("keep_days = { complant = 730 }", {}, "keep_days: unknown request type 'complant' (one of consultation,"),
    ("keep_days = { complaint = 0 }", {}, "keep_days.complaint must be a whole number of days ≥ 1"),
    ("keep_days = { complaint = 36.5 }", {}, "keep_days.complaint must be a whole number of days ≥ 1"),
    ("keep_days = 730", {}, "keep_days is a table"),
    ('purge_at = "25:00"', {}, "purge_at '25:00': a time of day"),
    ('purge_at = "03:30 every day"', {}, "purge_at '03:30 every day': a time of day"),
    ("workers = 0", {}, "[recordings] workers must be at least 1"),
    ("", {"HOTLINE_RECORDINGS_WORKERS": "0"}, "workers must be at least 1"),
    ("", {"HOTLINE_RECORDINGS_WORKERS": "two"}, "workers must be int, got 'two'"),
    ("workers = true", {}, "workers must be int, got True"),
    ("max_attempts = -1", {}, "max_attempts must be at least 1"),
    ("default_keep_days = 0", {}, "default_keep_days must be at least 1"),
    ("retry_after = 0", {}, "retry_after must be a positive number of seconds"),
    ("settle = -5", {}, "settle must be a positive number of seconds"),
    ("settle = nan", {}, "settle must be a positive number of seconds"),
    ("poll = inf", {}, "poll must be a positive number of seconds"),
    ("", {"HOTLINE_RECORDINGS_RETRY_AFTER": "nan"}, "retry_after must be a positive number of seconds"),
    ("silence_floor = nan", {}, "silence_floor must be a number of dBFS"),
    ('bitrate = "24kbps"', {}, "bitrate '24kbps'"),
    ('monitor_dir = 5', {}, "monitor_dir must be str, got 5"),
    ('formt = "mp3"', {}, "[recordings] unknown key formt"),
])
def test_a_bad_value_stops_the_start_with_a_message_naming_it(
        tmp_path: Path, text: str, env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, f"[recordings]\n{text}\n", env)
    message = str(raised.value)
    assert message.startswith("config-error: recordings-config-error: ") and "hotline.toml" in message
    assert needle in message
