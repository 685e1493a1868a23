"""The scan under `kansoku trace stats`: access lines of one file -> counts and durations per group.

`stats.access_infos` decodes each candidate line, cuts it at the client, runs the general
access regexes and builds an `AccessInfo`: ~8 us per access line, and in an API service
most lines are access lines. Almost all of them are in one of two exact shapes, the oslo
text record and the oslo JSON record whose first key is `"message"`:

    2026-11-20 08:34:38.167 39233 INFO nova.api.openstack.requestlog [ctx] 10.30.0.15 "GET /v2.1/servers/..." status: 200 len: 2582 microversion: 2.79 time: 0.166977
    {"message": "10.20.0.8 \\"DELETE /allocations/...\\" status: 204 len: 0 microversion: 1.36", ...

For those, one anchored bytes regex reads method, path, status and time straight from the
raw line (no decode, no `AccessInfo`), and the route comes from `route_template` of the
path with its UUIDs zeroed, memoised on the bytes. The shapes are strict (printable ASCII
in client, path and microversion, the record ends after the access fields) so that a line
they accept gives exactly what the general path gives; every other candidate line still
goes through `stats.access_infos`, in file order, so counts, durations and the order in
which groups first appear are the same as before (tests/test_stats_scan.py compares both
on the demo cloud and on recorded real logs).

A chunk made only of oslo text access lines and lines without a quote (an API service's
log) goes first to `stats.columns` (numpy and Arrow kernels: no Python step per line and no
regex per line), then to `stats.bulk` (one regex `findall`); each proves per chunk that it
is exact or refuses the chunk; any other chunk is read as above.
"""

from __future__ import annotations

import contextlib
import os
import re
from array import array
from collections.abc import Callable, Iterable, Iterator

from kansoku.tracing.model import AccessInfo
from kansoku.tracing.stats.bulk import scan_bulk, scan_json_lines
from kansoku.tracing.stats.columns import preload, scan_columns
from kansoku.tracing.stats.groups import IDS_B, ZERO_ID, GroupKey, Groups, cut_query

# Shared tail: the oslo.service / requestlog access fields, as parse._OSLO_ACCESS_RE reads
# them, with client, path and microversion narrowed to printable ASCII without spaces or
# quotes (a line outside that goes the general way).
_TAIL = (
    rb" +len: (?:\d+|-|None)(?: microversion: [!-~]+)?(?: time: (\d+(?:\.\d+)?))?"  # time: float() of [\d.]+
)
_TEXT = re.compile(
    rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \d+ [A-Z]+ [!#-~]+ \[[^\"\]\n]*\] [!#-~]+ "
    rb'"([A-Z]+) ([!#-~]+)(?: HTTP/[\d.]+)?" status: (\d{3})' + _TAIL + rb"\r?\Z"
)
#: The text shape for a whole chunk at once (`findall`; the HTTP version captured so the
#: chunk's `HTTP/` count can prove no other line is a candidate).
_TEXT_LINES = re.compile(
    rb"(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \d+ [A-Z]+ [!#-~]+ \[[^\"\]\n]*\] [!#-~]+ "
    rb'"([A-Z]+) ([!#-~]+)( HTTP/[\d.]+)?" status: (\d{3})' + _TAIL + rb"\r?$"
)
_JSON = re.compile(
    rb'\{"message": "[!#-\[\]-~]+ \\"([A-Z]+) ([!#-\[\]-~]+)(?: HTTP/[\d.]+)?\\" status: (\d{3})'
    + _TAIL.replace(rb"[!-~]", rb"[!#-\[\]-~]")
    + rb'", '
)


def _scan_dense(data: bytes, service: str, groups: Groups) -> bool:
    """All access lines of a chunk made only of text-shape access lines and other lines; False
    (and nothing added) when the chunk holds any other candidate line.

    One `findall` (tuples built in C) instead of a Python step per line. It is exact only if
    every candidate line is one of its matches, which the counts prove: each match holds one
    `status: ` and its captured `HTTP/`, so equal totals over the chunk leave no candidate
    line outside them (`stats._candidate` needs `status: `, `=> generated` or `HTTP/`).
    """
    found = _TEXT_LINES.findall(data)
    if (
        len(found) != data.count(b"status: ")
        or data.count(b"HTTP/") != sum(1 for m in found if m[2])
        or b"=> generated" in data
    ):
        return False
    counts, durations, group_key = groups.counts, groups.durations, groups.key
    memo = groups.memo
    ids_sub = IDS_B.sub
    for method, path, _, status, took in found:
        # Groups.key inlined (a call per line is a third of this loop)
        shape = path if b"?" not in path and b"#" not in path else cut_query(path)
        if len(shape) >= 33:
            shape = ids_sub(ZERO_ID, shape)
        key = memo.get((service, method, shape, status))
        if key is None:
            key = group_key(service, method, shape, status)
        counts[key] = counts.get(key, 0) + 1
        if took:
            got = durations.get(key)
            if got is None:
                got = durations[key] = array("d")
            got.append(float(took))
    groups.lines += len(found)
    return True


def _candidate_lines(data: bytes) -> dict[int, int]:
    """start -> end of every line of `data` that `stats._candidate` accepts, found with
    `bytes.find` per mark (C speed over the bytes between): lines without a mark, most of
    a service's log, cost no Python step at all. The `status: ` lines are found first; the
    other marks are looked for only between them (an access line holds `HTTP/` too)."""
    find, rfind = data.find, data.rfind
    size = len(data)
    lines: dict[int, int] = {}
    pos = find(b"status: ")
    while pos != -1:
        start = rfind(b"\n", 0, pos) + 1
        end = find(b"\n", pos)
        if end == -1:
            end = size
        lines[start] = end
        pos = find(b"status: ", end)
    others = [mark for mark in (b"=> generated", b"HTTP/") if mark in data]
    if not others:
        return lines
    gaps = [0, *(x for start, end in lines.items() for x in (start, end)), size]  # (from, to) pairs
    for i in range(0, len(gaps), 2):
        gap_start, gap_end = gaps[i], gaps[i + 1]
        for mark in others:
            pos = find(mark, gap_start, gap_end)
            while pos != -1:
                start = rfind(b"\n", 0, pos) + 1
                end = find(b"\n", pos)
                if end == -1:
                    end = size
                if start not in lines and (mark != b"HTTP/" or find(b'" ', start, end) != -1):
                    lines[start] = end
                pos = find(mark, end, gap_end)
    return lines


def scan_chunk(chunk: bytes | bytearray, service: str, groups: Groups, end: int | None = None) -> None:
    """Add the access lines of `data[:end]` (whole lines, split on b"\\n") to `groups`, in order.

    Chunks of access lines and quote-free lines go in columns or in bulk
    (`stats.columns.scan_columns`, `stats.bulk.scan_bulk`: each proves its own exactness). Otherwise candidate lines are found by substring search
    (`_candidate_lines`) rather than by splitting every line (~0.5 us a line of Python for
    three `in` tests) or by one regex for the marks (an alternation has no literal prefix to
    skip with: slower). Each is matched in place against the two exact shapes, or given to
    the general parser.
    """
    if end is None:
        end = len(chunk)
    # Every quote in an access request (two per `" status: `; the head may end inside a line)?
    # Judged on the first 64 KiB, so another chunk pays no extra pass.
    head = chunk[: min(end, 64 << 10)]
    if head.count(b'"') <= 2 * head.count(b'" status: ') + 2 and (
        scan_columns(chunk, service, groups, end) or scan_bulk(chunk, service, groups, end)
    ):
        return  # access lines and lines without quotes: no Python step per line (columns: none at all)
    head = chunk[: min(end, 256 << 10)]
    # the per-line way reads `bytes` (a reused buffer's lines would change under it)
    data = chunk if isinstance(chunk, bytes) and end == len(chunk) else bytes(memoryview(chunk)[:end])
    dense = head.count(b"status: ") * 600 > len(head) and b'\n{"' not in head and head[:1] != b"{"
    if dense and _scan_dense(data, service, groups):
        return  # mostly access lines, all in the text shape: a Python step per access line
    counts, durations = groups.counts, groups.durations
    text_match, json_match, group_key = _TEXT.match, _JSON.match, groups.key
    lines = _candidate_lines(data)
    starts = sorted(lines)
    # Only the candidate lines can count, each on its own: if they are all oslo access lines
    # (a text service's log, tracebacks and other lines between) or all JSON access records,
    # they go in bulk together.
    if len(starts) >= 32:
        joined = b"\n".join([data[start : lines[start]] for start in starts])
        if data[starts[0]] != 123:  # 123: "{"
            if scan_columns(joined, service, groups, len(joined)) or scan_bulk(
                joined, service, groups, len(joined)
            ):
                return
        elif scan_json_lines(b"\n" + joined, len(starts), service, groups):
            return  # all oslo.log JSON access records
    for start in starts:
        end = lines[start]
        m = (json_match if data[start] == 123 else text_match)(data, start, end)  # 123: "{"
        if m is not None:
            method, path, status, took = m.groups()
            key = group_key(service, method, path, status)
            duration = None if took is None else float(took)
        else:
            found = next(groups.general((data[start:end],)), None)
            if found is None:
                continue
            key = (service, found.method, found.route, found.status)
            duration = found.duration
        counts[key] = counts.get(key, 0) + 1
        if duration is not None:
            got = durations.get(key)
            if got is None:
                got = durations[key] = array("d")
            got.append(duration)
        groups.lines += 1


def scan_file(path: str, service: str, groups: Groups, chunk_size: int = 4 << 20) -> None:
    """Every access line of one log file (plain or gzip) into `groups`, chunk by chunk.

    Chunks are cut after their last newline (a last line without one is read too), so a
    line is never split, as in `stats._stream_lines`. A plain file is read into one reused
    buffer (`_plain_windows`); a gzip file is decoded by `read_chunks`.
    """
    if not path.endswith(".gz"):
        for buf, end in _plain_windows(path, chunk_size):
            scan_chunk(buf, service, groups, end)
        return
    from kansoku.tracing.ingest.files import read_chunks

    pending: list[bytes] = []
    size = 0
    for piece in read_chunks(path, chunk_size=chunk_size):
        pending.append(piece)
        size += len(piece)
        if size < chunk_size:
            continue
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        pending.clear()
        cut = data.rfind(b"\n") + 1
        if cut:
            scan_chunk(data, service, groups, cut)
        if cut < len(data):
            pending.append(data[cut:])
        size = len(data) - cut
    data = b"".join(pending)
    if data:
        scan_chunk(data, service, groups)


def _plain_windows(path: str, chunk_size: int) -> Iterator[tuple[bytearray, int]]:
    """(buffer, end): `buffer[:end]` is the next run of whole lines of `path` (the last line
    may lack its newline). One buffer, refilled in place: a fresh 8 MiB `bytes` per read
    costs its page faults again (~80 ns a line). What the scan keeps is copied out of it.
    """
    from kansoku.tracing.ingest.files import open_error

    try:
        fh = open(path, "rb", buffering=0)  # noqa: SIM115 - closed in finally, generator-owned
    except OSError as err:
        raise open_error(path, err) from None
    try:
        try:  # no bigger than the file: a small file does not zero 8 MiB
            size = os.fstat(fh.fileno()).st_size
        except OSError:
            size = chunk_size
        buf = bytearray(max(1, min(chunk_size, size + 1)))
        filled = 0
        while True:
            with memoryview(buf) as view:
                try:
                    got = fh.readinto(view[filled:])
                except OSError as err:
                    raise open_error(path, err) from None
            if not got:
                break
            filled += got
            if filled < len(buf):
                continue  # a short read: fill the buffer first
            cut = buf.rfind(b"\n", 0, filled) + 1
            if not cut:  # one line longer than the buffer: make room
                buf.extend(bytes(len(buf)))
                continue
            yield buf, cut
            buf[: filled - cut] = buf[cut:filled]
            filled -= cut
        if filled:
            yield buf, filled
    finally:
        fh.close()


#: Below this many bytes in all, files are scanned in this process (a worker costs a fork).
PARALLEL_MIN_BYTES = 64 << 20

FileResult = tuple[
    dict[GroupKey, int], dict[GroupKey, "array[float]"], int, str | None
]  # quoted: array is not subscriptable at runtime


def _scan_one(
    path: str, service: str, general: Callable[[Iterable[bytes]], Iterator[AccessInfo]]
) -> FileResult:
    """One file's groups (a worker's task): counts, durations, access lines, read problem."""
    from kansoku.tracing.ingest.files import LogReadError

    groups = Groups({}, {}, general)
    problem = None
    try:
        scan_file(path, service, groups)
    except LogReadError as err:  # what was read before the damage counts, as in one process
        problem = str(err)
    return groups.counts, groups.durations, groups.lines, problem


def scan_files(
    files: list[tuple[str, str]],
    counts: dict[GroupKey, int],
    durations: dict[GroupKey, array[float]],
    general: Callable[[Iterable[bytes]], Iterator[AccessInfo]],
    workers: int | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> tuple[int, list[str]]:
    """Scan (path, service) files into `counts`/`durations`; (access lines, problems).

    `meanwhile` runs in this process while the workers read (the caller's own imports).

    Files are independent, so they are scanned by up to `workers` forked processes (the
    CPU count by default, one process for small stores) and merged in file order: the
    groups' first-seen order, every duration's order and the problems' order are those of
    one process reading the files one after the other.
    """

    if workers is None:
        size = 0
        for path, _ in files:
            with contextlib.suppress(OSError):  # a missing file is reported by its scan
                size += os.stat(path).st_size
        workers = min(os.cpu_count() or 1, len(files)) if size >= PARALLEL_MIN_BYTES else 1
    if workers <= 1:
        if meanwhile is not None:
            meanwhile()
        results: Iterable[FileResult] = (_scan_one(path, service, general) for path, service in files)
        return _merge(results, counts, durations)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    preload()  # Arrow once here, not once per worker (the same wall time, half the CPU)
    # fork: the workers start with this process's imports (no second start-up)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(_scan_one, path, service, general) for path, service in files]
        if meanwhile is not None:
            meanwhile()
        return _merge((f.result() for f in futures), counts, durations)


def _merge(
    results: Iterable[FileResult], counts: dict[GroupKey, int], durations: dict[GroupKey, array[float]]
) -> tuple[int, list[str]]:
    lines = 0
    problems: list[str] = []
    for file_counts, file_durations, file_lines, problem in results:
        for key, n in file_counts.items():
            counts[key] = counts.get(key, 0) + n
        for key, values in file_durations.items():
            got = durations.get(key)
            if got is None:
                durations[key] = values
            else:
                got.extend(values)
        lines += file_lines
        if problem is not None:
            problems.append(problem)
    return lines, problems
