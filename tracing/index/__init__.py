"""The on-disk index: every request id, global request id and UUID -> (file, block).

API for callers (`kansoku index` / `kansoku trace`)::

    from kansoku.tracing.index import build_index, IndexReport, Store
    report = build_index(["/var/log/nova", "logs/"], ".kansoku")   # incremental
    report.summary()          # "indexed 12 files, 3.2 MB new, 14,201 lines in 0.05 s"
    report.problems           # ["nova-api.log:17: not an oslo.log, JSON or access line: ...", ...]

    from kansoku.tracing.sources.index import IndexSource
    src = IndexSource(".kansoku")           # a kansoku.tracing.model.LogSource
    lines = list(src.lines_for(["req-6f1c..."]))
    src.describe()   # "12 files (indexed up to 2026-11-20 10:15:32 UTC)"

`build_index` raises KansokuError only for a store it cannot use; unreadable files and
corrupt .gz files are reported in `IndexReport.problems` (everything readable is indexed).

Design (measured in bench/bench_tracing.py, justified in docs/tracing-index.md):

* Indexing never builds LogLine objects. Each file is read in 1 MiB chunks and cut into
  ~128 KiB *blocks* at record boundaries; one numpy pass over ~8 blocks (`scan.chunk_scan`,
  exactly the matches of `kansoku.ids.ID_TAIL_BYTES_RE`) finds every UUID (`req-<uuid>` ids
  contain one), its newlines and the lines that are not records; the hits are de-duplicated
  per block and each distinct id becomes one posting `(key, file_id << 32 | block_no)`.
* The key is the UUID's last 16 hex digits read as a 64-bit integer (random in a UUID4,
  so it is a hash for free). `req-X` and a bare `X` share the key; a lookup re-checks the
  full id in the text, so collisions and near-misses cost a block read, never a wrong line.
* Postings accumulate in two `array('Q')`s and are flushed, sorted, as an immutable
  segment file (`seg-NNNNNN.idx`: header, sorted keys, postings) whenever 2M postings are
  buffered and at the end of a run: memory is bounded whatever the corpus size. Small
  segments are merged until at most `MAX_SEGMENTS` remain, streamed range of keys by
  range (`merge`): memory is bounded during a merge too.
* Lookup is stdlib only: mmap each segment, bisect the keys, read only the blocks named.
* Per file the manifest keeps identity (device, inode, first 64 bytes), the indexed-up-to
  offset, line count, first/last timestamp and parse problems; per file a block table
  (`blocks/<file_id>.bin`: offset, first line number) maps block numbers to byte ranges.
  A second run reads only bytes after the indexed offset, follows renames (rotation to
  `.1`), recognises `.1` recompressed to `.2.gz` (same first bytes and uncompressed size),
  and starts a new entry when a file was truncated or rewritten.

The package's rooms: `build` (build_index: open, index, commit), `reconcile` (which files to
read), `indexer` (one file), `scan` (runs of blocks, numpy), `postings` (segments and merges),
`gz_cache` (seekable `.gz` copies), `report` (IndexReport, IndexProgress).
"""

from kansoku.tracing.index.build import build_index, iter_entries
from kansoku.tracing.index.postings import id_key
from kansoku.tracing.index.report import IndexProgress, IndexReport
from kansoku.tracing.store import FileEntry, Manifest, Store

__all__ = [
    "FileEntry",
    "IndexProgress",
    "IndexReport",
    "Manifest",
    "Store",
    "build_index",
    "id_key",
    "iter_entries",
]
