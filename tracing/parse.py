"""Parse OpenStack log records (oslo.log text and JSON, wsgi access lines) into `LogLine`s.

The formats are oslo.log's own defaults (`oslo_log/_options.py`, `oslo_log/formatters.py`):

* context lines (`logging_context_format_string`)::

    %(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s [%(global_request_id)s
    %(request_id)s %(user_identity)s] %(instance)s%(message)s

  where user_identity is `user project domain system_scope user_domain project_domain`
  (`-` for an empty value), the global id is `None` when the caller sent none, and
  releases before global ids wrote `[req-... user project domain user_domain project_domain]`;
* default lines (`logging_default_format_string`): the same with `[-]`;
* DEBUG records get ` %(funcName)s %(pathname)s:%(lineno)d` appended;
* tracebacks: every line is prefixed with `logging_exception_prefix`
  (`%(asctime)s.%(msecs)03d %(process)d ERROR %(name)s %(instance)s`), i.e. a header with
  no `[...]` context; and ContextFormatter appends `: <error_summary>` to the first line;
* JSONFormatter: one object per line with `message`, `levelname`, `name`, `process`,
  `created`, `traceback`, `hostname`, a nested `context` dict and an `extra` dict.

One *record* is a first line plus every following line that does not start a new record
(exception-prefixed traceback lines and plain continuation lines). `iter_records` groups
physical lines into records and yields a `LogLine` for each, plus a `ParseProblem` for every
line it could not understand; such a line still becomes a `LogLine(fmt="unparsed")` carrying
every id found in it, so nothing is silently dropped and it stays findable.
"""

from __future__ import annotations

import calendar
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kansoku.ids import REQUEST_ID_RE, UUID, UUID_TOKEN_RE
from kansoku.tracing.model import AccessInfo, LogLine, ParseProblem
from kansoku.tracing.routes import route_template

#: `2026-11-20 10:15:32.123 12345 INFO nova.compute.manager rest...`
HEADER_RE = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})(?:[.,](?P<frac>\d+))?(?:\.\d+)?"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})? +(?P<pid>\d+) +(?P<level>[A-Z]+) +(?P<logger>\S+)(?: (?P<rest>.*))?$",
    re.DOTALL,
)
#: Cheap test for "this physical line starts a record" used when grouping lines.
_START_RE = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}")
_INSTANCE_RE = re.compile(rf"\[instance: ({UUID})\] ")
_DEBUG_SUFFIX_RE = re.compile(r" \S+ \S+\.py:\d+$")
#: The final line of a traceback: `nova.exception.NoValidHost: msg`, `ValueError`, ...
_EXC_LINE_RE = re.compile(r"^((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*)(?::\s?(.*))?$")
#: An exception named inside a first line's error summary (`...: nova.exception.Foo: msg`).
_EXC_IN_MSG_RE = re.compile(
    r"(?:^|: |\s)((?:[a-z_]\w*\.)+[A-Z]\w*|[A-Z]\w*(?:Error|Exception|Timeout|Failure|Failed))(?:_Remote)?: "
)
_REMOTE_ERR_RE = re.compile(r"Remote error: ([A-Za-z_][\w.]*)")
_EXC_NAME_HINT = re.compile(
    r"(?:Error|Exception|Timeout|Failure|Failed|NotFound|Conflict|Invalid|Exit|Interrupt)"
)

# Access lines.  oslo.service / eventlet.wsgi as OpenStack configures it, and nova's and
# placement's requestlog middleware:
#   10.0.0.1 "GET /v2.1/servers HTTP/1.1" status: 200  len: 1234 time: 0.0451
#   127.0.0.1 "GET /resource_providers" status: 200 len: 52 microversion: 1.39
_OSLO_ACCESS_RE = re.compile(
    r'(?P<client>\S+) (?:- \S+ \[[^\]]*\] )?"(?P<method>[A-Z]+) (?P<path>\S+)(?: HTTP/[\d.]+)?" '
    r"status: (?P<status>\d{3}) +len: (?P<len>\d+|-|None)(?: microversion: \S+)?(?: time: (?P<time>[\d.]+))?"
)
# Apache/nginx combined (keystone, glance, cinder, neutron behind mod_wsgi/uwsgi) and
# eventlet's own default:
#   10.0.0.1 - - [20/Nov/2026:10:15:32 +0000] "GET /v3/auth/tokens HTTP/1.1" 200 1234 "-" "ua" 4511
_COMBINED_RE = re.compile(
    r'(?P<client>\S+) (?:\S+ \S+ )?\[(?P<date>[^\]]+)\] "(?P<method>[A-Z]+) (?P<path>\S+)(?: HTTP/[\d.]+)?" '
    r"(?P<status>\d{3}) (?P<len>\d+|-)(?P<tail>.*)$"
)
# uWSGI's default request logger:
#   [pid: 12|app: 0|req: 1/1] 10.0.0.1 () {34 vars in 567 bytes} [Fri Nov 20 10:15:32 2026]
#   GET /identity/v3/auth/tokens => generated 1234 bytes in 45 msecs (HTTP/1.1 201) 7 headers ...
_UWSGI_RE = re.compile(
    r"\[pid: \d+\|app: [-\d]+\|req: [-\d]+/\d+\] (?P<client>\S+) .*?\[(?P<date>[^\]]+)\] "
    r"(?P<method>[A-Z]+) (?P<path>\S+) => generated (?P<len>\d+) bytes in (?P<ms>\d+) msecs "
    r"\(HTTP/[\d.]+ (?P<status>\d{3})\)"
)
_TAIL_NUMBERS_RE = re.compile(r"(?:^|\s)(\d+(?:\.\d+)?)(?:\(us\))?(?=\s|$)")
_APACHE_DATE = "%d/%b/%Y:%H:%M:%S %z"
_UWSGI_DATE = "%a %b %d %H:%M:%S %Y"

_LEVELS = frozenset({"TRACE", "DEBUG", "INFO", "AUDIT", "WARNING", "WARN", "ERROR", "CRITICAL", "FATAL"})
_NONE_IDS = frozenset({"None", "-", ""})

_epoch_cache: dict[str, float] = {}


def _epoch(date: str) -> float:
    """Seconds since epoch for `YYYY-MM-DD HH:MM:SS`, read as UTC (minutes cached).

    Integer slicing instead of `time.strptime`, which costs ~20 us per call and dominated
    parsing; `datetime` still validates each new minute (a bad date raises ValueError).
    """
    minute = date[:16]
    value = _epoch_cache.get(minute)
    if value is None:
        dt = datetime(int(date[0:4]), int(date[5:7]), int(date[8:10]), int(date[11:13]), int(date[14:16]))
        value = float(calendar.timegm(dt.timetuple()))
        if len(_epoch_cache) > 100_000:
            _epoch_cache.clear()
        _epoch_cache[minute] = value
    seconds = int(date[17:19])
    if seconds > 60:
        raise ValueError(f"bad seconds in {date!r}")
    return value + seconds


def _header_ts(m: re.Match[str]) -> float | None:
    try:
        ts = _epoch(m.group("date"))
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


def parse_access(text: str) -> AccessInfo | None:
    """An access line's method, path, route, status, length and duration, or None.

    Cheap enough to call per line: one substring test before any regex. `text` may be a
    whole log line or just the message part.
    """
    if '"' not in text and "=> generated" not in text:
        return None
    m = _OSLO_ACCESS_RE.search(text)
    if m is not None:
        method, path, status, length, dur, client = m.group(
            "method", "path", "status", "len", "time", "client"
        )
        return AccessInfo(
            method=method,
            path=path,
            status=int(status),
            length=None if length in ("-", "None") else int(length),  # nova writes None for a 302
            duration=float(dur) if dur else None,
            route=route_template(path),
            client=client,
        )
    m = _COMBINED_RE.search(text)
    if m is not None:
        length = m.group("len")
        return AccessInfo(
            method=m.group("method"),
            path=m.group("path"),
            status=int(m.group("status")),
            length=None if length == "-" else int(length),
            duration=_combined_duration(m.group("tail")),
            route=route_template(m.group("path")),
            client=m.group("client"),
        )
    m = _UWSGI_RE.search(text)
    if m is not None:
        return AccessInfo(
            method=m.group("method"),
            path=m.group("path"),
            status=int(m.group("status")),
            length=int(m.group("len")),
            duration=int(m.group("ms")) / 1000.0,
            route=route_template(m.group("path")),
            client=m.group("client"),
        )
    return None


def _combined_duration(tail: str) -> float | None:
    """Duration from the numbers after `status bytes` in a combined line.

    eventlet writes `%(wall_seconds).6f` (seconds, with a dot); Apache `%D` is an integer in
    microseconds (devstack's keystone_combined writes it as `%D(us)`); `%T`, an integer in
    seconds, is indistinguishable from `%D` and rare in OpenStack deployments, so an
    integer is read as microseconds. Quoted fields are skipped.
    """
    unquoted = re.sub(r'"[^"]*"', " ", tail)
    nums = _TAIL_NUMBERS_RE.findall(unquoted)
    if not nums:
        return None
    last = nums[-1]
    return float(last) if "." in last else int(last) / 1_000_000.0


def _access_ts(text: str) -> float | None:
    m = _COMBINED_RE.search(text) or _UWSGI_RE.search(text)
    if m is None:
        return None
    date = m.group("date")
    try:
        if "/" in date:  # Apache `%t` carries its own UTC offset
            return datetime.strptime(date, _APACHE_DATE).timestamp()
        return float(calendar.timegm(time.strptime(date, _UWSGI_DATE)))
    except ValueError:
        return None


def exception_type(lines: Iterable[str]) -> str | None:
    """The exception a traceback ended with, oslo.messaging's `_Remote` classes unwrapped.

    `lines` are the traceback's text lines (without the log prefix). After a `Traceback
    (most recent call last):` the frames are indented; the first line that is not is the
    exception (`Name: message`, or a bare `Name` as Python 2 writes an exception without a
    message). Lines after it continue its message (`Command: ...`, `Stderr: ...` of a
    ProcessExecutionError, PostgreSQL's `DETAIL: ...`) until the next `Traceback` header,
    so a chained exception reports the one finally raised.
    """
    found: str | None = None
    in_tb = False  # inside a traceback's frames, the exception line not seen yet
    for line in lines:
        if line.startswith("Traceback (most recent call last):"):
            in_tb = True
            continue
        if not in_tb or not line.strip() or line[0] in " \t":
            continue
        in_tb = False  # this is the exception line; what follows is its message
        m = _EXC_LINE_RE.match(line.rstrip())
        if m is None:
            continue
        name = m.group(1)
        last = name.rsplit(".", 1)[-1]
        if not (last[:1].isupper() or _EXC_NAME_HINT.search(last)):
            continue
        found = _unremote(name)
        remote = _REMOTE_ERR_RE.search(m.group(2) or "")
        if remote is not None:
            found = _unremote(remote.group(1))
    return found


def _unremote(name: str) -> str:
    """oslo.messaging re-raises remote errors as `nova.exception_Remote.NoValidHost_Remote`."""
    return name.replace("_Remote", "")


def _exception_in_message(message: str) -> str | None:
    remote = _REMOTE_ERR_RE.search(message)
    if remote is not None:
        return _unremote(remote.group(1))
    m = _EXC_IN_MSG_RE.search(message)
    return _unremote(m.group(1)) if m is not None else None


@dataclass(slots=True)
class _Context:
    global_id: str | None
    local_id: str | None
    user_identity: str | None
    rest: str  # what follows the bracket
    has_context: bool  # False for exception-prefix lines (no [...] after the logger)


def _split_context(rest: str) -> _Context:
    """Split `[global local user ...] message` / `[-] message` / exception-prefix text."""
    if not rest.startswith("[") or rest.startswith("[instance: "):
        return _Context(None, None, None, rest, False)
    end = rest.find("]")
    if end == -1:
        return _Context(None, None, None, rest, False)
    inner = rest[1:end]
    after = rest[end + 1 :]
    if after.startswith(" "):
        after = after[1:]
    if inner == "-":
        return _Context(None, None, None, after, True)
    tokens = inner.split(" ")
    if len(tokens) >= 2 and (tokens[1].startswith("req-") or tokens[1].startswith("tx")):
        first = tokens[0]
        global_id = None if first in _NONE_IDS else first
        ident = " ".join(tokens[2:]) or None
        return _Context(global_id, tokens[1], ident, after, True)
    if tokens[0].startswith("req-"):
        return _Context(None, tokens[0], " ".join(tokens[1:]) or None, after, True)
    # An unknown bracket (a project that changed the format): keep it in the message.
    return _Context(None, None, None, rest, True)


def _ids_in(text: str) -> list[str]:
    return REQUEST_ID_RE.findall(text)


def parse_record(
    raw: str, file: str = "", line_no: int = 1, offset: int = 0, service: str = "", host: str = ""
) -> LogLine | None:
    """One record's text (first line plus continuation lines, no trailing newline) -> LogLine.

    Returns None when the first line is in no known format; `iter_records` then emits a
    ParseProblem and an `unparsed` LogLine.
    """
    first, nl, tail = raw.partition("\n")
    n_lines = raw.count("\n") + 1
    if first.startswith("{"):
        return _parse_json(raw, file, line_no, offset, service, host)
    if first[:3] in _MONTHS:
        return _parse_journal(raw, file, line_no, offset, service, host)
    m = HEADER_RE.match(first)
    if m is None:
        if first[10:11] == "T" and _JOURNAL_RE.match(first) is not None:
            return _parse_journal(raw, file, line_no, offset, service, host)
        access = parse_access(first)
        if access is None:
            return None
        return LogLine(
            file=file,
            line_no=line_no,
            offset=offset,
            service=service,
            host=host,
            ts=_access_ts(first),
            pid=None,
            level="INFO" if access.status < 500 else "ERROR",
            logger=None,
            global_id=None,
            local_id=_first(_ids_in(first)),
            user_identity=None,
            instance=None,
            message=first,
            raw=raw,
            fmt="access",
            access=access,
            extra_ids=tuple(_ids_in(first)[1:]),
            n_lines=n_lines,
        )
    level = m.group("level")
    if level not in _LEVELS:
        return None
    ctx = _split_context(m.group("rest") or "")
    message = ctx.rest
    instance: str | None = None
    im = _INSTANCE_RE.match(message)
    if im is not None:
        instance = im.group(1)
        message = message[im.end() :]
    if level == "DEBUG":
        dm = _DEBUG_SUFFIX_RE.search(message)
        if dm is not None:
            message = message[: dm.start()]
    logger = m.group("logger")
    body_lines = [_strip_exception_prefix(cont, logger) for cont in tail.split("\n")] if nl else []
    message, exc, extra, access = _record_body(message, body_lines, ctx, level)
    return LogLine(
        file=file,
        line_no=line_no,
        offset=offset,
        service=service,
        host=host,
        ts=_header_ts(m),
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
        access=access,
        extra_ids=extra,
        n_lines=n_lines,
    )


def _record_body(
    message: str, body_lines: list[str], ctx: _Context, level: str | None
) -> tuple[str, str | None, tuple[str, ...], AccessInfo | None]:
    """What a text record's first line and continuation lines say, the same for oslo.log files
    and journald: the whole message, the exception type, the other request ids it names and
    the access-line fields."""
    exc: str | None = None
    if body_lines:
        exc = exception_type(body_lines)
        if not ctx.has_context:  # a record made only of exception-prefixed lines
            exc = exception_type([message, *body_lines]) or exc
    if exc is None and level in ("ERROR", "CRITICAL", "WARNING", "FATAL"):
        exc = _exception_in_message(message)
    if body_lines:
        message = message + "\n" + "\n".join(body_lines)
    known = {ctx.global_id, ctx.local_id}
    extra = tuple(dict.fromkeys(i for i in _ids_in(message) if i not in known))
    access = parse_access(message) if '"' in message and "status: " in message else None
    return message, exc, extra, access


def _strip_exception_prefix(line: str, logger: str) -> str:
    """`<ts> <pid> ERROR nova.x [instance: u] Traceback...` -> `Traceback...`; plain lines as is."""
    m = HEADER_RE.match(line)
    if m is None:
        return line
    rest = m.group("rest") or ""
    if rest.startswith("[instance: "):
        im = _INSTANCE_RE.match(rest)
        if im is not None:
            return rest[im.end() :]
    return rest


def _first(ids: list[str]) -> str | None:
    return ids[0] if ids else None


def _str_or_none(value: Any) -> str | None:
    if value is None or value == "" or value == "None":
        return None
    return str(value)


def _parse_json(raw: str, file: str, line_no: int, offset: int, service: str, host: str) -> LogLine | None:
    try:
        obj = json.loads(raw)
    except ValueError:
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
    level = _str_or_none(obj.get("levelname"))
    if exc is None and level in ("ERROR", "CRITICAL", "WARNING"):
        exc = _exception_in_message(message) or _exception_in_message(str(obj.get("error_summary") or ""))
    instance = _json_instance(extra, ctx)
    global_id = _str_or_none(ctx.get("global_request_id"))
    local_id = _str_or_none(ctx.get("request_id"))
    created = obj.get("created")
    ts: float | None = float(created) if isinstance(created, int | float) else None
    if ts is None and isinstance(obj.get("asctime"), str):
        hm = HEADER_RE.match(f"{obj['asctime']} 0 INFO x")
        ts = _header_ts(hm) if hm is not None else None
    text_for_ids = message + ("\n" + tb if isinstance(tb, str) else "")
    known = {global_id, local_id}
    extra_ids = tuple(dict.fromkeys(i for i in _ids_in(text_for_ids) if i not in known))
    user_identity = " ".join(
        _str_or_none(ctx.get(k)) or "-"
        for k in ("user", "project", "domain", "system_scope", "user_domain", "project_domain")
    )
    pid = obj.get("process")
    return LogLine(
        file=file,
        line_no=line_no,
        offset=offset,
        service=service,
        host=host or (str(obj["hostname"]) if obj.get("hostname") else ""),
        ts=ts,
        pid=pid if isinstance(pid, int) else None,
        level=level,
        logger=_str_or_none(obj.get("name")),
        global_id=global_id,
        local_id=local_id,
        user_identity=None if not ctx else user_identity,
        instance=instance,
        message=message if not isinstance(tb, str) or not tb else message + "\n" + tb,
        raw=raw,
        fmt="json",
        exception=exc,
        access=parse_access(message),
        extra_ids=extra_ids,
        n_lines=1,
    )


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
    ids = _ids_in(raw)
    uuids = [u for u in UUID_TOKEN_RE.findall(raw) if f"req-{u}" not in ids]
    return LogLine(
        file=file,
        line_no=line_no,
        offset=offset,
        service=service,
        host=host,
        ts=None,
        pid=None,
        level=None,
        logger=None,
        global_id=None,
        local_id=_first(ids),
        user_identity=None,
        instance=_first(uuids),
        message=raw,
        raw=raw,
        fmt="unparsed",
        extra_ids=tuple(ids[1:]),
        n_lines=raw.count("\n") + 1,
    )


# --- journald (devstack CI `screen-*.txt`, openstack-ansible, `journalctl -u ...` exports) ---
#
# journalctl's `short`/`short-precise` output puts `Mon DD HH:MM:SS[.ffffff] host ident[pid]: `
# before every physical line a unit wrote (`short-iso[-precise]` writes an ISO date with an
# offset instead). devstack (functions-common: `setup_systemd_logging`) makes oslo.log write
#   logging_context_format_string = %(color)s%(levelname)s %(name)s [%(global_request_id)s
#       %(request_id)s %(project_name)s %(user_name)s%(color)s] %(instance)s%(color)s%(message)s
#   logging_default_format_string = %(color)s%(levelname)s %(name)s [-%(color)s] %(instance)s...
#   logging_debug_format_suffix   = {{(pid=%(process)d) %(funcName)s %(pathname)s:%(lineno)d}}
#   logging_exception_prefix      = ERROR %(name)s %(instance)s
# (with ANSI colour codes around the fields when LOG_COLOR is on). So the payload is an oslo
# line without its own time and pid, and every traceback line repeats the journald prefix
# followed by `ERROR <logger> `. The journald ident is `devstack@n-api.service` for the uwsgi
# services (SyslogIdentifier) and the program (`nova-compute`) for the others; the pid is the
# unit's main process, so the `(pid=N)` of the DEBUG suffix (the uwsgi worker) is preferred.

_MONTHS = frozenset({"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"})
_MONTH_NO = {name: i for i, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}  # fmt: skip
_JOURNAL_RE = re.compile(
    r"(?:(?P<mon>[A-Z][a-z]{2}) (?P<day>[ \d]?\d) (?P<hms>\d\d:\d\d:\d\d)(?:\.(?P<frac>\d{1,9}))?"
    r"|(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:[.,](?P<isofrac>\d{1,9}))?(?P<tz>Z|[+-]\d\d:?\d\d)?)"
    r" (?P<host>[^\s\[\]]+) (?P<ident>[^\s\[\]:]+)(?:\[(?P<pid>\d+)\])?: ?(?P<payload>.*)$",
    re.DOTALL,
)
#: The devstack payload: `LEVEL logger rest` (no time, no pid).
_PAYLOAD_RE = re.compile(r"(?P<level>[A-Z]+) (?P<logger>[^\s\[]\S*)(?: (?P<rest>.*))?$", re.DOTALL)
#: ANSI SGR colour codes, raw or as the literal text `\x1b[...m`/`\033[...m` some copies carry.
_ANSI_RE = re.compile(r"(?:\x1b|\\x1b|\\033|\\e)\[[0-9;]*m")
#: devstack's DEBUG suffix: `{{(pid=15083) _process_stack /opt/stack/nova/.../wsgi.py:612}}`.
_DEVSTACK_SUFFIX_RE = re.compile(r" ?\{\{(?:\(pid=(?P<pid>\d+)\) )?\S+ \S+:\d+\}\}$")

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
            ts = _epoch(iso.replace("T", " "))
            frac = m.group("isofrac")
            tz = m.group("tz")
            if tz and tz != "Z":
                sign = 1 if tz[0] == "+" else -1
                digits = tz[1:].replace(":", "")
                ts -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
        else:
            month = _MONTH_NO.get(m.group("mon"))
            if month is None:
                return None
            year, file_month = _file_year(file)
            if month > file_month:
                year -= 1
            ts = _epoch(f"{year:04d}-{month:02d}-{int(m.group('day')):02d} {m.group('hms')}")
            frac = m.group("frac")
    except ValueError:
        return None
    if frac:
        ts += int(frac) / 10 ** len(frac)
    return ts


def _decolour(text: str) -> str:
    if "\x1b" in text or "\\" in text:
        return _ANSI_RE.sub("", text)
    return text


def journal_service(ident: str) -> str:
    """`devstack@n-api.service` -> `n-api` (devstack's short names kept); `nova-compute` as is."""
    return ident.removeprefix("devstack@").removesuffix(".service")


def _is_exception_payload(payload: str) -> bool:
    """`ERROR nova.context   File ...` (logging_exception_prefix): ERROR, a logger, no `[ctx]`."""
    if not payload.startswith("ERROR "):
        return False
    pm = _PAYLOAD_RE.match(payload)
    if pm is None:
        return False
    rest = pm.group("rest") or ""
    return not rest.startswith("[") or rest.startswith("[instance: ")


def journal_time(line: str, file: str) -> float | None:
    """The time of a journald line (None when it is not one): the index's first/last times."""
    m = _JOURNAL_RE.match(line)
    return _journal_ts(m, file) if m is not None else None


def journal_starts_record(line: str) -> bool:
    """A journald line starts a record unless it is an exception-prefix (traceback) line."""
    m = _JOURNAL_RE.match(line)
    if m is None:
        return False
    return not _is_exception_payload(_decolour(m.group("payload")))


def _same_journal_source(first: str, line: str) -> bool:
    """Do both journald lines come from the same host, unit and process?"""
    a = _JOURNAL_RE.match(first)
    b = _JOURNAL_RE.match(line)
    if a is None or b is None:
        return a is None and b is None
    return a.group("host", "ident", "pid") == b.group("host", "ident", "pid")


def _journal_body(line: str) -> str:
    """A continuation line without its journald prefix, colours and `ERROR <logger> [instance: u] `."""
    m = _JOURNAL_RE.match(line)
    if m is None:
        return line
    payload = _decolour(m.group("payload"))
    if _is_exception_payload(payload):
        pm = _PAYLOAD_RE.match(payload)
        if pm is not None:
            rest = pm.group("rest") or ""
            im = _INSTANCE_RE.match(rest)
            return rest[im.end() :] if im is not None else rest
    return payload


def _parse_journal(raw: str, file: str, line_no: int, offset: int, service: str, host: str) -> LogLine | None:
    """A journald record: the prefix gives time, host, unit and pid; the payload is devstack's
    oslo format (or an access line, or free text kept as a `journal` line)."""
    first, nl, tail = raw.partition("\n")
    jm = _JOURNAL_RE.match(first)
    if jm is None:
        return None
    ts = _journal_ts(jm, file)
    line_host = jm.group("host") or host
    line_service = service or journal_service(jm.group("ident"))
    pid_text = jm.group("pid")
    pid = int(pid_text) if pid_text else None
    payload = _decolour(jm.group("payload"))
    n_lines = raw.count("\n") + 1
    pm = _PAYLOAD_RE.match(payload)
    if pm is None or pm.group("level") not in _LEVELS:
        access = parse_access(payload)
        ids = _ids_in(payload)
        body = payload + ("\n" + "\n".join(_journal_body(x) for x in tail.split("\n")) if nl else "")
        return LogLine(
            file=file,
            line_no=line_no,
            offset=offset,
            service=line_service,
            host=line_host,
            ts=ts,
            pid=pid,
            level=None if access is None else ("INFO" if access.status < 500 else "ERROR"),
            logger=None,
            global_id=None,
            local_id=_first(ids),
            user_identity=None,
            instance=None,
            message=body,
            raw=raw,
            fmt="access" if access is not None else "journal",
            access=access,
            extra_ids=tuple(ids[1:]),
            n_lines=n_lines,
        )
    level = pm.group("level")
    logger = pm.group("logger")
    ctx = _split_context(pm.group("rest") or "")
    message = ctx.rest
    instance: str | None = None
    im = _INSTANCE_RE.match(message)
    if im is not None:
        instance = im.group(1)
        message = message[im.end() :]
    if message.endswith("}}"):
        sm = _DEVSTACK_SUFFIX_RE.search(message)
        if sm is not None:
            if sm.group("pid"):
                pid = int(sm.group("pid"))
            message = message[: sm.start()]
    elif level == "DEBUG":
        dm = _DEBUG_SUFFIX_RE.search(message)
        if dm is not None:
            message = message[: dm.start()]
    body_lines = [_journal_body(x) for x in tail.split("\n")] if nl else []
    message, exc, extra, access = _record_body(message, body_lines, ctx, level)
    return LogLine(
        file=file,
        line_no=line_no,
        offset=offset,
        service=line_service,
        host=line_host,
        ts=ts,
        pid=pid,
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
        access=access,
        extra_ids=extra,
        n_lines=n_lines,
    )


def starts_record(line: str) -> bool:
    """Does this physical line begin a new record (rather than continue the previous one)?

    A header line continues the previous record when it is an exception-prefix line (no
    `[...]` context after the logger name) of the same process and logger: that is how
    ContextFormatter writes each line of a traceback. A line beginning with `{` starts a
    record only when it looks like a whole JSON object with a `message` (a pretty-printed
    dict or an HTTP body inside a DEBUG message also begins with `{`).
    """
    if line[:3] in _MONTHS or (line[10:11] == "T" and _JOURNAL_RE.match(line) is not None):
        return journal_starts_record(line)
    return bool(_START_RE.match(line)) or json_record_start(line) or parse_access(line) is not None


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
    except ValueError:
        return False
    return isinstance(obj, dict) and "message" in obj and ("levelname" in obj or "context" in obj)


#: Exception-prefix levels: `ERROR` (Mitaka and later) and `TRACE` (before: oslo-incubator's
#: log.py wrote every traceback line as `<time> <pid> TRACE <logger> <text>`).
_PREFIX_LEVELS = frozenset({"ERROR", "TRACE"})


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
            and text[:3] in _MONTHS
            and not _same_journal_source(buf[0], text)
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
            buf_header = bool(_START_RE.match(text)) or (
                text[:3] in _MONTHS and _JOURNAL_RE.match(text) is not None
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
    if _START_RE.match(first):
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
