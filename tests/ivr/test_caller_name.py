"""A caller whose display name is longer than Asterisk's caller ID keeps is queued with the whole
name, read from the SIP From header; a header that cannot be read never holds the call back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acd.desks import AcdConfig, Desk
from acd.events import CallQueued
from ivr.caller_name import display_name, full_name, may_be_cut
from ivr.intake import FROM_HEADER, make_intake
from pbx.fastagi import FastAgiServer

CONFIG = AcdConfig(desks=(Desk("general", "综合受理", "general"),), numbers={"12345": "general"})

# 40 characters, 120 bytes: what res_pjsip_caller_id keeps of it is the first 79 bytes
LONG = "杭州西湖区文三路街道社区居民委员会第一网格服务站值班室主任办公室联络员周建国同志"


def cut(name: str) -> str:
    """The caller ID Asterisk hands AGI for `name`: 79 bytes, a cut character decoded as U+FFFD."""
    return name.encode()[:79].decode("utf-8", errors="replace")


# ---- the parser ------------------------------------------------------------------------------

def test_given_a_quoted_name_with_escaped_quotes_then_the_name_is_unescaped() -> None:
    assert display_name('"周 \\"x\\"" <sip:1000@carrier.example>;tag=a1') == '周 "x"'
    assert display_name('"周 \\"x\\"" <sip:1000@carrier.example>', unescape=False) == '周 \\"x\\"'


def test_given_a_40_character_chinese_name_then_all_40_characters_are_read() -> None:
    assert len(LONG) == 40
    assert display_name(f'"{LONG}" <sip:13800138000@10.0.0.1:5060>;tag=as7d9') == LONG
    assert display_name(f'  {LONG}<sip:13800138000@10.0.0.1>') == LONG


def test_given_a_token_name_then_its_words_are_read_with_single_spaces() -> None:
    assert display_name("Zhou  Jianguo\t<sip:zhou@example.cn>;tag=x") == "Zhou Jianguo"


def test_given_no_display_name_then_the_name_is_empty() -> None:
    for header in ("<sip:13800138000@10.0.0.1>;tag=1", "sip:13800138000@10.0.0.1;tag=1", "", "   ",
                   '"" <sip:1@h>'):
        assert display_name(header) == "", header


def test_given_percent_signs_or_garbage_then_nothing_breaks() -> None:
    assert display_name('"100%25 %E5%91%A8" <sip:1@h>') == "100%25 %E5%91%A8"  # as written
    assert display_name("%E5%91%A8 <sip:1@h>") == "%E5%91%A8"
    for garbage in ('"never closed <sip:1@h>', '"closed" but no uri', '"\\', '"', "<", ">>><<<",
                    "\udcff\ufffd <x>", "\\\\\\"):
        assert isinstance(display_name(garbage), str), garbage
    assert display_name('"never closed <sip:1@h>') == "" and display_name('"closed" but no uri') == ""
    assert display_name('"a\x00b\x1bc" <sip:1@h>') == "abc"  # control characters never reach a record


@given(st.text())
def test_given_any_text_then_the_parser_never_raises(header: str) -> None:
    assert isinstance(display_name(header), str)
    assert isinstance(full_name(header[:30], header), str)


def test_given_a_name_cut_mid_character_then_the_whole_name_continues_it() -> None:
    caller_id = cut(LONG)
    assert caller_id.endswith("\ufffd") and len(caller_id) == 27 and may_be_cut(caller_id)
    assert full_name(caller_id, f'"{LONG}" <sip:13800138000@10.0.0.1>') == LONG
    # cut on a character boundary (26 characters, 78 bytes): continued as well
    assert full_name(LONG[:26], f'"{LONG}" <sip:13800138000@10.0.0.1>') == LONG


def test_given_backslashes_kept_by_asterisk_then_the_unescaped_name_is_taken() -> None:
    name = '周 "建国" ' + LONG
    header = '"' + name.replace('"', '\\"') + '" <sip:1@h>'
    as_asterisk_keeps_it = name.replace('"', '\\"')[:30]
    assert full_name(as_asterisk_keeps_it, header) == name


def test_given_a_header_with_another_or_no_longer_name_then_no_name_is_taken() -> None:
    assert full_name(cut(LONG), '"王五" <sip:1@h>') == ""
    assert full_name(LONG, f'"{LONG}" <sip:1@h>') == ""  # not longer: nothing was cut
    assert full_name("", f'"{LONG}" <sip:1@h>') == ""
    assert full_name("\ufffd", f'"{LONG}" <sip:1@h>') == ""
    assert not may_be_cut("张三丰") and not may_be_cut("Zhou Jianguo")


# ---- the intake flow -------------------------------------------------------------------------

Answer = Callable[[str], str]


def asterisk_with(from_header: str | None) -> Answer:
    """Asterisk on a PJSIP channel whose From header is `from_header` (None: the GET fails)."""
    def answer(command: str) -> str:
        if command == FROM_HEADER:
            return "510 Invalid or unknown command" if from_header is None else f"200 result=1 ({from_header})"
        if command.startswith("GET FULL VARIABLE"):
            return "200 result=1 (pbx-1.1)"
        return "200 result=0"
    return answer


async def call(caller_name: str, answer: Answer) -> tuple[list[str], list[CallQueued]]:
    """One intake session through the real FastAGI server; returns the commands and the queued."""
    queued: list[Any] = []
    server = FastAgiServer("127.0.0.1", 0)
    server.route("intake", make_intake(queued.append, CONFIG))
    await server.start()
    said: list[str] = []
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
        writer.write(("agi_network: yes\nagi_network_script: intake?dialed=12345\n"
                      f"agi_callerid: 13800138000\nagi_calleridname: {caller_name}\n"
                      "agi_channel: PJSIP/carrier-00000001\nagi_uniqueid: pbx-1.1\n\n").encode())
        while line := await asyncio.wait_for(reader.readline(), 5):
            said.append(line.decode().strip())
            writer.write(f"{answer(said[-1])}\n".encode())
        writer.close()
    finally:
        await server.close()
    return said, queued


async def test_given_a_caller_id_name_cut_by_asterisk_then_the_whole_name_is_queued() -> None:
    said, [fact] = await call(cut(LONG), asterisk_with(f'"{LONG}" <sip:13800138000@10.0.0.1>;tag=as7d9'))
    assert FROM_HEADER in said
    assert fact.caller_name == LONG and fact.desk == "general"
    assert "SET VARIABLE HOTLINE_DESK general" in said


async def test_given_a_short_name_then_the_header_is_not_asked_for() -> None:
    said, [fact] = await call("张三丰", asterisk_with('"张三丰" <sip:13800138000@10.0.0.1>'))
    assert FROM_HEADER not in said and fact.caller_name == ""


async def test_given_the_header_cannot_be_read_then_the_call_is_queued_without_it(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="ivr.intake")
    for answer in (asterisk_with(None), asterisk_with(""), lambda c: "200 result=0" if c == FROM_HEADER
                   else asterisk_with("")(c)):
        caplog.clear()
        said, [fact] = await call(cut(LONG), answer)
        assert FROM_HEADER in said and fact.caller_name == "" and fact.desk == "general"
        assert "SET VARIABLE HOTLINE_DESK general" in said
        assert all(r.levelno <= logging.DEBUG for r in caplog.records if r.name == "ivr.intake")
    assert "From header of PJSIP/carrier-00000001 not read" in caplog.text  # the last: result=0
