"""Which files a run must read: new, grown, rotated (`.1`, `.2.gz`), truncated or rewritten ones."""

from __future__ import annotations

import os

from kansoku.tracing.index.report import IndexReport
from kansoku.tracing.ingest.files import LogFile, LogReadError, fingerprint, read_chunks
from kansoku.tracing.store import FileEntry, Manifest


def _uncompressed_size(path: str) -> int | None:
    """gzip's ISIZE trailer (size mod 2**32) of the last member: cheap size check."""
    try:
        with open(path, "rb") as fh:
            fh.seek(-4, os.SEEK_END)
            return int.from_bytes(fh.read(4), "little")
    except OSError:
        return None


def _head(path: str) -> bytes:
    """First 64 uncompressed bytes."""
    if not path.endswith(".gz"):
        return bytes(fingerprint(path))
    out = b""
    try:
        for chunk in read_chunks(path, 0, 4096):
            out += chunk
            if len(out) >= 64:
                break
    except LogReadError:
        pass
    return out[:64]


class Reconciler:
    """Match files found on disk to manifest entries: new bytes, rename, recompress, truncation."""

    def __init__(self, manifest: Manifest, report: IndexReport) -> None:
        self.manifest = manifest
        self.report = report
        self.by_path = {f.path: f for f in manifest.files if f.state == "live"}
        self.by_inode = {(f.dev, f.ino): f for f in manifest.files if f.state == "live"}

    def new_entry(self, lf: LogFile, st: os.stat_result, head: bytes) -> FileEntry:
        entry = FileEntry(
            id=self.manifest.next_file_id,
            path=lf.path,
            service=lf.service,
            host=lf.host,
            compressed=lf.compressed,
            dev=st.st_dev,
            ino=st.st_ino,
            head=head.hex(),
        )
        self.manifest.next_file_id += 1
        self.manifest.files.append(entry)
        return entry

    def retire(self, entry: FileEntry) -> None:
        entry.state = "gone"
        self.by_path.pop(entry.path, None)
        self.by_inode.pop((entry.dev, entry.ino), None)

    def entry_for(self, lf: LogFile) -> FileEntry | None:
        """The entry to continue for this file (created if new); None when nothing to read."""
        st = os.stat(lf.path)
        same_inode = self.by_inode.get((st.st_dev, st.st_ino))
        at_path = self.by_path.get(lf.path)
        if at_path is not None and at_path is not same_inode:
            # Something else now lives at this path: the old file was rotated away or removed;
            # its entry is resolved when (if) its inode shows up under another name.
            self.by_path.pop(lf.path, None)
        if same_inode is not None:
            if same_inode.path != lf.path:
                self.report.rotated.append(f"{same_inode.path} -> {lf.path}")
                self.by_path.pop(same_inode.path, None)
                same_inode.path = lf.path
                same_inode.compressed = lf.compressed
                self.by_path[lf.path] = same_inode
            return self._check_same(same_inode, lf, st)
        head = _head(lf.path)
        if lf.compressed:
            moved = self._recompressed(head, lf)
            if moved is not None:
                self.report.rotated.append(f"{moved.path} -> {lf.path}")
                self.by_path.pop(moved.path, None)
                self.by_inode.pop((moved.dev, moved.ino), None)
                moved.path = lf.path
                moved.compressed = True
                moved.dev, moved.ino = st.st_dev, st.st_ino
                moved.disk_size, moved.mtime = st.st_size, st.st_mtime
                self.by_path[lf.path] = moved
                self.by_inode[(st.st_dev, st.st_ino)] = moved
                return None
        entry = self.new_entry(lf, st, head)
        self.by_path[lf.path] = entry
        self.by_inode[(st.st_dev, st.st_ino)] = entry
        return entry

    def _check_same(self, entry: FileEntry, lf: LogFile, st: os.stat_result) -> FileEntry | None:
        if lf.compressed:
            if entry.disk_size == st.st_size and entry.mtime == st.st_mtime and entry.offset > 0:
                return None  # gzip files are immutable once written
            return entry
        head = _head(lf.path)
        if st.st_size < entry.offset or (head[: len(bytes.fromhex(entry.head))].hex() != entry.head):
            # copytruncate or rewritten in place: the old content is gone.
            self.report.truncated.append(lf.path)
            self.retire(entry)
            fresh = self.new_entry(lf, st, head)
            self.by_path[lf.path] = fresh
            self.by_inode[(st.st_dev, st.st_ino)] = fresh
            return fresh
        if len(entry.head) < 128 and len(head) > len(entry.head) // 2:
            entry.head = head.hex()
        return entry

    def _recompressed(self, head: bytes, lf: LogFile) -> FileEntry | None:
        """A `.1` that logrotate compressed into `.2.gz`: same first bytes, same size."""
        isize = _uncompressed_size(lf.path)
        for entry in self.manifest.files:
            if entry.state != "live" or entry.compressed or entry.offset == 0:
                continue
            if entry.head == head.hex() and isize == entry.offset % (1 << 32):
                try:
                    st = os.stat(entry.path)
                    if (st.st_dev, st.st_ino) == (entry.dev, entry.ino):
                        continue  # the original is still there: this is a copy
                except OSError:
                    pass
                return entry
        return None

    def finish(self, seen: set[str]) -> None:
        """Retire entries whose file is gone: not found, or another file now at their path
        (rotated away and deleted, or replaced) - their offsets would point at other bytes."""
        for entry in self.manifest.files:
            if entry.state != "live":
                continue
            if entry.path not in seen:
                self.retire(entry)
                continue
            try:
                st = os.stat(entry.path)
            except OSError:
                self.retire(entry)
                continue
            if (st.st_dev, st.st_ino) != (entry.dev, entry.ino):
                self.retire(entry)
