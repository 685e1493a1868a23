"""Recovery, verification and repair of an index store (the crash-safety half of the index).

The manifest is the commit point (docs/tracing-index.md, "Crash safety"): what it names is
committed, anything else in the store is the leftover of a run that died before its commit.
So a writer opening the store first *recovers*: it deletes segments the manifest does not
name and cuts block tables and seekable `.gz` copies back to the lengths it records, as a
Prometheus TSDB head truncates a WAL to its last complete record. Then it *checks* what the
manifest names (sizes and CRC32s; `--verify` also every segment page and every compressed
block): damage means a disk or an operator changed a committed file, and is named, file
by file. `--repair` drops the damaged parts and re-indexes, from the logs, exactly the
files whose data they held (a segment lists the file ids it has postings for).
"""

from __future__ import annotations

import os
import zlib
from array import array
from pathlib import Path

from kansoku.errors import KansokuError
from kansoku.tracing.durable import FILE_MODE, StoreDamaged, truncate_to
from kansoku.tracing.segment import SegmentReader
from kansoku.tracing.store import FileEntry, Manifest, Store, codec, load_block_table


class Damage:
    """One damaged store file and what depends on it."""

    def __init__(
        self, path: Path, reason: str, segment: str | None = None, file_ids: set[int] | None = None
    ) -> None:
        self.path = path
        self.reason = reason
        self.segment = segment  # a segment to drop from the manifest
        self.file_ids: set[int] = set() if file_ids is None else file_ids  # entries to re-index

    def __repr__(self) -> str:
        return f"Damage({self.path!r}, {self.reason!r}, {self.segment!r}, {self.file_ids!r})"

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def _file_id(path: Path) -> int | None:
    stem = path.name.split(".", 1)[0]
    return int(stem) if stem.isdigit() else None


def recover(store: Store, manifest: Manifest) -> list[str]:
    """Cut the store back to the committed state of `manifest` (writer only, under the lock).

    Returns what was dropped, for the report. Files are made 0600 on the way (stores
    written before that rule).
    """
    root = store.root
    notes: list[str] = []
    for tmp in root.glob("*.tmp"):
        tmp.unlink(missing_ok=True)
    listed = {s.name for s in manifest.segments}
    for seg in sorted(root.glob("seg-*.idx")):
        if seg.name not in listed:
            seg.unlink(missing_ok=True)
            notes.append(f"{seg}: not committed (an interrupted run or merge); removed")
    by_id = {f.id: f for f in manifest.files}
    limits: dict[str, tuple[str, int]] = {
        ".bin": ("blocks", 16),
        ".z": ("gz_size", 1),
        ".off": ("gz_blocks", 16),
    }
    for sub in ("blocks", "gz"):
        for path in sorted((root / sub).glob("*")) if (root / sub).is_dir() else []:
            fid = _file_id(path)
            entry = by_id.get(fid) if fid is not None else None
            rule = limits.get(path.suffix)
            if entry is None or rule is None:
                path.unlink(missing_ok=True)
                notes.append(f"{path}: not committed (an interrupted run); removed")
                continue
            committed = getattr(entry, rule[0]) * rule[1]
            if truncate_to(path, committed):
                notes.append(f"{path}: cut back to the committed {committed} bytes")
            _private(path)
    for path in (root / "manifest.json", root / "lock"):
        _private(path)
    return notes


def _private(path: Path) -> None:
    try:
        if path.stat().st_mode & 0o777 != FILE_MODE:
            os.chmod(path, FILE_MODE)
    except FileNotFoundError:
        return


def check(store: Store, manifest: Manifest, deep: bool = False) -> list[Damage]:
    """Damage in the committed state: sizes and CRC32s (`deep`: every page and block too)."""
    damages: list[Damage] = []
    for meta in manifest.segments:
        path = store.root / meta.name
        try:
            reader = SegmentReader(path, meta)
        except FileNotFoundError:
            damages.append(Damage(path, "index segment missing", meta.name, set(meta.files)))
            continue
        except StoreDamaged as err:
            damages.append(Damage(path, err.reason, meta.name, set(meta.files)))
            continue
        try:
            if deep:
                reader.verify()
        except StoreDamaged as err:
            damages.append(Damage(path, err.reason, meta.name, set(meta.files)))
        finally:
            reader.close()
    for entry in manifest.files:
        if entry.state != "live":
            continue
        try:
            table = load_block_table(store, entry)
            if entry.compressed and entry.gz_blocks:
                _check_gz(store, entry, table, deep)
        except StoreDamaged as err:
            damages.append(Damage(Path(err.path), err.reason, None, {entry.id}))
    return damages


def _check_gz(store: Store, entry: FileEntry, table: list[int], deep: bool) -> None:
    data_path, _ = store.gz_paths(entry.id)
    offsets, crcs = load_gz_offsets(store, entry)
    try:
        size = data_path.stat().st_size
    except FileNotFoundError:
        raise StoreDamaged(data_path, "seekable copy of a .gz log missing") from None
    if size < entry.gz_size:
        raise StoreDamaged(
            data_path, f"seekable copy is {size} bytes, the manifest says {entry.gz_size} (cut short?)"
        )
    if not deep:
        return
    blocks = len(table) // 2
    with open(data_path, "rb") as fh:
        for b in range(entry.gz_blocks):
            end = offsets[b + 1] if b + 1 < entry.gz_blocks else entry.gz_size
            fh.seek(offsets[b])
            raw_end = table[2 * b + 2] if b + 1 < blocks else entry.offset
            decode_gz_block(entry, data_path, b, fh.read(end - offsets[b]), raw_end - table[2 * b], crcs[b])


def load_gz_offsets(store: Store, entry: FileEntry) -> tuple[list[int], list[int]]:
    """(offsets, CRC32s) of the blocks of a .gz file's seekable copy, checked against the
    manifest: the `.off` file holds (offset, crc32 of the compressed block) per block."""
    _, off_path = store.gz_paths(entry.id)
    try:
        raw = off_path.read_bytes()
    except FileNotFoundError:
        raise StoreDamaged(off_path, "offsets of the seekable .gz copy missing") from None
    want = 16 * entry.gz_blocks
    if len(raw) < want:
        raise StoreDamaged(
            off_path, f"offsets file is {len(raw)} bytes, the manifest says {want} (cut short?)"
        )
    if zlib.crc32(raw[:want]) != entry.gz_off_crc:
        raise StoreDamaged(off_path, "offsets of the seekable .gz copy fail their checksum (damaged)")
    rows: array[int] = array("Q")
    rows.frombytes(raw[:want])
    return rows[0::2].tolist(), rows[1::2].tolist()


def decode_gz_block(entry: FileEntry, path: Path, b: int, comp: bytes, length: int, crc: int) -> bytes:
    """One block of the seekable copy, checked (CRC32 of the compressed bytes: a flipped byte
    in zstd literals would decode to a wrong line of the right length), decompressed and
    checked against the block table."""
    if zlib.crc32(comp) != crc:
        raise StoreDamaged(path, f"block {b} of the seekable .gz copy fails its checksum (damaged)")
    try:
        data = codec(entry.gz_codec).decompress(comp)
    except KansokuError:
        raise
    except Exception as err:  # zlib.error / zstandard.ZstdError: the codecs' own checksums
        raise StoreDamaged(path, f"block {b} of the seekable .gz copy is damaged ({err})") from None
    if len(data) != length:
        raise StoreDamaged(path, f"block {b} of the seekable .gz copy has {len(data)} bytes, not {length}")
    return data


def verify_store(store: str | Path) -> list[str]:
    """Every damaged file of the store as `path: reason` (read-only, no lock: `--verify`)."""
    st = Store(store)
    for attempt in range(2):
        try:
            manifest = st.load()
        except KansokuError as err:
            return [str(err).split("; run `kansoku", 1)[0]]
        damages = check(st, manifest, deep=True)
        if attempt == 0 and any(d.reason == "index segment missing" for d in damages):
            continue  # a writer committed a merge meanwhile: read its manifest once
        break
    return [str(d) for d in damages]


def wipe(store: Store) -> None:
    """Remove everything the store derives from the logs (a damaged manifest names nothing)."""
    root = store.root
    for path in [*root.glob("seg-*.idx"), *root.glob("*.tmp"), root / "manifest.json"]:
        path.unlink(missing_ok=True)
    for sub in ("blocks", "gz"):
        for path in (root / sub).glob("*") if (root / sub).is_dir() else []:
            path.unlink(missing_ok=True)


def drop_damaged(manifest: Manifest, damages: list[Damage]) -> tuple[list[str], list[FileEntry]]:
    """Take the damaged parts out of `manifest`: (segments no longer named, entries retired).

    A retired entry's file is indexed again from its first byte under a new id; its
    postings in healthy segments name the old id, which lookups skip (state `gone`).
    """
    dropped = {d.segment for d in damages if d.segment}
    manifest.segments = [s for s in manifest.segments if s.name not in dropped]
    ids = set().union(*(d.file_ids for d in damages)) if damages else set()
    retired = []
    for entry in manifest.files:
        if entry.id in ids and entry.state == "live":
            entry.state = "gone"
            retired.append(entry)
    return sorted(x for x in dropped if x), retired
