"""The number plan as the operator writes it in the config: what it maps, what it refuses and
the exact words the refusal is logged with (the config file, `[dialplan]`, the key, the reason)."""

from __future__ import annotations

from typing import Any

import pytest

from dialplan.generate import render
from dialplan.plan import DEFAULT_EMERGENCY, DialplanError, parse_dialplan

CODE = "dialplan-config-error"


@pytest.mark.parametrize(("section", "numbers", "detail"), [
    ({"colour": "red", "size": 2}, {}, "unknown key(s) colour, size"),
    ({"did_prefixes": "0571"}, {}, "did_prefixes must be a list"),
    ({"emergency_prefix": "9x"}, {}, "emergency_prefix must be digits"),
    ({"emergency_prefix": 9}, {}, "emergency_prefix must be digits"),
    ({"emergency": {}}, {}, "emergency must be a table of number = label"),
    ({"emergency": ["110"]}, {}, "emergency must be a table of number = label"),
    # the hotline's and the emergency services' numbers are dialed as digits, never with a "+"
    ({}, {"+12345": "general"}, "number: '+12345' is not a phone number"),
    ({"emergency": {"+110": "公安"}}, {}, "number: '+110' is not a phone number"),
    ({"emergency": {"12345": "x", "12315": "y"}}, {"12345": "general", "12315": "market"},
     "12315, 12345 is both a hotline and an emergency number"),
    ({"outbound_callerid": "call me"}, {}, "outbound_callerid: 'call me' is not a phone number"),
    # a callback's Dial string: one line, and it must say where the citizen's number goes
    ({"outbound_dial": "PJSIP/057112345@carrier"}, {}, "outbound_dial must be one Dial string containing {number}"),
    ({"outbound_dial": "PJSIP/{number}@carrier\n same => n,System(reboot)"}, {},
     "outbound_dial must be one Dial string containing {number}"),
    ({"outbound_dial": 42}, {}, "outbound_dial must be one Dial string containing {number}"),
])
def test_a_refused_number_plan_names_the_file_the_section_and_the_reason(
        section: dict[str, Any], numbers: dict[str, str], detail: str) -> None:
    with pytest.raises(DialplanError) as err:
        parse_dialplan(section, numbers, "site.toml")
    assert err.value.code == CODE
    assert str(err.value) == f"{CODE}: site.toml: [dialplan] {detail}"


def test_without_a_file_name_the_refusal_says_config() -> None:
    with pytest.raises(DialplanError) as err:
        parse_dialplan({"did_prefixes": "0571"}, {})
    assert str(err.value) == f"{CODE}: <config>: [dialplan] did_prefixes must be a list"


def test_the_callback_number_shown_to_citizens_may_be_international() -> None:
    # only the numbers dialed inbound must be plain digits; the caller ID shown may carry a "+"
    plan = parse_dialplan({"outbound_callerid": "+8657112345"}, {"12345": "general"})
    assert plan.outbound_callerid == "+8657112345"
    assert "Set(CALLERID(num)=+8657112345)" in render(plan, "x.toml")


def test_a_city_with_its_own_emergency_table_transfers_to_those_numbers_only() -> None:
    plan = parse_dialplan({"emergency": {"110": "公安", "119": "消防"}}, {"12345": "general"})
    assert plan.emergency == (("110", "公安"), ("119", "消防"))
    assert plan.emergency_numbers() == ("110", "119")
    # the controller dials only these (tests/acd/test_handover.py: 120 is refused)


def test_without_an_emergency_table_the_four_national_numbers_are_reachable() -> None:
    plan = parse_dialplan({}, {"12345": "general"})
    assert plan.emergency == DEFAULT_EMERGENCY
    assert plan.emergency_numbers() == ("110", "119", "120", "122")


def test_callbacks_dial_through_the_configured_dial_string() -> None:
    default = parse_dialplan({"trunk": "ct-trunk"}, {"12345": "general"})
    assert default.outbound() == "PJSIP/${EXTEN}@ct-trunk"
    own = parse_dialplan({"outbound_dial": "Local/{number}@callbacks"}, {"12345": "general"})
    assert own.outbound() == "Local/${EXTEN}@callbacks"
    assert "Dial(Local/${EXTEN}@callbacks," in render(own, "x.toml")
