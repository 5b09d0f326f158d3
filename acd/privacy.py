"""Callers' numbers and names are personal data: everything that logs them masks them here.

`mask_number` and `mask_name` are for the lines the controller writes itself. `redact` is the net
under every log line, ours and the libraries': aiohttp quotes a malformed request line (a
`?caller=` number) or header (an `Authorization` token) in the exception it logs at ERROR, and
SQLAlchemy and aiosqlite put bound parameters in their DEBUG lines. `RedactingFormatter` formats
a record in full (message, traceback, stack) and then redacts, so nothing is missed by looking
at `msg` and `args` alone; the composition root gives it to every handler of the controller.

It lives here, next to `mask_number`, because it is the same rule (what a number looks like, how
much of it a log may show) and every edge logs through it, not only the web one.
"""

from __future__ import annotations

import logging
import re

REDACTED = "<redacted>"
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

# an Authorization header's value, in a header line, a repr'd dict or bytes: up to a quote or EOL
_AUTHORIZATION = re.compile(r"(?i)(authorization(?:['\"]?\s*[:=]|['\"]\s*,)\s*['\"]?)[^'\"\r\n]+")
# a credential after its scheme, wherever it stands (aiohttp quotes a bare header value too)
_SCHEME = re.compile(r"(?i)\b(bearer|basic)(\s+|%20|\+)[A-Za-z0-9._~+/=-]{8,}")
# a secret-looking run: 32+ URL-safe characters mixing upper case, lower case and digits (what
# `secrets.token_urlsafe` makes); hex digests and identifiers have no such mix
_SECRET = re.compile(r"(?<![A-Za-z0-9_-])(?=[A-Za-z0-9_-]*[A-Z])(?=[A-Za-z0-9_-]*[a-z])"
                     r"(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{32,}(?![A-Za-z0-9_-])")
# 7 or more digits, with an optional +: a phone number as far as a log can tell
_DIGITS = re.compile(r"(?<!\d)\+?\d{7,}(?!\d)")
_UNIQUEID_SECONDS = re.compile(r"\.\d")  # after 10 digits: an Asterisk uniqueid/linkedid
_UNIQUEID_HEAD = re.compile(r"(?:^|\D)\d{10}\.$")


def mask_number(number: str, keep: int = 4) -> str:
    """'13800138000' → '*******8000'; short numbers (110, 12345) keep no more than half."""
    if not number:
        return "<none>"
    shown = min(keep, len(number) // 2)
    return "*" * (len(number) - shown) + number[len(number) - shown:]


def mask_name(name: str) -> str:
    """'张三丰' → '张**': the family name is enough to tell calls apart in a log."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)


def _mask_digits(match: re.Match[str]) -> str:
    text, start, end = match.string, match.start(), match.end()
    run = match.group()
    # an Asterisk uniqueid (epoch seconds '.' sequence) is how calls are told apart in a log
    if len(run) == 10 and _UNIQUEID_SECONDS.match(text, end):
        return run
    if len(run) <= 9 and _UNIQUEID_HEAD.search(text[max(0, start - 12):start]):
        return run  # its sequence; 10 digits or more after a uniqueid's dot are not one
    return mask_number(run)


def redact(text: str) -> str:
    """No token and no full number: Authorization values and bearer/basic credentials become
    <redacted>, runs of 7+ digits (a '+' included) keep their last 4, also inside URLs and
    repr'd bytes. Asterisk uniqueids (1712345678.42) stay whole: they name calls, not people."""
    text = _AUTHORIZATION.sub(lambda m: m.group(1) + REDACTED, text)
    text = _SCHEME.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    text = _SECRET.sub(REDACTED, text)
    return _DIGITS.sub(_mask_digits, text)


class RedactingFormatter(logging.Formatter):
    """Formats the whole record (traceback and stack included), then redacts the text."""

    def __init__(self, fmt: str | None = LOG_FORMAT, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
