"""FastAGI wire protocol, sans-IO (h11 style): bytes in, typed events out; commands to bytes.

No sockets, no asyncio: `receive_data(bytes)` feeds what the socket gave (b"" = end of stream),
`next_event()` hands back what it meant, `send_command(text)` gives the bytes to write.

The protocol, as Asterisk 22 (res_agi.c) speaks it:
- Asterisk connects and sends the environment: `agi_<name>: <value>` lines, then a blank line.
  `agi_network_script` is everything after the first `/` of the AGI URL, query string included.
- Then strictly one command line at a time, each answered by one reply:
  `200 result=N [(data)] [key=value ...]` (GET DATA may answer `200 result= (timeout)`),
  possibly preceded by `100 result=0 Trying...`; or `510 ...` (unknown command), `511 ...`
  (not permitted on a dead channel), `520 ...` (bad syntax, one line) or a usage block
  `520-Invalid command syntax.  Proper usage follows:` / usage lines / `520 End of proper usage.`.
- When the caller hangs up, Asterisk's AGI loop writes an unsolicited `HANGUP` line while it waits
  for a command. A command sent at that moment is still answered (in "dead" mode: usually 511),
  so a HANGUP that arrives where a reply was expected does not settle the command: its reply is
  still owed, and this module keeps counting it so it is never taken for the next command's.
- Asterisk may close the socket at any time.
"""

from __future__ import annotations

import enum
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import parse_qsl, unquote

# ---- stable error strings (part of the API: logs, tests and callers match on them) ----------
HEADER_TOO_LARGE = "header too large"
EOF_IN_HEADER = "eof in header"
LINE_TOO_LONG = "line too long"
BAD_HEADER_LINE = "bad environment line"
UNEXPECTED_REPLY = "reply while no command is pending"
BAD_REPLY = "unparseable reply"
USAGE_TOO_LONG = "usage block too long"
COMMAND_INJECTION = "agi-command-injection: CR or LF in a command"
EMPTY_COMMAND = "agi-empty-command"
ILLEGAL_TRANSITION = "illegal-transition"


class AgiState(enum.Enum):
    AWAIT_ENV = "await-env"            # connected, environment not complete yet
    IDLE = "idle"                      # ready for a command
    AWAIT_REPLY = "await-reply"        # a command is out, its reply is owed
    IN_USAGE_BLOCK = "in-usage-block"  # inside a `520-` ... `520 End of proper usage.` block
    HUNG_UP = "hung-up"                # the caller is gone, no reply owed (commands still allowed)
    CLOSED = "closed"                  # end of stream after the environment
    ERROR = "error"                    # the peer broke the protocol: the connection is unusable

    __hash__ = object.__hash__  # identity: Enum's own __hash__ is Python code, on the hot path


class Trigger(enum.Enum):
    ENV = "env"                  # the blank line ending the environment
    SEND = "send"                # we wrote a command
    TRYING = "trying"            # `100 ... Trying...`
    REPLY = "reply"              # a final reply while the caller is still there
    REPLY_DEAD = "reply-dead"    # a final reply after HANGUP was seen
    USAGE_START = "usage-start"  # `520-...`
    USAGE_LINE = "usage-line"
    HANGUP = "hangup"            # the unsolicited `HANGUP` line
    EOF = "eof"
    FAIL = "fail"                # a protocol error by the peer

    __hash__ = object.__hash__


_S, _T = AgiState, Trigger
# The rules: the environment comes first and once; one command at a time, and a reply owed stays
# owed through a HANGUP; a usage block finishes before anything else; nothing follows CLOSED or
# ERROR. Any (state, trigger) pair missing here is illegal: it raises and leaves the state alone.
TRANSITIONS: dict[AgiState, dict[Trigger, AgiState]] = {
    _S.AWAIT_ENV: {_T.ENV: _S.IDLE, _T.EOF: _S.ERROR, _T.FAIL: _S.ERROR},
    _S.IDLE: {_T.SEND: _S.AWAIT_REPLY, _T.HANGUP: _S.HUNG_UP, _T.EOF: _S.CLOSED,
              _T.FAIL: _S.ERROR},
    _S.AWAIT_REPLY: {_T.TRYING: _S.AWAIT_REPLY, _T.REPLY: _S.IDLE, _T.REPLY_DEAD: _S.HUNG_UP,
                     _T.USAGE_START: _S.IN_USAGE_BLOCK, _T.HANGUP: _S.AWAIT_REPLY,
                     _T.EOF: _S.CLOSED, _T.FAIL: _S.ERROR},
    _S.IN_USAGE_BLOCK: {_T.USAGE_LINE: _S.IN_USAGE_BLOCK, _T.REPLY: _S.IDLE,
                        _T.REPLY_DEAD: _S.HUNG_UP, _T.HANGUP: _S.IN_USAGE_BLOCK,
                        _T.EOF: _S.CLOSED, _T.FAIL: _S.ERROR},
    _S.HUNG_UP: {_T.SEND: _S.AWAIT_REPLY, _T.HANGUP: _S.HUNG_UP, _T.EOF: _S.CLOSED,
                 _T.FAIL: _S.ERROR},
    _S.CLOSED: {},
    _S.ERROR: {},
}
_TERMINAL = (AgiState.CLOSED, AgiState.ERROR)
_MAX_USAGE_LINES = 200


class AgiProtocolError(Exception):
    """Our own misuse of the connection (h11's LocalProtocolError): an illegal transition."""


# ---- the environment -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AgiEnvironment:
    """The `agi_*` lines, read-only. Accessors take names with or without the `agi_` prefix."""

    values: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not isinstance(self.values, MappingProxyType):
            object.__setattr__(self, "values", MappingProxyType(dict(self.values)))

    def get(self, key: str, default: str = "") -> str:
        return self.values.get(key if key.startswith("agi_") else f"agi_{key}", default)

    def __getitem__(self, key: str) -> str:
        return self.values[key if key.startswith("agi_") else f"agi_{key}"]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (key if key.startswith("agi_") else f"agi_{key}") in self.values

    @property
    def request(self) -> str:
        return self.get("request")

    @property
    def channel(self) -> str:
        return self.get("channel")

    @property
    def language(self) -> str:
        return self.get("language")

    @property
    def uniqueid(self) -> str:
        return self.get("uniqueid")

    @property
    def callerid(self) -> str:
        """The caller's number; "" when Asterisk says `unknown`."""
        value = self.get("callerid")
        return "" if value == "unknown" else value

    @property
    def calleridname(self) -> str:
        value = self.get("calleridname")
        return "" if value == "unknown" else value

    @property
    def dnid(self) -> str:
        value = self.get("dnid")
        return "" if value == "unknown" else value

    @property
    def rdnis(self) -> str:
        value = self.get("rdnis")
        return "" if value == "unknown" else value

    @property
    def context(self) -> str:
        return self.get("context")

    @property
    def extension(self) -> str:
        return self.get("extension")

    @property
    def priority(self) -> str:
        return self.get("priority")

    @property
    def network_script(self) -> str:
        """Everything after the first '/' of the AGI URL, query string included; derived from
        `agi_request` when Asterisk did not send it."""
        script = self.values.get("agi_network_script")
        if script is None:
            script = self.request.partition("://")[2].partition("/")[2]
        return script

    @property
    def script(self) -> str:
        """The path part of the script, URL-decoded, without the query: `intake`."""
        return unquote(self.network_script.partition("?")[0].strip("/"), errors="replace")

    @property
    def params(self) -> dict[str, str]:
        """The query string, URL-decoded as UTF-8 (the last value wins for repeated keys)."""
        return dict(parse_qsl(self.network_script.partition("?")[2], keep_blank_values=True,
                              encoding="utf-8", errors="replace"))

    @property
    def args(self) -> tuple[str, ...]:
        """`agi_arg_1`, `agi_arg_2`, ... in order (the extra arguments of AGI())."""
        numbered = sorted((int(k[8:]), v) for k, v in self.values.items()
                          if k.startswith("agi_arg_") and k[8:].isdigit())
        return tuple(v for _, v in numbered)


# ---- events ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class EnvironmentReceived:
    env: AgiEnvironment


@dataclass(frozen=True, slots=True)
class CommandReply:
    """A final `NNN result=...` reply (200 in practice)."""

    code: int
    result: int | None  # None when the result is not a number (GET DATA's "" or "12#")
    data: str = ""  # the parenthesised part: "timeout", "dtmf", GET VARIABLE's value
    extra: Mapping[str, str] = field(default_factory=dict)  # key=value after it, e.g. endpos
    line: str = ""
    raw_result: str = ""  # the result as sent: GET DATA's "007" keeps its zeros

    @property
    def endpos(self) -> int | None:
        value = self.extra.get("endpos")
        return int(value) if value is not None and value.lstrip("-").isdigit() else None


@dataclass(frozen=True, slots=True)
class Trying:
    """`100 result=0 Trying...`: the command runs, its real reply follows."""

    line: str


@dataclass(frozen=True, slots=True)
class InvalidCommand:
    """510: invalid or unknown command."""

    line: str


@dataclass(frozen=True, slots=True)
class DeadChannel:
    """511: command not permitted on a dead channel or intercept routine."""

    line: str


@dataclass(frozen=True, slots=True)
class UsageError:
    """520, either form: the usage text (or the one-line message)."""

    usage: str


@dataclass(frozen=True, slots=True)
class HangupReceived:
    """The unsolicited `HANGUP` line. A reply owed for a command sent before stays owed."""


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """The peer broke the protocol; the connection is now in ERROR and unusable."""

    reason: str


@dataclass(frozen=True, slots=True)
class Closed:
    """End of stream after the environment."""


AgiEvent = (EnvironmentReceived | CommandReply | Trying | InvalidCommand | DeadChannel
            | UsageError | HangupReceived | ProtocolError | Closed)

# `200 result=1 (value with (parens)) endpos=1234`: the data is greedy, the tail is key=value
_RESULT = re.compile(r"(\d{3}) result=(\S*)(?: \((.*)\))?((?: [A-Za-z_]+=\S*)*) *")
_CODE = re.compile(r"\d{3}[ -]")
_NEEDS_QUOTES = re.compile(r'[ \t"\\]')


def quote(arg: str) -> str:
    """One argument for an AGI command line, quoted and escaped when it needs it (res_agi's
    parse_args honours `"..."` and backslash escapes)."""
    if arg and _NEEDS_QUOTES.search(arg) is None:
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def command_line(verb: str, *args: str) -> str:
    """`command_line("SET VARIABLE", "X", "a b")` -> `SET VARIABLE X "a b"`."""
    return " ".join((verb, *(quote(a) for a in args)))


def _parse_int(text: str) -> int | None:
    if text and (text.isdigit() or (text[0] == "-" and text[1:].isdigit())):
        return int(text)
    return None


# ---- the connection --------------------------------------------------------------------------

class AgiConnection:
    """One FastAGI session's protocol state. Feed it bytes, read events, ask it for bytes."""

    def __init__(self, max_header_bytes: int = 8192, max_line_bytes: int = 8192) -> None:
        self._state = AgiState.AWAIT_ENV
        self._max_header = max_header_bytes
        self._max_line = max_line_bytes
        self._buf = bytearray()
        self._scanned = 0  # how much of the buffer the header search has looked at
        self._usage: list[str] = []
        self._hung_up = False
        self._events: deque[AgiEvent] = deque()
        self.env: AgiEnvironment | None = None

    @property
    def state(self) -> AgiState:
        return self._state

    @property
    def hung_up(self) -> bool:
        """Asterisk said HANGUP (sticky)."""
        return self._hung_up

    @property
    def reply_pending(self) -> bool:
        return self._state in (AgiState.AWAIT_REPLY, AgiState.IN_USAGE_BLOCK)

    def _go(self, trigger: Trigger) -> None:
        new = TRANSITIONS[self._state].get(trigger)
        if new is None:
            raise AgiProtocolError(
                f"{ILLEGAL_TRANSITION}: agi cannot {trigger.value} in state {self._state.value}")
        self._state = new

    # -- outbound --
    def send_command(self, command: str) -> bytes:
        """The bytes for one command line. Raises ValueError for CR/LF (or an empty command)
        and AgiProtocolError unless the connection is ready for a command."""
        if "\r" in command or "\n" in command:
            raise ValueError(COMMAND_INJECTION)
        if not command.strip():
            raise ValueError(EMPTY_COMMAND)
        self._go(Trigger.SEND)
        return command.encode("utf-8") + b"\n"

    # -- inbound --
    def next_event(self) -> AgiEvent | None:
        return self._events.popleft() if self._events else None

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the socket; b"" means the peer closed. After CLOSED or ERROR, ignored."""
        if self._state in _TERMINAL:
            return
        if not data:
            self._eof()
            return
        if (not self._buf and self._state is AgiState.AWAIT_REPLY and data[-1:] == b"\n"
                and data.count(b"\n") == 1 and len(data) <= self._max_line):
            # the usual case: exactly one whole reply line, nothing buffered
            self._reply_line(data[:-1].decode("utf-8", errors="replace").rstrip("\r"))
            return
        self._buf += data
        if self._state is AgiState.AWAIT_ENV:
            self._read_env()
        buf = self._buf
        while self._state not in _TERMINAL and self._state is not AgiState.AWAIT_ENV:
            eol = buf.find(b"\n")
            if eol < 0:
                if len(buf) > self._max_line:
                    self._fail(LINE_TOO_LONG)
                return
            if eol > self._max_line:
                self._fail(LINE_TOO_LONG)
                return
            raw = bytes(buf[:eol])
            del buf[:eol + 1]
            self._reply_line(raw.decode("utf-8", errors="replace").rstrip("\r"))

    def _read_env(self) -> None:
        """The environment ends at the first empty line. It is decoded once it is complete, so a
        UTF-8 character split across reads is never cut."""
        buf = self._buf
        if buf.startswith(b"\n") or buf.startswith(b"\r\n"):
            end, skip = 0, buf.index(b"\n") + 1  # an empty environment
        else:
            start = max(self._scanned - 2, 0)
            lf = buf.find(b"\n\n", start)
            crlf = buf.find(b"\n\r\n", start)
            if lf < 0 and crlf < 0:
                self._scanned = len(buf)
                if len(buf) > self._max_header:
                    self._fail(HEADER_TOO_LARGE)
                return
            if crlf < 0 or 0 <= lf < crlf:
                end, skip = lf + 1, lf + 2
            else:
                end, skip = crlf + 1, crlf + 3
        if skip > self._max_header:
            self._fail(HEADER_TOO_LARGE)
            return
        header = bytes(buf[:end])
        del buf[:skip]
        values: dict[str, str] = {}
        for line in header.decode("utf-8", errors="replace").split("\n"):
            line = line.rstrip("\r")
            if not line:
                continue
            key, sep, value = line.partition(": ")
            if not sep and line.endswith(":"):
                key, sep = line[:-1], ":"
            if not sep or not key.startswith("agi_"):
                self._fail(BAD_HEADER_LINE)
                return
            values[key] = value
        self._go(Trigger.ENV)
        self.env = AgiEnvironment(MappingProxyType(values))
        self._events.append(EnvironmentReceived(self.env))

    def _fail(self, reason: str) -> None:
        self._go(Trigger.FAIL)
        self._buf.clear()
        self._events.append(ProtocolError(reason))

    def _eof(self) -> None:
        if self._state is AgiState.AWAIT_ENV:
            self._go(Trigger.EOF)
            self._events.append(ProtocolError(EOF_IN_HEADER))
            return
        self._go(Trigger.EOF)
        self._events.append(Closed())

    def _final(self, event: AgiEvent) -> None:
        self._go(Trigger.REPLY_DEAD if self._hung_up else Trigger.REPLY)
        self._events.append(event)

    def _reply_line(self, line: str) -> None:
        if line == "HANGUP":
            self._hung_up = True
            self._go(Trigger.HANGUP)
            self._events.append(HangupReceived())
            return
        state = self._state
        if state is AgiState.IN_USAGE_BLOCK:
            if line.startswith("520 "):
                usage = "\n".join(self._usage)
                self._usage = []
                self._final(UsageError(usage))
            elif len(self._usage) >= _MAX_USAGE_LINES:
                self._fail(USAGE_TOO_LONG)
            else:
                self._go(Trigger.USAGE_LINE)
                self._usage.append(line)
            return
        if not line:
            return  # Asterisk sends no blank lines between replies, but one is harmless
        if state is not AgiState.AWAIT_REPLY:
            self._fail(f"{UNEXPECTED_REPLY}: {line[:80]!r}")
            return
        if line.startswith("200 result="):
            tail = line[11:]
            if " " not in tail:  # the common reply, without the regex
                self._final(CommandReply(200, _parse_int(tail), "", {}, line, tail))
                return
        code = line[:3]
        if code == "100":
            self._go(Trigger.TRYING)
            self._events.append(Trying(line))
        elif code == "510":
            self._final(InvalidCommand(line))
        elif code == "511":
            self._final(DeadChannel(line))
        elif code == "520":
            if line[3:4] == "-":
                self._go(Trigger.USAGE_START)
                self._usage = []
            else:
                self._final(UsageError(line[4:]))
        else:
            match = _RESULT.fullmatch(line)
            if match is not None:
                extra = dict(part.split("=", 1) for part in match.group(4).split())
                raw = match.group(2)
                self._final(CommandReply(int(match.group(1)), _parse_int(raw), match.group(3) or "",
                                         extra, line, raw))
            elif _CODE.match(line) and " result=" in line:
                # a shape we do not know, but a reply all the same: keep it, do not guess
                raw = line.partition(" result=")[2].partition(" ")[0]
                rest = line.partition(" result=")[2].partition(" ")[2]
                self._final(CommandReply(int(code), _parse_int(raw), rest, {}, line, raw))
            else:
                self._fail(f"{BAD_REPLY}: {line[:80]!r}")
