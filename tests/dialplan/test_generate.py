"""The number plan: parsed with clear errors, and the generated dialplan kept in step with the
committed asterisk-conf/ file."""

from __future__ import annotations

from pathlib import Path

import pytest

import hotline_config
from dialplan.generate import FILENAME, render
from dialplan.plan import DialplanError, parse_dialplan

REPO = Path(__file__).resolve().parents[2]


def test_the_committed_dialplan_is_what_the_example_config_generates() -> None:
    config = hotline_config.load(REPO / "hotline.example.toml", env={})
    committed = (REPO / "asterisk-conf" / FILENAME).read_text(encoding="utf-8")
    assert committed == render(config.dialplan, "hotline.example.toml"), (
        "run: .venv/bin/python hotline_pbx.py dialplan generate")


def test_every_number_and_prefix_reaches_the_intake_with_the_short_number() -> None:
    plan = parse_dialplan({"did_prefixes": ["0571", "+86571"]}, {"12345": "general", "12315": "market"})
    text = render(plan, "x.toml")
    for dialed in ("12345", "057112345", "+8657112345"):
        assert f"exten => {dialed},1,Goto(hotline-intake,12345,1)" in text
    assert "exten => 12315,1,Goto(hotline-intake,12315,1) ; desk market" in text
    # a three-way call's third party is dialed through the trunk, openly or after a consult
    assert "Dial(PJSIP/${EXTEN:1}@carrier,${GLOBAL(HOTLINE_THREEWAY_RING)},G(hotline-joined^s^1))" in text
    # a called-back citizen hears that the call is recorded before the agent is put through
    assert "F(hotline-survey^s^1)U(hotline-record-notice^s^1))" in text
    assert "exten => _pX.,1," in text and "Set(CALLERID(num)=12345)" in text


def test_a_carrier_sending_the_number_in_the_to_header_is_read_from_there() -> None:
    plan = parse_dialplan({"did_from": "to", "trunk": "ct-trunk", "emergency_prefix": "9",
                           "outbound_callerid": "057112345"}, {"12345": "general"})
    text = render(plan, "x.toml")
    assert "${PJSIP_HEADER(read,To)}" in text and "Goto(hotline-did-to,s,1)" in text
    # the emergency prefix is the controller's to add (acd.handover.HandoverPlan): 9119 is dialed
    assert "Dial(PJSIP/${EXTEN:1}@ct-trunk," in text and "Set(CALLERID(num)=057112345)" in text


@pytest.mark.parametrize(("section", "numbers", "message"), [
    ({"did_from": "from"}, {}, "did_from must be one of request_uri, to"),
    ({"trunk": "bad name"}, {}, "is not a PJSIP endpoint name"),
    ({"did_prefixes": ["05x"]}, {}, "is not a number prefix"),
    ({}, {"12a45": "general"}, "is not a phone number"),
    ({"emergency": {"12345": "x"}}, {"12345": "general"}, "both a hotline and an emergency number"),
    ({"outbound_callerid": "call me"}, {}, "outbound_callerid"),
    ({"colour": "red"}, {}, "unknown key(s) colour"),
])
def test_a_bad_number_plan_is_refused_with_the_key_named(section: dict, numbers: dict, message: str) -> None:
    with pytest.raises(DialplanError, match="^dialplan-config-error") as err:
        parse_dialplan(section, numbers, "site.toml")
    assert "site.toml: [dialplan]" in str(err.value) and message in str(err.value)


def test_the_command_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hotline_pbx import main

    config = str(REPO / "sandbox.toml")
    assert main(["dialplan", "generate", "--config", config, "--out", str(tmp_path), "--check"]) == 1
    assert main(["dialplan", "generate", "--config", config, "--out", str(tmp_path)]) == 0
    assert main(["dialplan", "generate", "--config", config, "--out", str(tmp_path), "--check"]) == 0
    assert "12366" in (tmp_path / FILENAME).read_text(encoding="utf-8")
