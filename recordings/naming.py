"""Where a call's recording goes: `<YYYYMMDD>/<linkedid>.wav` under Asterisk's monitor
directory, the date of the moment the caller was queued (the callback context names its own
file the same way in the dialplan and says so in its UserEvent). One place for the rule, so the
call record, MixMonitor and the recordings issue's retention all agree.

Recordings are callers' voices: 0600 in 0700 folders, like the store. The controller creates
neither the folders nor the files (Asterisk's MixMonitor does, under Asterisk's umask: run it
with `UMask=0077`); whatever of this package comes to write or move them (post-processing,
retention) makes them with tickets.files.open_private / private_folder."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path, PurePosixPath


def recording_name(linkedid: str, queued_at: datetime) -> str:
    """`queued_at` on the city's clock: the folder is the city's day (the dialplan's own names
    use STRFTIME in HOTLINE_CITY_ZONE, which the controller sets)."""
    return f"{queued_at:%Y%m%d}/{linkedid}.wav"


UNSAFE_NAME = "unsafe-recording-name"


def converted_name(original: str, suffix: str) -> str:
    """The converted file's name beside the original's: `<YYYYMMDD>/<linkedid><suffix>`."""
    return str(PurePosixPath(original).with_suffix(suffix))


def under(root: str | Path, name: str) -> Path:
    """`name` (a recording's relative name, from a call record) as a path under `root`; a name
    that would leave it (absolute, `..`) or be the folder itself (`.`) is refused: the names come
    from the PBX, not from us."""
    relative = PurePosixPath(name)
    if not relative.parts or relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"{UNSAFE_NAME}: {name!r}")
    return Path(root) / relative
