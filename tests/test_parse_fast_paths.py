"""The parser's shortcuts give exactly what the plain code gave, on every record of the corpora.

`parse_record` runs once for each of the ~2,400 lines of a big trace, so its pieces take
shortcuts: a cache of whole `YYYY-MM-DD HH:MM:SS` strings, a three-way split of the `[...]`
context (or, in its usual shape, the context read by the header's own match), no id scan of
a message without `req-`, one `group` call per header, the DEBUG suffix looked for at its one
possible place, LogLine filled by position. Each shortcut is checked here against the
plain code it replaced (kept below, verbatim), field by field, on every record of every
corpus under tests/data (oslo.log of many releases, JSON, journald, havana, RDO) and on
mangled copies of their first lines (cut, doubled spaces, stray `]`, long digit runs, tabs).
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path

from kansoku.ids import REQUEST_ID_RE
from kansoku.tracing.ingest import fields
from kansoku.tracing.ingest.access import parse_access
from kansoku.tracing.ingest.fields import (
    Context,
    epoch,
    record_body,
    split_context,
    str_or_none,
    strip_exception_prefix,
)
from kansoku.tracing.ingest.lines import split_instance, strip_debug_suffix
from kansoku.tracing.ingest.oslo_format import DEBUG_SUFFIX_RE, HEADER_RE, LEVELS, NONE_IDS
from kansoku.tracing.ingest.parse import parse_record
from kansoku.tracing.ingest.records import is_json_record, iter_raw_records, iter_records
from kansoku.tracing.ingest.tracebacks import exception_in_message, exception_type
from kansoku.tracing.model import LogLine

DATA = Path(__file__).parent / "data"


def _corpus_records() -> list[str]:
    records: list[str] = []
    for path in sorted(DATA.rglob("*")):
        if not path.is_file() or path.suffix not in (".log", ".txt", ".json", ".gz"):
            continue
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        records += [raw for _, _, raw in iter_raw_records(data.splitlines(keepends=True))]
    return records


RECORDS = _corpus_records()


def _mangled(first: str) -> Iterator[str]:
    for i in range(min(len(first), 200)):
        yield first[:i]
        yield first[:i] + " " + first[i:]
        yield first[:i] + "]" + first[i + 1 :]
        yield first[:i] + "9" * 30 + first[i:]
        yield first[:i] + "\t" + first[i + 1 :]


def _variants() -> list[str]:
    firsts = [raw.partition("\n")[0] for raw in RECORDS if HEADER_RE.match(raw.partition("\n")[0])]
    out = list(RECORDS)
    for first in firsts[:: max(1, len(firsts) // 150)]:
        out += _mangled(first)
    out += [
        "2026-11-20 10:15:32.1 1 INFO n [a req-x]",
        "2026-11-20 10:15:32.1 1 INFO n [a req-x ] m",
        "2026-11-20 10:15:32.1 1 INFO n [a  req-x u p] m",
        "2026-11-20 10:15:32.1 1 INFO n [req-1 u p - - -] m",
        "2026-11-20 10:15:32.1 1 INFO n [req-1] m",
        "2026-11-20 10:15:32.1 1 INFO n [instance: req-1 u] m",
        "2026-11-20 10:15:32.1 1 INFO n [ req-1] m",
        "2026-11-20 10:15:32.1 1 INFO n [a req-1]] m",
        "2026-11-20 10:15:32.1 1 INFO n [a tx1]",
        "2026-11-20 10:15:32.1 1 INFO n  [a req-1 u] m",
        "2026-11-20 10:15:32.1 1 INFO n [a req-1\t u] m",
        "2026-11-20 10:15:32.1 1 INFO n [a req-1 u [x] y] m",
        "2026-11-20 10:15:32.1 1 BOGUS n [a req-1 u] m",
        "2026-11-20 10:15:32.1 1 INFO n [a req-1 u] ",
        "2026-11-20 10:15:32.1 1 INFO n [req-1 ] m",
        "2026-11-20 10:15:32.5+02:00 1 INFO n [-]m",
        "2026-11-20 10:15:32.5-0230 1 INFO n [-]  m",
        "2026-11-20 10:15:32.5Z 1 INFO n [None req-a - - - - -] m",
        "2026-02-30 10:15:32.5 1 INFO n [-] m",
        "2026-11-20 10:15:61.5 1 INFO n [-] m",
        "2024-12-31 23:59:60.5 1 INFO n [-] m",
        "2026-11-20T10:15:32,5 1 INFO n [tx1 tx2 a] m",
        "2026-11-20 10:15:32.5 1 DEBUG n [-] m f /a/b.py:12",
        "2026-11-20 10:15:32.5 1 DEBUG n [-] m  f /a/b.py:12",
        "2026-11-20 10:15:32.5 1 DEBUG n [-] m f  /a/b.py:12",
        "2026-11-20 10:15:32.5 1 DEBUG n [-] f /a/b.py:12",
        "2026-11-20 10:15:32.5 1 DEBUG n [-] m f\t/a/b.py:12",
        "2026-11-20 10:15:32.5 1 DEBUG n [-] m f /a/b.py:12 ",
        "2026-11-20 10:15:32.5 1 DEBUG n [-] m f /a/b.py:12\n2026-11-20 10:15:32.5 1 ERROR n Traceback\nValueError: x",
        "2026-11-20 10:15:32.5 1 INFO n [instance: 11111111-1111-1111-1111-111111111111] m",
        "2026-11-20 10:15:32.5 1 INFO n [-] [instance: 11111111-1111-1111-1111-111111111111] m",
        "2026-11-20 10:15:32." + "1" * 5000 + " 1 INFO n [-] m",
        "2026-11-20 10:15:32.1 " + "1" * 5000 + " INFO n [-] m",
    ]
    return out


VARIANTS = _variants()


# --- the plain code the shortcuts replaced (as it was before them) -------------------------


def plain_split_context(rest: str) -> Context:
    if not rest.startswith("[") or rest.startswith("[instance: "):
        return Context(None, None, None, rest, False)
    end = rest.find("]")
    if end == -1:
        return Context(None, None, None, rest, False)
    inner = rest[1:end]
    after = rest[end + 1 :]
    if after.startswith(" "):
        after = after[1:]
    if inner == "-":
        return Context(None, None, None, after, True)
    tokens = inner.split(" ")
    if len(tokens) >= 2 and (tokens[1].startswith("req-") or tokens[1].startswith("tx")):
        first = tokens[0]
        global_id = None if first in NONE_IDS else first
        ident = " ".join(tokens[2:]) or None
        return Context(global_id, tokens[1], ident, after, True)
    if tokens[0].startswith("req-"):
        return Context(None, tokens[0], " ".join(tokens[1:]) or None, after, True)
    return Context(None, None, None, rest, True)


def plain_epoch(date: str) -> float:
    fields._second_cache.clear()
    fields._epoch_cache.clear()
    return epoch(date)


def plain_header_ts(m: re.Match[str]) -> float | None:
    try:
        ts = plain_epoch(m.group("date"))
    except ValueError:
        return None
    frac = m.group("frac")
    if frac:
        ts += int(frac) / 10 ** len(frac)
    tz = m.group("tz")
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        ts -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return ts


def plain_strip_debug_suffix(message: str) -> str:
    dm = DEBUG_SUFFIX_RE.search(message)
    return message[: dm.start()] if dm is not None else message


def plain_record_body(
    message: str, body_lines: list[str], ctx: Context, level: str | None
) -> tuple[str, str | None, tuple[str, ...], object]:
    exc: str | None = None
    if body_lines:
        exc = exception_type(body_lines)
        if not ctx.has_context:
            exc = exception_type([message, *body_lines]) or exc
    if exc is None and level in ("ERROR", "CRITICAL", "WARNING", "FATAL"):
        exc = exception_in_message(message)
    if body_lines:
        message = message + "\n" + "\n".join(body_lines)
    known = {ctx.global_id, ctx.local_id}
    extra = tuple(dict.fromkeys(i for i in REQUEST_ID_RE.findall(message) if i not in known))
    access = parse_access(message) if '"' in message and "status: " in message else None
    return message, exc, extra, access


def plain_text_record(raw: str) -> LogLine | None:
    """The text branch of `parse_record` as it was: a header match read group by group."""
    first, nl, tail = raw.partition("\n")
    m = HEADER_RE.match(first)
    if first.startswith("{") or m is None:
        return None
    level = m.group("level")
    if level not in LEVELS:
        return None
    ctx = plain_split_context(m.group("rest") or "")
    instance, message = split_instance(ctx.rest)
    if level == "DEBUG":
        message = plain_strip_debug_suffix(message)
    logger = m.group("logger")
    body = [strip_exception_prefix(cont, logger) for cont in tail.split("\n")] if nl else []
    message, exc, extra, access = plain_record_body(message, body, ctx, level)
    return LogLine(
        file="f",
        line_no=1,
        offset=0,
        service="s",
        host="h",
        ts=plain_header_ts(m),
        pid=int(m.group("pid")),
        level=level,
        logger=logger,
        global_id=ctx.global_id,
        local_id=ctx.local_id,
        user_identity=ctx.user_identity,
        instance=instance,
        message=message,
        raw=raw,
        fmt="text",
        exception=exc,
        access=access,  # type: ignore[arg-type]
        extra_ids=extra,
        n_lines=raw.count("\n") + 1,
    )


def _ctx_fields(ctx: Context) -> tuple[object, ...]:
    return (ctx.global_id, ctx.local_id, ctx.user_identity, ctx.rest, ctx.has_context)


# --- the checks --------------------------------------------------------------------------


def test_the_corpora_are_here() -> None:
    """The comparison means something only over many real records of every kind."""
    assert len(RECORDS) > 5000
    firsts = [raw.partition("\n")[0] for raw in RECORDS]
    assert sum(f.startswith("{") for f in firsts) > 100
    assert sum(HEADER_RE.match(f) is not None for f in firsts) > 3000
    assert sum(f[:3] in ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
               for f in firsts) > 100  # fmt: skip


def test_split_context_matches_the_full_split() -> None:
    contexts = {raw.partition("\n")[0].partition("] ")[0] for raw in VARIANTS}
    rests = set()
    for raw in VARIANTS:
        m = HEADER_RE.match(raw.partition("\n")[0])
        if m is not None:
            rests.add(m.group("rest") or "")
    rests |= {c[c.find("[") :] + "] m" for c in contexts if "[" in c}
    assert len(rests) > 1000
    for rest in rests:
        assert _ctx_fields(split_context(rest)) == _ctx_fields(plain_split_context(rest)), rest


def test_cached_epoch_matches_a_cold_read() -> None:
    dates = set()
    for raw in VARIANTS:
        m = HEADER_RE.match(raw.partition("\n")[0])
        if m is not None:
            dates.add(m.group("date"))
    dates |= {"2026-02-30 10:15:32", "2026-11-20 10:15:61", "2024-12-31 23:59:60", "0000-01-01 00:00:00"}
    dates |= {f"{d[:8]}{day}{d[10:17]}{sec}" for d in list(dates) for day in ("28", "29", "31", "32")
              for sec in ("00", "59", "60", "61", "99")}  # fmt: skip
    assert len(dates) > 500
    for date in sorted(dates):
        try:
            cold: float | str = plain_epoch(date)
        except ValueError:
            cold = "ValueError"
        for _ in range(2):  # the first read fills the cache, the second is answered from it
            try:
                warm: float | str = epoch(date)
            except ValueError:
                warm = "ValueError"
            assert warm == cold, date


def test_debug_suffix_found_at_its_one_place() -> None:
    messages = {raw.partition("\n")[0] for raw in VARIANTS}
    messages |= {m.rpartition("] ")[2] for m in messages}
    for message in messages:
        assert strip_debug_suffix(message) == plain_strip_debug_suffix(message), message


def test_record_body_matches_the_plain_id_scan() -> None:
    for raw in VARIANTS:
        first, nl, tail = raw.partition("\n")
        m = HEADER_RE.match(first)
        if m is None:
            continue
        ctx = plain_split_context(m.group("rest") or "")
        body = tail.split("\n") if nl else []
        for level in (m.group("level"), "ERROR"):
            assert record_body(ctx.rest, body, ctx, level) == plain_record_body(ctx.rest, body, ctx, level)


def test_text_records_match_field_by_field() -> None:
    checked = 0
    for raw in VARIANTS:
        if HEADER_RE.match(raw.partition("\n")[0]) is None:
            continue
        new = parse_record(raw, "f", 1, 0, "s", "h")
        old = plain_text_record(raw)
        assert (new is None) == (old is None), raw[:200]
        if new is not None and old is not None:
            checked += 1
            for name in LogLine.__slots__:
                assert repr(getattr(new, name)) == repr(getattr(old, name)), (name, raw[:200])
    assert checked > 50_000


def test_json_records_keep_every_field_in_its_place() -> None:
    """JSON records: LogLine is now filled by position, and the id scan skips messages
    without `req-`; each field is checked against the object it came from."""
    checked = 0
    for raw in RECORDS:
        if not raw.startswith("{"):
            continue
        line = parse_record(raw, "f.log", 7, 99, "svc", "")
        if line is None:
            continue
        checked += 1
        obj = json.loads(raw)
        ctx = obj.get("context") or {}
        tb = obj.get("traceback")
        text = str(obj["message"]) + ("\n" + tb if isinstance(tb, str) else "")
        known = {ctx.get("global_request_id"), ctx.get("request_id")} if isinstance(ctx, dict) else set()
        keys = ("user", "project", "domain", "system_scope", "user_domain", "project_domain")
        assert (line.file, line.line_no, line.offset, line.service) == ("f.log", 7, 99, "svc")
        assert line.host == (str(obj["hostname"]) if obj.get("hostname") else "")
        assert (line.raw, line.fmt, line.n_lines) == (raw, "json", 1)
        assert line.logger == (str(obj["name"]) if obj.get("name") not in (None, "", "None") else None)
        assert line.extra_ids == tuple(
            dict.fromkeys(i for i in REQUEST_ID_RE.findall(text) if i not in known)
        )
        if isinstance(ctx, dict) and ctx:
            ident = " ".join(str(ctx[k]) if ctx.get(k) not in (None, "", "None") else "-" for k in keys)
            assert line.user_identity == ident
        else:
            assert line.user_identity is None
        assert line.access == parse_access(str(obj["message"]))
        assert line.level == str_or_none(obj.get("levelname"))
        assert line.pid == (obj["process"] if isinstance(obj.get("process"), int) else None)
        if isinstance(ctx, dict):
            assert line.global_id == str_or_none(ctx.get("global_request_id"))
            assert line.local_id == str_or_none(ctx.get("request_id"))
        assert line.message.startswith(str(obj["message"]))
    assert checked > 100


def test_deeply_nested_json_is_not_a_record_and_does_not_raise(tmp_path: Path) -> None:
    """A `{` line nested 100,000 deep (garbage a damaged file can hold) makes `json.loads`
    raise RecursionError, not ValueError: the line is no JSON record, and nothing raises."""
    deep = '{"message": "x", "extra": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert parse_record(deep, "f.log", 3, 0, "svc", "h") is None
    assert not is_json_record(deep)
    head = "2026-11-20 10:15:32.217 1901 INFO nova.api [req-1b7e0f4c-2a9d-4c8b-9e61-3f5d7a2c8b90 - - - - -] m"
    out = list(iter_records([head + "\n", deep + "\n"], file="f.log"))
    lines = [x for x in out if isinstance(x, LogLine)]
    assert lines[0].local_id == "req-1b7e0f4c-2a9d-4c8b-9e61-3f5d7a2c8b90"
    assert any(deep in x.raw for x in lines)  # kept (as a continuation or an unparsed line), not lost
