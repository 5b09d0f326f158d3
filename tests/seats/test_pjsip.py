"""What Asterisk is given for the roster's seats: every seat its own password, home seats on
TLS with SRTP that cannot be skipped, and nothing Asterisk would load half-configured."""

from __future__ import annotations

import dataclasses
import re

import pytest

import hotline_config
from hotline_config import Config, SeatsConfig
from seats.apply import NOT_PROVISIONABLE, roster_seats
from seats.pjsip import BAD_SEAT, NO_PASSWORD, TLS_TRANSPORT, Seat, SeatsError, TlsTransport, inside_root, render
from hotline_pbx import SANDBOX_CONFIG

TLS = TlsTransport(bind="203.0.113.5:5061", cert_file="/etc/asterisk/keys/server.crt",
                   key_file="/etc/asterisk/keys/server.key", ca_file="/etc/asterisk/keys/ca.crt")


def sections(text: str) -> dict[str, list[tuple[str, str, dict[str, str]]]]:
    """name -> [(template, type-ish first line, options)] as Asterisk's config parser reads it."""
    found: dict[str, list[tuple[str, str, dict[str, str]]]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        line = line.split(";", 1)[0].strip()
        if not line:
            continue
        header = re.fullmatch(r"\[([^\]]+)\](?:\(([^)]*)\))?", line)
        if header:
            current = {}
            found.setdefault(header.group(1), []).append((header.group(2) or "", "", current))
            continue
        key, _, value = line.partition("=")
        assert current is not None, line
        current[key.strip()] = value.strip()
    return found


def test_every_seat_gets_an_endpoint_an_auth_with_its_own_password_and_an_aor() -> None:
    seats = [Seat("agent1001", "王芳", "1001"), Seat("super2001", "李班长", "2001", supervisor=True)]
    text = render(seats, {"agent1001": "pw-one", "super2001": "pw-two"}, None)
    parsed = sections(text)
    for seat, template, password in (("agent1001", "agent-endpoint", "pw-one"),
                                     ("super2001", "supervisor-endpoint", "pw-two")):
        endpoint, auth, aor = parsed[seat]
        assert endpoint[0] == template and endpoint[2]["auth"] == seat == endpoint[2]["aors"]
        assert auth[0] == "agent-auth" and auth[2] == {"username": seat, "password": password}
        assert aor[0] == "agent-aor"
    assert parsed["agent1001"][0][2]["callerid"] == '"王芳" <1001>'
    assert TLS_TRANSPORT not in parsed and "media_encryption" not in text  # a hall seat stays plain


def test_a_home_seat_is_on_the_tls_transport_with_srtp_it_cannot_fall_back_from() -> None:
    text = render([Seat("agent1001", "王芳", "1001", home=True), Seat("agent1002", "李娜", "1002")],
                  {"agent1001": "a", "agent1002": "b"}, TLS)
    parsed = sections(text)
    [(_, _, transport)] = parsed[TLS_TRANSPORT]
    assert transport["protocol"] == "tls" and transport["bind"] == TLS.bind
    assert (transport["cert_file"], transport["priv_key_file"], transport["ca_list_file"]) == (
        TLS.cert_file, TLS.key_file, TLS.ca_file)
    assert transport["method"] == "tlsv1_2"
    home_endpoint, hall_endpoint = parsed["agent1001"][0][2], parsed["agent1002"][0][2]
    assert home_endpoint["transport"] == TLS_TRANSPORT
    assert (home_endpoint["media_encryption"], home_endpoint["media_encryption_optimistic"]) == ("sdes", "no")
    assert int(parsed["agent1001"][2][2]["qualify_frequency"]) < 30  # the home router's NAT kept open
    assert "transport" not in hall_endpoint and "media_encryption" not in hall_endpoint


def test_asterisk_behind_nat_itself_announces_its_public_address_outside_the_local_networks() -> None:
    tls = dataclasses.replace(TLS, external_address="198.51.100.7", local_net=("10.0.0.0/8", "192.168.0.0/16"))
    [(_, _, transport)] = sections(render([], {}, tls))[TLS_TRANSPORT]
    assert transport["external_signaling_address"] == transport["external_media_address"] == "198.51.100.7"
    assert re.findall(r"^local_net = (.+)$", render([], {}, tls), re.M) == ["10.0.0.0/8", "192.168.0.0/16"]


@pytest.mark.parametrize(("seats", "passwords", "tls", "code"), [
    ([Seat("agent1001", "王芳", "1001")], {}, None, NO_PASSWORD),  # never an endpoint anyone may register as
    ([Seat("agent1001", "王芳", "1001", home=True)], {"agent1001": "a"}, None, BAD_SEAT),  # a home seat without TLS
    ([Seat("agent 1001]", "x", "1")], {"agent 1001]": "a"}, None, BAD_SEAT),  # would break the file
])
def test_a_seat_asterisk_would_load_half_configured_is_refused(seats, passwords, tls, code) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SeatsError) as caught:
        render(seats, passwords, tls)
    assert caught.value.code == code


def test_a_display_name_cannot_break_out_of_its_caller_id() -> None:
    text = render([Seat("agent1001", 'Wang "boss"\nauth = x', "1001")], {"agent1001": "pw"}, None)
    endpoint = sections(text)["agent1001"][0][2]
    assert endpoint["callerid"] == '"Wang boss auth = x" <1001>' and endpoint["auth"] == "agent1001"


def test_paths_are_written_as_a_chrooted_asterisk_sees_them() -> None:
    assert inside_root("/var/cache/root/etc/asterisk/keys/ca.crt", "/var/cache/root") == "/etc/asterisk/keys/ca.crt"
    assert inside_root("/etc/asterisk/keys/ca.crt", "") == "/etc/asterisk/keys/ca.crt"


def _site(provision: str, home: str = "") -> Config:
    base = hotline_config.load(SANDBOX_CONFIG, env={})
    return dataclasses.replace(base, seats=SeatsConfig(provision=provision, home=home))


def test_the_whole_roster_or_the_named_seats_are_provisioned() -> None:
    every = roster_seats(_site("*", home="agent1002"))
    base = hotline_config.load(SANDBOX_CONFIG, env={})
    assert [s.name for s in every] == [a.agent_id for a in base.acd.agents] + [s.supervisor_id for s in base.supervisors]
    assert [s.name for s in every if s.home] == ["agent1002"]
    assert [s.name for s in every if s.supervisor] == [s.supervisor_id for s in base.supervisors]
    assert [(s.name, s.home) for s in roster_seats(_site("agent1001, agent1003", home="*"))] == [
        ("agent1001", True), ("agent1003", True)]
    assert roster_seats(_site("")) == []


def test_a_seat_not_in_the_roster_or_not_a_pjsip_endpoint_of_its_name_is_refused() -> None:
    with pytest.raises(SeatsError) as caught:
        roster_seats(_site("agent9999"))
    assert caught.value.code == NOT_PROVISIONABLE and "agent9999" in str(caught.value)
    base = _site("agent1001")
    moved = dataclasses.replace(base.acd.agents[0], device="PJSIP/somebody-else")
    config = dataclasses.replace(base, acd=dataclasses.replace(base.acd, agents=(moved, *base.acd.agents[1:])))
    with pytest.raises(SeatsError) as caught:
        roster_seats(config)
    assert caught.value.code == NOT_PROVISIONABLE
