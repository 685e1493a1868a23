"""The two ways a record becomes a `LogLine`, shared by oslo.log files (`parse`) and journald.

An oslo.log text payload (level, logger, `[context]`, message, continuation lines) reads the
same whether its time and pid came from oslo.log's own header or from journald's prefix, so
both readers end in `text_line`. A line that has no oslo.log payload (an access line, free
journald text, a line in no known format) keeps only its ids: `bare_line`.
"""

from __future__ import annotations

from kansoku.tracing.ingest.fields import Context, first_id, record_body
from kansoku.tracing.ingest.oslo_format import DEBUG_SUFFIX_RE, INSTANCE_RE
from kansoku.tracing.model import AccessInfo, LogLine


def split_instance(text: str) -> tuple[str | None, str]:
    """`[instance: <uuid>] rest` -> (uuid, rest); text without the tag -> (None, text)."""
    im = INSTANCE_RE.match(text) if text.startswith("[instance: ") else None
    if im is None:
        return None, text
    return im.group(1), text[im.end() :]


def strip_debug_suffix(message: str) -> str:
    """A DEBUG message without oslo.log's ` <func> <path>.py:<line>` tail.

    The pattern (` <no space> <no space>.py:N` at the end) can only begin at the last space
    but one, so it is tried there alone instead of searched for from every position."""
    last = message.rfind(" ")
    start = message.rfind(" ", 0, last) if last > 0 else -1
    if start == -1:
        return message
    dm = DEBUG_SUFFIX_RE.match(message, start)
    return message[:start] if dm is not None else message


def text_line(
    file: str,
    line_no: int,
    offset: int,
    service: str,
    host: str,
    ts: float | None,
    pid: int | None,
    level: str,
    logger: str,
    ctx: Context,
    instance: str | None,
    message: str,
    body_lines: list[str],
    raw: str,
) -> LogLine:
    """An oslo.log text record: the message, its continuation lines and context -> LogLine.

    Its arguments may be passed by position (as `parse_record` does: one call per line, and
    keyword calls cost twice as much), and LogLine gets its fields by position, in order."""
    message, exc, extra, access = record_body(message, body_lines, ctx, level)
    return LogLine(
        # file, line_no, offset, service, host, ts, pid, level, logger,
        file, line_no, offset, service, host, ts, pid, level, logger,
        # global_id, local_id, user_identity, instance, message, raw, fmt,
        ctx.global_id, ctx.local_id, ctx.user_identity, instance, message, raw, "text",
        # exception, access, extra_ids, n_lines
        exc, access, extra, raw.count("\n") + 1,
    )  # fmt: skip


def bare_line(
    *,
    file: str,
    line_no: int,
    offset: int,
    service: str,
    host: str,
    ts: float | None,
    pid: int | None,
    level: str | None,
    ids: list[str],
    instance: str | None,
    message: str,
    raw: str,
    fmt: str,
    access: AccessInfo | None,
) -> LogLine:
    """A record with no oslo.log payload: no logger or context, the first id it names as its
    local id and the rest as extra ids, so that it stays findable."""
    return LogLine(
        file=file,
        line_no=line_no,
        offset=offset,
        service=service,
        host=host,
        ts=ts,
        pid=pid,
        level=level,
        logger=None,
        global_id=None,
        local_id=first_id(ids),
        user_identity=None,
        instance=instance,
        message=message,
        raw=raw,
        fmt=fmt,
        access=access,
        extra_ids=tuple(ids[1:]),
        n_lines=raw.count("\n") + 1,
    )
