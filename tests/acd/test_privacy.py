"""Masking and redaction: what a log line may show of a caller and of a token."""

from __future__ import annotations

import logging

from hypothesis import given
from hypothesis import strategies as st

from acd.privacy import RedactingFormatter, mask_name, mask_number, redact

TOKEN = "gVp1T_cHQb6c5akHCxu-ErNbnO59A9H0Hcx4uVkLpSw"  # what secrets.token_urlsafe(32) makes


def test_numbers_and_names_are_masked() -> None:
    assert mask_number("13800138000") == "*******8000"
    assert mask_number("12345") == "***45" and mask_number("") == "<none>"
    assert mask_name("张三丰") == "张**" and mask_name("") == ""


def test_numbers_are_masked_wherever_they_stand() -> None:
    cases = {
        "b'GET /api/records?caller=13800001111 HTTP/1.1 x'": "b'GET /api/records?caller=*******1111 HTTP/1.1 x'",
        "DELETE /api/callbacks/do-not-call/+8613800001111": "DELETE /api/callbacks/do-not-call/**********1111",
        "('13800001111', 50, 0)": "('*******1111', 50, 0)",
        "landline 057188886666 or 88886666": "landline ********6666 or ****6666",
        "x\\x0013800001111": "x\\x*********1111",  # repr'd bytes: a NUL right before the number
        "１３８００００１１１１": "*******１１１１",
        "a decimal 13800001111.5": "a decimal *******1111.5",
        "12345 and 110 stay": "12345 and 110 stay",
    }
    assert {text: redact(text) for text in cases} == cases


def test_uniqueids_name_calls_and_stay_whole() -> None:
    text = "linkedid 1712345678.42, uniqueid 1712345678.1234567, recording 20261202/1712345678.42.wav"
    assert redact(text) == "linkedid 1712345678.42, uniqueid 1712345678.1234567, recording ****1202/1712345678.42.wav"
    assert redact("1712345678.13800001111") == "1712345678.*******1111"


def test_tokens_are_redacted_in_headers_reprs_and_bare() -> None:
    cases = {
        f"b'Bearer {TOKEN}'": "b'Bearer <redacted>'",
        f"b'Authorization: Bearer {TOKEN}\\x00\\x01'": "b'Authorization: <redacted>'",
        f"{{'Authorization': 'Bearer {TOKEN}', 'Host': 'x'}}": "{'Authorization': '<redacted>', 'Host': 'x'}",
        f"('authorization', 'bearer {TOKEN}')": "('authorization', '<redacted>')",
        f"GET /x?token={TOKEN}&n=1": "GET /x?token=<redacted>&n=1",
        "Basic dXNlcjpwYXNzd29yZA==": "Basic <redacted>",
        "no authorization, try again": "no authorization, try again",
        "digest 3f7a9c0e5d2b4a6f8e1d3c5b7a9f0e2d4c6b8a0f": "digest 3f7a9c0e5d2b4a6f8e1d3c5b7a9f0e2d4c6b8a0f",
    }
    assert {text: redact(text) for text in cases} == cases


@given(st.text(max_size=40), st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.text(max_size=40))
def test_a_mobile_number_never_survives_whatever_surrounds_it(before: str, number: str, after: str) -> None:
    assert number not in redact(before + number + after)


@given(st.text(max_size=40), st.text(max_size=40))
def test_a_bearer_token_never_survives(before: str, after: str) -> None:
    assert TOKEN not in redact(f"{before}Bearer {TOKEN}{after}")
    assert TOKEN not in redact(f"{before} {TOKEN} {after}")


def test_the_formatter_redacts_message_arguments_and_traceback() -> None:
    try:
        raise ValueError(f"Authorization: Bearer {TOKEN} for caller 13800001111")
    except ValueError:
        import sys

        record = logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1, "lookup %s by %s",
                                   ("?caller=13800001111", f"Bearer {TOKEN}"), sys.exc_info())
    text = RedactingFormatter("%(levelname)s %(name)s: %(message)s").format(record)
    assert TOKEN not in text and "13800001111" not in text
    assert text.startswith("ERROR aiohttp.server: lookup ?caller=*******1111 by Bearer <redacted>\nTraceback")
    assert "ValueError: Authorization: <redacted>" in text
    assert record.getMessage() == f"lookup ?caller=13800001111 by Bearer {TOKEN}"  # the record is left as it was


def test_a_uniqueid_stays_whole_at_the_start_of_a_line_and_a_long_run_after_its_dot_is_a_number() -> None:
    """Mutation survivors: the uniqueid's window at the very start of the text, the longest
    sequence kept (9 digits), and 10 digits after a uniqueid's dot masked as a number."""
    assert redact("1712345678.1234567 hung up") == "1712345678.1234567 hung up"
    assert redact("call 1712345678.123456789 ended") == "call 1712345678.123456789 ended"
    assert redact("call 1712345678.1380000111 ended") == "call 1712345678.******0111 ended"


def test_the_formatter_keeps_the_date_format_it_is_given() -> None:
    record = logging.LogRecord("web.api", logging.INFO, __file__, 1, "ready", None, None)
    record.created = 1796166000.0  # 2026-12-02, any zone: only the year is read
    assert RedactingFormatter("%(asctime)s %(message)s", datefmt="%Y").format(record) == "2026 ready"
