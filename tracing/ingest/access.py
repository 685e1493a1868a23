"""Access lines: oslo.service/eventlet wsgi, nova's and placement's requestlog, Apache/nginx combined, uWSGI.

`parse_access` turns one into an `AccessInfo` (method, path, route template, status, length,
duration); collectors/apimetrics and `kansoku trace stats` reuse it.
"""

from __future__ import annotations

import re

from kansoku.lazyre import LazyPattern
from kansoku.tracing.ingest.routes import route_template
from kansoku.tracing.model import AccessInfo

# Garbage (a damaged .gz decodes to anything) must not raise: a time is `\d+(?:\.\d+)?`
# (`time: 0.045122023.0.` reads 0.045122023), and a number int() would refuse (beyond its
# 4,300-digit limit) is read as unknown (`_count`).
#
# Access lines.  oslo.service / eventlet.wsgi as OpenStack configures it, and nova's and
# placement's requestlog middleware:
#   10.0.0.1 "GET /v2.1/servers HTTP/1.1" status: 200  len: 1234 time: 0.0451
#   127.0.0.1 "GET /resource_providers" status: 200 len: 52 microversion: 1.39
_OSLO_ACCESS_RE = LazyPattern(
    r'(?P<client>\S+) (?:- \S+ \[[^\]]*\] )?"(?P<method>[A-Z]+) (?P<path>\S+)(?: HTTP/[\d.]+)?" '
    r"status: (?P<status>\d{3}) +len: (?P<len>\d+|-|None)(?: microversion: \S+)?(?: time: (?P<time>\d+(?:\.\d+)?))?"
)


# Apache/nginx combined (keystone, glance, cinder, neutron behind mod_wsgi/uwsgi) and
# eventlet's own default:
#   10.0.0.1 - - [20/Nov/2026:10:15:32 +0000] "GET /v3/auth/tokens HTTP/1.1" 200 1234 "-" "ua" 4511
_COMBINED_RE = LazyPattern(
    r'(?P<client>\S+) (?:\S+ \S+ )?\[(?P<date>[^\]]+)\] "(?P<method>[A-Z]+) (?P<path>\S+)(?: HTTP/[\d.]+)?" '
    r"(?P<status>\d{3}) (?P<len>\d+|-)(?P<tail>.*)$"
)


# uWSGI's default request logger:
#   [pid: 12|app: 0|req: 1/1] 10.0.0.1 () {34 vars in 567 bytes} [Fri Nov 20 10:15:32 2026]
#   GET /identity/v3/auth/tokens => generated 1234 bytes in 45 msecs (HTTP/1.1 201) 7 headers ...
_UWSGI_RE = LazyPattern(
    r"\[pid: \d+\|app: [-\d]+\|req: [-\d]+/\d+\] (?P<client>\S+) .*?\[(?P<date>[^\]]+)\] "
    r"(?P<method>[A-Z]+) (?P<path>\S+) => generated (?P<len>\d+) bytes in (?P<ms>\d+) msecs "
    r"\(HTTP/[\d.]+ (?P<status>\d{3})\)"
)


_TAIL_NUMBERS_RE = LazyPattern(r"(?:^|\s)(\d+(?:\.\d+)?)(?:\(us\))?(?=\s|$)")


_APACHE_DATE = "%d/%b/%Y:%H:%M:%S %z"


_UWSGI_DATE = "%a %b %d %H:%M:%S %Y"


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
            length=None if length in ("-", "None") else _count(length),  # nova writes None for a 302
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
            length=None if length == "-" else _count(length),
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
            length=_count(m.group("len")),
            duration=None if (took := _count(m.group("ms"))) is None else took / 1000.0,
            route=route_template(m.group("path")),
            client=m.group("client"),
        )
    return None


def _count(digits: str) -> int | None:
    """A length or duration in digits; None beyond 18 of them (no server writes such a number,
    and int() refuses more than 4,300 digits: garbage must read as unknown, not raise)."""
    return int(digits) if len(digits) <= 18 else None


def access_level(access: AccessInfo) -> str:
    """The level an access line counts as (it has none of its own): a 5xx answer is an error."""
    return "INFO" if access.status < 500 else "ERROR"


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
    if "." in last:
        return float(last)
    micros = _count(last)
    return None if micros is None else micros / 1_000_000.0


def access_ts(text: str) -> float | None:
    m = _COMBINED_RE.search(text) or _UWSGI_RE.search(text)
    if m is None:
        return None
    date = m.group("date")
    import calendar  # Apache and uWSGI dates only: not on every `kansoku trace` start
    import time
    from datetime import datetime

    try:
        if "/" in date:  # Apache `%t` carries its own UTC offset
            return datetime.strptime(date, _APACHE_DATE).timestamp()
        return float(calendar.timegm(time.strptime(date, _UWSGI_DATE)))
    except ValueError:
        return None
