"""pbx/link.py's reading of Asterisk's answers: which refusal means the caller is gone."""

from __future__ import annotations

import pytest

from pbx.ami import parse_frame
from pbx.ami_client import AmiActionFailed, AmiError
from pbx.link import caller_gone


def refusal(action: str, message: str) -> AmiActionFailed:
    response = parse_frame(f"Response: Error\r\nActionID: 7\r\nMessage: {message}".encode())  # as framed
    return AmiActionFailed(action, response)  # type: ignore[arg-type]


@pytest.mark.parametrize(("action", "message", "gone"), [
    ("Redirect", "Channel does not exist: PJSIP/carrier-0000002a", True),  # raced the hang-up
    ("Setvar", "No such channel", True),
    ("Redirect", "Asterisk is shutting down", False),  # Asterisk's refusal: hold the offers instead
    ("Redirect", "Permission denied", False),
])
def test_only_a_missing_channel_means_the_caller_hung_up(action: str, message: str, gone: bool) -> None:
    assert caller_gone(refusal(action, message)) is gone


def test_a_dropped_link_is_not_a_caller_gone() -> None:
    assert not caller_gone(AmiError("ami-not-connected: no such channel in the text of a link error"))
    assert not caller_gone(TimeoutError())
