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
    _at_eof: bool = True

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

    def _drain(self, max_bytes: int = -1) -> list[bytes]:
        """Complete lines as byte blobs (each `\n`-joined); the unfinished tail waits."""
        assert self._fh is not None
        chunk = self._fh.read(max_bytes)
        self._at_eof = max_bytes < 0 or len(chunk) < max_bytes
        self.offset = self._fh.tell()
        data = self._pending + chunk if self._pending else chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            self._pending = data
            return []
        self._pending = data[cut + 1 :]
        return [data[:cut]]

    def read_lines(self, max_bytes: int = 8 << 20) -> list[str]:
        """Complete new lines since the last call, at most ~`max_bytes` of them per call.

        Call again until it returns [] to catch up on a large file: the bound keeps memory
        flat when the collector starts on a 2 GB log. Decoded as UTF-8, bad bytes replaced.
        """
        if self._fh is None and not self._open(at_end=not self.from_start):
            return []
        out = self._drain(max_bytes)
        if not self._at_eof:
            return _decode(out)
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
        return _decode(out)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _decode(blobs: list[bytes]) -> list[str]:
    """One decode and one split per batch (far cheaper than per line); blank lines dropped."""
    out: list[str] = []
    for blob in blobs:
        out += [
            line for line in blob.decode("utf-8", errors="replace").split("\n") if line and not line.isspace()
        ]
    return out
