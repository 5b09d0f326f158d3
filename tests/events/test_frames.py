"""The feed between the controller and the events hub (events/frames.py), as the hub must read
it whatever the kernel does to it: frames split at any byte, several in one read, a client's
socket arriving with its frame's first byte; and a broken peer named, never guessed around."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.frames import BAD_FRAME, CLIENT, CONFIG, FACTS, FIGURES, Decoder, FrameError, encode

FRAMES = [(CONFIG, {"stream": "ab12", "ring": 20000}), (FACTS, [{"seq": 1, "kind": "call.arrived", "data": {"n": "周"}}]),
          (CLIENT, {"head": "GET /api/events HTTP/1.1\r\n\r\n", "after": 1}), (FACTS, []), (CLIENT, {"after": 2}),
          (FIGURES, {"subscribers": 3})]


@given(st.lists(st.integers(min_value=1, max_value=40), max_size=60))
def test_frames_read_back_whole_and_in_order_however_the_bytes_are_split(cuts: list[int]) -> None:
    wire = b"".join(encode(kind, body) for kind, body in FRAMES)
    client_starts = []  # where each client frame begins: its descriptor rides on that byte
    offset = 0
    for kind, body in FRAMES:
        if kind == CLIENT:
            client_starts.append(offset)
        offset += len(encode(kind, body))
    decoder, got, at, fds = Decoder(), [], 0, iter([7, 8])
    pieces = []
    for cut in cuts:
        if at < len(wire):
            pieces.append((at, wire[at:at + cut]))
            at += cut
    if at < len(wire):
        pieces.append((at, wire[at:]))
    for start, piece in pieces:
        riding = [next(fds) for s in client_starts if start <= s < start + len(piece)]
        got += list(decoder.feed(piece, riding))
    assert [(f.kind, f.body) for f in got] == FRAMES
    assert [f.fd for f in got if f.kind == CLIENT] == [7, 8]
    assert decoder.leftover_fds() == []


@pytest.mark.parametrize(("wire", "why"), [
    (b"\x00\x00\x00\x00C", "a frame of 0 bytes"), (b"\xff\xff\xff\xffC", "a frame of"),
    (b"\x00\x00\x00\x03Zab", "unknown kind"), (b"\x00\x00\x00\x03F{x", "not JSON"),
    (encode(CLIENT, {}), "without its socket")])
def test_a_broken_peer_is_named_not_guessed_around(wire: bytes, why: str) -> None:
    with pytest.raises(FrameError, match=why) as raised:
        list(Decoder().feed(wire))
    assert str(raised.value).startswith(BAD_FRAME)


def test_a_descriptor_for_a_frame_that_never_completed_is_handed_back_to_close() -> None:
    decoder = Decoder()
    frame = encode(CLIENT, {"after": 1})
    assert list(decoder.feed(frame[:3], [9])) == []
    assert decoder.leftover_fds() == [9]


def test_chinese_text_travels_as_utf8_not_escapes() -> None:
    wire = encode(FACTS, [{"data": {"desk": "综合"}}])
    assert "综合".encode() in wire and b"\\u" not in wire
    [frame] = list(Decoder().feed(wire))
    assert frame.body == [{"data": {"desk": "综合"}}] and frame.fd is None
