"""The caller's whole display name when Asterisk's caller ID cut it. Pure.

res_pjsip_caller_id copies the From display name, as written (quoted-string escapes kept), into
an 80-byte buffer (AST_CHANNEL_NAME): a longer name reaches the dialplan cut to 79 bytes — 26
Chinese characters and a stray byte, which the AGI environment decodes as U+FFFD. The From header
itself still holds the whole name, read with `${PJSIP_HEADER(read,From)}`.
"""

from __future__ import annotations

# a caller-ID name this long may have been cut (26 Chinese characters are 78 bytes)
MAY_BE_CUT_CHARS = 26
MAY_BE_CUT_BYTES = 78


def may_be_cut(name: str) -> bool:
    """Worth reading the From header: shorter names always arrive whole."""
    return len(name) >= MAY_BE_CUT_CHARS or len(name.encode("utf-8", errors="replace")) >= MAY_BE_CUT_BYTES


def display_name(header: str, *, unescape: bool = True) -> str:
    """The display name of a From header value: a quoted string (`\\"` unescaped unless
    `unescape` is False), or the tokens before `<`; "" when there is none or the value cannot be
    read. Percent signs are kept as written — Asterisk does not decode them either, so the name
    still compares with the caller ID. Never raises."""
    text = header.strip(" \t\r\n")
    if text.startswith('"'):
        out: list[str] = []
        i = 1
        while i < len(text):
            ch = text[i]
            if ch == "\\" and i + 1 < len(text):
                out.append(text[i + 1] if unescape else text[i:i + 2])
                i += 2
                continue
            if ch == '"':  # the closing quote: a name-addr must follow
                return _printable("".join(out)) if text[i + 1:].lstrip(" \t").startswith("<") else ""
            out.append(ch)
            i += 1
        return ""  # never closed: garbage
    angle = text.find("<")
    if angle <= 0:
        return ""  # `<sip:…>` or a bare `sip:…`: no display name
    return _printable(" ".join(text[:angle].split()))


def full_name(caller_id_name: str, from_header: str) -> str:
    """The From header's display name when it is the caller-ID name continued (that name cut at
    a byte limit, perhaps mid-character); "" otherwise — another name is not the caller's."""
    cut = caller_id_name.rstrip("\ufffd")
    if not cut:
        return ""
    whole = display_name(from_header)
    if len(whole) > len(cut) and whole.startswith(cut):
        return whole
    as_written = display_name(from_header, unescape=False)  # Asterisk may keep the backslashes
    if len(as_written) > len(cut) and as_written.startswith(cut):
        return whole
    return ""


def _printable(name: str) -> str:
    return "".join(ch for ch in name if ch >= " " and ch != "\x7f")
