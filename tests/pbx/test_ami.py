"""pbx.ami, bytes only: framing, decoding, typed messages, the buffer cap, action encoding."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx.ami import (BAD_HEADER_KEY, BAD_LINE, FRAME_TOO_LARGE, HEADER_INJECTION, NO_TYPE, AmiMessage,
                     AmiParser, Event, Greeting, MalformedFrame, Response, encode_action, parse_frame)

GREETING = b"Asterisk Call Manager/11.0.0\r\n"
LOGIN_OK = b"Response: Success\r\nActionID: hp-1\r\nMessage: Authentication accepted\r\n\r\n"
BOOTED = (b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 12\r\nLastReload: 12\r\n"
          b"Status: Fully Booted\r\n\r\n")
NEWCHANNEL = ("Event: Newchannel\r\nPrivilege: call,all\r\nTimestamp: 1795347643.946403\r\n"
              "Channel: PJSIP/carrier-00000011\r\nChannelState: 4\r\nChannelStateDesc: Ring\r\n"
              "CallerIDNum: 13800138001\r\nCallerIDName: 张三丰\r\nConnectedLineNum: <unknown>\r\n"
              "ConnectedLineName: <unknown>\r\nLanguage: zh\r\nAccountCode: \r\nContext: from-trunk\r\n"
              "Exten: 12345\r\nPriority: 1\r\nUniqueid: hotline-pbx-1795347643.17\r\n"
              "Linkedid: hotline-pbx-1795347643.17\r\n\r\n").encode()
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"


def feed(*chunks: bytes, max_frame: int = 1 << 20) -> list[AmiMessage]:
    parser = AmiParser(max_frame)
    out: list[AmiMessage] = []
    for chunk in chunks:
        parser.receive_data(chunk)
        out.extend(parser.messages())
    return out


def test_the_greeting_line_alone_is_a_greeting() -> None:
    assert feed(GREETING) == [Greeting("11.0.0")]


def test_greeting_login_response_and_event() -> None:
    greeting, response, event = feed(GREETING + LOGIN_OK + BOOTED)
    assert greeting == Greeting("11.0.0")
    assert isinstance(response, Response)
    assert (response.action_id, response.success, response.message, response.status) == \
        ("hp-1", True, "Authentication accepted", "Success")
    assert isinstance(event, Event)
    assert event.name == "FullyBooted"
    assert event.headers == (("Event", "FullyBooted"), ("Privilege", "system,all"), ("Uptime", "12"),
                             ("LastReload", "12"), ("Status", "Fully Booted"))


def test_a_stream_without_greeting_is_parsed_all_the_same() -> None:
    assert [type(m) for m in feed(BOOTED, BOOTED)] == [Event, Event]


def test_an_error_response_is_not_a_success() -> None:
    [response] = feed(b"Response: Error\r\nActionID: x\r\nMessage: Authentication failed\r\n\r\n")
    assert isinstance(response, Response)
    assert not response.success
    assert response.message == "Authentication failed"


@pytest.mark.parametrize("terminator", [b"\n\n", b"\n\r\n", b"\r\n\n", b"\r\n\r\n"])
def test_sloppy_terminators_end_a_frame(terminator: bytes) -> None:
    frame = b"Event: Test\nChannel: PJSIP/a-1\r\nUniqueid: 1.1" + terminator
    events = feed(frame + frame)
    assert len(events) == 2
    for event in events:
        assert isinstance(event, Event)
        assert event.headers == (("Event", "Test"), ("Channel", "PJSIP/a-1"), ("Uniqueid", "1.1"))


def test_blank_lines_between_frames_are_not_frames() -> None:
    assert [type(m) for m in feed(BOOTED + b"\r\n\r\n\r\n" + BOOTED)] == [Event, Event]


def test_a_chinese_caller_name_split_mid_character_arrives_whole() -> None:
    cut = NEWCHANNEL.index("张".encode()) + 1  # inside the 3-byte UTF-8 sequence
    [event] = feed(NEWCHANNEL[:cut], NEWCHANNEL[cut:])
    assert isinstance(event, Event)
    assert event.get("CallerIDName") == "张三丰"
    assert not event.utf8_replaced


def test_invalid_utf8_is_replaced_flagged_and_still_delivered() -> None:
    [event] = feed(b"Event: Newchannel\r\nCallerIDName: \xe5\xbc\r\nUniqueid: 1.2\r\n\r\n")
    assert isinstance(event, Event)
    assert event.utf8_replaced
    assert event.get("CallerIDName") == "\ufffd"
    assert event.get("Uniqueid") == "1.2"


def test_byte_at_a_time_gives_the_same_messages_as_one_chunk() -> None:
    stream = GREETING + LOGIN_OK + BOOTED + NEWCHANNEL
    assert feed(*(stream[i:i + 1] for i in range(len(stream)))) == feed(stream)


STREAM = (GREETING + LOGIN_OK + BOOTED + NEWCHANNEL + b"Event: Sloppy\nKey: v\n\n"
          + b"no colon here\r\n\r\n" + BOOTED
          + b"Response: Success\r\nActionID: c\r\nMessage: Command output follows\r\n"
            b"Output: Channel: x\r\nOutput: 1 active call\r\n\r\n")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=20))
def test_any_split_points_give_identical_messages(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in zip(points, points[1:])]
    assert feed(*chunks) == feed(STREAM)


def test_repeated_keys_are_kept_in_order() -> None:
    [event] = feed(b"Event: Status\r\nChanVariable: FROM_DID=12345\r\nChanVariable: DESK=housing\r\n"
                   b"Channel: PJSIP/a-1\r\n\r\n")
    assert isinstance(event, Event)
    assert event.get("ChanVariable") == "FROM_DID=12345"
    assert event.get_all("chanvariable") == ["FROM_DID=12345", "DESK=housing"]


def test_keys_are_case_insensitive_and_missing_ones_default() -> None:
    [event] = feed(BOOTED)
    assert isinstance(event, Event)
    assert event.get("status") == event.get("STATUS") == "Fully Booted"
    assert event.get("Nope") == ""
    assert event.get("Nope", "x") == "x"
    assert event.get_all("Nope") == []


def test_a_value_may_contain_colon_space_and_keeps_its_spaces() -> None:
    [event] = feed(b"Event: Newexten\r\nAppData: Playing: hotline/welcome \r\nAccountCode: \r\n\r\n")
    assert isinstance(event, Event)
    assert event.get("AppData") == "Playing: hotline/welcome "
    assert event.get("AccountCode") == ""


def test_command_output_asterisk_22_style() -> None:
    [response] = feed(b"Response: Success\r\nActionID: c1\r\nMessage: Command output follows\r\n"
                      b"Output: Channel              Location\r\nOutput: 0 active channels\r\n\r\n")
    assert isinstance(response, Response)
    assert response.output == ["Channel              Location", "0 active channels"]


def test_command_output_legacy_body_form() -> None:
    [response] = feed(b"Response: Follows\r\nPrivilege: Command\r\nActionID: c2\r\n"
                      b"Channel: x (Ring)\n1 active call\n--END COMMAND--\r\n\r\n")
    assert isinstance(response, Response)
    assert response.success and response.action_id == "c2"
    assert response.output == ["Channel: x (Ring)", "1 active call"]


def test_a_malformed_frame_is_reported_and_the_next_frame_parsed() -> None:
    bad, good = feed(b"Event: X\r\nthis line has no separator\r\n\r\n" + BOOTED)
    assert bad == MalformedFrame(b"Event: X\r\nthis line has no separator", BAD_LINE)
    assert isinstance(good, Event) and good.name == "FullyBooted"


def test_a_frame_without_event_or_response_is_malformed() -> None:
    bad, good = feed(b"ActionID: 1\r\nMessage: what\r\n\r\n" + BOOTED)
    assert isinstance(bad, MalformedFrame) and bad.reason == NO_TYPE
    assert isinstance(good, Event)


def test_an_oversized_frame_is_dropped_once_and_the_parser_recovers() -> None:
    parser = AmiParser(max_frame=1000)
    parser.receive_data(b"Event: Huge\r\nData: ")
    for _ in range(10):
        parser.receive_data(b"x" * 400)
    assert parser.buffered <= 1002  # the cap holds while the frame goes on
    parser.receive_data(b"x\r\n\r\n" + BOOTED)
    too_large, event = parser.messages()
    assert isinstance(too_large, MalformedFrame) and too_large.reason == FRAME_TOO_LARGE
    assert too_large.raw.startswith(b"Event: Huge")
    assert isinstance(event, Event) and event.name == "FullyBooted"


def test_an_oversized_frame_in_one_read_is_dropped_too() -> None:
    huge = b"Event: Huge\r\nData: " + b"x" * 2000 + b"\r\n\r\n"
    too_large, event = feed(huge + BOOTED, max_frame=1000)
    assert isinstance(too_large, MalformedFrame) and too_large.reason == FRAME_TOO_LARGE
    assert isinstance(event, Event)


def test_encode_action_round_trip() -> None:
    data = encode_action("Redirect", "hp-7", {"Channel": "PJSIP/carrier-1", "Context": "hotline-connect",
                                              "Exten": "s", "Priority": "1"})
    assert data == (b"Action: Redirect\r\nActionID: hp-7\r\nChannel: PJSIP/carrier-1\r\n"
                    b"Context: hotline-connect\r\nExten: s\r\nPriority: 1\r\n\r\n")
    # the same framing/parsing reads it back (as a frame without Event/Response)
    message = parse_frame(data[:-4])
    assert isinstance(message, MalformedFrame) and message.reason == NO_TYPE


def test_encode_action_keeps_repeated_keys_and_utf8() -> None:
    data = encode_action("Originate", "hp-8", [("Variable", "NAME=张三丰"), ("Variable", "DESK=housing")])
    assert data.decode("utf-8").split("\r\n")[2:4] == ["Variable: NAME=张三丰", "Variable: DESK=housing"]


@pytest.mark.parametrize("headers", [
    {"Channel": "PJSIP/a\r\nAction: Hangup"},
    {"Channel": "x\n"},
    {"Bad\rKey": "x"},
    [("Variable", "A=1\r\n\r\nAction: Originate")],
])
def test_encode_action_rejects_header_injection(headers: dict[str, str] | list[tuple[str, str]]) -> None:
    with pytest.raises(ValueError, match=f"^{HEADER_INJECTION}$"):
        encode_action("Redirect", "hp-9", headers)


def test_encode_action_rejects_injection_in_name_and_id_and_bad_keys() -> None:
    with pytest.raises(ValueError, match=f"^{HEADER_INJECTION}$"):
        encode_action("Ping\r\nAction: Logoff", "1")
    with pytest.raises(ValueError, match=f"^{HEADER_INJECTION}$"):
        encode_action("Ping", "1\n")
    with pytest.raises(ValueError, match=f"^{BAD_HEADER_KEY}$"):
        encode_action("Ping", "1", {"A: B": "c"})


@pytest.mark.skipif(not any(FIXTURES.glob("*.raw")), reason="no recorded AMI stream")
def test_recorded_streams_parse_without_malformed_frames_in_any_chunking() -> None:
    for path in FIXTURES.glob("*.raw"):
        data = path.read_bytes()
        whole = feed(data)
        assert whole and isinstance(whole[0], Greeting), path
        assert not [m for m in whole if isinstance(m, MalformedFrame)], path
        assert feed(*(data[i:i + 7] for i in range(0, len(data), 7))) == whole, path


def test_parse_frame_tolerates_leading_blank_lines_and_bare_lf() -> None:
    event = parse_frame(b"\r\n\nEvent: X\nKey: v\r\nOther: w: x\r")
    assert isinstance(event, Event)
    assert event.headers == (("Event", "X"), ("Key", "v"), ("Other", "w: x"))
