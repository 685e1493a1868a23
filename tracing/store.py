"""The index store's files and their manifest: what is committed, and how it is read back.

`Store` owns the directory (`manifest.json`, `seg-*.idx`, `blocks/<id>.bin`, `gz/<id>.z|.off`,
`lock`); `Manifest` and `FileEntry` are the committed state; `load_block_table` reads a
file's block table back, checked against its CRC32; the codecs compress the seekable
copies of rotated `.gz` files. Building is in `tracing/index/`, lookups in
`tracing/source_index.py`, recovery and repair in `tracing/store_check.py`; the commit
protocol is in docs/tracing-index.md ("Crash safety"). Stdlib only: the lookup path
imports this.
"""

from __future__ import annotations

import json
import sys
import time
import zlib
from array import array
from pathlib import Path
from typing import Any, Protocol

from kansoku.errors import KansokuError
from kansoku.tracing.durable import StoreDamaged, fsync_dir, fsync_file, write_new
from kansoku.tracing.segment import SegmentMeta
from kansoku.tracing.slotted import Row

FORMAT_VERSION = 3  # 2: checksums (manifest, segment pages, block tables, .gz copies); 3: 7-byte postings
BLOCK_SIZE = 128 * 1024


class BlockCodec(Protocol):
    """Compresses the blocks of the seekable copy of a rotated .gz file."""

    name: str

    def compress(self, data: bytes) -> bytes: ...

    def decompress(self, data: bytes) -> bytes: ...


class ZlibCodec:
    """stdlib fallback: level 1, ~160 MB/s to write on this machine."""

    name = "zlib"

    def compress(self, data: bytes) -> bytes:
        return zlib.compress(data, 1)

    def decompress(self, data: bytes) -> bytes:
        return zlib.decompress(data)


class ZstdCodec:
    """zstd level 1: ~4x faster to write than zlib level 1 and 30 % smaller (bench: logs)."""

    name = "zstd"

    def __init__(self) -> None:
        import zstandard

        # no frame checksum: each block's CRC32 is kept in the offsets file instead (a crc32
        # of the ~25 KiB compressed block costs ~4 us, zstd's xxhash of the 128 KiB output
        # 20-50 us per block read)
        self._c = zstandard.ZstdCompressor(level=1)
        self._d = zstandard.ZstdDecompressor()

    def compress(self, data: bytes) -> bytes:
        return bytes(self._c.compress(data))

    def decompress(self, data: bytes) -> bytes:
        return bytes(self._d.decompress(data))


#: Codecs by the name stored per file in the manifest (a store written with one codec is
#: read with the same one).
CODECS: dict[str, type[ZlibCodec] | type[ZstdCodec]] = {"zlib": ZlibCodec, "zstd": ZstdCodec}
_codec_cache: dict[str, BlockCodec] = {}


def codec(name: str) -> BlockCodec:
    found = _codec_cache.get(name)
    if found is None:
        try:
            found = _codec_cache[name] = CODECS[name]()
        except (KeyError, ImportError) as err:
            raise KansokuError(
                f"index block codec {name!r} is not available here ({err}); re-index"
            ) from None
    return found


def default_codec_name() -> str:
    """zstd when the zstandard package is installed, else zlib."""
    try:
        codec("zstd")
    except KansokuError:
        return "zlib"
    return "zstd"


class FileEntry(Row):
    """What the store knows about one indexed file (one manifest row).

    A plain class (`Row`), not a dataclass: `kansoku trace` loads the manifest, and
    `import dataclasses` is ~8 ms of a ~40 ms process (it imports `inspect`)."""

    def __init__(
        self,
        id: int,
        path: str,
        service: str,
        host: str,
        compressed: bool,
        dev: int,
        ino: int,
        head: str,
        offset: int = 0,
        lines: int = 0,
        blocks: int = 0,
        first_ts: str | None = None,
        last_ts: str | None = None,
        problems_count: int = 0,
        problems: list[list[int | str]] | None = None,
        state: str = "live",
        disk_size: int = 0,
        mtime: float = 0.0,
        last_kind: str = "",
        gz_blocks: int = 0,
        gz_codec: str = "zlib",
        table_crc: int = 0,
        gz_size: int = 0,
        gz_off_crc: int = 0,
    ) -> None:
        self.id = id
        self.path = path
        self.service = service
        self.host = host
        self.compressed = compressed
        self.dev = dev
        self.ino = ino
        self.head = head  # hex of the first 64 uncompressed bytes
        self.offset = offset  # uncompressed bytes indexed (always at a line boundary)
        self.lines = lines
        self.blocks = blocks
        self.first_ts = first_ts
        self.last_ts = last_ts
        self.problems_count = problems_count
        self.problems: list[list[int | str]] = [] if problems is None else problems  # [line, reason]
        self.state = state  # live | gone (content no longer on disk)
        self.disk_size = disk_size
        self.mtime = mtime
        self.last_kind = last_kind  # kind of the last record seen: "text" or "other" (for problem checks)
        self.gz_blocks = gz_blocks  # blocks of a .gz file kept in the store's seekable copy
        self.gz_codec = gz_codec  # how those blocks are compressed (CODECS)
        self.table_crc = table_crc  # crc32 of the committed block table (blocks x 16 bytes)
        self.gz_size = gz_size  # committed bytes of the seekable copy
        self.gz_off_crc = (
            gz_off_crc  # crc32 of its committed offsets file (gz_blocks x (offset, block crc32))
        )


#: The defaults of FileEntry's optional fields (a row written by an older kansoku lacks some).
_ENTRY_DEFAULTS = {k: v for k, v in vars(FileEntry(0, "", "", "", False, 0, 0, "")).items() if k not in (
    "id", "path", "service", "host", "compressed", "dev", "ino", "head"
)}  # fmt: skip


def _entry(row: dict[str, Any]) -> FileEntry:
    """A manifest row -> FileEntry without running __init__ (a lookup loads every row of a
    large manifest; this is ~5x faster). Missing fields take their defaults."""
    entry: FileEntry = object.__new__(FileEntry)
    entry.__dict__ = {**_ENTRY_DEFAULTS, "problems": [], **row}  # one dict: the keys in the same order
    return entry


class Manifest(Row):
    """The commit point's content: files, segments, counters."""

    def __init__(
        self,
        version: int = FORMAT_VERSION,
        block_size: int = BLOCK_SIZE,
        next_file_id: int = 1,
        next_segment: int = 1,
        files: list[FileEntry] | None = None,
        segments: list[SegmentMeta] | None = None,
        updated: float = 0.0,
    ) -> None:
        self.version = version
        self.block_size = block_size
        self.next_file_id = next_file_id
        self.next_segment = next_segment
        self.files: list[FileEntry] = [] if files is None else files
        self.segments: list[SegmentMeta] = [] if segments is None else segments
        self.updated = updated


class Store:
    """The store directory: manifest, segments, block tables. Readers never take a lock.

    `manifest.json` is the commit point: it is replaced (write-new, fsync, rename, fsync of
    the directory) only after every file it names is durable, and it carries a CRC32 of
    its own text as its last field, so an edit or a cut is caught, not believed.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.dirty: set[Path] = set()  # appended since the last commit: fsynced before it

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def load(self) -> Manifest:
        if not self.exists():
            return Manifest()
        path = self.manifest_path
        try:
            text = path.read_text()
            data = json.loads(text)
        except (OSError, ValueError) as err:
            raise StoreDamaged(path, f"unreadable index manifest ({err})") from None
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            version = data.get("version") if isinstance(data, dict) else None
            raise KansokuError(
                f"{path}: index format {version} (this kansoku reads {FORMAT_VERSION}); "
                f"run `kansoku index --repair PATH...` or delete {self.root} and re-index"
            )
        at = text.rfind(_CRC_FIELD)
        try:
            crc = int(text[at + len(_CRC_FIELD) : -1]) if at != -1 and text.endswith("}") else None
        except ValueError:
            crc = None
        if crc is None or zlib.crc32((text[:at] + "}").encode()) != crc:
            raise StoreDamaged(path, "index manifest fails its checksum (edited or damaged)")
        del data["crc32"]
        files = [_entry(f) for f in data.pop("files", [])]
        segments = [SegmentMeta.from_json(row) for row in data.pop("segments", [])]
        return Manifest(files=files, segments=segments, **data)

    def save(self, manifest: Manifest) -> None:
        """Write the manifest durably (the commit point of a run)."""
        manifest.updated = time.time()
        body = json.dumps(manifest_dict(manifest), separators=(",", ":"))
        text = f"{body[:-1]}{_CRC_FIELD}{zlib.crc32(body.encode())}}}"
        write_new(self.manifest_path, [text.encode()])

    def sync(self) -> None:
        """Make everything appended since the last commit durable (before the manifest)."""
        if len(self.dirty) > 1:
            # fsync waits for the disk; in parallel the journal commits them together
            # (~200 files of a demo-cloud build: 1.2 s one by one, a fraction together)
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=16) as pool:
                list(pool.map(fsync_file, sorted(self.dirty)))
        else:
            for path in self.dirty:
                fsync_file(path)
        for sub in (self.root / "blocks", self.root / "gz", self.root):
            if sub.is_dir():
                fsync_dir(sub)
        self.dirty.clear()

    def gz_paths(self, file_id: int) -> tuple[Path, Path]:
        """The seekable copy of a .gz file: independently compressed blocks + their offsets."""
        return self.root / "gz" / f"{file_id}.z", self.root / "gz" / f"{file_id}.off"

    def block_table_path(self, file_id: int) -> Path:
        return self.root / "blocks" / f"{file_id}.bin"

    def segment_paths(self, manifest: Manifest) -> list[Path]:
        return [self.root / s.name for s in manifest.segments]


def manifest_dict(manifest: Manifest) -> dict[str, Any]:
    """The manifest as JSON-ready data (`dataclasses.asdict` would deep-copy every row: ~20x slower
    for a store of thousands of files, and a run serialises it to tell whether it changed)."""
    data = dict(vars(manifest))
    data["files"] = [vars(f) for f in manifest.files]
    data["segments"] = [vars(s) for s in manifest.segments]
    return data


#: The manifest's last field: the CRC32 of the text before it (closed with `}`).
_CRC_FIELD = ',"crc32":'


def load_block_table(store: Store, entry: FileEntry) -> list[int]:
    """[offset0, line0, offset1, line1, ...] of the entry's committed blocks, checked
    against the manifest (length and CRC32): a damaged table would send reads elsewhere."""
    want = 16 * entry.blocks
    try:
        if want:
            # the path as `block_table_path` names it, without building Path objects (a trace
            # reads the tables of a few dozen files)
            with open(f"{store.root}/blocks/{entry.id}.bin", "rb") as fh:
                raw = fh.read()
        else:
            raw = b""
    except FileNotFoundError:
        raise StoreDamaged(store.block_table_path(entry.id), f"block table of {entry.path} missing") from None
    if len(raw) < want:
        raise StoreDamaged(
            store.block_table_path(entry.id),
            f"block table of {entry.path} is {len(raw)} bytes, the manifest says {want} (cut short?)",
        )
    if zlib.crc32(memoryview(raw)[:want]) != entry.table_crc:
        raise StoreDamaged(
            store.block_table_path(entry.id), f"block table of {entry.path} fails its checksum (damaged)"
        )
    table: array[int] = array("Q")
    table.frombytes(raw[:want])
    if sys.byteorder != "little":
        table.byteswap()
    return list(table)


# ----------------------------------------------------------------------------- building
