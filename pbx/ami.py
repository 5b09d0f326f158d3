"""AMI framing and parsing, sans-IO: bytes in, typed messages out; actions encoded to bytes.

Modelled on h11 (`receive_data`, then pull messages) and wazo-amid's `parse_buffer`.
Framing works on bytes: a frame ends at a blank line (`\\r\\n\\r\\n`, or `\\n\\n` / `\\n\\r\\n`
from sloppy peers), and only a complete frame is decoded as UTF-8, so a Chinese caller name
split across two TCP reads arrives whole (stock panoramisk decodes each read on its own with
ascii/ignore and loses it). The buffer is capped: a frame that grows past the cap is dropped up
to its end and reported as one `MalformedFrame`; the parser carries on with the next frame.
No sockets, no asyncio: tests feed bytes, the client in `pbx.ami_client` feeds the socket.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

# Stable error strings: callers and logs may match on them.
FRAME_TOO_LARGE = "frame too large"
NO_TYPE = "frame has neither Event nor Response"
BAD_LINE = "line without ': '"
HEADER_INJECTION = "ami-header-injection: CR or LF in an action header"
BAD_HEADER_KEY = "ami-bad-header-key: empty key or ':' in an action header key"

GREETING_PREFIX = b"Asterisk Call Manager/"
DEFAULT_MAX_FRAME = 1 << 20
END_COMMAND = "--END COMMAND--"  # the body terminator of Command before Asterisk 14
SUCCESS_STATUSES = frozenset({"Success", "Follows", "Goodbye"})

Pairs = tuple[tuple[str, str], ...]


def _get(pairs: Pairs, key: str, default: str) -> str:
    """First value for `key`; exact case first (the common case), then case-insensitive."""
    for k, v in pairs:
        if k == key:
            return v
    low = key.lower()
    for k, v in pairs:
        if k.lower() == low:
            return v
    return default


def _get_all(pairs: Pairs, key: str) -> list[str]:
    low = key.lower()
    return [v for k, v in pairs if k.lower() == low]


@dataclass(frozen=True, slots=True)
class Greeting:
    """The single line Asterisk sends first: `Asterisk Call Manager/11.0.0`."""

    version: str


@dataclass(frozen=True, slots=True)
class Event:
    """`Event: name` and its headers, in wire order (keys repeat: ChanVariable, Output)."""

    name: str
    headers: Pairs
    utf8_replaced: bool = False  # the frame was not valid UTF-8; U+FFFD stands in

    def get(self, key: str, default: str = "") -> str:
        return _get(self.headers, key, default)

    def get_all(self, key: str) -> list[str]:
        return _get_all(self.headers, key)

    @property
    def action_id(self) -> str:
        return _get(self.headers, "ActionID", "")


@dataclass(frozen=True, slots=True)
class Response:
    """The answer to one action; `success` for Success / Follows / Goodbye."""

    action_id: str
    success: bool
    message: str
    headers: Pairs
    utf8_replaced: bool = False

    def get(self, key: str, default: str = "") -> str:
        return _get(self.headers, key, default)

    def get_all(self, key: str) -> list[str]:
        return _get_all(self.headers, key)

    @property
    def status(self) -> str:
        """The `Response:` value itself: Success, Error, Follows, Goodbye …"""
        return _get(self.headers, "Response", "")

    @property
    def output(self) -> list[str]:
        """Command output: Asterisk 22 sends one `Output:` header per line."""
        return _get_all(self.headers, "Output")


@dataclass(frozen=True, slots=True)
class MalformedFrame:
    """A frame we could not make sense of; raw is (at most the first 64 KiB of) its bytes."""

    raw: bytes
    reason: str


AmiMessage = Greeting | Event | Response | MalformedFrame

_new = object.__new__
_set_name: Callable[[Event, str], None] = Event.__dict__["name"].__set__
_set_headers: Callable[[Event, Pairs], None] = Event.__dict__["headers"].__set__
_set_replaced: Callable[[Event, bool], None] = Event.__dict__["utf8_replaced"].__set__

_RAW_KEEP = 1 << 16


_LEGACY_HEADERS = frozenset({"Response", "Privilege", "ActionID", "Message"})


def _lenient_pairs(lines: list[str]) -> Pairs:
    """The slow path, for frames with a line lacking ': '. Empty means malformed.

    Accepted: `Key:` with an empty value, and the legacy Command body (`Response: Follows`,
    a few headers, free text lines, `--END COMMAND--`), whose lines become `Output` headers
    like Asterisk 22's; body lines containing ': ' stay body lines.
    """
    pairs: list[tuple[str, str]] = []
    legacy = lines[0] == "Response: Follows" and lines[-1].endswith(END_COMMAND)
    in_body = False
    for line in lines:
        key, sep, value = line.partition(": ")
        if in_body or (legacy and key not in _LEGACY_HEADERS):
            in_body = True
            line = line.removesuffix(END_COMMAND)
            if line:
                pairs.append(("Output", line))
        elif sep:
            pairs.append((key, value))
        elif line.endswith(":") and " " not in line:
            pairs.append((line[:-1], ""))
        else:
            return ()
    return tuple(pairs)


def parse_frame(raw: bytes | bytearray, crlf_only: bool = False) -> AmiMessage:
    """One complete frame (without its blank line) → a typed message. Pure; never raises.

    `crlf_only` is the framer's promise that the bytes hold no bare LF (skips one scan).
    """
    try:
        text = raw.decode("utf-8")
        replaced = False
    except UnicodeDecodeError:
        text = raw.decode("utf-8", errors="replace")
        replaced = True
    lines = text.split("\r\n")
    if (not crlf_only and len(lines) != text.count("\n") + 1) or not lines[0] or text.endswith("\r"):
        # a bare LF somewhere, leading blank lines, or a trailing CR: normalise first
        lines = text.replace("\r\n", "\n").strip("\n").removesuffix("\r").split("\n")
    # one pass; a line without ": " is left out, which the length check below notices
    pairs: Pairs = tuple([(k, v) for k, s, v in [line.partition(": ") for line in lines] if s])
    if len(pairs) != len(lines):
        pairs = _lenient_pairs(lines)
        if not pairs:
            return MalformedFrame(bytes(raw[:_RAW_KEEP]), BAD_LINE if text.strip() else NO_TYPE)
    kind, value = pairs[0]
    if kind != "Event" and kind != "Response":
        # Asterisk always leads with Event/Response; tolerate another order all the same
        for k, v in pairs:
            low = k.lower()
            if low == "event" or low == "response":
                kind, value = ("Event" if low == "event" else "Response"), v
                break
        else:
            return MalformedFrame(bytes(raw[:_RAW_KEEP]), NO_TYPE)
    if kind == "Event":
        # the hot path: what the frozen dataclass __init__ does, minus its per-field overhead
        event = _new(Event)
        _set_name(event, value)
        _set_headers(event, pairs)
        _set_replaced(event, replaced)
        return event
    return Response(_get(pairs, "ActionID", ""), value in SUCCESS_STATUSES,
                    _get(pairs, "Message", ""), pairs, replaced)


class AmiParser:
    """Feed bytes with `receive_data`, take messages with `next_message` until it says None.

    Complete frames are parsed as soon as they arrive; an incomplete one waits in the buffer.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._buf = bytearray()
        self._max = max_frame
        self._out: deque[AmiMessage] = deque()
        self._greeted = False
        self._skipping = False  # dropping the rest of an oversized frame
        self._resume = 0  # no terminator starts before this index of the buffer
        self._bare_lf = False  # the buffer may hold a LF without its CR (a sloppy peer)

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame held back."""
        return len(self._buf)

    def receive_data(self, data: bytes) -> None:
        if data:
            self._buf += data
            # Asterisk sends CRLF only; one count per read spares a "\n\n" search per frame
            if not self._bare_lf and data.count(b"\n") != data.count(b"\r\n"):
                self._bare_lf = True
            self._scan()

    def next_message(self) -> AmiMessage | None:
        return self._out.popleft() if self._out else None

    def messages(self) -> list[AmiMessage]:
        """Every complete message received so far (drains the queue)."""
        out = list(self._out)
        self._out.clear()
        return out

    def __iter__(self) -> Iterator[AmiMessage]:
        """Drain: `for message in parser: ...` after each receive_data."""
        while self._out:
            yield self._out.popleft()

    def _greeting(self) -> int:
        """Consume the greeting line if complete; -1 while undecided, else bytes consumed."""
        buf = self._buf
        n = len(GREETING_PREFIX)
        if len(buf) < n:
            if GREETING_PREFIX.startswith(buf):
                return -1
        elif buf.startswith(GREETING_PREFIX):
            eol = buf.find(b"\n")
            if eol < 0:
                if len(buf) > self._max:
                    self._greeted = True  # not a greeting after all; the frame cap takes over
                return -1 if not self._greeted else 0
            version = bytes(buf[n:eol]).decode("utf-8", "replace").rstrip("\r")
            self._out.append(Greeting(version))
            self._greeted = True
            return eol + 1
        self._greeted = True  # a peer without greeting (a replay starting mid-stream)
        return 0

    def _scan(self) -> None:
        buf = self._buf
        pos = 0
        if not self._greeted:
            pos = self._greeting()
            if pos < 0:
                return
        out = self._out
        limit = self._max
        find = buf.find
        start = max(pos, self._resume)
        bare_lf = self._bare_lf
        crlf_only = not bare_lf
        while True:
            # a terminator is "\n" "\r"? "\n"; "\r\n\r\n" contains "\n\r\n"
            crlf = find(b"\n\r\n", start)
            lf = find(b"\n\n", start, len(buf) if crlf < 0 else crlf + 1) if bare_lf else -1
            if lf >= 0:
                end, nxt = lf, lf + 2
            elif crlf >= 0:
                end, nxt = crlf, crlf + 3
            else:
                break
            if self._skipping:
                self._skipping = False
            elif end - pos > limit:
                out.append(MalformedFrame(bytes(buf[pos:pos + 200]), FRAME_TOO_LARGE))
            else:
                while pos < end and buf[pos] in b"\r\n":  # blank lines between frames
                    pos += 1
                if pos < end:
                    out.append(parse_frame(buf[pos:end - 1 if buf[end - 1] == 13 else end], crlf_only))
            pos = start = nxt
        if pos:
            del buf[:pos]
        if len(buf) - 2 > limit:  # up to 2 bytes may be the start of a terminator
            if not self._skipping:
                out.append(MalformedFrame(bytes(buf[:200]), FRAME_TOO_LARGE))
                self._skipping = True
            del buf[:-2]  # keep a tail long enough to hold the start of the terminator
        self._resume = max(0, len(buf) - 2)
        if bare_lf:
            self._bare_lf = buf.count(b"\n") != buf.count(b"\r\n")


def _check(key: str, value: str) -> None:
    if "\r" in key or "\n" in key or "\r" in value or "\n" in value:
        raise ValueError(HEADER_INJECTION)
    if not key or ":" in key:
        raise ValueError(BAD_HEADER_KEY)


def encode_action(name: str, action_id: str,
                  headers: Mapping[str, str] | Sequence[tuple[str, str]] = ()) -> bytes:
    """`Action: name`, `ActionID: id`, the headers in order (keys may repeat), a blank line.

    CR or LF anywhere would let a value smuggle extra headers or a second action into the
    stream (header injection), so they are refused with ValueError(HEADER_INJECTION).
    """
    if isinstance(headers, (str, bytes)):
        raise TypeError("headers must be a mapping or a sequence of (key, value) pairs")
    items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    out = []
    for key, value in (("Action", name), ("ActionID", action_id), *items):
        _check(key, value)
        out.append(f"{key}: {value}\r\n")
    out.append("\r\n")
    return "".join(out).encode("utf-8")
