"""Follow a log file incrementally: remember the offset, survive rotation and truncation.

Why our own: the collector runs for months; it must read only new bytes each poll (a 2 GB
nova-api.log is not re-read), never emit half a line, and keep going when logrotate renames
the file (drain the old inode, then start the new file at 0) or truncates it in place
(copytruncate: size below our offset -> start again at 0).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import BinaryIO


@dataclass
class LogTailer:
    path: str
    from_start: bool = True  # False: skip what is already in the file at first open
    _fh: BinaryIO | None = field(default=None, repr=False)
    _inode: int | None = None
    _pending: bytes = b""
    offset: int = 0
    rotations: int = 0

    def _open(self, at_end: bool) -> bool:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - kept open across polls on purpose
        except OSError:
            return False
        st = os.fstat(fh.fileno())
        self._fh, self._inode = fh, st.st_ino
        self.offset = st.st_size if at_end else 0
        fh.seek(self.offset)
        self._pending = b""
        return True

    def _drain(self) -> list[bytes]:
        assert self._fh is not None
        data = self._pending + self._fh.read()
        self.offset = self._fh.tell()
        lines = data.split(b"\n")
        self._pending = lines.pop()
        return lines

    def read_lines(self) -> list[str]:
        """Complete new lines since the last call (decoded UTF-8, invalid bytes replaced)."""
        if self._fh is None and not self._open(at_end=not self.from_start):
            return []
        out = self._drain()
        try:
            st = os.stat(self.path)
        except OSError:
            st = None  # rotated away, new file not there yet: keep the old handle
        if st is not None and st.st_ino != self._inode:
            if self._pending:
                out.append(self._pending)  # the old file's last line, complete by now
            assert self._fh is not None
            self._fh.close()
            self._fh = None
            self.rotations += 1
            if self._open(at_end=False):
                out += self._drain()
        elif st is not None and st.st_size < self.offset:
            assert self._fh is not None
            self._fh.seek(0)
            self.offset, self._pending = 0, b""
            self.rotations += 1
            out += self._drain()
        return [b.decode("utf-8", errors="replace") for b in out if b.strip()]

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
