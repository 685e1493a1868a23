"""`build_index`: open the store for writing, index the files (committing during the run), commit.

The steps are rooms of their own: `reconcile` (which files are new, grown, rotated or
rewritten), `indexer` (one file's blocks), `scan` (runs of blocks, vectorised), `postings`
(postings -> segments, merges), `gz_cache` (seekable copies of `.gz` files), `report`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

import kansoku.tracing.index.postings as postings
from kansoku.config import DEFAULT_STORE
from kansoku.errors import KansokuError
from kansoku.tracing.durable import StoreDamaged, make_dir
from kansoku.tracing.index.gz_cache import fill_gz_cache
from kansoku.tracing.index.indexer import FileIndexer
from kansoku.tracing.index.postings import Postings
from kansoku.tracing.index.reconcile import Reconciler
from kansoku.tracing.index.report import IndexProgress, IndexReport
from kansoku.tracing.ingest.files import LogFile, LogReadError, PathRule, discover
from kansoku.tracing.store import FileEntry, Manifest, Store, manifest_dict


class _Lock:
    """One writer per store (fcntl lock); readers use the manifest's atomic replace."""

    def __init__(self, root: Path) -> None:
        self.path = root / "lock"
        self.fh: IO[str] | None = None

    def __enter__(self) -> _Lock:
        import fcntl

        fh = os.fdopen(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600), "w")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise KansokuError(
                f"{self.root_text()}: another `kansoku index` is running on this store"
            ) from None
        self.fh = fh
        return self

    def root_text(self) -> str:
        return str(self.path.parent)

    def __exit__(self, *exc: object) -> None:
        if self.fh is not None:
            self.fh.close()


def build_index(
    paths: Iterable[str | Path],
    store: str | Path = DEFAULT_STORE,
    path_rule: PathRule | None = None,
    progress: Callable[[IndexProgress], None] | None = None,
    *,
    repair: bool = False,
    follow_links: bool = False,
) -> IndexReport:
    """Index (incrementally) every log file under `paths` into `store`; see the module doc.

    The run recovers the store to its last commit first, refuses a damaged one (naming the
    file) unless `repair`, commits after each segment flush and at the end
    (docs/tracing-index.md, "Crash safety"). `repair` drops damaged store files and
    re-indexes the log files they covered (without `paths`: every file the store names).
    `progress`, if given, is called after each file (the CLI draws a bar with it).
    """
    t0 = time.perf_counter()
    st = Store(store)
    try:
        make_dir(st.root)
    except OSError as err:
        raise KansokuError(f"{st.root}: cannot create the index store ({err.strerror})") from None
    if not os.access(st.root, os.W_OK):
        raise KansokuError(f"{st.root}: permission denied (index store not writable)")
    report = IndexReport(store=str(st.root))
    paths = list(paths)
    with _Lock(st.root):
        manifest, as_loaded, obsolete, retired = _open_for_writing(st, report, bool(paths), repair)
        files, problems = discover(paths, path_rule, follow_links=follow_links)
        if repair and not paths:  # `kansoku index --repair`: the files the store names
            files += _again([f for f in manifest.files if f.state == "live"], {f.path for f in files})
        files += _again(retired, {f.path for f in files})
        report.problems.extend(problems)
        report.problems_count += len(problems)
        report.files_seen = len(files)
        _index_files(st, manifest, files, report, progress)
        obsolete += postings.merge_segments(st, manifest)
        if obsolete or _state(manifest) != as_loaded:
            # the commit: data durable first, then the manifest that names it
            st.sync()
            st.save(manifest)
        # else nothing changed (a re-run with nothing new): no commit, no fsync
        for name in obsolete:  # only now unneeded: the committed manifest no longer names them
            (st.root / name).unlink(missing_ok=True)
    report.elapsed = time.perf_counter() - t0
    return report


def _sizes(files: Iterable[LogFile]) -> dict[str, int]:
    """On-disk size per file (0 when it cannot be read now: the loop reports that)."""
    out = {}
    for lf in files:
        try:
            out[lf.path] = os.stat(lf.path).st_size
        except OSError:
            out[lf.path] = 0
    return out


def _open_for_writing(
    st: Store, report: IndexReport, have_paths: bool, repair: bool
) -> tuple[Manifest, str, list[str], list[FileEntry]]:
    """Load, recover and check the store (under the writer's lock).

    Returns the manifest, its content as loaded (to tell whether the run changed anything),
    the segments to delete after the commit and the entries retired by a repair.
    """
    from kansoku.tracing.store_check import check, drop_damaged, recover, wipe

    try:
        manifest = st.load()
    except KansokuError as err:
        if not repair:
            raise
        why = str(err).split("; run `kansoku", 1)[0]
        if not have_paths:  # nothing says which logs to rebuild from: keep the store as it is
            raise KansokuError(
                f"{why}; the store no longer knows its log files, so give them: `kansoku index --repair PATH...`"
            ) from None
        wipe(st)
        manifest = Manifest()
        report.repaired.append(why)
    report.recovered = recover(st, manifest)
    as_loaded = _state(manifest)
    damages = check(st, manifest, deep=repair)
    if not damages:
        return manifest, as_loaded, [], []
    if not repair:
        first = damages[0]
        more = f" ({len(damages) - 1} more damaged file(s): `kansoku index --verify` lists them)"
        raise StoreDamaged(first.path, first.reason + (more if len(damages) > 1 else ""))
    obsolete, retired = drop_damaged(manifest, damages)
    report.repaired.extend(str(d) for d in damages)
    return manifest, as_loaded, obsolete, retired


def _index_files(
    st: Store,
    manifest: Manifest,
    files: list[LogFile],
    report: IndexReport,
    progress: Callable[[IndexProgress], None] | None = None,
) -> None:
    """Index each file's new bytes, committing after each segment flush; then retire files
    that are gone and complete the seekable copies of newly compressed ones."""
    postings = Postings(st, manifest)
    rec = Reconciler(manifest, report)
    seen: set[str] = set()
    sizes = _sizes(files) if progress is not None else {}
    total, done = sum(sizes.values()), 0
    for n, lf in enumerate(files, 1):
        if progress is not None and n > 1:
            progress(IndexProgress(n - 1, len(files), done, total, report.lines))
        done += sizes.get(lf.path, 0)
        seen.add(lf.path)
        try:
            entry = rec.entry_for(lf)
            if entry is None:
                continue
            fst = os.stat(lf.path)
        except LogReadError as err:
            report.problems.append(str(err))
            report.problems_count += 1
            continue
        except OSError as err:
            msg = f"{lf.path}: {'permission denied' if isinstance(err, PermissionError) else err.strerror}"
            report.problems.append(msg)
            report.problems_count += 1
            continue
        before = entry.offset
        indexer = FileIndexer(st, entry, postings, report)
        indexer.run(final=lf.compressed or bool(lf.rotation))
        entry.disk_size, entry.mtime = fst.st_size, fst.st_mtime
        if entry.offset > before:
            report.files_indexed += 1
        if postings.flushed:
            # ~every FLUSH_POSTINGS postings, at a file boundary: commit the work so far,
            # so a run killed late in a large corpus does not start over
            postings.flush()
            st.sync()
            st.save(manifest)
            postings.flushed = 0
    if progress is not None:
        progress(IndexProgress(len(files), len(files), total, total, report.lines))
    rec.finish(seen)
    for entry in manifest.files:
        if entry.state == "live" and entry.compressed and entry.gz_blocks < entry.blocks:
            fill_gz_cache(st, entry)
    postings.flush()
    report.postings = postings.total


def _state(manifest: Manifest) -> str:
    """The manifest's content without its save time: did this run change anything?"""
    data = manifest_dict(manifest)
    data.pop("updated")
    return json.dumps(data, separators=(",", ":"))


def _again(retired: list[FileEntry], found: set[str]) -> list[LogFile]:
    """The files of these entries, with the service and host they had, unless the paths of
    this run already include them: files whose store data was damaged and dropped (indexed
    again from the start), or every file of the store for `--repair` without paths."""
    from kansoku.tracing.ingest.files import strip_rotation

    out = []
    for entry in retired:
        if entry.path not in found and os.path.isfile(entry.path):
            _, rotation = strip_rotation(os.path.basename(entry.path))
            out.append(LogFile(entry.path, entry.service, entry.host, entry.compressed, rotation))
            found.add(entry.path)
    return out


def iter_entries(store: str | Path) -> Iterator[FileEntry]:
    """The live files of a store (for stats and describe())."""
    for entry in Store(store).load().files:
        if entry.state == "live":
            yield entry
