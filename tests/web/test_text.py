"""The pages' texts: every key a page sends its script exists in Chinese and in English, and the
Chinese catalog holds no English left untranslated where a person reads it."""

from __future__ import annotations

import re

from web.pages import CONSOLE_TEXT, DESK_TEXT, WALLBOARD_TEXT
from web.text import TEXT, language, text


def test_every_key_a_page_uses_is_in_both_languages() -> None:
    for key in (*DESK_TEXT, *CONSOLE_TEXT, *WALLBOARD_TEXT):
        assert key in TEXT["zh"] and key in TEXT["en"], key
    assert set(TEXT["zh"]) == set(TEXT["en"])


def test_chinese_is_chinese() -> None:
    for key, value in TEXT["zh"].items():
        if key != "lang.other":
            assert re.search(r"[\u4e00-\u9fff]", value), (key, value)


def test_chinese_first_english_on_request() -> None:
    assert language(None, None) == "zh" and language("en", None) == "en" and language(None, "en") == "en"
    assert language("fr", "xx") == "zh"
    assert text("en", "login.heading") == "Log in" and text("zh", "login.heading") == "登录"
