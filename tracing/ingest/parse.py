"""Parse one OpenStack log record (oslo.log text or JSON, journald, access lines) into a `LogLine`.

The formats are oslo.log's own defaults (`oslo_log/_options.py`, `oslo_log/formatters.py`);
every regex of the format is built in `oslo_format`, ids come from `kansoku.ids`. Grouping
physical lines into records is `records`; a line that cannot be understood still becomes a
`LogLine(fmt="unparsed")` carrying every id found in it (`unparsed_line`), so nothing is
silently dropped and it stays findable.
"""

from __future__ import annotations

import json
from typing import Any

from kansoku.ids import UUID_TOKEN_RE
from kansoku.tracing.ingest.access import access_level, access_ts, parse_access
from kansoku.tracing.ingest.fields import (
    Context,
    first_id,
    header_ts,
    ids_in,
    split_context,
    stamp_ts,
    str_or_none,
    strip_exception_prefix,
)
from kansoku.tracing.ingest.journald import parse_journal
from kansoku.tracing.ingest.lines import bare_line, split_instance, strip_debug_suffix, text_line
from kansoku.tracing.ingest.oslo_format import (
    CONTEXT_HEADER_RE,
    HEADER_RE,
    JOURNAL_RE,
    LEVELS,
    MONTHS,
    NONE_IDS,
)
from kansoku.tracing.ingest.tracebacks import exception_in_message, exception_type
from kansoku.tracing.model import LogLine


def parse_record(
    raw: str, file: str = "", line_no: int = 1, offset: int = 0, service: str = "", host: str = ""
) -> LogLine | None:
    """One record's text (first line plus continuation lines, no trailing newline) -> LogLine.

    Returns None when the first line is in no known format; `iter_records` then emits a
    ParseProblem and an `unparsed` LogLine.
    """
    first, nl, tail = raw.partition("\n")
    if first.startswith("{"):
        return _parse_json(raw, file, line_no, offset, service, host)
    if first[:3] in MONTHS:
        return parse_journal(raw, file, line_no, offset, service, host)
    cm = CONTEXT_HEADER_RE.match(first)
    if cm is not None:  # the usual shape: header and context in one match
        date, frac, tz, pid, level, logger, global_id, local_id, ident, after = cm.groups()
        ctx = Context(None if global_id in NONE_IDS else global_id, local_id, ident or None, after, True)
    else:
        m = HEADER_RE.match(first)
        if m is None:
            return _not_a_header(raw, first, file, line_no, offset, service, host)
        # One call for every group (each `group` call is a method call of its own).
        date, frac, tz, pid, level, logger, rest = m.group(
            "date", "frac", "tz", "pid", "level", "logger", "rest"
        )
        ctx = split_context(rest or "")
    if level not in LEVELS:
        return None
    instance, message = split_instance(ctx.rest)
    if level == "DEBUG":
        message = strip_debug_suffix(message)
    body_lines = [strip_exception_prefix(cont, logger) for cont in tail.split("\n")] if nl else []
    # By position (file, line_no, offset, service, host, ts, pid, level, logger, ctx, instance,
    # message, body_lines, raw): a keyword call per line costs twice as much.
    return text_line(
        file, line_no, offset, service, host, stamp_ts(date, frac, tz), int(pid), level, logger, ctx,
        instance, message, body_lines, raw,
    )  # fmt: skip


def _not_a_header(
    raw: str, first: str, file: str, line_no: int, offset: int, service: str, host: str
) -> LogLine | None:
    """A first line with no oslo.log header: an ISO journald line, an access line, or None."""
    if first[10:11] == "T" and JOURNAL_RE.match(first) is not None:
        return parse_journal(raw, file, line_no, offset, service, host)
    access = parse_access(first)
    if access is None:
        return None
    return bare_line(
        file=file,
        line_no=line_no,
        offset=offset,
        service=service,
        host=host,
        ts=access_ts(first),
        pid=None,
        level=access_level(access),
        ids=ids_in(first),
        instance=None,
        message=first,
        raw=raw,
        fmt="access",
        access=access,
    )


def _parse_json(raw: str, file: str, line_no: int, offset: int, service: str, host: str) -> LogLine | None:
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: garbage nested thousands deep
        return None
    if not isinstance(obj, dict) or "message" not in obj:
        return None
    ctx = obj.get("context") or {}
    extra = obj.get("extra") or {}
    if not isinstance(ctx, dict):
        ctx = {}
    if not isinstance(extra, dict):
        extra = {}
    message = str(obj.get("message", ""))
    tb = obj.get("traceback")
    exc: str | None = None
    if isinstance(tb, str) and tb:
        exc = exception_type(tb.split("\n"))
    elif isinstance(tb, list):
        exc = exception_type("\n".join(str(x) for x in tb).split("\n"))
    level = str_or_none(obj.get("levelname"))
    if exc is None and level in ("ERROR", "CRITICAL", "WARNING"):
        exc = exception_in_message(message) or exception_in_message(str(obj.get("error_summary") or ""))
    instance = _json_instance(extra, ctx)
    global_id = str_or_none(ctx.get("global_request_id"))
    local_id = str_or_none(ctx.get("request_id"))
    created = obj.get("created")
    ts: float | None = float(created) if isinstance(created, int | float) else None
    if ts is None and isinstance(obj.get("asctime"), str):
        hm = HEADER_RE.match(f"{obj['asctime']} 0 INFO x")
        ts = header_ts(hm) if hm is not None else None
    text_for_ids = message + ("\n" + tb if isinstance(tb, str) else "")
    extra_ids: tuple[str, ...] = ()
    if "req-" in text_for_ids:  # every request id begins with it; most messages name none
        known = {global_id, local_id}
        extra_ids = tuple(dict.fromkeys(i for i in ids_in(text_for_ids) if i not in known))
    user_identity = " ".join([str_or_none(ctx.get(k)) or "-" for k in _IDENTITY_KEYS]) if ctx else None
    pid = obj.get("process")
    return LogLine(
        # file, line_no, offset, service, host,
        file, line_no, offset, service, host or (str(obj["hostname"]) if obj.get("hostname") else ""),
        # ts, pid, level, logger,
        ts, pid if isinstance(pid, int) else None, level, str_or_none(obj.get("name")),
        # global_id, local_id, user_identity, instance,
        global_id, local_id, user_identity, instance,
        # message, raw, fmt,
        message if not isinstance(tb, str) or not tb else message + "\n" + tb, raw, "json",
        # exception, access, extra_ids, n_lines
        exc, parse_access(message), extra_ids, 1,
    )  # fmt: skip


#: oslo.context's user_identity fields, in the order ContextFormatter writes them.
_IDENTITY_KEYS = ("user", "project", "domain", "system_scope", "user_domain", "project_domain")


def _json_instance(extra: dict[str, Any], ctx: dict[str, Any]) -> str | None:
    for source in (extra, ctx):
        for key in ("instance_uuid", "resource_uuid"):
            value = source.get(key)
            if isinstance(value, str) and UUID_TOKEN_RE.fullmatch(value):
                return value
        inst = source.get("instance")
        if isinstance(inst, dict):
            uuid = inst.get("uuid")
            if isinstance(uuid, str):
                return uuid
        elif isinstance(inst, str):
            m = UUID_TOKEN_RE.search(inst)
            if m is not None:
                return m.group(0)
    return None


def unparsed_line(raw: str, file: str, line_no: int, offset: int, service: str, host: str) -> LogLine:
    """A line in no known format, kept so that any id in it can still be found."""
    ids = ids_in(raw)
    uuids = [u for u in UUID_TOKEN_RE.findall(raw) if f"req-{u}" not in ids]
    return bare_line(
        file=file,
        line_no=line_no,
        offset=offset,
        service=service,
        host=host,
        ts=None,
        pid=None,
        level=None,
        ids=ids,
        instance=first_id(uuids),
        message=raw,
        raw=raw,
        fmt="unparsed",
        access=None,
    )
