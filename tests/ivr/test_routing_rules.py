"""The intake's routing rules (ivr.intake.decide) and the night plan, pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

import pytest

from acd.routing import Priority
from ivr.config import IntakeConfig, IntakeConfigError, NightPlan, parse_intake
from ivr.intake import decide

DESKS = ("general", "market", "enterprise")
DAY = datetime(2026, 11, 23, 10, 0)
NIGHT = datetime(2026, 11, 23, 23, 30)
SETTINGS = IntakeConfig(key_enterprises=frozenset({"057188886666"}), night=NightPlan(time(22), time(8), ("general",)))


@dataclass
class Order:
    number: str
    taken_by: str
    desk: str


def test_a_key_enterprise_goes_to_the_enterprise_desk_with_priority_whatever_it_dialed() -> None:
    routing = decide("market", "057188886666", None, Order("n1", "agent1001", "general"), SETTINGS, DESKS, DAY, False)
    assert (routing.desk, routing.priority, routing.open_order) == ("enterprise", Priority.KEY_ENTERPRISE, "")


def test_a_repeat_caller_goes_to_the_desk_and_agent_of_the_open_order() -> None:
    routing = decide("general", "13800000000", None, Order("3301-1", "agent1003", "market"), SETTINGS, DESKS, DAY, False)
    assert (routing.desk, routing.preferred_agent, routing.open_order) == ("market", "agent1003", "3301-1")
    unknown_desk = decide("general", "138", None, Order("3301-2", "agent1003", "gone"), SETTINGS, DESKS, DAY, False)
    assert unknown_desk.desk == "general" and unknown_desk.preferred_agent == "agent1003"


def test_a_menu_choice_beats_the_dialed_number_and_the_night_closes_desks() -> None:
    assert decide("general", "138", "market", None, SETTINGS, DESKS, DAY, False).desk == "market"
    assert decide("general", "138", "market", None, SETTINGS, DESKS, NIGHT, False).desk == "general"
    assert decide("market", "138", None, None, SETTINGS, DESKS, DAY, True).desk == "general"  # a holiday
    assert decide("market", "138", None, None, IntakeConfig(), DESKS, NIGHT, True).desk == "market"  # 7×24


@pytest.mark.parametrize(("moment", "covered"), [(time(21, 59), False), (time(22), True), (time(3), True),
                                                 (time(8), False), (time(12), False)])
def test_the_night_window_wraps_midnight(moment: time, covered: bool) -> None:
    assert NightPlan(time(22), time(8)).covers(moment) is covered


def test_the_intake_section_is_checked_against_the_desks() -> None:
    config = parse_intake({"key_enterprises": ["057188886666"], "night": {"desks": ["general"]},
                           "menus": [{"number": "12345", "prompt": "menu-example",
                                      "options": {"1": "general", "2": "market"}}]}, DESKS, "x.toml")
    assert config.menu_for("12345") is not None and config.menu_for("12345").desk_for("2") == "market"
    for bad, message in (({"night": {"desks": ["heating"]}}, "night.desks"),
                         ({"menus": [{"number": "12345", "prompt": "p", "options": {"x": "general"}}]}, "option"),
                         ({"key_enterprises": ["abc"]}, "key_enterprises"),
                         ({"callback_offer_after": -1}, "callback_offer_after"),
                         ({"shout": True}, "unknown key(s) shout")):
        with pytest.raises(IntakeConfigError, match="^intake-config-error") as err:
            parse_intake(bad, DESKS, "x.toml")
        assert message in str(err.value)
