"""Where a call's recording goes: `<YYYYMMDD>/<linkedid>.wav` under Asterisk's monitor
directory, the date of the moment the caller was queued (the callback context names its own
file the same way in the dialplan and says so in its UserEvent). One place for the rule, so the
call record, MixMonitor and the recordings issue's retention all agree."""

from __future__ import annotations

from datetime import datetime


def recording_name(linkedid: str, queued_at: datetime) -> str:
    return f"{queued_at:%Y%m%d}/{linkedid}.wav"
