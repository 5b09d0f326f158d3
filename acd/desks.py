"""Desks, skills and agents as configured: parsed once, validated with the line to blame.

A desk is served by one skill; agents hold several skills at levels 1 (novice) to 5 (expert).
Config errors (unknown skill, agent without device, clashing seat numbers) fail at start with
a message naming the line of the TOML file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from acd.routing import GENERAL_POOL, DeskPolicy, OverflowStep

ACD_CONFIG_ERROR = "acd-config-error"
LOST_CONNECTION_MODES = ("requeue", "callback")  # [acd] lost_connection


class AcdConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Desk:
    name: str  # e.g. "enterprise"
    label: str  # what supervisors read, e.g. 营商环境专席
    skill: str
    service_level: float = 15.0  # seconds: answered within this counts as on target
    wrap_up: float = 10.0  # seconds of after-call work before the agent is offered again
    max_queue: int = 50
    steps: tuple[OverflowStep, ...] = (OverflowStep(0.0, 1),)
    weight: float = 1.0
    season: tuple[str, str] | None = None  # ("11-15", "03-15"): open only then (MM-DD)

    def policy(self) -> DeskPolicy:
        return DeskPolicy(self.name, self.skill, self.steps, self.weight)

    def open_on(self, month_day: str) -> bool:
        if self.season is None:
            return True
        start, end = self.season
        if start <= end:
            return start <= month_day <= end
        return month_day >= start or month_day <= end  # a season across new year (heating)


EXTERNAL_SEAT_CONTEXT = "hotline-seat-phone"  # [hotline-seat-phone] rings an ordinary phone (generated)


def external_device(number: str) -> str:
    """The device of an agent logged in on an ordinary phone: a Local channel into
    [hotline-seat-phone], which dials the number through the trunk and answers for the citizen
    only once the agent pressed 1 (/n: the Local channel stays, so the agent's leg keeps a name
    the controller knows)."""
    return f"Local/{number}@{EXTERNAL_SEAT_CONTEXT}/n"


def device_prefix(device: str) -> str:
    """What the names of a device's channels begin with (a Local channel's name has no /n)."""
    return f"{device.removesuffix('/n')}-"


@dataclass(frozen=True, slots=True)
class AgentConfig:
    agent_id: str  # e.g. "agent1001": also the PJSIP endpoint name
    name: str
    device: str  # Dial string, e.g. "PJSIP/agent1001"
    seat: str  # the number an agent logs in with from the phone
    pin: str
    skills: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AcdConfig:
    desks: tuple[Desk, ...] = ()
    agents: tuple[AgentConfig, ...] = ()
    ring_timeout: float = 15.0  # seconds an offered call rings before it returns to its place
    threeway_ring_timeout: float = 30.0  # seconds 110 or a department may ring before the agent is back
    max_misses: int = 2  # unanswered offers in a row before the agent is auto-paused
    short_abandon: float = 5.0  # 秒挂: a caller gone within this many seconds of arriving is not offered
    # a citizen whose agent's connection went mid-call: back to the head of their queue
    # ("requeue") or told they will be called back, first of everyone waiting ("callback")
    lost_connection: str = "requeue"
    numbers: Mapping[str, str] = field(default_factory=dict)  # dialed number -> desk

    def desk_for(self, dialed: str, month_day: str = "") -> str | None:
        """The desk a dialed number lands on today (MM-DD); a desk out of its season (the
        heating desk in summer) hands its calls to the first desk, the general one. None when
        no desk is configured at all."""
        if not self.desks:
            return None
        name = self.numbers.get(dialed, self.desks[0].name)
        if month_day and not self.desk(name).open_on(month_day):
            return self.desks[0].name
        return name

    def desk(self, name: str) -> Desk:
        for desk in self.desks:
            if desk.name == name:
                return desk
        raise KeyError(name)

    def policies(self) -> dict[str, DeskPolicy]:
        return {d.name: d.policy() for d in self.desks}


def _line_of(text: str, *needles: str) -> int:
    """The first line mentioning all needles in order (tomllib keeps no positions)."""
    lines = text.splitlines()
    start = 0
    for needle in needles:
        for i in range(start, len(lines)):
            if needle in lines[i]:
                start = i
                break
        else:
            return 0
    return start + 1


def _fail(where: str, text: str, message: str, *needles: str) -> AcdConfigError:
    line = _line_of(text, *needles) if needles else 0
    at = f"{where}:{line}" if line else where
    return AcdConfigError(f"{ACD_CONFIG_ERROR}: {at}: {message}")


_SEASON = re.compile(r"^\d\d-\d\d$")


def parse_acd(data: Mapping[str, Any], *, text: str = "", where: str = "<config>") -> AcdConfig:
    desks: list[Desk] = []
    known_skills: set[str] = {GENERAL_POOL}
    for raw in data.get("desks", []):
        name = str(raw.get("name", ""))
        if not name:
            raise _fail(where, text, "a desk without a name", "[[acd.desks]]")
        steps = tuple(OverflowStep(float(s.get("after", 0)), int(s.get("min_level", 1)),
                                   bool(s.get("general_pool", False)))
                      for s in raw.get("overflow", [{"after": 0, "min_level": 1}]))
        if not steps or steps[0].after != 0:
            raise _fail(where, text, f"desk {name}: the first overflow step must start at 0 s", name, "overflow")
        if any(b.after <= a.after for a, b in zip(steps, steps[1:])):
            raise _fail(where, text, f"desk {name}: overflow steps must come later one after another", name, "overflow")
        if any(b.min_level > a.min_level or (a.general_pool and not b.general_pool)
               for a, b in zip(steps, steps[1:])):
            # the ACD serves a lane of callbacks from its head: a longer wait must never narrow
            raise _fail(where, text, f"desk {name}: overflow steps may only widen (min_level never rises, "
                        "the general pool stays open)", name, "overflow")
        if any(not 1 <= s.min_level <= 5 for s in steps):
            raise _fail(where, text, f"desk {name}: min_level must be 1..5", name, "overflow")
        season = raw.get("season")
        if season is not None and (len(season) != 2 or not all(_SEASON.match(str(x)) for x in season)):
            raise _fail(where, text, f"desk {name}: season must be [\"MM-DD\", \"MM-DD\"]", name)
        skill = str(raw.get("skill", name))
        known_skills.add(skill)
        desks.append(Desk(name=name, label=str(raw.get("label", name)), skill=skill,
                          service_level=float(raw.get("service_level", 15)),
                          wrap_up=float(raw.get("wrap_up", 10)),
                          max_queue=int(raw.get("max_queue", 50)), steps=steps,
                          weight=float(raw.get("weight", 1.0)),
                          season=(str(season[0]), str(season[1])) if season else None))
    if len({d.name for d in desks}) != len(desks):
        raise _fail(where, text, "two desks share a name", "[[acd.desks]]")
    agents: list[AgentConfig] = []
    seats: dict[str, str] = {}
    for raw in data.get("agents", []):
        agent_id = str(raw.get("id", ""))
        if not agent_id:
            raise _fail(where, text, "an agent without an id", "[[acd.agents]]")
        device = str(raw.get("device", ""))
        if not device:
            raise _fail(where, text, f"agent {agent_id} has no device", agent_id)
        skills = {str(k): int(v) for k, v in dict(raw.get("skills", {})).items()}
        for skill, level in skills.items():
            if skill not in known_skills:
                raise _fail(where, text, f"agent {agent_id}: unknown skill {skill!r}", agent_id, skill)
            if not 1 <= level <= 5:
                raise _fail(where, text, f"agent {agent_id}: skill {skill} level must be 1..5", agent_id, skill)
        seat = str(raw.get("seat", ""))
        if not seat.isdigit():
            raise _fail(where, text, f"agent {agent_id}: seat must be digits", agent_id)
        for other_seat, other in seats.items():
            if other_seat.startswith(seat) or seat.startswith(other_seat):
                raise _fail(where, text, f"agent {agent_id}: seat {seat} overlaps agent {other}'s "
                            f"seat {other_seat} (feature codes would be ambiguous)", agent_id)
        seats[seat] = agent_id
        agents.append(AgentConfig(agent_id=agent_id, name=str(raw.get("name", agent_id)),
                                  device=device, seat=seat, pin=str(raw.get("pin", "")),
                                  skills=skills))
    if len({a.agent_id for a in agents}) != len(agents):
        raise _fail(where, text, "two agents share an id", "[[acd.agents]]")
    numbers = {str(k): str(v) for k, v in dict(data.get("numbers", {})).items()}
    for number, desk_name in numbers.items():
        if desk_name not in {d.name for d in desks}:
            raise _fail(where, text, f"number {number} goes to unknown desk {desk_name!r}", number)
    lost_connection = str(data.get("lost_connection", "requeue"))
    if lost_connection not in LOST_CONNECTION_MODES:
        raise _fail(where, text, f"lost_connection must be one of {', '.join(LOST_CONNECTION_MODES)}, "
                    f"not {lost_connection!r}", "lost_connection")
    return AcdConfig(desks=tuple(desks), agents=tuple(agents), lost_connection=lost_connection,
                     ring_timeout=float(data.get("ring_timeout", 15)),
                     threeway_ring_timeout=float(data.get("threeway_ring_timeout", 30)),
                     max_misses=int(data.get("max_misses", 2)), numbers=numbers,
                     short_abandon=float(data.get("short_abandon", 5)))


def desk_names(desks: Sequence[Desk]) -> list[str]:
    return [d.name for d in desks]
