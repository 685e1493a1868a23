"""The fields of a text record: header time, the `[...]` context, ids, message and traceback body."""

from __future__ import annotations

import re
from typing import Any

from kansoku.ids import REQUEST_ID_RE
from kansoku.tracing.ingest.access import parse_access
from kansoku.tracing.ingest.oslo_format import HEADER_RE, INSTANCE_RE, NONE_IDS
from kansoku.tracing.ingest.tracebacks import exception_in_message, exception_type
from kansoku.tracing.model import AccessInfo

_epoch_cache: dict[str, float] = {}
#: Whole `YYYY-MM-DD HH:MM:SS` strings already read: one second's lines share one prefix
#: (at most 20,000 kept, ~2.5 MB: a trace spans far fewer seconds).
_second_cache: dict[str, float] = {}


#: Days in each month of a common year (February gains a day in leap years).
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _utc_minute(year: int, month: int, day: int, hour: int, minute: int) -> int:
    """Seconds since epoch of a UTC minute, validated as `datetime` validates it (ValueError).

    Arithmetic (days from the civil date, H. Hinnant's algorithm) rather than `datetime` and
    `calendar.timegm`: importing those two costs ~2 ms of every `kansoku trace` start."""
    if not 1 <= year <= 9999 or not 1 <= month <= 12:
        raise ValueError(f"year {year} or month {month} out of range")
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if (
        not 1 <= day <= _MONTH_DAYS[month - 1] + (month == 2 and leap)
        or not 0 <= hour < 24
        or not 0 <= minute < 60
    ):
        raise ValueError(f"day {day}, hour {hour} or minute {minute} out of range")
    y = year - (month <= 2)
    era, yoe = divmod(y, 400)
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    return days * 86400 + hour * 3600 + minute * 60


def epoch(date: str) -> float:
    """Seconds since epoch for `YYYY-MM-DD HH:MM:SS`, read as UTC (minutes cached).

    Integer slicing instead of `time.strptime`, which costs ~20 us per call and dominated
    parsing; each new minute is still validated (a bad date raises ValueError). A string seen
    before is answered from a cache of whole strings (a pure function of its text; errors are
    not cached): many lines share one second.
    """
    known = _second_cache.get(date)
    if known is not None:
        return known
    minute = date[:16]
    value = _epoch_cache.get(minute)
    if value is None:
        value = float(
            _utc_minute(int(date[0:4]), int(date[5:7]), int(date[8:10]), int(date[11:13]), int(date[14:16]))
        )
        if len(_epoch_cache) > 100_000:
            _epoch_cache.clear()
        _epoch_cache[minute] = value
    seconds = int(date[17:19])
    if seconds > 60:
        raise ValueError(f"bad seconds in {date!r}")
    value += seconds
    if len(_second_cache) > 20_000:
        _second_cache.clear()
    _second_cache[date] = value
    return value


def header_ts(m: re.Match[str]) -> float | None:
    """The time of a `HEADER_RE` match (None for an impossible date)."""
    date, frac, tz = m.group("date", "frac", "tz")
    return stamp_ts(date, frac, tz)


def stamp_ts(date: str, frac: str | None, tz: str | None) -> float | None:
    """Seconds since epoch of a header's date, fraction and time zone (None for an impossible date)."""
    ts = _second_cache.get(date)  # `epoch`'s own cache, looked up here: one call less per line
    if ts is None:
        try:
            ts = epoch(date)
        except ValueError:
            return None
    if frac:
        ts += int(frac) / 10 ** len(frac)
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        ts -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return ts


class Context:
    """The `[...]` context of a text line (a plain slotted class: one is made per line)."""

    __slots__ = ("global_id", "has_context", "local_id", "rest", "user_identity")

    def __init__(
        self,
        global_id: str | None,
        local_id: str | None,
        user_identity: str | None,
        rest: str,
        has_context: bool,
    ) -> None:
        self.global_id = global_id
        self.local_id = local_id
        self.user_identity = user_identity
        self.rest = rest  # what follows the bracket
        self.has_context = has_context  # False for exception-prefix lines (no [...] after the logger)


def split_context(rest: str) -> Context:
    """Split `[global local user ...] message` / `[-] message` / exception-prefix text."""
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
    # At most three pieces: what follows the second space is the user identity as written
    # (the same text as joining every later space-separated token back with spaces).
    tokens = inner.split(" ", 2)
    n = len(tokens)
    if n >= 2 and (tokens[1].startswith("req-") or tokens[1].startswith("tx")):
        first = tokens[0]
        global_id = None if first in NONE_IDS else first
        return Context(global_id, tokens[1], tokens[2] or None if n == 3 else None, after, True)
    if tokens[0].startswith("req-"):
        return Context(None, tokens[0], inner[len(tokens[0]) + 1 :] or None, after, True)
    # An unknown bracket (a project that changed the format): keep it in the message.
    return Context(None, None, None, rest, True)


def ids_in(text: str) -> list[str]:
    return REQUEST_ID_RE.findall(text)


def record_body(
    message: str, body_lines: list[str], ctx: Context, level: str | None
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
        exc = exception_in_message(message)
    if body_lines:
        message = message + "\n" + "\n".join(body_lines)
    # Every request id begins with the literal `req-`: most messages name none.
    extra: tuple[str, ...] = ()
    if "req-" in message:
        known = {ctx.global_id, ctx.local_id}
        extra = tuple(dict.fromkeys(i for i in ids_in(message) if i not in known))
    access = parse_access(message) if '"' in message and "status: " in message else None
    return message, exc, extra, access


def strip_exception_prefix(line: str, logger: str) -> str:
    """`<ts> <pid> ERROR nova.x [instance: u] Traceback...` -> `Traceback...`; plain lines as is."""
    m = HEADER_RE.match(line)
    if m is None:
        return line
    rest = m.group("rest") or ""
    if rest.startswith("[instance: "):
        im = INSTANCE_RE.match(rest)
        if im is not None:
            return rest[im.end() :]
    return rest


def first_id(ids: list[str]) -> str | None:
    return ids[0] if ids else None


def str_or_none(value: Any) -> str | None:
    if value is None or value == "" or value == "None":
        return None
    return str(value)
