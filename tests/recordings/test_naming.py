"""Where a call's recording is, and where its converted file goes: beside it, one per call, and
never outside the folders the controller was given, whatever name the PBX hands over."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recordings.naming import UNSAFE_NAME, converted_name, recording_name, under

ROOT = Path("/var/spool/asterisk/monitor")


def test_the_converted_file_is_beside_the_original_and_keeps_the_whole_linkedid() -> None:
    original = recording_name("1772380000.42", datetime(2026, 3, 1, 23, 30, tzinfo=ZoneInfo("Asia/Shanghai")))
    assert original == "20260301/1772380000.42.wav"
    assert converted_name(original, ".opus") == "20260301/1772380000.42.opus"
    assert converted_name(original, ".wav") == original


@given(st.lists(st.from_regex(r"1[0-9]{9}\.[0-9]{1,5}", fullmatch=True), min_size=2, max_size=10, unique=True))
def test_two_calls_never_share_a_converted_file(linkedids: list[str]) -> None:
    day = datetime(2026, 3, 1)
    names = {converted_name(recording_name(i, day), ".opus") for i in linkedids}
    assert len(names) == len(linkedids)


@pytest.mark.parametrize("name", ["", ".", "./", "/etc/passwd", "../x.wav", "20260301/../../x.wav", ".."])
def test_a_name_that_would_leave_the_folder_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match=UNSAFE_NAME):
        under(ROOT, name)


@given(st.lists(st.sampled_from(["..", ".", "", "20260301", "a.wav", "/", "x"]), max_size=6).map("/".join))
def test_whatever_name_the_pbx_gives_the_path_is_inside_the_folder_or_refused(name: str) -> None:
    try:
        path = under(ROOT, name)
    except ValueError:
        return
    assert ROOT in path.resolve().parents  # below the folder, never the folder itself
