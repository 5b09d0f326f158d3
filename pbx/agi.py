"""FastAGI wire protocol, sans-IO: bytes in, typed events out; commands encoded to bytes.

Asterisk opens the connection and sends the environment (`agi_*: value` lines, then a blank
line); then each command line gets one reply: `200 result=N [(data)] [key=value]`, possibly
preceded by `100 result=0 Trying...`, or `510`, `511`, or `520` (one line, or a
`520-` … `520 End of proper usage.` block). When the caller hangs up Asterisk sends an
unsolicited `HANGUP` line, with or instead of a reply.
"""

from __future__ import annotations

import enum
import re
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

HEADER_TOO_LARGE = "header too large"
EOF_IN_HEADER = "eof in header"
LINE_TOO_LONG = "line too long"
BAD_HEADER_LINE = "bad environment line"
UNEXPECTED_REPLY = "reply while no command is pending"
BAD_REPLY = "unparseable reply"
COMMAND_INJECTION = "agi-command-injection: CR or LF in a command"


class AgiState(enum.Enum):
    AWAIT_ENV = "await-env"
    IDLE = "idle"
    AWAIT_REPLY = "await-reply"
    IN_USAGE_BLOCK = "in-usage-block"
    HUNG_UP = "hung-up"  # HANGUP seen: commands still go out, Asterisk answers 511
    CLOSED = "closed"
    ERROR = "error"


# Rules: the environment comes first and once; one command at a time; a usage block is
# finished before anything else; nothing follows CLOSED or ERROR.
TRANSITIONS: dict[tuple[AgiState, str], AgiState] = {
    (AgiState.AWAIT_ENV, "env"): AgiState.IDLE,
    (AgiState.AWAIT_ENV, "error"): AgiState.ERROR,
    (AgiState.AWAIT_ENV, "eof"): AgiState.ERROR,
    (AgiState.IDLE, "send"): AgiState.AWAIT_REPLY,
    (AgiState.IDLE, "hangup"): AgiState.HUNG_UP,
    (AgiState.IDLE, "eof"): AgiState.CLOSED,
    (AgiState.AWAIT_REPLY, "reply"): AgiState.IDLE,
    (AgiState.AWAIT_REPLY, "trying"): AgiState.AWAIT_REPLY,
    (AgiState.AWAIT_REPLY, "usage-start"): AgiState.IN_USAGE_BLOCK,
    (AgiState.AWAIT_REPLY, "hangup"): AgiState.HUNG_UP,
    (AgiState.AWAIT_REPLY, "eof"): AgiState.CLOSED,
    (AgiState.IN_USAGE_BLOCK, "usage-end"): AgiState.IDLE,
    (AgiState.IN_USAGE_BLOCK, "eof"): AgiState.CLOSED,
    (AgiState.HUNG_UP, "send"): AgiState.HUNG_UP,
    (AgiState.HUNG_UP, "reply"): AgiState.HUNG_UP,
    (AgiState.HUNG_UP, "trying"): AgiState.HUNG_UP,
    (AgiState.HUNG_UP, "hangup"): AgiState.HUNG_UP,
    (AgiState.HUNG_UP, "usage-start"): AgiState.HUNG_UP,
    (AgiState.HUNG_UP, "usage-end"): AgiState.HUNG_UP,
    (AgiState.HUNG_UP, "eof"): AgiState.CLOSED,
}


class AgiProtocolError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class AgiEnvironment:
    values: dict[str, str] = field(default_factory=dict)

    def get(self, key: str, default: str = "") -> str:
        return self.values.get(key if key.startswith("agi_") else f"agi_{key}", default)

    @property
    def request(self) -> str:
        return self.get("request")

    @property
    def channel(self) -> str:
        return self.get("channel")

    @property
    def uniqueid(self) -> str:
        return self.get("uniqueid")

    @property
    def callerid(self) -> str:
        value = self.get("callerid")
        return "" if value == "unknown" else value

    @property
    def calleridname(self) -> str:
        value = self.get("calleridname")
        return "" if value == "unknown" else value

    @property
    def dnid(self) -> str:
        return self.get("dnid")

    @property
    def context(self) -> str:
        return self.get("context")

    @property
    def extension(self) -> str:
        return self.get("extension")

    @property
    def network_script(self) -> str:
        """Everything after the first '/' of the AGI URL, query string included."""
        return self.get("network_script")

    @property
    def script(self) -> str:
        return self.network_script.partition("?")[0].strip("/")

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.network_script.partition("?")[2], keep_blank_values=True))

    @property
    def args(self) -> list[str]:
        numbered = sorted((int(k[8:]), v) for k, v in self.values.items()
                          if k.startswith("agi_arg_") and k[8:].isdigit())
        return [v for _, v in numbered]


@dataclass(frozen=True, slots=True)
class EnvironmentReceived:
    env: AgiEnvironment


@dataclass(frozen=True, slots=True)
class CommandReply:
    code: int
    result: int | None
    data: str  # the parenthesised part, e.g. "timeout", "dtmf"
    extra: dict[str, str]  # key=value pairs after the result, e.g. endpos
    line: str
    raw_result: str = ""  # the result as sent: GET DATA's "007" keeps its zeros


@dataclass(frozen=True, slots=True)
class Trying:
    line: str


@dataclass(frozen=True, slots=True)
class InvalidCommand:
    line: str


@dataclass(frozen=True, slots=True)
class DeadChannel:
    line: str


@dataclass(frozen=True, slots=True)
class UsageError:
    usage: str


@dataclass(frozen=True, slots=True)
class HangupReceived:
    pass


@dataclass(frozen=True, slots=True)
class ProtocolError:
    reason: str


@dataclass(frozen=True, slots=True)
class Closed:
    pass


AgiEvent = (EnvironmentReceived | CommandReply | Trying | InvalidCommand | DeadChannel
            | UsageError | HangupReceived | ProtocolError | Closed)

_RESULT = re.compile(r"^(\d{3}) result=(-?\d+)(?: \(([^)]*)\))?(.*)$")


def quote(arg: str) -> str:
    """Quote an argument for an AGI command line when it needs it."""
    if arg and not any(c in arg for c in ' "\\\t'):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


class AgiConnection:
    def __init__(self, max_header_bytes: int = 16384, max_line_bytes: int = 8192) -> None:
        self.state = AgiState.AWAIT_ENV
        self._max_header = max_header_bytes
        self._max_line = max_line_bytes
        self._buf = bytearray()
        self._header_bytes = 0
        self._env: dict[str, str] = {}
        self._usage: list[str] = []
        self._events: deque[AgiEvent] = deque()

    def _go(self, trigger: str) -> None:
        try:
            self.state = TRANSITIONS[(self.state, trigger)]
        except KeyError:
            raise AgiProtocolError(f"illegal-transition: agi cannot {trigger} from {self.state.value}") from None

    def send_command(self, command: str) -> bytes:
        if "\r" in command or "\n" in command:
            raise ValueError(COMMAND_INJECTION)
        self._go("send")
        return command.encode("utf-8") + b"\n"

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the socket; b"" means the peer closed."""
        if self.state in (AgiState.CLOSED, AgiState.ERROR):
            return
        if not data:
            self._eof()
            return
        self._buf += data
        if self.state is AgiState.AWAIT_ENV:
            self._read_env()
        while self.state not in (AgiState.CLOSED, AgiState.ERROR, AgiState.AWAIT_ENV):
            eol = self._buf.find(b"\n")
            if eol < 0:
                if self.state is AgiState.AWAIT_ENV and self._header_bytes + len(self._buf) > self._max_header:
                    self._fail(HEADER_TOO_LARGE)
                elif len(self._buf) > self._max_line:
                    self._fail(LINE_TOO_LONG)
                return
            raw = bytes(self._buf[:eol])
            del self._buf[:eol + 1]
            self._reply_line(raw.decode("utf-8", errors="replace").rstrip("\r"))

    def _read_env(self) -> None:
        """The whole environment at once, when its blank line is in: one decode, one split."""
        end = self._buf.find(b"\n\n")
        if end < 0 and self._buf.startswith(b"\n"):
            end = -1  # an empty environment
        elif end < 0:
            crlf = self._buf.find(b"\r\n\r\n")
            if crlf < 0:
                if len(self._buf) > self._max_header:
                    self._fail(HEADER_TOO_LARGE)
                return
            end = crlf + 1
        if end + 2 > self._max_header:
            self._fail(HEADER_TOO_LARGE)
            return
        header = bytes(self._buf[:max(end, 0)])
        del self._buf[:end + 2]
        if self._buf.startswith(b"\n"):
            del self._buf[:1]  # the CRLF form's last byte
        for line in header.decode("utf-8", errors="replace").split("\n"):
            if line:
                self._env_line(line.rstrip("\r"))
                if self.state is AgiState.ERROR:
                    return
        self._env_line("")

    def next_event(self) -> AgiEvent | None:
        return self._events.popleft() if self._events else None

    def _fail(self, reason: str) -> None:
        self.state = AgiState.ERROR
        self._events.append(ProtocolError(reason))

    def _eof(self) -> None:
        if self.state is AgiState.AWAIT_ENV:
            self._fail(EOF_IN_HEADER)
            return
        self._go("eof")
        self._events.append(Closed())

    def _env_line(self, line: str) -> None:
        if not line:
            self._go("env")
            self._events.append(EnvironmentReceived(AgiEnvironment(dict(self._env))))
            return
        key, sep, value = line.partition(": ")
        if not sep and line.endswith(":"):
            key, sep, value = line[:-1], ":", ""
        if not sep or not key.startswith("agi_"):
            self._fail(BAD_HEADER_LINE)
            return
        self._env[key] = value

    def _reply_line(self, line: str) -> None:
        if line.strip() == "HANGUP":
            if self.state is not AgiState.IN_USAGE_BLOCK:
                self._go("hangup")
            self._events.append(HangupReceived())
            return
        if self.state is AgiState.IN_USAGE_BLOCK or (
                self.state is AgiState.HUNG_UP and self._usage):
            if line.startswith("520 "):
                self._go("usage-end")
                self._events.append(UsageError("\n".join(self._usage)))
                self._usage = []
            else:
                self._usage.append(line)
            return
        if not line:
            return  # Asterisk sends no blank lines between replies, but tolerate one
        if self.state not in (AgiState.AWAIT_REPLY, AgiState.HUNG_UP):
            self._events.append(ProtocolError(UNEXPECTED_REPLY))
            return
        code = line[:3]
        if code == "520" and line[3:4] == "-":
            self._go("usage-start")
            self._usage = [line[4:]]
            return
        if code == "520":
            self._go("reply")
            self._events.append(UsageError(line[4:]))
        elif code == "510":
            self._go("reply")
            self._events.append(InvalidCommand(line))
        elif code == "511":
            self._go("reply")
            self._events.append(DeadChannel(line))
        elif code == "100":
            self._go("trying")
            self._events.append(Trying(line))
        elif line.startswith("200 result=") and " " not in line[11:]:
            self._go("reply")  # the common reply, without the regex
            try:
                value: int | None = int(line[11:])
            except ValueError:
                value = None
            self._events.append(CommandReply(200, value, "", {}, line, line[11:]))
        else:
            match = _RESULT.match(line)
            if match is None:
                self._go("reply")
                self._events.append(ProtocolError(f"{BAD_REPLY}: {line[:80]!r}"))
                return
            extra = dict(part.split("=", 1) for part in match.group(4).split() if "=" in part)
            self._go("reply")
            self._events.append(CommandReply(int(match.group(1)), int(match.group(2)),
                                             match.group(3) or "", extra, line, match.group(2)))
