"""Group physical lines into records and parse them: `iter_records`, `iter_raw_records`, `LineParser`.

One *record* is a first line plus every following line that does not start a new record
(exception-prefixed traceback lines and plain continuation lines). `iter_records` yields a
`LogLine` for each, plus a `ParseProblem` for every line it could not understand.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator

from kansoku.tracing.ingest.access import parse_access
from kansoku.tracing.ingest.journald import journal_starts_record, same_journal_source
from kansoku.tracing.ingest.oslo_format import HEADER_RE, JOURNAL_RE, MONTHS, START_RE
from kansoku.tracing.ingest.parse import parse_record, unparsed_line
from kansoku.tracing.model import LogLine, ParseProblem


def starts_record(line: str) -> bool:
    """Does this physical line begin a new record (rather than continue the previous one)?

    A header line continues the previous record when it is an exception-prefix line (no
    `[...]` context after the logger name) of the same process and logger: that is how
    ContextFormatter writes each line of a traceback. A line beginning with `{` starts a
    record only when it looks like a whole JSON object with a `message` (a pretty-printed
    dict or an HTTP body inside a DEBUG message also begins with `{`).
    """
    if line[:3] in MONTHS or (line[10:11] == "T" and JOURNAL_RE.match(line) is not None):
        return journal_starts_record(line)
    return bool(START_RE.match(line)) or json_record_start(line) or parse_access(line) is not None


def json_record_start(line: str) -> bool:
    """Cheap test: could this line be a whole oslo.log JSON record (one object, a message)?"""
    return line.startswith("{") and line.rstrip().endswith("}") and '"message"' in line


def is_json_record(line: str) -> bool:
    """Does the line parse as a complete oslo.log JSONFormatter record? Used when a `{` line
    follows a text record: it continues that record (a dict in a DEBUG message) unless it is
    a record of its own."""
    if not json_record_start(line):
        return False
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: garbage nested thousands deep
        return False
    return isinstance(obj, dict) and "message" in obj and ("levelname" in obj or "context" in obj)


def is_exception_prefix(line: str) -> bool:
    """A traceback line written with logging_exception_prefix: a header whose level is ERROR
    (no `[...]` context after the logger) or TRACE (with or without a context)."""
    m = HEADER_RE.match(line)
    if m is None:
        return False
    level = m.group("level")
    if level == "TRACE":
        return True
    rest = m.group("rest") or ""
    return level == "ERROR" and (not rest.startswith("[") or rest.startswith("[instance: "))


def _continues(prev_first: str, line: str) -> bool:
    """Is `line` (which has a header) an exception-prefix line of the record `prev_first`?

    Same process and logger: several workers of one service write one file, and their
    tracebacks interleave (neutron-server's four API workers dying at once), so a TRACE line
    of another pid starts a record of its own rather than joining the open one.
    """
    if not is_exception_prefix(line):
        return False
    m = HEADER_RE.match(line)
    pm = HEADER_RE.match(prev_first)
    if m is None or pm is None:
        return False
    return pm.group("pid") == m.group("pid") and pm.group("logger") == m.group("logger")


def iter_raw_records(
    stream: Iterable[bytes | str], start_line: int = 1, start_offset: int = 0
) -> Iterator[tuple[int, int, str]]:
    """Group physical lines into records without parsing them: (line_no, offset, raw).

    `stream` yields lines (bytes or str, with or without the newline) from byte
    `start_offset`, which is line `start_line` of the file. Bytes are decoded as UTF-8 with
    replacement so one bad byte never stops a run. Blank records are skipped.
    """
    buf: list[str] = []
    buf_line = start_line
    buf_off = start_offset
    buf_header = False  # the record's first line is an oslo text header
    line_no = start_line
    offset = start_offset
    for item in stream:
        if isinstance(item, bytes):
            size = len(item)
            text = item.decode("utf-8", "replace")
        else:
            text = item
            size = len(item.encode("utf-8", "replace"))
        text = text.rstrip("\r\n").lstrip("\x00")  # NULs a crash left before a record
        is_start = starts_record(text)
        if (
            buf
            and buf_header
            and is_start
            and (" ERROR " in text[:80] or " TRACE " in text[:80])
            and _continues(buf[0], text)
        ):
            is_start = False
        elif buf and buf_header and is_start and text[:1] == "{" and not is_json_record(text):
            is_start = False  # a dict or HTTP body inside a text record's message
        elif (
            not is_start
            and buf
            and buf_header
            and text[:3] in MONTHS
            and not same_journal_source(buf[0], text)
        ):
            is_start = True  # a traceback line of another unit interleaved in a merged journal
        if buf and not is_start and buf_header:
            buf.append(text)
        else:
            if buf:
                raw = "\n".join(buf)
                if raw.strip():
                    yield buf_line, buf_off, raw
            buf = [text]
            buf_line = line_no
            buf_off = offset
            buf_header = bool(START_RE.match(text)) or (
                text[:3] in MONTHS and JOURNAL_RE.match(text) is not None
            )
        line_no += 1
        offset += size
    if buf:
        raw = "\n".join(buf)
        if raw.strip():
            yield buf_line, buf_off, raw


def iter_records(
    stream: Iterable[bytes | str],
    file: str = "",
    service: str = "",
    host: str = "",
    start_line: int = 1,
    start_offset: int = 0,
    keep: Callable[[str], bool] | None = None,
) -> Iterator[LogLine | ParseProblem]:
    """Group a file's physical lines into records and parse each one (see iter_raw_records).

    `keep(raw)` lets a caller skip parsing records it does not want.
    """
    for line_no, offset, raw in iter_raw_records(stream, start_line, start_offset):
        if keep is None or keep(raw):
            yield from parse_or_problem(raw, file, line_no, offset, service, host)


def parse_or_problem(
    raw: str, file: str, line_no: int, offset: int, service: str, host: str
) -> Iterator[LogLine | ParseProblem]:
    """The record as a LogLine; an unknown format gives a ParseProblem and an `unparsed` line."""
    rec = parse_record(raw, file, line_no, offset, service, host)
    if rec is None:
        yield ParseProblem(file, line_no, _reason(raw.partition("\n")[0]))
        yield unparsed_line(raw, file, line_no, offset, service, host)
    else:
        yield rec


def _reason(first: str) -> str:
    if first.startswith("{"):
        return "not a JSON log object"
    if START_RE.match(first):
        return "timestamp without the oslo.log 'pid LEVEL logger' header"
    snippet = first[:60] + ("..." if len(first) > 60 else "")
    return f"not an oslo.log, JSON or access line: {snippet!r}"


class LineParser:
    """Parses records of one file; the object form of `parse_record` for callers that keep state."""

    def __init__(self, file: str = "", service: str = "", host: str = "") -> None:
        self.file = file
        self.service = service
        self.host = host

    def parse(self, raw: str, line_no: int = 1, offset: int = 0) -> LogLine:
        """Always a LogLine: an `unparsed` one when the format is unknown."""
        rec = parse_record(raw, self.file, line_no, offset, self.service, self.host)
        if rec is None:
            return unparsed_line(raw, self.file, line_no, offset, self.service, self.host)
        return rec

    def records(self, stream: Iterable[bytes | str]) -> Iterator[LogLine | ParseProblem]:
        return iter_records(stream, self.file, self.service, self.host)
