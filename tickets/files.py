"""Files that hold callers' data (the SQLite store and its -wal/-shm, the call-record journal,
the API tokens) are 0600 in 0700 folders, whatever the umask the controller was started with.

Modes are set explicitly (chmod after create), not left to the umask: a service started with
umask 022 would otherwise make them world-readable, and one started with 000 world-writable.
A folder the controller creates is 0700; a folder that was already there (/var/lib/hotline-pbx
made by a package, a shared /etc) is not ours to change, so it is only warned about when others
may read it. A file already there that others may read is tightened to 0600, with a warning.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("tickets.files")

FILE_MODE = 0o600
FOLDER_MODE = 0o700
_OTHERS = 0o077  # group and world bits
_warned: set[Path] = set()  # folders warned about once in this process (the journal opens often)


def private_folder(folder: Path, *, warn: bool = True) -> None:
    """Create the missing folders of `folder` 0700; warn when an existing `folder` lets group
    or world in (`warn=False` for a folder that is shared by nature, like /etc/hotline-pbx)."""
    missing: list[Path] = []
    here = folder
    while not here.exists():
        missing.append(here)
        if here.parent == here:
            break
        here = here.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=FOLDER_MODE)
        except FileExistsError:  # made meanwhile by someone else: then it is theirs
            continue
        os.chmod(path, FOLDER_MODE)  # mkdir's mode passes through the umask
    if warn and not missing and folder not in _warned:
        mode = stat.S_IMODE(folder.stat().st_mode)
        if mode & _OTHERS:
            _warned.add(folder)
            log.warning("folder %s is %o: group or others may list the callers' data in it; "
                        "make it 0700", folder, mode)


def private_file(path: Path) -> bool:
    """Make `path` exist as a 0600 file (empty if new; its folders as `private_folder`); an
    existing file that group or world may read is tightened to 0600 and said so. True if new."""
    private_folder(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        tighten(path)
        return False
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return True


def tighten(path: Path) -> None:
    """An existing file that others may read or write becomes 0600 (with a warning); absent is fine."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    if mode & _OTHERS:
        os.chmod(path, FILE_MODE)
        log.warning("%s was %o, open to others: now 0600", path, mode)


def open_private(path: Path, flags: int) -> int:
    """`os.open` with O_CREAT for a file of callers' data: created 0600 in 0700 folders, an
    existing one tightened. Returns the descriptor."""
    private_folder(path.parent)
    fd = os.open(path, flags | os.O_CREAT, FILE_MODE)
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
            if mode & _OTHERS:
                log.warning("%s was %o, open to others: now 0600", path, mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def replace_private(path: Path, text: str, *, mode: int = FILE_MODE) -> None:
    """Write the whole file anew, atomically (a reader sees the old or the new one, never half),
    with `mode` set explicitly (0600 unless said); missing folders are made 0700."""
    private_folder(path.parent, warn=False)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, mode)  # a stale temporary left by a crash keeps its old mode through O_CREAT
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
