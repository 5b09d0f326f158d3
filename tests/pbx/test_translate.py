from datetime import datetime, timezone

import pytest

from acd import events as ev
from pbx.translate import TranslationError, journal_entry


def test_a_journal_line_with_a_comma_in_the_name_is_read_whole() -> None:
    entry = journal_entry("/hotline-journal/hotline-pbx-1.7",
                          "1795346509.118,1795346519.5,Up,16,12345,13800138000,张,三丰")
    assert entry == ev.JournalEntry(
        "hotline-pbx-1.7", datetime.fromtimestamp(1795346509.118, timezone.utc),
        datetime.fromtimestamp(1795346519.5, timezone.utc), True, 16, "12345", "13800138000", "张,三丰")


@pytest.mark.parametrize("value", ["", "1,2,Up", "x,y,Up,16,12345,1,n"])
def test_a_broken_journal_line_is_rejected_with_a_stable_error(value: str) -> None:
    with pytest.raises(TranslationError, match="^bad-journal-entry"):
        journal_entry("/hotline-journal/x", value)
