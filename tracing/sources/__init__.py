"""Pick a `LogSource` from one string, the way osprofiler's `get_driver(connection_string)` does.

`kansoku trace ID --source X` should not care where the lines live. The URL scheme picks
the implementation from `OPENERS` (a registry, so adding a source is one entry):

* a path, or `file:///path`: the on-disk index in that store directory (`IndexSource`);
* `elasticsearch://host:9200/flog-*` (plain HTTP) or `elasticsearch+https://user:pw@host:9200/flog-*`:
  Elasticsearch with the index pattern as the URL path;
* `http(s)://host:9200[/prefix]?index=flog-*`: the same with the pattern as a parameter.

Elasticsearch URLs also take a time window: `?since=2026-11-23T10:00:00Z&until=...`
(ISO 8601 or epoch seconds) and/or `?window=6h` (s, m, h, d; ending at `until` or now).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from kansoku.errors import KansokuError
from kansoku.lazyre import LazyPattern
from kansoku.tracing.model import LogSource

# datetime and urllib.parse are imported where a URL or a time is read: a store path (every
# `kansoku trace ID`) needs neither.

DEFAULT_INDEX_PATTERN = "flog-*"
_WINDOW_RE = LazyPattern(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _parse_time(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    from datetime import UTC, datetime

    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise KansokuError(
            f"{name}={value!r}: expected ISO 8601 (2026-11-23T10:00:00Z) or epoch seconds"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)  # log clocks are read as UTC throughout kansoku
    return dt.timestamp()


def parse_window(params: dict[str, list[str]], now: float | None = None) -> tuple[float | None, float | None]:
    """(start, end) from `since`, `until`, `window` parameters; open sides are None."""
    start = _parse_time(params["since"][-1], "since") if "since" in params else None
    end = _parse_time(params["until"][-1], "until") if "until" in params else None
    if "window" in params:
        spec = params["window"][-1]
        m = _WINDOW_RE.match(spec)
        if m is None:
            raise KansokuError(f"window={spec!r}: expected a number and a unit s, m, h or d (e.g. 6h)")
        span = float(m.group(1)) * _UNIT[m.group(2)]
        if start is None:
            start = (end if end is not None else (now if now is not None else time.time())) - span
        elif end is None:
            end = start + span
    if start is not None and end is not None and start > end:
        raise KansokuError("since is after until: the time window is empty")
    return start, end


def _open_file(target: str) -> LogSource:
    if target.startswith("file:"):
        from urllib.parse import unquote, urlsplit

        path = unquote(urlsplit(target).path)
    else:
        path = target
    store = Path(path).expanduser()
    if not store.is_dir():
        raise KansokuError(f"{store}: no index store here (run `kansoku index PATH` first)")
    from kansoku.tracing.sources.index import IndexSource

    return IndexSource(store)


def _open_es(target: str) -> LogSource:
    from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

    from kansoku.tracing.sources.es import ElasticsearchSource, TimeWindow

    parts = urlsplit(target)
    params = parse_qs(parts.query)
    scheme = parts.scheme
    if scheme.startswith("elasticsearch"):
        http = "https" if scheme.endswith("+https") else "http"
        pattern = unquote(parts.path.strip("/")) or params.get("index", [DEFAULT_INDEX_PATTERN])[-1]
        path = ""
    else:
        http = scheme
        pattern = params.get("index", [DEFAULT_INDEX_PATTERN])[-1]
        path = parts.path
    if not parts.netloc:
        raise KansokuError(f"{target!r}: no host (expected {scheme}://host:9200/...)")
    url = urlunsplit((http, parts.netloc, path, "", ""))
    start, end = parse_window(params)
    return ElasticsearchSource(url, pattern, TimeWindow(start, end))


#: scheme -> how to open it. A bare path has no scheme and is a file store.
OPENERS: dict[str, Callable[[str], LogSource]] = {
    "": _open_file,
    "file": _open_file,
    "elasticsearch": _open_es,
    "elasticsearch+http": _open_es,
    "elasticsearch+https": _open_es,
    "http": _open_es,
    "https": _open_es,
}


_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789+.-")


def _scheme(target: str) -> str:
    """The URL scheme (`[a-z][a-z0-9+.-]*` before `://`), or "" for a path: no regex to compile."""
    head, sep, _ = target.partition("://")
    if sep and head[:1].isalpha() and head[:1].islower() and _SCHEME_CHARS.issuperset(head):
        return head
    return ""


def open_source(url_or_path: str | Path) -> LogSource:
    """The `LogSource` a user named: an index store path or an Elasticsearch URL."""
    target = str(url_or_path)
    scheme = _scheme(target)
    opener = OPENERS.get(scheme)
    if opener is None:
        known = ", ".join(sorted(s for s in OPENERS if s))
        raise KansokuError(f"{target!r}: unknown source scheme {scheme!r} (known: a path, {known})")
    return opener(target)
