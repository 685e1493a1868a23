"""Seekable compressed copies of rotated `.gz` files (independent blocks), written while indexing."""

from __future__ import annotations

import sys
import zlib
from array import array

from kansoku.tracing.durable import make_dir, open_append
from kansoku.tracing.ingest.files import LogReadError, read_chunks
from kansoku.tracing.store import FileEntry, Store, codec, default_codec_name, load_block_table


class GzCacheWriter:
    """Appends blocks of a .gz file, each zlib-compressed on its own, to the store.

    gzip streams cannot be entered in the middle, and Python's zlib cannot resume inflation
    at a bit offset (no inflatePrime), so zran-style checkpoints are out of reach; keeping a
    block-compressed copy (zstd level 1) costs less than the .gz file's size and makes a
    lookup in a rotated file as fast as in a plain one (measured in bench/bench_tracing.py).
    """

    def __init__(self, store: Store, entry: FileEntry) -> None:
        self.entry = entry
        self.store = store
        data_path, off_path = store.gz_paths(entry.id)
        make_dir(data_path.parent)
        if entry.gz_blocks == 0:
            data_path.unlink(missing_ok=True)
            off_path.unlink(missing_ok=True)
            entry.gz_codec = default_codec_name()
            entry.gz_size = entry.gz_off_crc = 0
        self.codec = codec(entry.gz_codec)
        self.data = open_append(data_path)
        self.data_path = data_path
        self.off_path = off_path
        self.offsets: array[int] = array("Q")
        self.pos = entry.gz_size  # recovery cut the file back to this committed length

    def add(self, block: bytes) -> None:
        comp = self.codec.compress(block)
        self.offsets.append(self.pos)
        self.offsets.append(zlib.crc32(comp))  # checked before decompressing (~4 us a block)
        self.data.write(comp)
        self.pos += len(comp)
        self.entry.gz_blocks += 1

    def close(self) -> None:
        self.data.close()
        offsets = self.offsets
        if sys.byteorder != "little":
            offsets = array("Q", offsets)
            offsets.byteswap()
        raw = offsets.tobytes()
        with open_append(self.off_path) as fh:
            fh.write(raw)
        self.entry.gz_off_crc = zlib.crc32(raw, self.entry.gz_off_crc)
        self.entry.gz_size = self.pos
        self.store.dirty.update((self.data_path, self.off_path))


def fill_gz_cache(store: Store, entry: FileEntry) -> None:
    """Write the seekable copy for blocks indexed before the file was compressed (`.1` -> `.2.gz`)."""
    table = load_block_table(store, entry)
    n = len(table) // 2
    writer = GzCacheWriter(store, entry)
    try:
        start = table[2 * entry.gz_blocks] if entry.gz_blocks < n else entry.offset
        bounds = [table[2 * b] for b in range(entry.gz_blocks, n)] + [entry.offset]
        buf = b""
        base = start
        nxt = 1
        for chunk in read_chunks(entry.path, start):
            buf += chunk
            while nxt < len(bounds) and base + len(buf) >= bounds[nxt]:
                cut = bounds[nxt] - base
                writer.add(buf[:cut])
                buf = buf[cut:]
                base = bounds[nxt]
                nxt += 1
            if nxt >= len(bounds):
                break
    except LogReadError:
        # a damaged gzip: lookups in the rest of this file fall back to sequential decompression
        pass
    finally:
        writer.close()
