"""Durable, private writes for the index store: fsync, write-new-then-rename, 0600 files.

The store keeps excerpts of the logs (the first bytes of each file, problem snippets, the
seekable copies of rotated `.gz` files), so every file is created 0600 and every directory
0700 whatever the umask: the logs it was built from are often readable by root only.

Why each call: `rename` is atomic but not durable until the directory is fsynced, and a
file's data is not on disk until the file is fsynced; the commit protocol
(docs/tracing-index.md, "Crash safety") orders these so that the manifest, the commit
point, is durable only after everything it names is.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from kansoku.errors import KansokuError

FILE_MODE = 0o600
DIR_MODE = 0o700

REPAIR_HINT = "run `kansoku index --repair PATH...` (or delete the store and re-index)"


class StoreDamaged(KansokuError):
    """A store file is missing, cut short or fails its checksum: names the file.

    Not a `LogReadError`: a log file that went away is normal (rotation), a damaged store
    file never is, and a lookup must not answer "no lines" because of one.
    """

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}; {REPAIR_HINT}")
        self.path = str(path)
        self.reason = reason


def make_dir(path: Path) -> None:
    """mkdir -p with mode 0700 for the directories this call creates."""
    if path.is_dir():
        return
    if not path.parent.is_dir():
        make_dir(path.parent)
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        return
    os.chmod(path, DIR_MODE)  # the umask may have removed bits we do not want anyway


def open_append(path: Path) -> BinaryIO:
    """A 0600 file opened for appending (created if missing)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    return os.fdopen(fd, "ab")


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make the directory's entries (created, renamed, removed files) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new(path: Path, parts: Iterable[bytes]) -> None:
    """Replace `path` atomically and durably: write `path.tmp`, fsync, rename, fsync the dir."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb", closefd=False) as fh:
            for part in parts:
                fh.write(part)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def truncate_to(path: Path, size: int) -> bool:
    """Cut `path` back to `size` bytes if it is longer (an uncommitted tail); True if cut."""
    try:
        if path.stat().st_size <= size:
            return False
    except FileNotFoundError:
        return False
    with open(path, "r+b") as fh:
        fh.truncate(size)
        os.fsync(fh.fileno())
    return True
