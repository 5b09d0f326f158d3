"""A seat's SIP password: strong, its own, kept in one file only the service reads, outside the
checkout, and never shown by the commands that make it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import hotline_pbx
from seats.credentials import BAD_FILE, IN_CHECKOUT, UNKNOWN_SEAT, Credentials, CredentialsError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_seat_gets_a_strong_password_of_its_own_in_a_file_only_the_service_reads(tmp_path: Path) -> None:
    book = Credentials(tmp_path / "etc" / "sip-credentials")
    made, kept = book.ensure(["agent1001", "agent1002", "super2001"])
    assert (made, kept) == (["agent1001", "agent1002", "super2001"], [])
    table = book.read()
    assert len(set(table.values())) == 3 and all(len(p) >= 32 for p in table.values())
    assert mode(book.path) == 0o600 and mode(book.path.parent) == 0o700


def test_a_second_run_keeps_every_password_and_a_rotation_changes_only_that_seat(tmp_path: Path) -> None:
    book = Credentials(tmp_path / "sip-credentials")
    book.ensure(["agent1001", "agent1002"])
    first = book.read()
    assert book.ensure(["agent1001", "agent1002", "agent1003"]) == (["agent1003"], ["agent1001", "agent1002"])
    assert {k: v for k, v in book.read().items() if k != "agent1003"} == first
    made, _ = book.ensure(["agent1001", "agent1002", "agent1003"], rotate=["agent1002"])
    after = book.read()
    assert made == ["agent1002"] and after["agent1002"] != first["agent1002"] and after["agent1001"] == first["agent1001"]


def test_rotating_a_seat_not_provisioned_changes_nothing(tmp_path: Path) -> None:
    book = Credentials(tmp_path / "sip-credentials")
    book.ensure(["agent1001"])
    before = book.path.read_text()
    with pytest.raises(CredentialsError) as caught:
        book.ensure(["agent1001"], rotate=["agent9999"])
    assert caught.value.code == UNKNOWN_SEAT and book.path.read_text() == before


def test_a_file_inside_the_checkout_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError) as caught:
        Credentials(Path(hotline_pbx.__file__).parent / "secrets" / "sip-credentials")
    assert caught.value.code == IN_CHECKOUT


def test_a_damaged_file_is_reported_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "sip-credentials"
    path.write_text('agent1001 = "ok"\nagent1002 = 12\n')
    path.chmod(0o600)
    with pytest.raises(CredentialsError) as caught:
        Credentials(path).ensure(["agent1003"])
    assert caught.value.code == BAD_FILE and path.read_text() == 'agent1001 = "ok"\nagent1002 = 12\n'


def test_a_file_others_could_read_is_tightened_when_read(tmp_path: Path) -> None:
    book = Credentials(tmp_path / "sip-credentials")
    book.ensure(["agent1001"])
    os.chmod(book.path, 0o644)
    book.read()
    assert mode(book.path) == 0o600


def test_the_commands_never_print_a_password_but_the_one_asked_for(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    site = tmp_path / "site.toml"
    credentials = tmp_path / "secret" / "sip-credentials"
    site.write_text(hotline_pbx.SANDBOX_CONFIG.read_text(encoding="utf-8")
                    + f'\n[seats]\nprovision = "*"\ncredentials = "{credentials}"\n', encoding="utf-8")
    assert hotline_pbx.main(["seats", "credentials", "--config", str(site)]) == 0
    said = capsys.readouterr()
    passwords = Credentials(credentials).read()
    assert passwords and not any(p in said.out + said.err for p in passwords.values())
    assert hotline_pbx.main(["seats", "password", "agent1001", "--config", str(site)]) == 0
    assert capsys.readouterr().out.strip() == passwords["agent1001"]
    assert hotline_pbx.main(["seats", "password", "agent9999", "--config", str(site)]) == 2
    assert UNKNOWN_SEAT in capsys.readouterr().err
