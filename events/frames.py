"""The controller's feed to the events hub (events/hub.py), sans-IO: frames in, frames out.

One Unix stream socket carries, in order: the hub's configuration, the facts (in batches, one
frame per engine step) and the websocket clients handed over (the client's socket travels as a
file descriptor, SCM_RIGHTS, attached to its frame's first byte). Each frame is a 4-byte
big-endian length, a 1-byte kind and a JSON body. The hub answers with its own figures in the
same framing.
"""

from __future__ import annotations

import json
import struct
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

CONFIG, FACTS, CLIENT, FIGURES = b"C", b"F", b"W", b"R"
KINDS = frozenset((CONFIG, FACTS, CLIENT, FIGURES))
MAX_FRAME = 64 * 1024 * 1024  # a batch of a whole ring's facts fits; anything bigger is a broken peer
_HEAD = struct.Struct(">IB")
BAD_FRAME = "bad-hub-frame"


class FrameError(ValueError):
    """The peer sent what is not a frame: the link is broken, not the fact."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"{BAD_FRAME}: {detail}")


def encode(kind: bytes, body: Any) -> bytes:
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode()
    return _HEAD.pack(len(payload) + 1, kind[0]) + payload


@dataclass
class Frame:
    kind: bytes
    body: Any
    fd: int | None = None  # a client's socket (CLIENT frames), now owned by whoever took the frame


@dataclass
class Decoder:
    """Bytes and descriptors as they arrive, complete frames out. A descriptor arrives with (or
    before) its frame's first byte, so the next CLIENT frame completed takes the oldest one."""

    _buffer: bytearray = field(default_factory=bytearray)
    _fds: deque[int] = field(default_factory=deque)

    def feed(self, data: bytes, fds: Sequence[int] = ()) -> Iterator[Frame]:
        self._buffer += data
        self._fds.extend(fds)
        while len(self._buffer) >= _HEAD.size:
            length, kind_byte = _HEAD.unpack_from(self._buffer)
            if length < 1 or length > MAX_FRAME:
                raise FrameError(f"a frame of {length} bytes")
            kind = bytes((kind_byte,))
            if kind not in KINDS:
                raise FrameError(f"unknown kind {kind!r}")
            end = _HEAD.size - 1 + length
            if len(self._buffer) < end:
                return
            payload = bytes(self._buffer[_HEAD.size:end])
            del self._buffer[:end]
            try:
                body = json.loads(payload)
            except ValueError as exc:
                raise FrameError(f"a {kind.decode()} frame that is not JSON ({exc})") from None
            fd = None
            if kind == CLIENT:
                if not self._fds:
                    raise FrameError("a client frame without its socket")
                fd = self._fds.popleft()
            yield Frame(kind, body, fd)

    def leftover_fds(self) -> list[int]:
        """Descriptors received for no frame (the peer went mid-frame): the caller closes them."""
        fds = list(self._fds)
        self._fds.clear()
        return fds
