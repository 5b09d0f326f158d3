"""The number plan from the config: `[dialplan]` for the trunk, emergency numbers and caller ID;
the hotline numbers and their desks come from `[acd] numbers` (one place for that mapping).

    [dialplan]
    trunk = "carrier"               # the carrier trunk's PJSIP endpoint
    did_from = "request_uri"        # or "to": where the carrier puts the dialed number
    did_prefixes = ["+86571", "0571"]  # forms the carrier may add in front of 12345
    outbound_callerid = "12345"     # what a called-back citizen sees
    emergency_prefix = ""           # dialed on the trunk before 110/119/120/122
    outbound_dial = "PJSIP/{number}@{trunk}"   # how a callback or a three-way call reaches a number
    emergency = { "110" = "公安", "119" = "消防", "120" = "急救", "122" = "交通事故" }
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from acd.errors import StableError

DIALPLAN_ERROR = "dialplan-config-error"
DID_SOURCES = ("request_uri", "to")
DEFAULT_EMERGENCY = (("110", "公安"), ("119", "消防"), ("120", "急救"), ("122", "交通事故"))
_NUMBER = re.compile(r"^\+?[0-9]{3,20}$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class DialplanError(StableError):
    pass


@dataclass(frozen=True, slots=True)
class DialPlan:
    trunk: str = "carrier"
    did_from: str = "request_uri"
    did_prefixes: tuple[str, ...] = ()
    outbound_callerid: str = "12345"
    emergency_prefix: str = ""
    emergency: tuple[tuple[str, str], ...] = DEFAULT_EMERGENCY  # (number, who answers it)
    numbers: tuple[tuple[str, str], ...] = field(default=())  # (hotline number, desk), from [acd]
    outbound_dial: str = "PJSIP/{number}@{trunk}"  # Dial string out through the trunk; {number} {trunk}

    def outbound(self, number: str = "${EXTEN}") -> str:
        """The Dial string that reaches a number through the trunk (callbacks, three-way calls),
        with a dialplan expression for the number."""
        return self.outbound_dial.replace("{number}", number).replace("{trunk}", self.trunk)

    def emergency_numbers(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.emergency)


def _fail(where: str, message: str) -> DialplanError:
    return DialplanError(DIALPLAN_ERROR, f"{where}: [dialplan] {message}")


def _number(value: Any, key: str, where: str, digits_only: bool = False) -> str:
    if not isinstance(value, str) or not _NUMBER.match(value) or (digits_only and value.startswith("+")):
        raise _fail(where, f"{key}: {value!r} is not a phone number")
    return value


def parse_dialplan(data: Mapping[str, Any], numbers: Mapping[str, str], where: str = "<config>") -> DialPlan:
    known = {"trunk", "did_from", "did_prefixes", "outbound_callerid", "emergency_prefix", "emergency",
             "outbound_dial"}
    unknown = set(data) - known
    if unknown:
        raise _fail(where, f"unknown key(s) {', '.join(sorted(unknown))}")
    trunk = data.get("trunk", "carrier")
    if not isinstance(trunk, str) or not _NAME.match(trunk):
        raise _fail(where, f"trunk: {trunk!r} is not a PJSIP endpoint name")
    did_from = data.get("did_from", "request_uri")
    if did_from not in DID_SOURCES:
        raise _fail(where, f"did_from must be one of {', '.join(DID_SOURCES)}")
    prefixes = data.get("did_prefixes", [])
    if not isinstance(prefixes, list):
        raise _fail(where, "did_prefixes must be a list")
    for prefix in prefixes:
        if not isinstance(prefix, str) or not re.match(r"^\+?[0-9]{1,12}$", prefix):
            raise _fail(where, f"did_prefixes: {prefix!r} is not a number prefix")
    emergency_prefix = data.get("emergency_prefix", "")
    if not isinstance(emergency_prefix, str) or not re.match(r"^[0-9]{0,12}$", emergency_prefix):
        raise _fail(where, "emergency_prefix must be digits")
    emergency = data.get("emergency", dict(DEFAULT_EMERGENCY))
    if not isinstance(emergency, Mapping) or not emergency:
        raise _fail(where, "emergency must be a table of number = label")
    for number in list(numbers) + list(emergency):
        _number(number, "number", where, digits_only=True)
    clash = set(numbers) & set(emergency)
    if clash:
        raise _fail(where, f"{', '.join(sorted(clash))} is both a hotline and an emergency number")
    outbound_dial = data.get("outbound_dial", "PJSIP/{number}@{trunk}")
    if not isinstance(outbound_dial, str) or "{number}" not in outbound_dial or "\n" in outbound_dial:
        raise _fail(where, "outbound_dial must be one Dial string containing {number}")
    return DialPlan(
        outbound_dial=outbound_dial,
        trunk=trunk, did_from=did_from, did_prefixes=tuple(prefixes),
        outbound_callerid=_number(data.get("outbound_callerid", "12345"), "outbound_callerid", where),
        emergency_prefix=emergency_prefix,
        emergency=tuple((str(n), str(label)) for n, label in emergency.items()),
        numbers=tuple(sorted(numbers.items())))
