"""A request id that changes mid-request in one worker: join the rest of the request back.

Real nova-api sometimes logs one line under the id the user got (req-X) and then, in the same
process, the ERROR, its traceback and the 500 access line under a new id with an empty
context (`[None req-Y - - - - - -]`): the context was lost between middleware and handler.
Looked up by req-X, the trace has no failure and no answer, and kansoku said "nothing failed".

The evidence is positional: the same file, the same pid, the first record with an empty
context right after req-X's last record, and req-X never logged its own access line while
req-Y did. That is a *weak* link (`same_worker`): two requests served back to back by one
worker look the same when the first one simply logged no access line. It is shown as such.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

from kansoku.ids import REQUEST_ID_RE
from kansoku.tracing.ingest.files import LogReadError, read_chunks
from kansoku.tracing.ingest.records import iter_records
from kansoku.tracing.model import Link, LinkKind, LogLine, LogSource, Span, Strength, Trace

#: How far past the request's last record we look (bytes, and records of the same pid).
MAX_AHEAD_BYTES = 256 * 1024
MAX_AHEAD_RECORDS = 50


def empty_context(line: LogLine) -> bool:
    """`[None req-Y - - - - - -]` / `[req-Y - - - - -]`: a request id and nobody behind it."""
    if not line.local_id or line.global_id:
        return False
    ident = line.user_identity
    return ident is None or all(part == "-" for part in ident.split())


def _read(path: str, start: int) -> bytes:
    """Up to MAX_AHEAD_BYTES of `path` from uncompressed offset `start` (gzip decoded)."""
    out = bytearray()
    for chunk in read_chunks(path, start, MAX_AHEAD_BYTES):
        out += chunk
        if len(out) >= MAX_AHEAD_BYTES:
            break
    return bytes(out[:MAX_AHEAD_BYTES])


def records_after(line: LogLine) -> Iterator[LogLine]:
    """The records that follow `line` in its file (bounded), parsed; nothing if the file is gone."""
    start = line.offset + len(line.raw.encode("utf-8", "replace")) + 1
    try:
        data = _read(line.file, start)
    except LogReadError:  # gone, unreadable or damaged: nothing follows
        return
    cut = data.rfind(b"\n")
    data = data[: cut + 1] if cut >= 0 else b""
    for item in iter_records(
        io.BytesIO(data), line.file, line.service, line.host, line.line_no + line.n_lines, start
    ):
        if isinstance(item, LogLine):
            yield item


def _successors(last: LogLine, known: set[str]) -> Iterator[LogLine]:
    """Empty-context records of the same pid after `last`, each with a new request id, in order,
    until the request itself logs again or the window ends."""
    seen, ids = 0, set(known)
    for rec in records_after(last):
        if rec.pid != last.pid:
            continue
        seen += 1
        if seen > MAX_AHEAD_RECORDS or rec.local_id == last.local_id:
            return
        if empty_context(rec) and rec.local_id not in ids:
            ids.add(rec.local_id or "")
            yield rec


def join_same_worker(
    source: LogSource, trace: Trace, builder: Callable[[LogSource, str], Trace]
) -> Trace | None:
    """The trace with the request's continuation under a new id joined (weak), or None."""
    query = trace.query
    if REQUEST_ID_RE.fullmatch(query) is None:
        return None
    own = [(span, ln) for span in trace.spans for ln in span.lines if ln.local_id == query]
    if not own or any(ln.access is not None for _, ln in own):
        return None  # it answered under its own id: nothing was lost
    last_per_file: dict[tuple[str, int | None], tuple[Span, LogLine]] = {}
    for span, ln in own:
        key = (ln.file, ln.pid)
        if key not in last_per_file or ln.line_no > last_per_file[key][1].line_no:
            last_per_file[key] = (span, ln)
    candidates = (
        (span, last, nxt) for span, last in last_per_file.values() for nxt in _successors(last, trace.ids)
    )
    for span, last, nxt in candidates:
        if nxt.local_id is None:
            continue
        cont = builder(source, nxt.local_id)
        answer = next(
            (
                ln
                for s in cont.spans
                for ln in s.lines
                if ln.access is not None and ln.file == last.file and ln.pid == last.pid
            ),
            None,
        )
        if answer is None:
            continue  # the new id never answered in that worker (a periodic task?): try the next one
        head = next(
            (s for s in cont.spans if any(ln is nxt or ln.location == nxt.location for ln in s.lines)), None
        )
        if head is None:
            continue
        head.parent = span.key
        detail = (
            f"same {last.service} process (pid {last.pid}): {query}'s last record at {last.location}, then "
            f"{nxt.local_id} with an empty context, up to its access line at {answer.location}"
        )
        link = Link(LinkKind.SAME_WORKER, span.key, head.key, nxt.location, Strength.WEAK, detail)
        keys = {s.key for s in trace.spans}
        return Trace(
            query=trace.query,
            ids=trace.ids | cont.ids,
            spans=[*trace.spans, *(s for s in cont.spans if s.key not in keys)],
            links=[*trace.links, link, *cont.links],
            files_searched=trace.files_searched,
            truncated=trace.truncated or cont.truncated,
        )
    return None
