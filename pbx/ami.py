"""AMI framing and parsing, sans-IO: bytes in, typed messages out; actions encoded to bytes.

Framing works on bytes: a frame ends at a blank line (`\\r\\n\\r\\n`, or `\\n\\n` from sloppy
peers), and only a complete frame is decoded as UTF-8, so a Chinese caller name split across
two TCP reads arrives whole (stock panoramisk decodes each read on its own and loses it).
The buffer is capped: a frame that grows past the cap without ending is dropped up to its end
and reported as one `MalformedFrame`; the parser carries on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

FRAME_TOO_LARGE = "frame too large"
NO_TYPE = "frame has neither Event nor Response"
BAD_LINE = "line without ': '"
BAD_UTF8 = "invalid utf-8"
HEADER_INJECTION = "ami-header-injection: CR or LF in an action header"

GREETING_PREFIX = b"Asterisk Call Manager/"
DEFAULT_MAX_FRAME = 1 << 20


@dataclass(frozen=True, slots=True)
class Headers:
    """Ordered (key, value) pairs: AMI repeats keys (Output:, ChanVariable:)."""

    pairs: tuple[tuple[str, str], ...]

    def get(self, key: str, default: str = "") -> str:
        low = key.lower()
        for k, v in self.pairs:
            if k.lower() == low:
                return v
        return default

    def get_all(self, key: str) -> list[str]:
        low = key.lower()
        return [v for k, v in self.pairs if k.lower() == low]


@dataclass(frozen=True, slots=True)
class Greeting:
    version: str


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    headers: Headers
    utf8_replaced: bool = False

    def get(self, key: str, default: str = "") -> str:
        return self.headers.get(key, default)

    def get_all(self, key: str) -> list[str]:
        return self.headers.get_all(key)

    @property
    def action_id(self) -> str:
        return self.headers.get("ActionID")


@dataclass(frozen=True, slots=True)
class Response:
    action_id: str
    success: bool
    status: str  # Success | Error | Follows | Goodbye | Pong …
    message: str
    headers: Headers

    def get(self, key: str, default: str = "") -> str:
        return self.headers.get(key, default)

    def get_all(self, key: str) -> list[str]:
        return self.headers.get_all(key)


@dataclass(frozen=True, slots=True)
class MalformedFrame:
    raw: bytes
    reason: str


AmiMessage = Greeting | Event | Response | MalformedFrame


def _frame_end(buf: bytearray, start: int) -> tuple[int, int]:
    """(index of the blank line, its length) or (-1, 0). Accepts \r\n\r\n and \n\n.
    The bare-LF search is bounded by the CRLF hit, so scanning stays linear."""
    crlf = buf.find(b"\r\n\r\n", start)
    lf = buf.find(b"\n\n", start, crlf if crlf >= 0 else len(buf))
    if lf >= 0:
        return lf, 2
    if crlf >= 0:
        return crlf, 4
    return -1, 0


def _parse_frame(raw: bytes) -> AmiMessage:
    replaced = False
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", errors="replace")
        replaced = True
    pairs: list[tuple[str, str]] = []
    for line in text.split("\n"):
        if line.endswith("\r"):
            line = line[:-1]
        if not line:
            continue
        key, sep, value = line.partition(": ")
        if not sep:
            if line.endswith(":"):  # "AccountCode:" with an empty value and no space
                key, value = line[:-1], ""
            elif line == "--END COMMAND--":
                continue
            elif pairs and pairs[0][0].lower() == "response":
                pairs.append(("Output", line))  # legacy Command body
                continue
            else:
                return MalformedFrame(raw, BAD_LINE)
        pairs.append((key, value))
    if not pairs:
        return MalformedFrame(raw, NO_TYPE)
    first_key, first_value = pairs[0]
    headers = Headers(tuple(pairs))
    lowered = first_key.lower()
    if lowered == "event":
        return Event(first_value, headers, replaced)
    if lowered == "response":
        return Response(action_id=headers.get("ActionID"), success=first_value in ("Success", "Follows", "Goodbye"),
                        status=first_value, message=headers.get("Message"), headers=headers)
    # Asterisk always leads with Event/Response, but be lenient if ActionID came first
    for key, value in pairs:
        if key.lower() == "event":
            return Event(value, headers, replaced)
        if key.lower() == "response":
            return Response(headers.get("ActionID"), value in ("Success", "Follows", "Goodbye"),
                            value, headers.get("Message"), headers)
    return MalformedFrame(raw, NO_TYPE)


class AmiParser:
    """Feed bytes with `receive_data`, take messages with `next_message` until it says None."""

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._buf = bytearray()
        self._max = max_frame
        self._out: deque[AmiMessage] = deque()
        self._greeted = False
        self._skipping = False  # dropping the rest of an oversized frame

    def receive_data(self, data: bytes) -> None:
        self._buf += data
        self._scan()

    def next_message(self) -> AmiMessage | None:
        return self._out.popleft() if self._out else None

    def messages(self) -> list[AmiMessage]:
        """Every complete message received so far."""
        out = list(self._out)
        self._out.clear()
        return out

    def _scan(self) -> None:
        buf = self._buf
        pos = 0
        if not self._greeted:
            if len(buf) < len(GREETING_PREFIX) and GREETING_PREFIX.startswith(bytes(buf)):
                return
            if buf.startswith(GREETING_PREFIX):
                eol = buf.find(b"\n")
                if eol < 0:
                    return
                line = bytes(buf[len(GREETING_PREFIX):eol]).decode("utf-8", "replace").rstrip("\r")
                self._out.append(Greeting(line))
                pos = eol + 1
            self._greeted = True
        while True:
            end, sep = _frame_end(buf, pos)
            if end < 0:
                break
            if self._skipping:
                self._skipping = False
            else:
                # skip blank lines between frames
                chunk = bytes(buf[pos:end])
                if chunk.strip(b"\r\n"):
                    self._out.append(_parse_frame(chunk.lstrip(b"\r\n")))
            pos = end + sep
        if pos:
            del buf[:pos]
        if len(buf) > self._max:
            if not self._skipping:
                self._out.append(MalformedFrame(bytes(buf[:200]), FRAME_TOO_LARGE))
            self._skipping = True
            # keep only a tail long enough to find the terminator in the next read
            del buf[:-3]


def encode_action(name: str, action_id: str,
                  headers: Mapping[str, str] | Sequence[tuple[str, str]] = ()) -> bytes:
    """`Action: name`, `ActionID: id`, then the headers, then a blank line; UTF-8."""
    items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    lines = [("Action", name), ("ActionID", action_id), *items]
    out = []
    for key, value in lines:
        value = str(value)
        if any(c in key or c in value for c in "\r\n"):
            raise ValueError(HEADER_INJECTION)
        out.append(f"{key}: {value}\r\n")
    out.append("\r\n")
    return "".join(out).encode("utf-8")
