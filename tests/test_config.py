from pathlib import Path

import pytest

import hotline_config
from hotline_config import ConfigError

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
