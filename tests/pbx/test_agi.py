"""The FastAGI wire protocol, bytes only (pbx/agi.py is sans-IO)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx.agi import (BAD_HEADER_LINE, BAD_REPLY, COMMAND_INJECTION, EOF_IN_HEADER,
                     HEADER_TOO_LARGE, ILLEGAL_TRANSITION, LINE_TOO_LONG, UNEXPECTED_REPLY,
                     AgiConnection, AgiEnvironment, AgiEvent, AgiProtocolError, AgiState, Closed,
                     CommandReply, DeadChannel, EnvironmentReceived, HangupReceived,
                     InvalidCommand, ProtocolError, Trying, UsageError, command_line, quote)

# what Asterisk 22 sends for `AGI(agi://127.0.0.1:4573/intake?desk=general&note=你好,first,second)`
ENV = (
    "agi_request: agi://127.0.0.1:4573/intake?desk=general&note=%E4%BD%A0%E5%A5%BD\n"
    "agi_channel: PJSIP/trunk-00000001\n"
    "agi_language: zh\n"
    "agi_type: PJSIP\n"
    "agi_uniqueid: 1795347643.17\n"
    "agi_version: 22.1.0\n"
    "agi_callerid: 13800138001\n"
    "agi_calleridname: 张三丰\n"
    "agi_callingpres: 0\n"
    "agi_callingani2: 0\n"
    "agi_callington: 0\n"
    "agi_callingtns: 0\n"
    "agi_dnid: 12345\n"
    "agi_rdnis: unknown\n"
    "agi_context: from-trunk\n"
    "agi_extension: 12345\n"
    "agi_priority: 3\n"
    "agi_enhanced: 0.0\n"
    "agi_accountcode: \n"
    "agi_threadid: 140245071480512\n"
    "agi_network: yes\n"
    "agi_network_script: intake?desk=general&note=%E4%BD%A0%E5%A5%BD\n"
    "agi_arg_1: first\n"
    "agi_arg_2: 第二\n"
    "\n"
).encode()

# a whole session after the environment, as Asterisk answers the commands in COMMANDS
COMMANDS = ["ANSWER", 'SET VARIABLE HOTLINE_DESK general', "GET VARIABLE CALLERNAME",
            'STREAM FILE hello-world ""', "GET DATA beep 3000 4", "EXEC Dial PJSIP/agent1001",
            "STREAM FILE", "FOO", "STREAM FILE x"]
REPLIES = ("200 result=0\n"
           "200 result=1\n"
           "200 result=1 (王芳 (综合受理))\n"
           "200 result=0 endpos=12000\n"
           "200 result= (timeout)\n"
           "100 result=0 Trying...\n200 result=0\n"
           "520-Invalid command syntax.  Proper usage follows:\n"
           " Usage: STREAM FILE <filename> <escape_digits> [<sample offset>]\n"
           "     Send the given file, allowing playback to be interrupted by the given digits.\n"
           "520 End of proper usage.\n"
           "510 Invalid or unknown command\n"
           "HANGUP\n"
           "511 Command Not Permitted on a dead channel or intercept routine\n").encode()


def state_of(conn: AgiConnection) -> AgiState:
    return conn.state  # (a call, so mypy does not narrow the state across receive_data)


def drain(conn: AgiConnection) -> list[AgiEvent]:
    out = []
    while (e := conn.next_event()) is not None:
        out.append(e)
    return out


def ready() -> AgiConnection:
    conn = AgiConnection()
    conn.receive_data(ENV)
    [event] = drain(conn)
    assert isinstance(event, EnvironmentReceived)
    return conn


WHOLE = ENV + REPLIES


def _reply_boundaries() -> list[int]:
    """Where Asterisk could not send further: after the environment and after each final reply
    (it answers command N+1 only once it has read it)."""
    cuts, pos = [len(ENV)], len(ENV)
    for line in REPLIES.splitlines(keepends=True):
        pos += len(line)
        if line[:4] in (b"200 ", b"510 ", b"511 ", b"520 "):
            cuts.append(pos)
    return cuts


BOUNDARIES = _reply_boundaries()


def play(cuts: list[int]) -> list[AgiEvent]:
    """Feed the whole transcript (environment, then replies) cut at `cuts` (and where Asterisk
    waits for the next command), sending each command as soon as the previous one is settled,
    like a handler would."""
    conn = AgiConnection()
    events: list[AgiEvent] = []
    todo = list(COMMANDS)
    edges = sorted({0, len(WHOLE), *BOUNDARIES, *cuts})
    for a, b in zip(edges, edges[1:]):
        conn.receive_data(WHOLE[a:b])
        events += drain(conn)
        while todo and conn.state in (AgiState.IDLE, AgiState.HUNG_UP):
            conn.send_command(todo.pop(0))
    conn.receive_data(b"")
    return events + drain(conn)


# ---- the environment -------------------------------------------------------------------------

def test_given_a_real_environment_then_the_accessors_decode_it() -> None:
    conn = AgiConnection()
    conn.receive_data(ENV)
    [received] = drain(conn)
    assert isinstance(received, EnvironmentReceived)
    env = received.env
    assert env.script == "intake"
    assert env.params == {"desk": "general", "note": "你好"}
    assert env.network_script == "intake?desk=general&note=%E4%BD%A0%E5%A5%BD"
    assert env.request.startswith("agi://127.0.0.1:4573/intake?")
    assert env.calleridname == "张三丰" and env.callerid == "13800138001"
    assert env.channel == "PJSIP/trunk-00000001" and env.uniqueid == "1795347643.17"
    assert (env.dnid, env.context, env.extension) == ("12345", "from-trunk", "12345")
    assert env.rdnis == "" and env.get("rdnis") == "unknown"  # Asterisk's "unknown" means none
    assert env.args == ("first", "第二")
    assert env.get("accountcode") == "" and env["agi_network"] == "yes" and "threadid" in env
    assert len(env.values) == 24
    assert state_of(conn) is AgiState.IDLE
    with pytest.raises(TypeError):
        env.values["agi_channel"] = "x"  # type: ignore[index]


def test_script_and_params_edge_cases() -> None:
    assert AgiEnvironment({"agi_network_script": "ivr/intake"}).script == "ivr/intake"
    assert AgiEnvironment({"agi_network_script": "intake?"}).params == {}
    assert AgiEnvironment({"agi_network_script": "x?a=1&b=&c=%2B+d"}).params == {
        "a": "1", "b": "", "c": "+ d"}
    # no agi_network_script: derived from the URL
    env = AgiEnvironment({"agi_request": "agi://10.0.0.1:4573/survey?call=7"})
    assert (env.script, env.params) == ("survey", {"call": "7"})
    assert AgiEnvironment({"agi_arg_10": "j", "agi_arg_2": "b", "agi_arg_1": "a"}).args == (
        "a", "b", "j")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(WHOLE) - 1), max_size=40, unique=True))
def test_any_split_of_a_session_gives_the_same_events(cuts: list[int]) -> None:
    assert play(cuts) == play([])


def test_every_single_split_point_and_byte_by_byte_give_the_same_events() -> None:
    expected = play([])
    assert len(expected) == 13  # env, 9 replies (+Trying), HANGUP, Closed
    for cut in range(1, len(WHOLE)):
        assert play([cut]) == expected, cut
    assert play(list(range(len(WHOLE)))) == expected


def test_the_whole_session_read_reply_by_reply() -> None:
    events = play([])
    assert [type(e) for e in events] == [
        EnvironmentReceived, CommandReply, CommandReply, CommandReply, CommandReply, CommandReply,
        Trying, CommandReply, UsageError, InvalidCommand, HangupReceived, DeadChannel, Closed]
    name, digits = events[3], events[5]
    assert isinstance(name, CommandReply) and name.data == "王芳 (综合受理)"
    assert isinstance(digits, CommandReply) and (digits.raw_result, digits.data) == ("", "timeout")
    usage = events[8]
    assert isinstance(usage, UsageError) and usage.usage.startswith(" Usage: STREAM FILE")


def test_crlf_line_endings_are_accepted() -> None:
    conn = AgiConnection()
    conn.receive_data(b"agi_network: yes\r\nagi_network_script: intake\r\n\r\n")
    [event] = drain(conn)
    assert isinstance(event, EnvironmentReceived) and event.env.script == "intake"
    conn.send_command("ANSWER")
    conn.receive_data(b"200 result=0\r\n")
    assert drain(conn) == [CommandReply(200, 0, "", {}, "200 result=0", "0")]


def test_an_oversized_header_is_refused_and_the_connection_is_dead() -> None:
    conn = AgiConnection(max_header_bytes=200)
    conn.receive_data(ENV)
    assert drain(conn) == [ProtocolError(HEADER_TOO_LARGE)]
    assert state_of(conn) is AgiState.ERROR
    conn.receive_data(b"200 result=0\n")
    assert drain(conn) == []
    with pytest.raises(AgiProtocolError, match=ILLEGAL_TRANSITION):
        conn.send_command("ANSWER")
    trickle = AgiConnection(max_header_bytes=200)
    for _ in range(300):  # one line with no newline at all, a byte at a time: still capped
        trickle.receive_data(b"y")
    assert drain(trickle) == [ProtocolError(HEADER_TOO_LARGE)]
    exact = AgiConnection(max_header_bytes=len(ENV))
    exact.receive_data(ENV)
    assert isinstance(drain(exact)[0], EnvironmentReceived)


def test_a_peer_gone_mid_header_is_an_error_not_a_hang() -> None:
    conn = AgiConnection()
    conn.receive_data(ENV[:50])
    conn.receive_data(b"")
    assert drain(conn) == [ProtocolError(EOF_IN_HEADER)]
    assert state_of(conn) is AgiState.ERROR
    silent = AgiConnection()
    silent.receive_data(b"")
    assert drain(silent) == [ProtocolError(EOF_IN_HEADER)]


def test_garbage_instead_of_an_environment() -> None:
    conn = AgiConnection()
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert drain(conn) == [ProtocolError(BAD_HEADER_LINE)]
    assert state_of(conn) is AgiState.ERROR


def test_a_reply_after_the_environment_in_the_same_read() -> None:
    conn = AgiConnection()
    conn.receive_data(ENV + b"HANGUP\n")
    assert [type(e) for e in drain(conn)] == [EnvironmentReceived, HangupReceived]
    assert state_of(conn) is AgiState.HUNG_UP


# ---- replies ---------------------------------------------------------------------------------

@pytest.mark.parametrize("reply, expected", [
    (b"200 result=0\n", CommandReply(200, 0, "", {}, "200 result=0", "0")),
    (b"200 result=1 (timeout) endpos=1234\n",
     CommandReply(200, 1, "timeout", {"endpos": "1234"}, "200 result=1 (timeout) endpos=1234", "1")),
    (b"200 result=-1\n", CommandReply(200, -1, "", {}, "200 result=-1", "-1")),
    (b"200 result=49 (dtmf)\n", CommandReply(200, 49, "dtmf", {}, "200 result=49 (dtmf)", "49")),
    (b"200 result=007\n", CommandReply(200, 7, "", {}, "200 result=007", "007")),
    (b"200 result= (timeout)\n", CommandReply(200, None, "timeout", {}, "200 result= (timeout)", "")),
    (b"200 result=\n", CommandReply(200, None, "", {}, "200 result=", "")),
    (b"200 result=12* (timeout)\n",
     CommandReply(200, None, "timeout", {}, "200 result=12* (timeout)", "12*")),
    ("200 result=1 (张三 (a) b)\n".encode(),
     CommandReply(200, 1, "张三 (a) b", {}, "200 result=1 (张三 (a) b)", "1")),
    (b"510 Invalid or unknown command\n", InvalidCommand("510 Invalid or unknown command")),
    (b"511 Command Not Permitted on a dead channel or intercept routine\n",
     DeadChannel("511 Command Not Permitted on a dead channel or intercept routine")),
    (b"520 Invalid command syntax.  Proper usage not available.\n",
     UsageError("Invalid command syntax.  Proper usage not available.")),
])
def test_each_reply_kind(reply: bytes, expected: AgiEvent) -> None:
    conn = ready()
    conn.send_command("ANSWER")
    conn.receive_data(reply)
    assert drain(conn) == [expected]
    assert state_of(conn) is AgiState.IDLE and not conn.reply_pending


def test_endpos_accessor() -> None:
    conn = ready()
    conn.send_command('STREAM FILE hello-world ""')
    conn.receive_data(b"200 result=0 endpos=12000\n")
    [reply] = drain(conn)
    assert isinstance(reply, CommandReply) and reply.endpos == 12000 and reply.result == 0


def test_the_multi_line_520_block_is_collected_until_its_end() -> None:
    conn = ready()
    conn.send_command("STREAM FILE")
    conn.receive_data(b"520-Invalid command syntax.  Proper usage follows:\n"
                      b" Usage: STREAM FILE <filename> <escape_digits> [sample offset]\n")
    assert drain(conn) == [] and conn.state is AgiState.IN_USAGE_BLOCK
    with pytest.raises(AgiProtocolError):
        conn.send_command("ANSWER")  # the block is not finished
    assert state_of(conn) is AgiState.IN_USAGE_BLOCK
    conn.receive_data(b"  Send the given file.\n520 End of proper usage.\n")
    assert drain(conn) == [UsageError(" Usage: STREAM FILE <filename> <escape_digits> "
                                      "[sample offset]\n  Send the given file.")]
    assert state_of(conn) is AgiState.IDLE
    conn.send_command("ANSWER")  # and the next command's reply is its own
    conn.receive_data(b"200 result=0\n")
    assert isinstance(drain(conn)[0], CommandReply)


def test_100_trying_comes_before_the_real_reply() -> None:
    conn = ready()
    conn.send_command("EXEC Dial PJSIP/agent1001")
    conn.receive_data(b"100 result=0 Trying...\n")
    assert drain(conn) == [Trying("100 result=0 Trying...")]
    assert state_of(conn) is AgiState.AWAIT_REPLY
    conn.receive_data(b"200 result=0\n")
    assert drain(conn) == [CommandReply(200, 0, "", {}, "200 result=0", "0")]
    assert state_of(conn) is AgiState.IDLE


def test_hangup_unsolicited_while_idle() -> None:
    conn = ready()
    conn.receive_data(b"HANGUP\n")
    assert drain(conn) == [HangupReceived()]
    assert state_of(conn) is AgiState.HUNG_UP and conn.hung_up
    conn.send_command('STREAM FILE x ""')  # still allowed: Asterisk answers in dead mode
    conn.receive_data(b"511 Command Not Permitted on a dead channel or intercept routine\n")
    assert [type(e) for e in drain(conn)] == [DeadChannel]
    assert state_of(conn) is AgiState.HUNG_UP
    conn.receive_data(b"")
    assert drain(conn) == [Closed()]
    assert state_of(conn) is AgiState.CLOSED


def test_hangup_in_place_of_a_reply_keeps_the_reply_owed() -> None:
    conn = ready()
    conn.send_command('STREAM FILE hello-world ""')
    conn.receive_data(b"HANGUP\n")
    assert drain(conn) == [HangupReceived()]
    assert state_of(conn) is AgiState.AWAIT_REPLY and conn.reply_pending and conn.hung_up
    with pytest.raises(AgiProtocolError):
        conn.send_command("ANSWER")  # the owed reply must come first
    conn.receive_data(b"511 Command Not Permitted on a dead channel or intercept routine\n")
    assert [type(e) for e in drain(conn)] == [DeadChannel]
    assert state_of(conn) is AgiState.HUNG_UP
    # or the socket simply closes
    gone = ready()
    gone.send_command("ANSWER")
    gone.receive_data(b"HANGUP\n")
    gone.receive_data(b"")
    assert drain(gone) == [HangupReceived(), Closed()]


def test_a_reply_nobody_asked_for_is_a_protocol_error() -> None:
    conn = ready()
    conn.receive_data(b"200 result=0\n")
    [event] = drain(conn)
    assert isinstance(event, ProtocolError) and event.reason.startswith(UNEXPECTED_REPLY)
    assert state_of(conn) is AgiState.ERROR


def test_garbage_and_over_long_replies() -> None:
    conn = ready()
    conn.send_command("ANSWER")
    conn.receive_data(b"hello there\n")
    [event] = drain(conn)
    assert isinstance(event, ProtocolError) and event.reason.startswith(BAD_REPLY)
    long = AgiConnection(max_line_bytes=100)
    long.receive_data(ENV)
    drain(long)
    long.send_command("ANSWER")
    long.receive_data(b"200 result=0 " + b"x" * 200)
    assert drain(long) == [ProtocolError(LINE_TOO_LONG)]


def test_an_unknown_but_well_formed_reply_is_kept() -> None:
    conn = ready()
    conn.send_command("ANSWER")
    conn.receive_data(b"503 result=-2 Memory allocation failure\n")
    [event] = drain(conn)
    assert isinstance(event, CommandReply) and (event.code, event.result) == (503, -2)


# ---- commands --------------------------------------------------------------------------------

def test_commands_cannot_smuggle_lines() -> None:
    conn = ready()
    for bad in ("SET VARIABLE X 1\nHANGUP", "ANSWER\r", "VERBOSE \"a\rb\" 1"):
        with pytest.raises(ValueError, match=COMMAND_INJECTION):
            conn.send_command(bad)
    assert state_of(conn) is AgiState.IDLE  # nothing went out
    assert conn.send_command("VERBOSE \"你好\" 1") == "VERBOSE \"你好\" 1\n".encode()


def test_illegal_transitions_raise_and_leave_the_state_alone() -> None:
    fresh = AgiConnection()
    with pytest.raises(AgiProtocolError, match=ILLEGAL_TRANSITION):
        fresh.send_command("ANSWER")  # before the environment
    assert state_of(fresh) is AgiState.AWAIT_ENV
    conn = ready()
    conn.send_command("ANSWER")
    with pytest.raises(AgiProtocolError, match=ILLEGAL_TRANSITION):
        conn.send_command("ANSWER")  # one command at a time
    assert state_of(conn) is AgiState.AWAIT_REPLY
    conn.receive_data(b"")
    with pytest.raises(AgiProtocolError):
        conn.send_command("ANSWER")
    assert state_of(conn) is AgiState.CLOSED


def test_quote_and_command_line() -> None:
    assert quote("hello-world") == "hello-world"
    assert quote("") == '""'
    assert quote("a b") == '"a b"'
    assert quote('a "b" c') == '"a \\"b\\" c"'
    assert quote("C:\\x") == '"C:\\\\x"'
    assert quote("张三") == "张三"
    assert command_line("SET VARIABLE", "NAME", "王 芳") == 'SET VARIABLE NAME "王 芳"'
    assert command_line("STREAM FILE", "hello-world", "") == 'STREAM FILE hello-world ""'
