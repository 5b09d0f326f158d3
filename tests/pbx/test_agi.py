"""The FastAGI wire protocol, bytes only (pbx/agi.py is sans-IO)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx.agi import (COMMAND_INJECTION, EOF_IN_HEADER, HEADER_TOO_LARGE, AgiConnection,
                     AgiProtocolError, AgiState, Closed, CommandReply, DeadChannel,
                     EnvironmentReceived, HangupReceived, InvalidCommand, ProtocolError, Trying,
                     UsageError, quote)

ENV = (
    "agi_network: yes\n"
    "agi_network_script: intake?dialed=12345&note=%E4%BD%A0%E5%A5%BD\n"
    "agi_request: agi://127.0.0.1:4573/intake?dialed=12345&note=%E4%BD%A0%E5%A5%BD\n"
    "agi_channel: PJSIP/carrier-00000001\n"
    "agi_language: en\n"
    "agi_type: PJSIP\n"
    "agi_uniqueid: hotline-pbx-1795347643.17\n"
    "agi_version: 22.10.1\n"
    "agi_callerid: 13800138001\n"
    "agi_calleridname: 张三丰\n"
    "agi_callingpres: 0\n"
    "agi_dnid: 12345\n"
    "agi_rdnis: unknown\n"
    "agi_context: from-trunk\n"
    "agi_extension: 12345\n"
    "agi_priority: 3\n"
    "agi_enhanced: 0.0\n"
    "agi_accountcode: \n"
    "agi_threadid: 140000000000\n"
    "agi_arg_1: first\n"
    "agi_arg_2: second\n"
    "\n"
).encode()


def events(conn: AgiConnection) -> list[object]:
    out = []
    while (e := conn.next_event()) is not None:
        out.append(e)
    return out


def ready() -> AgiConnection:
    conn = AgiConnection()
    conn.receive_data(ENV)
    events(conn)
    return conn


def test_the_environment_is_read_whole_with_script_params_and_args() -> None:
    conn = AgiConnection()
    conn.receive_data(ENV)
    [received] = events(conn)
    assert isinstance(received, EnvironmentReceived)
    env = received.env
    assert env.script == "intake"
    assert env.params == {"dialed": "12345", "note": "你好"}
    assert env.calleridname == "张三丰" and env.callerid == "13800138001"
    assert env.args == ["first", "second"]
    assert env.get("accountcode") == "" and env.uniqueid == "hotline-pbx-1795347643.17"
    assert conn.state is AgiState.IDLE


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(ENV) - 1), max_size=30, unique=True))
def test_any_split_of_the_header_gives_the_same_environment(cuts: list[int]) -> None:
    conn = AgiConnection()
    edges = [0, *sorted(cuts), len(ENV)]
    for a, b in zip(edges, edges[1:]):
        conn.receive_data(ENV[a:b])
    [received] = events(conn)
    assert isinstance(received, EnvironmentReceived)
    assert received.env.calleridname == "张三丰"


def test_an_oversized_header_is_refused() -> None:
    conn = AgiConnection(max_header_bytes=200)
    conn.receive_data(ENV)
    assert events(conn) == [ProtocolError(HEADER_TOO_LARGE)]
    assert conn.state is AgiState.ERROR
    conn2 = AgiConnection(max_header_bytes=200)
    conn2.receive_data(b"agi_x: " + b"y" * 500)  # no newline at all: still capped
    assert events(conn2) == [ProtocolError(HEADER_TOO_LARGE)]


def test_a_peer_gone_mid_header_is_an_error_not_a_hang() -> None:
    conn = AgiConnection()
    conn.receive_data(ENV[:50])
    conn.receive_data(b"")
    assert events(conn) == [ProtocolError(EOF_IN_HEADER)]


@pytest.mark.parametrize("reply, expected", [
    (b"200 result=0\n", CommandReply(200, 0, "", {}, "200 result=0", "0")),
    (b"200 result=1 (timeout) endpos=12000\n",
     CommandReply(200, 1, "timeout", {"endpos": "12000"}, "200 result=1 (timeout) endpos=12000", "1")),
    (b"200 result=-1\n", CommandReply(200, -1, "", {}, "200 result=-1", "-1")),
    (b"200 result=007\n", CommandReply(200, 7, "", {}, "200 result=007", "007")),
    (b"510 Invalid or unknown command\n", InvalidCommand("510 Invalid or unknown command")),
    (b"511 Command Not Permitted on a dead channel or intercept routine\n",
     DeadChannel("511 Command Not Permitted on a dead channel or intercept routine")),
    (b"520 Invalid command syntax.  Proper usage not available.\n",
     UsageError("Invalid command syntax.  Proper usage not available.")),
])
def test_each_reply_kind(reply: bytes, expected: object) -> None:
    conn = ready()
    conn.send_command("ANSWER")
    conn.receive_data(reply)
    assert events(conn) == [expected]
    assert conn.state is AgiState.IDLE


def test_the_multi_line_520_block_is_collected_until_its_end() -> None:
    conn = ready()
    conn.send_command("STREAM FILE")
    conn.receive_data(b"520-Invalid command syntax.  Proper usage follows:\n"
                      b" Usage: STREAM FILE <filename> <escape_digits> [sample offset]\n")
    assert events(conn) == []
    conn.receive_data(b"520 End of proper usage.\n")
    [usage] = events(conn)
    assert isinstance(usage, UsageError) and "Usage: STREAM FILE" in usage.usage
    assert conn.state is AgiState.IDLE


def test_100_trying_comes_before_the_real_reply() -> None:
    conn = ready()
    conn.send_command("EXEC Dial PJSIP/agent1001")
    conn.receive_data(b"100 result=0 Trying...\n200 result=0\n")
    first, second = events(conn)
    assert isinstance(first, Trying) and isinstance(second, CommandReply)


def test_hangup_arrives_unsolicited_or_in_place_of_a_reply() -> None:
    conn = ready()
    conn.receive_data(b"HANGUP\n")
    assert events(conn) == [HangupReceived()]
    assert conn.state is AgiState.HUNG_UP
    conn.send_command("STREAM FILE x \"\"")  # still allowed: Asterisk answers 511
    conn.receive_data(b"511 Command Not Permitted on a dead channel or intercept routine\n")
    assert isinstance(events(conn)[0], DeadChannel)
    conn.receive_data(b"")
    assert events(conn) == [Closed()]
    conn2 = ready()
    conn2.send_command("STREAM FILE hello-world \"\"")
    conn2.receive_data(b"HANGUP\n200 result=-1 endpos=800\n")
    assert [type(e) for e in events(conn2)] == [HangupReceived, CommandReply]


def test_commands_cannot_smuggle_lines_and_must_wait_for_the_environment() -> None:
    conn = ready()
    with pytest.raises(ValueError, match=COMMAND_INJECTION):
        conn.send_command("SET VARIABLE X 1\nHANGUP")
    with pytest.raises(AgiProtocolError, match="illegal-transition"):
        AgiConnection().send_command("ANSWER")
    conn.send_command("ANSWER")
    with pytest.raises(AgiProtocolError):
        conn.send_command("ANSWER")  # one command at a time


def test_quote() -> None:
    assert quote("hello-world") == "hello-world"
    assert quote("") == '""'
    assert quote('a "b" c') == '"a \\"b\\" c"'
