"""Every regex of the oslo.log format, built in one place from the format's pieces.

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
  `created`, `traceback`, `hostname`, a nested `context` dict and an `extra` dict;
* journald copies (devstack): see the comment above `JOURNAL_RE`.

The parser (`parse`, `records`, `journald`) matches text with the `str` patterns; the indexer
and the nearby-origin scan match raw blocks with the `bytes` ones (`*_B`), built from the
same pieces so the two can never disagree on what a header is.

Every pattern compiles on first use (`kansoku.lazyre`; the three the indexer passes around as
`re.Pattern` objects on first access, through the module's `__getattr__`): `kansoku trace`
imports this module on every run and needs only the few its lines call for.
"""

from __future__ import annotations

import re

from kansoku.ids import UUID
from kansoku.lazyre import LazyPattern

#: `YYYY-MM-DD HH:MM:SS` (a space or ISO `T` between date and time), what every header starts with.
DATE = r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d"
#: The date with its fraction (`.123`, or `,123` as Python's asctime writes it).
STAMP = DATE + r"(?:[.,]\d+)?"

#: A text header up to the logger: date, fraction, zone, pid, level (both patterns below).
_HEAD = (
    "(?P<date>" + DATE + r")(?:[.,](?P<frac>\d{1,18}))?(?:\.\d+)?"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})? +(?P<pid>\d{1,18}) +(?P<level>[A-Z]+) +(?P<logger>\S+)"
)
#: `2026-11-20 10:15:32.123 12345 INFO nova.compute.manager rest...`
HEADER_RE = LazyPattern(_HEAD + r"(?: (?P<rest>.*))?$", re.DOTALL)

#: The same header when the `[...]` context has its usual shape, split in the same match:
#: `[<global or None or -> <req-... or tx...> <user identity>] message`, what nearly every
#: line of a trace is (`fields.split_context` reads any other shape, from `HEADER_RE`'s rest).
CONTEXT_HEADER_RE = LazyPattern(
    _HEAD
    + r" \[(?!instance: )(?P<global>[^ \]]*) (?P<local>(?:req-|tx)[^ \]]*)(?: (?P<ident>[^\]]*))?\] ?(?P<after>.*)$",
    re.DOTALL,
)

#: Cheap test for "this physical line starts a record" used when grouping lines.
START_RE = LazyPattern(DATE)


INSTANCE_RE = LazyPattern(rf"\[instance: ({UUID})\] ")


DEBUG_SUFFIX_RE = LazyPattern(r" \S+ \S+\.py:\d+$")


LEVELS = frozenset({"TRACE", "DEBUG", "INFO", "AUDIT", "WARNING", "WARN", "ERROR", "CRITICAL", "FATAL"})


NONE_IDS = frozenset({"None", "-", ""})


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

MONTHS = frozenset({"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"})


MONTH_NO = {name: i for i, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}  # fmt: skip


JOURNAL_RE = LazyPattern(
    r"(?:(?P<mon>[A-Z][a-z]{2}) (?P<day>[ \d]?\d) (?P<hms>\d\d:\d\d:\d\d)(?:\.(?P<frac>\d{1,9}))?"
    r"|(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:[.,](?P<isofrac>\d{1,9}))?(?P<tz>Z|[+-]\d\d:?\d\d)?)"
    r" (?P<host>[^\s\[\]]+) (?P<ident>[^\s\[\]:]+)(?:\[(?P<pid>\d{1,18})\])?: ?(?P<payload>.*)$",
    re.DOTALL,
)


#: The devstack payload: `LEVEL logger rest` (no time, no pid).
PAYLOAD_RE = LazyPattern(r"(?P<level>[A-Z]+) (?P<logger>[^\s\[]\S*)(?: (?P<rest>.*))?$", re.DOTALL)


#: ANSI SGR colour codes, raw or as the literal text `\x1b[...m`/`\033[...m` some copies carry.
ANSI_RE = LazyPattern(r"(?:\x1b|\\x1b|\\033|\\e)\[[0-9;]*m")


#: devstack's DEBUG suffix: `{{(pid=15083) _process_stack /opt/stack/nova/.../wsgi.py:612}}`.
DEVSTACK_SUFFIX_RE = LazyPattern(r" ?\{\{(?:\(pid=(?P<pid>\d{1,18})\) )?\S+ \S+:\d+\}\}$")


#: Exception-prefix levels: `ERROR` (Mitaka and later) and `TRACE` (before: oslo-incubator's
#: log.py wrote every traceback line as `<time> <pid> TRACE <logger> <text>`).
PREFIX_LEVELS = frozenset({"ERROR", "TRACE"})


# --- the same format as bytes: the indexer and the nearby scan read raw blocks --------------
#: The rest of a header up to the logger: time zone, pid, level.
_HEADER_TAIL = r"(?:[.,]\d+)*(?:Z|[+-]\d\d:?\d\d)? +\d+ +[A-Z]+ +\S"

#: An oslo.log header at a line start (`buf.match(pos)`).
HEADER_START_B = LazyPattern((DATE + _HEADER_TAIL).encode())
#: A line that is neither an oslo.log header nor a JSON object: rare, checked exactly.
SUSPICIOUS_LINE_B = LazyPattern(rb"\n(?!" + (DATE + _HEADER_TAIL).encode() + rb"|\{|\r?\n|$)")
#: A JSON line that does not end with `}`: a record cut off (crash, disk full).
BAD_JSON_B = LazyPattern(rb"\n\{[^\n]*+(?<!\})(?<!\}\r)(?=\n)")
#: Where a block may end: before a line that starts a record (not an exception-prefix line).
RECORD_START_B: re.Pattern[bytes]  # rb"\n(?:" DATE rb"[^\n]{0,40}? [A-Z]+ \S+ \[(?!instance: )|\{)"
#: Timestamps for a file's first/last time: text headers after a newline, JSON `asctime`
#: (each pattern starts with a literal so the engine skips ahead fast).
TEXT_TS_B: re.Pattern[bytes]  # rb"\n(" STAMP rb")"
JSON_TS_B: re.Pattern[bytes]  # rb'"asctime": ?"(' STAMP rb")"
DATE_START_B = LazyPattern(DATE.encode())
TS_AT_B = LazyPattern(STAMP.encode())
#: A text header anywhere in a buffer, its stamp captured (the nearby-origin scan).
HEAD_STAMP_B = LazyPattern(rb"(?m)^(" + STAMP.encode() + rb") +\d+ +[A-Z]+ ")

#: The sources of the patterns the indexer hands around as `re.Pattern`s (`last_match_back`,
#: `pattern is JSON_TS_B`): compiled on first access through `__getattr__` (PEP 562).
_ON_ACCESS_B = {
    "RECORD_START_B": rb"\n(?:" + DATE.encode() + rb"[^\n]{0,40}? [A-Z]+ \S+ \[(?!instance: )|\{)",
    "TEXT_TS_B": rb"\n(" + STAMP.encode() + rb")",
    "JSON_TS_B": rb'"asctime": ?"(' + STAMP.encode() + rb")",
}


def __getattr__(name: str) -> re.Pattern[bytes]:
    if name not in _ON_ACCESS_B:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    pattern = globals()[name] = re.compile(_ON_ACCESS_B[name])
    return pattern
