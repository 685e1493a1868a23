"""The bulk scan under `kansoku trace stats`: a chunk of access lines grouped without a Python step per line.

An API service's log is mostly access lines (3M in 1 GB), so any per-line Python work
(~1 us) costs more than `grep -c` spends on the whole line. Here one compiled regex
(`findall`, tuples built in C) reads each line's request and status as one `key` and its
time; the keys are joined into one buffer where two `sub` calls make their ids constant
(query strings dropped, `/<uuid>` and `/<32 hex>` segments zeroed), so a chunk holds a few
dozen distinct keys; each is turned into a group once (`route_template`), and counts and
durations per group come from numpy (`bincount`, a stable `argsort`, so every group's
durations keep the file order).

Exactness against the per-line parser (`stats.access_infos`) is proved per chunk, or the
chunk is left to the per-line path (`scan_chunk` returns False here):

* every `"` of the chunk is inside a match (two per match, counted), so every line with a
  quote, which is every line the per-line parser can read as oslo/eventlet, combined or
  JSON access, is a match; each match's first quote is its line's first quote;
* the byte before that quote is a space and the one before it printable ASCII, so
  `stats._from_client` cuts the line at the client and `_OSLO_ACCESS_RE` reads from that
  quote on: the match is anchored at the line's end, so its parse is the only one and
  equals the per-line regex's (the fields are ASCII subsets of what it accepts);
* no `=> generated` (uWSGI lines need no quote) and no line starting with `{` (JSON).
"""

from __future__ import annotations

import gc
import re
from array import array
from typing import TYPE_CHECKING

import numpy as np

from kansoku.tracing.ingest.routes import route_template

if TYPE_CHECKING:
    from kansoku.tracing.stats.groups import GroupKey, Groups

#: An oslo.service / requestlog access line from its request quote to its end. `key` runs
#: from the method to the status (`GET /v2.1/servers/<id> HTTP/1.1" status: 200`); the
#: path is split at a query or fragment so the key can drop it. Possessive: a line off the
#: shape fails fast (and then the quote count sends the chunk the per-line way).
_ACCESS = re.compile(
    rb'(?m)"([A-Z]++ (?=[!#-~])[!$->@-~]*+(?:[?#][!#-~]*+)?+(?: HTTP/[\d.]++)?+" status: \d{3})'
    rb" ++len: (?:\d++|-|None)(?: microversion: [!#-~]++)?+(?: time: (\d++(?:\.\d++)?+))?+\r?$"
)
#: `stats.scan._JSON` for the lines of a buffer, each after a `\n`: the key runs from the
#: method to the status with the quote escaped (`GET /x HTTP/1.1\\" status: 200`).
_JSON_LINES = re.compile(
    rb'\n\{"message": "[!#-\[\]-~]+ \\"([A-Z]+ [!#-\[\]-~]+(?: HTTP/[\d.]+)?\\" status: \d{3})'
    rb" +len: (?:\d+|-|None)(?: microversion: [!#-\[\]-~]+)?(?: time: (\d+(?:\.\d+)?))?"
    rb'", '
)
_QUERY = re.compile(rb"\?[!#-~]*+")
_FRAGMENT = re.compile(rb"#[!#-~]*+")
#: A dashed UUID or a 32-hex keystone id that is a whole path segment, after a `/` (a
#: literal first byte: the engine jumps from slash to slash). Both are ids by the first
#: rule of `route_template`, so zeroing them keeps the route (see `stats.groups._shape`).
_IDS = re.compile(
    rb"/[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    rb'|[0-9a-fA-F]{24}(?=[/ "]))'
)
_ZERO = b"/00000000-0000-0000-0000-000000000000"
_QUOTE, _SPACE = 34, 32


def _provably_exact(data: bytes | bytearray, end: int, matches: int) -> bool:
    """Is every line of `data[:end]` the per-line parser could read one of the `matches`
    (module docstring)?"""
    if data.find(b">", 0, end) != -1 and data.find(b"=> generated", 0, end) != -1:  # `>` is rare
        return False
    if data.find(b"{", 0, end) != -1 and (data[:1] == b"{" or data.find(b"\n{", 0, end) != -1):
        return False
    buf = np.frombuffer(data, dtype=np.uint8, count=end)
    quotes = np.flatnonzero(buf == _QUOTE)
    if len(quotes) != 2 * matches:
        return False
    if not matches:
        return True
    opening = quotes[::2]
    if opening[0] < 2:
        return False
    before = buf[opening - 1]
    client_end = buf[opening - 2]
    return bool(np.all(before == _SPACE)) and bool(np.all((client_end - 33).astype(np.uint8) < 94))


def _group_of(service: str, key: bytes) -> GroupKey:
    """`GET /v2.1/servers/<zeros> HTTP/1.1" status: 200` -> (service, GET, route, 200)."""
    method, rest = key.split(b" ", 1)
    path = rest[: rest.index(b'"')].split(b" ", 1)[0]  # drop the HTTP version
    return (service, method.decode(), route_template(path.decode("ascii")), int(key[-3:]))


def group_for(memo: dict[tuple[str, bytes], GroupKey], service: str, key: bytes) -> GroupKey:
    """The group of a zeroed key, memoised across chunks (the bulk and columnar paths share it)."""
    group = memo.get((service, key))
    if group is None:
        if len(memo) > 65_536:  # keys are few; a flood of odd paths keeps memory bounded
            memo.clear()
        group = memo[(service, key)] = _group_of(service, key)
    return group


def add_counts(counts: dict[GroupKey, int], keyed: list[GroupKey], gids: np.ndarray) -> None:
    """Each group's line count in this chunk (`gids`: each line's index into `keyed`)."""
    for group, n in zip(keyed, np.bincount(gids, minlength=len(keyed)).tolist(), strict=True):
        counts[group] = counts.get(group, 0) + n


def _key_times(pattern: re.Pattern[bytes], data: bytes | bytearray, end: int) -> list[tuple[bytes, bytes]]:
    """`pattern.findall(data, 0, end)`: (key, time) per line, with the collector paused (findall
    makes a tuple per line: no collection passes over millions of them meanwhile)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        found: list[tuple[bytes, bytes]] = pattern.findall(data, 0, end)
        return found
    finally:
        if collecting:
            gc.enable()


def scan_bulk(data: bytes | bytearray, service: str, groups: Groups, end: int) -> bool:
    """Add the access lines of `data[:end]` (whole lines) to `groups` in bulk; False, with
    nothing added, when the chunk is not provably exact (see the module docstring)."""
    found = _key_times(_ACCESS, data, end)
    if not _provably_exact(data, end, len(found)):
        return False
    if found:
        _add_found(found, service, groups)
    return True


def scan_json_lines(lines: bytes, count: int, service: str, groups: Groups) -> bool:
    """Add `count` lines (`lines`: each after a `\\n`) to `groups` in bulk if every one is an
    oslo.log JSON record whose first key is an access `"message"`; False, with nothing added,
    otherwise.

    Each line is matched as `stats.scan._JSON` matches it per line (anchored at the line's
    start, its fields inside the line), so a line matched here gives what it gives there.
    """
    found = _key_times(_JSON_LINES, lines, len(lines))
    if len(found) != count:
        return False
    _add_found(found, service, groups, unescape=True)
    return True


def _add_found(
    found: list[tuple[bytes, bytes]], service: str, groups: Groups, unescape: bool = False
) -> None:
    keys, took = zip(*found, strict=True)
    del found[:]  # the tuples go now, not after the grouping
    joined = b"\n".join(keys)
    _add_lines(joined.replace(b'\\"', b'"') if unescape else joined, took, service, groups)


def _add_lines(joined: bytes, took: tuple[bytes, ...], service: str, groups: Groups) -> None:
    """Count and time the lines whose keys are `joined` (one a line, `\\n` between)."""
    if b"?" in joined:
        joined = _QUERY.sub(b"", joined)
    if b"#" in joined:
        joined = _FRAGMENT.sub(b"", joined)
    lines = _IDS.sub(_ZERO, joined).split(b"\n")
    # distinct keys in first-seen order (dict.fromkeys, in C), then each line's key code
    distinct: dict[bytes, int] = dict.fromkeys(lines, 0)
    for code, key in enumerate(distinct):
        distinct[key] = code
    codes = np.fromiter(map(distinct.__getitem__, lines), dtype=np.intp, count=len(lines))
    # key code -> group index, groups numbered in first-seen order
    memo = groups.bulk_memo
    order: dict[GroupKey, int] = {}
    remap = np.empty(len(distinct), dtype=np.intp)
    for key, code in distinct.items():
        remap[code] = order.setdefault(group_for(memo, service, key), len(order))
    gids = remap[codes]
    keyed = list(order)
    add_counts(groups.counts, keyed, gids)
    _add_durations(keyed, gids, took, groups.durations)
    groups.lines += len(took)


def _add_durations(
    keyed: list[GroupKey], gids: np.ndarray, took: tuple[bytes, ...], durations: dict[GroupKey, array[float]]
) -> None:
    """Each line's `time:` (float() of its digits, as the per-line path) onto its group's
    array, in file order; groups first given a duration in this chunk are added in the order
    of their first timed line."""
    if not all(took):  # a line without `time:`
        timed = np.fromiter(map(bool, took), dtype=bool, count=len(took))
        gids = gids[timed]
        took = tuple(t for t in took if t)
        if not took:
            return
    values = np.fromiter(map(float, took), dtype=np.float64, count=len(took))
    order = np.argsort(gids, kind="stable")
    bounds = np.cumsum(np.bincount(gids, minlength=len(keyed)))
    sorted_values = values[order]
    firsts = np.unique(gids, return_index=True)
    for gid in firsts[0][np.argsort(firsts[1], kind="stable")].tolist():
        start = int(bounds[gid - 1]) if gid else 0
        chunk = sorted_values[start : int(bounds[gid])]
        got = durations.get(keyed[gid])
        if got is None:
            got = durations[keyed[gid]] = array("d")
        got.frombytes(chunk.tobytes())
