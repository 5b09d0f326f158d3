"""What the citizen hears and where the intake sends them: `[intake]` in the config.

No menu by default (GB/T 33358: phone intake should not make citizens press keys to be
heard); a site may add a short menu per dialed number. Key enterprises go to the enterprise
desk with priority. A night plan (and days off: weekends and public holidays of the [orders]
calendar, not its make-up working days) keeps fewer desks open; calls for a closed desk go to
the general desk. The night's start and end are the city's local time ([city] time_zone).

    [intake]
    key_enterprises = ["057188886666"]   # callers served by the enterprise desk, with priority
    enterprise_desk = "enterprise"
    survey = true                         # the satisfaction survey after the agent hangs up
    callback_offer_after = 60             # seconds of waiting before a callback is offered; 0: never
    [intake.night]
    start = "22:00"
    end = "08:00"
    desks = ["general"]                   # open at night and on days off
    [[intake.menus]]
    number = "12345"
    prompt = "menu-example"
    options = { "1" = "general", "2" = "market" }
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from acd.errors import StableError

INTAKE_ERROR = "intake-config-error"


class IntakeConfigError(StableError):
    pass


@dataclass(frozen=True, slots=True)
class Menu:
    number: str
    prompt: str
    options: tuple[tuple[str, str], ...]  # (key, desk)
    timeout: float = 5.0
    default: str = ""  # desk on no input or a wrong key twice; "" = the number's own desk

    def desk_for(self, key: str) -> str | None:
        return dict(self.options).get(key)


@dataclass(frozen=True, slots=True)
class NightPlan:
    start: time = time(22, 0)
    end: time = time(8, 0)
    desks: tuple[str, ...] = ("general",)

    def covers(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


@dataclass(frozen=True, slots=True)
class IntakeConfig:
    key_enterprises: frozenset[str] = frozenset()
    enterprise_desk: str = "enterprise"
    survey: bool = True
    survey_timeout: float = 5.0
    callback_offer_after: float = 60.0
    lookup_grace: float = 0.3
    night: NightPlan | None = None  # None: every desk 7×24
    menus: tuple[Menu, ...] = field(default=())

    def menu_for(self, dialed: str) -> Menu | None:
        return next((m for m in self.menus if m.number == dialed), None)

    def open_desk(self, desk: str, when: datetime, holiday: bool, general: str = "general") -> str:
        """The desk that answers now: a desk closed at night or on a day off hands its calls
        to the general desk (or the first desk open at night). `when` is the city's local time
        (the intake turns its clock into it); `holiday`: today is a day off in the city."""
        if self.night is None or desk in self.night.desks:
            return desk
        if holiday or self.night.covers(when.time()):
            return general if general in self.night.desks else self.night.desks[0]
        return desk


def _fail(where: str, message: str) -> IntakeConfigError:
    return IntakeConfigError(INTAKE_ERROR, f"{where}: [intake] {message}")


def _positive(value: Any, key: str, where: str, zero_ok: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (value == 0 and not zero_ok):
        raise _fail(where, f"{key} must be a {'non-negative' if zero_ok else 'positive'} number")
    return float(value)


def _time(value: Any, key: str, where: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise _fail(where, f"night.{key} must be a time (HH:MM)") from None


def parse_intake(data: Mapping[str, Any], desks: tuple[str, ...], where: str = "<config>") -> IntakeConfig:
    known = {"key_enterprises", "enterprise_desk", "survey", "survey_timeout", "callback_offer_after",
             "lookup_grace", "night", "menus"}
    unknown = set(data) - known
    if unknown:
        raise _fail(where, f"unknown key(s) {', '.join(sorted(unknown))}")
    enterprises = data.get("key_enterprises", [])
    if not isinstance(enterprises, list) or any(not isinstance(n, str) or not re.match(r"^\+?\d{3,20}$", n)
                                                 for n in enterprises):
        raise _fail(where, "key_enterprises must be a list of phone numbers")
    enterprise_desk = data.get("enterprise_desk", "enterprise")
    if enterprises and enterprise_desk not in desks:
        raise _fail(where, f"enterprise_desk {enterprise_desk!r} is not a desk of [acd]")
    night = None
    if "night" in data:
        n = data["night"]
        if not isinstance(n, Mapping) or set(n) - {"start", "end", "desks"}:
            raise _fail(where, "night has start, end and desks")
        open_desks = tuple(n.get("desks", ["general"]))
        if not open_desks or any(d not in desks for d in open_desks):
            raise _fail(where, f"night.desks must name desks of [acd] ({', '.join(desks)})")
        night = NightPlan(_time(n.get("start", "22:00"), "start", where), _time(n.get("end", "08:00"), "end", where),
                          open_desks)
    menus = []
    for i, m in enumerate(data.get("menus", []), 1):
        if not isinstance(m, Mapping) or set(m) - {"number", "prompt", "options", "timeout", "default"}:
            raise _fail(where, f"menus #{i}: keys are number, prompt, options, timeout, default")
        options = m.get("options", {})
        if not isinstance(options, Mapping) or not options:
            raise _fail(where, f"menus #{i}: options must map keys to desks")
        for key, desk in options.items():
            if not re.match(r"^[0-9]$", str(key)) or desk not in desks:
                raise _fail(where, f"menus #{i}: option {key!r} → {desk!r}: a key 0-9 and a desk of [acd]")
        default = m.get("default", "")
        if default and default not in desks:
            raise _fail(where, f"menus #{i}: default {default!r} is not a desk")
        if not isinstance(m.get("number"), str) or not isinstance(m.get("prompt"), str):
            raise _fail(where, f"menus #{i}: number and prompt are required")
        menus.append(Menu(m["number"], m["prompt"], tuple((str(k), str(v)) for k, v in options.items()),
                          _positive(m.get("timeout", 5), "timeout", where), default))
    survey = data.get("survey", True)
    if not isinstance(survey, bool):
        raise _fail(where, "survey must be true or false")
    return IntakeConfig(
        key_enterprises=frozenset(enterprises), enterprise_desk=enterprise_desk, survey=survey,
        survey_timeout=_positive(data.get("survey_timeout", 5), "survey_timeout", where),
        callback_offer_after=_positive(data.get("callback_offer_after", 60), "callback_offer_after", where, True),
        lookup_grace=_positive(data.get("lookup_grace", 0.3), "lookup_grace", where),
        night=night, menus=tuple(menus))
