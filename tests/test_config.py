from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import hotline_config
from hotline_config import ConfigError
from tests.host_tz import host_tz  # noqa: F401

REPO = Path(__file__).resolve().parent.parent


def test_the_shipped_example_and_sandbox_files_load() -> None:
    example = hotline_config.load(REPO / "hotline.example.toml", env={})
    assert example.asterisk.ami_host == "127.0.0.1"
    assert example.agi.bind == "127.0.0.1"
    sandbox = hotline_config.load(REPO / "sandbox.toml", env={})
    assert sandbox.asterisk.ami_secret_file.endswith("ami.secret")


def test_environment_overrides_the_file_and_is_typed(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[agi]\nport = 4600\n")
    cfg = hotline_config.load(path, env={"HOTLINE_AGI_PORT": "4700", "HOTLINE_AGI_COMMAND_TIMEOUT": "2"})
    assert cfg.agi.port == 4700
    assert cfg.agi.command_timeout == 2.0


@pytest.mark.parametrize("text, needle", [
    ("[agi]\nport = 'x'\n", "[agi] port must be int"),
    ("[agi]\nprot = 1\n", "unknown key [agi] prot"),
    ("[nonsense]\n", "unknown section(s) nonsense"),
    ("[agi\n", "c.toml"),
])
def test_bad_config_fails_with_a_message_naming_the_problem(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        hotline_config.load(path, env={})
    assert needle in str(err.value)
    assert str(err.value).startswith("config-error: ")


def test_the_ami_secret_comes_from_the_environment_or_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "s"
    secret.write_text("abc\n")
    cfg = hotline_config.load(None, env={}).asterisk
    monkeypatch.delenv("HOTLINE_AMI_SECRET", raising=False)
    with pytest.raises(ConfigError, match="cannot read the AMI secret"):
        cfg.ami_secret()
    cfg2 = hotline_config.AsteriskConfig(ami_secret_file=str(secret))
    assert cfg2.ami_secret() == "abc"
    monkeypatch.setenv("HOTLINE_AMI_SECRET", "fromenv")
    assert cfg2.ami_secret() == "fromenv"


# ---- the city's time zone (issue 13) ----

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_the_city_zone_defaults_to_china_standard_time_and_is_checked(tmp_path: Path) -> None:
    assert hotline_config.load(None, env={}).city.zone() == SHANGHAI
    assert hotline_config.load(REPO / "hotline.example.toml", env={}).city.time_zone == "Asia/Shanghai"
    assert hotline_config.load(REPO / "sandbox.toml", env={}).city.time_zone == "Asia/Shanghai"
    path = tmp_path / "c.toml"
    path.write_text('[city]\ntime_zone = "Asia/Urumqi"\n')
    config = hotline_config.load(path, env={})
    assert config.city.zone() == ZoneInfo("Asia/Urumqi")
    assert config.orders.deadlines.calendar.zone == ZoneInfo("Asia/Urumqi")  # the calendar counts its days
    assert hotline_config.load(path, env={"HOTLINE_CITY_TIME_ZONE": "Asia/Harbin"}).city.time_zone == "Asia/Harbin"
    for bad in ("Mars/Olympus_Mons", "", "../../etc/passwd"):
        path.write_text(f'[city]\ntime_zone = "{bad}"\n')
        with pytest.raises(ConfigError, match=r"\[city\] time_zone .* is not a time zone"):
            hotline_config.load(path, env={})


@pytest.mark.parametrize(("utc", "open_"), [
    (datetime(2026, 11, 23, 23, 59), False),  # 07:59 in Beijing
    (datetime(2026, 11, 24, 0, 0), True),     # 08:00
    (datetime(2026, 11, 24, 11, 59), True),   # 19:59
    (datetime(2026, 11, 24, 12, 0), False),   # 20:00
    (datetime(2026, 11, 24, 3, 0), True),     # 11:00 in Beijing, 03:00 UTC, 22:00 in New York
])
def test_callback_business_hours_are_the_citys_whatever_the_hosts_zone(host_tz: str, utc: datetime, open_: bool) -> None:
    epoch = utc.replace(tzinfo=timezone.utc).timestamp()
    assert hotline_config.CallbacksConfig(business_hours="08:00-20:00").in_business_hours(epoch, SHANGHAI) is open_
    # a night window across midnight, on the city's clock too
    assert hotline_config.CallbacksConfig(business_hours="20:00-08:00").in_business_hours(epoch, SHANGHAI) is not open_
