"""journald copies of oslo.log (devstack CI `screen-*.txt`, openstack-ansible, `journalctl` exports).

Each physical line carries journald's own prefix (time, host, ident[pid]) before an oslo.log
payload without its own time and pid; the year comes from the file's mtime.
"""

from __future__ import annotations

import os
import re
import time

from kansoku.tracing.ingest.access import access_level, parse_access
from kansoku.tracing.ingest.fields import epoch, ids_in, split_context
from kansoku.tracing.ingest.lines import bare_line, split_instance, strip_debug_suffix, text_line
from kansoku.tracing.ingest.oslo_format import (
    ANSI_RE,
    DEVSTACK_SUFFIX_RE,
    JOURNAL_RE,
    LEVELS,
    MONTH_NO,
    PAYLOAD_RE,
)
from kansoku.tracing.model import LogLine

_year_cache: dict[str, tuple[int, int]] = {}


def _file_year(file: str) -> tuple[int, int]:
    """(year, month) of the file's mtime, or of now: journald's short format has no year.

    A line dated in a later month than the file was last written belongs to the year
    before (a log that spans New Year, or a CI log downloaded months later), which is the
    same heuristic syslog readers use. Cached per file.
    """
    found = _year_cache.get(file)
    if found is None:
        try:
            stamp = os.stat(file).st_mtime if file else time.time()
        except OSError:
            stamp = time.time()
        tm = time.gmtime(stamp)
        found = (tm.tm_year, tm.tm_mon)
        if len(_year_cache) > 10_000:
            _year_cache.clear()
        _year_cache[file] = found
    return found


def _journal_ts(m: re.Match[str], file: str) -> float | None:
    try:
        iso = m.group("iso")
        if iso is not None:
            ts = epoch(iso.replace("T", " "))
            frac = m.group("isofrac")
            tz = m.group("tz")
            if tz and tz != "Z":
                sign = 1 if tz[0] == "+" else -1
                digits = tz[1:].replace(":", "")
                ts -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
        else:
            month = MONTH_NO.get(m.group("mon"))
            if month is None:
                return None
            year, file_month = _file_year(file)
            if month > file_month:
                year -= 1
            ts = epoch(f"{year:04d}-{month:02d}-{int(m.group('day')):02d} {m.group('hms')}")
            frac = m.group("frac")
    except ValueError:
        return None
    if frac:
        ts += int(frac) / 10 ** len(frac)
    return ts


def _decolour(text: str) -> str:
    if "\x1b" in text or "\\" in text:
        return ANSI_RE.sub("", text)
    return text


def journal_service(ident: str) -> str:
    """`devstack@n-api.service` -> `n-api` (devstack's short names kept); `nova-compute` as is."""
    return ident.removeprefix("devstack@").removesuffix(".service")


def _is_exception_payload(payload: str) -> bool:
    """`ERROR nova.context   File ...` (logging_exception_prefix): ERROR, a logger, no `[ctx]`."""
    if not payload.startswith("ERROR "):
        return False
    pm = PAYLOAD_RE.match(payload)
    if pm is None:
        return False
    rest = pm.group("rest") or ""
    return not rest.startswith("[") or rest.startswith("[instance: ")


def journal_time(line: str, file: str) -> float | None:
    """The time of a journald line (None when it is not one): the index's first/last times."""
    m = JOURNAL_RE.match(line)
    return _journal_ts(m, file) if m is not None else None


def journal_starts_record(line: str) -> bool:
    """A journald line starts a record unless it is an exception-prefix (traceback) line."""
    m = JOURNAL_RE.match(line)
    if m is None:
        return False
    return not _is_exception_payload(_decolour(m.group("payload")))


def same_journal_source(first: str, line: str) -> bool:
    """Do both journald lines come from the same host, unit and process?"""
    a = JOURNAL_RE.match(first)
    b = JOURNAL_RE.match(line)
    if a is None or b is None:
        return a is None and b is None
    return a.group("host", "ident", "pid") == b.group("host", "ident", "pid")


def _journal_body(line: str) -> str:
    """A continuation line without its journald prefix, colours and `ERROR <logger> [instance: u] `."""
    m = JOURNAL_RE.match(line)
    if m is None:
        return line
    payload = _decolour(m.group("payload"))
    if _is_exception_payload(payload):
        pm = PAYLOAD_RE.match(payload)
        if pm is not None:
            return split_instance(pm.group("rest") or "")[1]
    return payload


def parse_journal(raw: str, file: str, line_no: int, offset: int, service: str, host: str) -> LogLine | None:
    """A journald record: the prefix gives time, host, unit and pid; the payload is devstack's
    oslo format (or an access line, or free text kept as a `journal` line)."""
    first, nl, tail = raw.partition("\n")
    jm = JOURNAL_RE.match(first)
    if jm is None:
        return None
    ts = _journal_ts(jm, file)
    line_host = jm.group("host") or host
    line_service = service or journal_service(jm.group("ident"))
    pid_text = jm.group("pid")
    pid = int(pid_text) if pid_text else None
    payload = _decolour(jm.group("payload"))
    pm = PAYLOAD_RE.match(payload)
    if pm is None or pm.group("level") not in LEVELS:
        access = parse_access(payload)
        return bare_line(
            file=file,
            line_no=line_no,
            offset=offset,
            service=line_service,
            host=line_host,
            ts=ts,
            pid=pid,
            level=None if access is None else access_level(access),
            ids=ids_in(payload),
            instance=None,
            message=payload + ("\n" + "\n".join(_journal_body(x) for x in tail.split("\n")) if nl else ""),
            raw=raw,
            fmt="access" if access is not None else "journal",
            access=access,
        )
    level = pm.group("level")
    ctx = split_context(pm.group("rest") or "")
    instance, message = split_instance(ctx.rest)
    if message.endswith("}}"):
        sm = DEVSTACK_SUFFIX_RE.search(message)
        if sm is not None:
            if sm.group("pid"):
                pid = int(sm.group("pid"))
            message = message[: sm.start()]
    elif level == "DEBUG":
        message = strip_debug_suffix(message)
    return text_line(
        file=file,
        line_no=line_no,
        offset=offset,
        service=line_service,
        host=line_host,
        ts=ts,
        pid=pid,
        level=level,
        logger=pm.group("logger"),
        ctx=ctx,
        instance=instance,
        message=message,
        body_lines=[_journal_body(x) for x in tail.split("\n")] if nl else [],
        raw=raw,
    )
