import tomllib

import pytest

from acd.desks import AcdConfigError, parse_acd

GOOD = """
[acd]
ring_timeout = 12

[[acd.desks]]
name = "general"
label = "综合受理"

[[acd.desks]]
name = "heating"
label = "供热专席"
season = ["11-15", "03-15"]
overflow = [{after = 0, min_level = 3}, {after = 30, min_level = 1, general_pool = true}]

[[acd.agents]]
id = "agent1001"
device = "PJSIP/agent1001"
seat = "1001"
pin = "4321"
skills = {general = 3, heating = 5}
"""


def parse(text: str):
    return parse_acd(tomllib.loads(text)["acd"], text=text, where="hotline.toml")


def test_a_good_config_parses() -> None:
    cfg = parse(GOOD)
    assert cfg.ring_timeout == 12
    heating = cfg.desk("heating")
    assert heating.open_on("12-01") and heating.open_on("02-28") and not heating.open_on("07-01")
    assert cfg.agents[0].skills == {"general": 3, "heating": 5}
    assert cfg.lost_connection == "requeue"  # the citizen waits on, unless a site chooses callbacks
    assert parse(GOOD.replace("ring_timeout = 12", 'lost_connection = "callback"')).lost_connection == "callback"


@pytest.mark.parametrize("change, message, line", [
    (("heating = 5", "boiler = 5"), "agent agent1001: unknown skill 'boiler'", 20),
    (('device = "PJSIP/agent1001"\n', ""), "agent agent1001 has no device", 16),
    (("min_level = 3", "min_level = 7"), "desk heating: min_level must be 1..5", 13),
    (("ring_timeout = 12", 'lost_connection = "hangup"'),
     "lost_connection must be one of requeue, callback, not 'hangup'", 3),
])
def test_config_errors_name_the_line(change, message, line) -> None:
    with pytest.raises(AcdConfigError) as err:
        parse(GOOD.replace(*change))
    assert str(err.value) == f"acd-config-error: hotline.toml:{line}: {message}"


def test_overlapping_seat_numbers_are_refused() -> None:
    text = GOOD + '\n[[acd.agents]]\nid = "agent1002"\ndevice = "PJSIP/agent1002"\nseat = "100"\n'
    with pytest.raises(AcdConfigError, match="seat 100 overlaps agent agent1001's seat 1001"):
        parse(text)


def test_a_desk_out_of_season_hands_its_number_to_the_general_desk() -> None:
    text = GOOD + '\n[acd.numbers]\n"12319" = "heating"\n'
    cfg = parse(text.replace("[acd]\nring_timeout = 12\n", "[acd]\nring_timeout = 12\n"))
    assert cfg.desk_for("12319", "01-10") == "heating"
    assert cfg.desk_for("12319", "07-01") == "general"
    assert cfg.desk_for("99999", "07-01") == "general"
