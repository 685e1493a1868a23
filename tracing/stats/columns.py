"""The columnar scan under `kansoku trace stats`: a chunk of oslo access lines grouped in C.

`stats.bulk` reads each access line with Python's `re` (~0.5 us a line, more than
`grep -c` spends on the whole line). Here no regex runs per line. numpy finds the quotes
and newlines of the chunk; each access line's request `key` (`GET /v2.1/servers/<id>
HTTP/1.1`, between its quotes) and `tail` (`" status: 200 len: 12 time: 0.1`, from its
closing quote to its end) become two Arrow arrays (zero-copy over the chunk, then one
`take` each), and both are made into *forms* by `bytes.translate`: in a key every hex
digit becomes `0` (so all ids read alike), in a tail every digit. Arrow's hash table
(`dictionary_encode`) numbers the distinct forms, a few dozen a chunk, and each form is
judged once in Python:

* a key form says where its query, fragment and ids are: bulk's `_QUERY`, `_FRAGMENT` and
  `_IDS` match a form where they match any key of that form (they tell hex digits only
  from `/`, `-`, space, `"`, `?` and `#`, which the form keeps). Its other hex digits
  (`v2.1`, the `e` of `servers`) are its *residue*: keys of one form and one residue
  differ only in id and query digits, so they have one bulk shape, hence one group;
* a tail form must be bulk's access tail (`_TAIL`) and says where the `time:` digits are;
  Arrow casts them to float (`fast_float`: correctly rounded, as Python's `float`).

Exactness against the per-line parser is bulk's (see `stats.bulk`), proved per chunk or
the chunk is refused (False, nothing added) and goes the bulk way: every `"` of the chunk
is one of a pair on one line, the opening one after a space and a printable client byte,
the closing one followed by an access tail to the line's end; and the first key of each
group matches bulk's key shape with its ids and query inside the path, so every key of the
group does (they differ only in hex digits that the path admits anywhere).
"""

from __future__ import annotations

import re
from array import array
from typing import TYPE_CHECKING, Any

import numpy as np

from kansoku.tracing.stats.bulk import _FRAGMENT, _IDS, _QUERY, _ZERO, add_counts, group_for

if TYPE_CHECKING:
    from kansoku.tracing.stats.groups import GroupKey, Groups

_QUOTE, _NEWLINE, _SPACE = 34, 10, 32
_HEX = b"0123456789abcdefABCDEF"
_HEX_FORM = bytes(48 if c in _HEX else c for c in range(256))
_DIGIT_FORM = bytes(48 if 48 <= c <= 57 else c for c in range(256))
#: bulk's `_ACCESS` between the quotes: group 1 is the method and the path (ids and query in it).
_KEY = re.compile(rb"([A-Z]++ (?=[!#-~])[!$->@-~]*+(?:[?#][!#-~]*+)?+)(?: HTTP/[\d.]++)?+")
#: bulk's `_ACCESS` from the closing quote to the line's end: group 1 is the time.
_TAIL = re.compile(
    rb'" status: \d{3} ++len: (?:\d++|-|None)(?: microversion: [!#-~]++)?+(?: time: (\d++(?:\.\d++)?+))?+\r?'
)
#: bulk's `_IDS` on a key form followed by its `"` (a hex digit is `0` in a form).
_IDS_FORM = re.compile(rb'/0{8}(?:-0{4}-0{4}-0{4}-0{12}|0{24}(?=[/ "]))')
#: A chunk with more key forms, or (form, residue, status) groups, than its lines / this
#: varies in names, not ids: a Python step for each would cost more than bulk's regex.
_LINES_PER_FORM = 16
_FORMS_FREE = 64  # ... beyond these (a small chunk may have few lines of many requests)
_MEMO_MAX = 4096


class _Plan:
    """What a key form says: its residue (positions) and how far its id and query digits reach."""

    __slots__ = ("reach", "residue")

    def __init__(self, form: bytes) -> None:
        quoted = form + b'"'  # as bulk's key continues
        hidden = [False] * len(quoted)  # dropped (query, fragment) or zeroed (ids)
        kept = list(range(len(quoted)))
        for pattern in (_QUERY, _FRAGMENT, _IDS_FORM):  # bulk's order: each on what is left
            text = bytes(quoted[i] for i in kept)
            for m in pattern.finditer(text):
                start = m.start() + (pattern is _IDS_FORM)  # an id's `/` stays
                for j in range(start, m.end()):
                    hidden[kept[j]] = True
            kept = [i for i in kept if not hidden[i]]
        digits = [i for i, c in enumerate(form) if c == 48]
        self.residue = np.array([i for i in digits if not hidden[i]], dtype=np.intp)
        self.reach = max((i + 1 for i in digits if hidden[i]), default=0)


class _Forms:
    """This process's memos of key and tail forms (they repeat across chunks and files)."""

    def __init__(self) -> None:
        self.keys: dict[bytes, _Plan] = {}
        self.tails: dict[bytes, tuple[int, int] | None] = {}

    def plan(self, form: bytes) -> _Plan:
        found = self.keys.get(form)
        if found is None:
            if len(self.keys) > _MEMO_MAX:
                self.keys.clear()
            found = self.keys[form] = _Plan(form)
        return found

    def tail(self, form: bytes) -> tuple[int, int] | None:
        """The time digits' (start, end), (-1, -1) without `time:`; None off the access tail."""
        if form in self.tails:
            return self.tails[form]
        m = _TAIL.fullmatch(form)
        found = None if m is None else m.span(1)  # (-1, -1) when the group did not take part
        if len(self.tails) > _MEMO_MAX:
            self.tails.clear()
        self.tails[form] = found
        return found


_FORMS = _Forms()
_SCRATCH: dict[str, np.ndarray] = {}


def _scratch(name: str, size: int, dtype: type[np.generic]) -> np.ndarray:
    """A reused array of `size` (a fresh one per chunk costs its page faults again)."""
    got = _SCRATCH.get(name)
    if got is None or len(got) < size:
        got = _SCRATCH[name] = np.empty(max(size, 1 << 20), dtype=dtype)
    return got[:size]


def preload() -> None:
    """Import what `scan_columns` imports on its first chunk (before forking workers)."""
    import pyarrow._compute  # noqa: F401 - pyarrow with it


def scan_columns(data: bytes | bytearray, service: str, groups: Groups, end: int) -> bool:
    """Add the access lines of `data[:end]` (whole lines) to `groups`; False, with nothing
    added, when the chunk is not provably exact (module docstring)."""
    if end >= 1 << 31:  # Arrow's binary offsets are 32-bit (a chunk is 4 MiB unless a line is longer)
        return False
    if data.find(b">", 0, end) != -1 and data.find(b"=> generated", 0, end) != -1:  # uWSGI
        return False
    if data.find(b"{", 0, end) != -1 and (data[:1] == b"{" or data.find(b"\n{", 0, end) != -1):  # JSON
        return False
    buf = np.frombuffer(data, dtype=np.uint8, count=end)
    # quotes (0x22) and newlines (0x0a) in two passes, not three: both are 0x2a once 0x28 is
    # or-ed in, as are 0x02 and `*` (0x2a), dropped after
    spread, marks = _scratch("spread", end, np.uint8), _scratch("marks", end, np.bool_)
    np.bitwise_or(buf, 0x28, out=spread)
    np.equal(spread, 0x2A, out=marks)
    at = np.flatnonzero(marks)  # every quote and newline, in order (and any 0x02 or `*`)
    token = buf[at]
    wanted = (token == _QUOTE) | (token == _NEWLINE)
    if not wanted.all():
        at, token = at[wanted], token[wanted]
    quote = np.flatnonzero(token == _QUOTE)  # which of them are quotes
    if len(quote) % 2:
        return False
    if not len(quote):
        return True
    first, second = quote[0::2], quote[1::2]
    # pairs: no newline between, a newline (or the chunk's end) right after
    if not np.array_equal(second, first + 1):
        return False
    after = second + 1
    ends = np.append(at, end)[after] if after[-1] == len(at) else at[after]
    if not np.all(buf[np.minimum(ends, end - 1)][ends < end] == _NEWLINE):
        return False
    opening, closing = at[first], at[second]
    if opening[0] < 2:
        return False
    if not (np.all(buf[opening - 1] == _SPACE) and np.all((buf[opening - 2] - 33).astype(np.uint8) < 94)):
        return False
    return _group(data, opening, closing, ends, service, groups)


def _group(
    data: bytes | bytearray,
    opening: np.ndarray,
    closing: np.ndarray,
    ends: np.ndarray,
    service: str,
    groups: Groups,
) -> bool:
    import pyarrow as pa
    import pyarrow._compute as pc  # the kernels without pyarrow.compute's wrappers (70 ms to import)

    n = len(opening)
    # zero-copy over the chunk: key, tail, gap (to the next key), key, tail, gap ...
    offsets = np.empty(3 * n, dtype=np.int32)
    offsets[0::3] = opening + 1
    offsets[1::3] = closing
    offsets[2::3] = ends
    pieces = pa.Array.from_buffers(
        pa.binary(), 3 * n - 1, [None, pa.py_buffer(offsets), pa.py_buffer(memoryview(data)[: int(ends[-1])])]
    )
    every = np.arange(0, 3 * n, 3)
    keys = pc.call_function("take", [pieces, _indices(pa, every)])
    tails = pc.call_function("take", [pieces, _indices(pa, every + 1)])
    del pieces  # no view of `data` outlives this call (the caller refills or grows it)
    key_offsets = np.frombuffer(keys.buffers()[1], dtype=np.int32, count=n + 1)
    key_bytes = bytes(keys.buffers()[2])
    tail_offsets = np.frombuffer(tails.buffers()[1], dtype=np.int32, count=n + 1)
    tail_bytes = bytes(tails.buffers()[2])
    key_codes, key_forms = _encode(pa, pc, keys.buffers()[1], key_bytes.translate(_HEX_FORM), n)
    if len(key_forms) > _FORMS_FREE + n // _LINES_PER_FORM:
        return False
    tail_codes, tail_forms = _encode(pa, pc, tails.buffers()[1], tail_bytes.translate(_DIGIT_FORM), n)
    took = _times(pa, pc, tail_codes, tail_forms, tail_offsets, tail_bytes)
    if took is None:
        return False
    residue = _residues(key_codes, key_forms, key_offsets, key_bytes)
    # the status digits (checked by the tail forms) after `" status: `
    tail_start = tail_offsets[:-1]
    digit = np.frombuffer(tail_bytes, dtype=np.uint8)
    hundreds, tens, ones = (digit[tail_start + i].astype(np.intp) for i in (10, 11, 12))
    status = hundreds * 100 + tens * 10 + ones - 48 * 111
    sub, sub_firsts = _first_seen(residue * 1000 + status)
    if len(sub_firsts) > _FORMS_FREE + n // _LINES_PER_FORM:  # names that differ in digits (`m1.x1`, `m1.x2`)
        return False
    memo = groups.bulk_memo
    order: dict[GroupKey, int] = {}
    remap = np.empty(len(sub_firsts), dtype=np.intp)
    for code, line in enumerate(sub_firsts.tolist()):
        key = key_bytes[key_offsets[line] : key_offsets[line + 1]]
        m = _KEY.fullmatch(key)
        if m is None or _FORMS.plan(key.translate(_HEX_FORM)).reach > m.end(1):
            return False
        whole = key + tail_bytes[tail_offsets[line] : tail_offsets[line] + 13]  # bulk's key
        shape = _IDS.sub(_ZERO, _FRAGMENT.sub(b"", _QUERY.sub(b"", whole)))
        remap[code] = order.setdefault(group_for(memo, service, shape), len(order))
    gids = remap[sub]
    keyed = list(order)
    add_counts(groups.counts, keyed, gids)
    _add_durations(keyed, gids, took, groups.durations)
    groups.lines += n
    return True


def _indices(pa: Any, values: np.ndarray) -> Any:
    """An Arrow int64 array over `values` (`pa.array` would import pandas to check its type)."""
    values = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def _encode(pa: Any, pc: Any, offsets: Any, form: bytes, n: int) -> tuple[np.ndarray, list[bytes]]:
    """Each line's form number (first-seen order) and the forms."""
    arr = pa.Array.from_buffers(pa.binary(), n, [None, offsets, pa.py_buffer(form)])
    encoded = pc.call_function("dictionary_encode", [arr])
    codes = np.frombuffer(encoded.indices.buffers()[1], dtype=np.int32, count=n)
    return codes, encoded.dictionary.to_pylist()


def _times(
    pa: Any, pc: Any, codes: np.ndarray, forms: list[bytes], offsets: np.ndarray, tails: bytes
) -> np.ndarray | None:
    """Each line's `time:` (NaN without one); None if a tail form is not an access tail."""
    starts = np.full(len(forms), -1, dtype=np.int64)
    ends = np.full(len(forms), -1, dtype=np.int64)
    for i, form in enumerate(forms):
        span = _FORMS.tail(form)
        if span is None:
            return None
        starts[i], ends[i] = span
    timed = starts[codes] >= 0
    every = bool(timed.all())  # the common case: no index arrays, no NaN to fill
    if not every and not timed.any():
        return np.full(len(codes), np.nan)
    lines = timed if every else np.flatnonzero(timed)  # (a mask where every line is timed)
    at, line_codes = (offsets[:-1], codes) if every else (offsets[lines], codes[lines])
    spans = np.empty(2 * len(at), dtype=np.int32)
    spans[0::2] = at + starts[line_codes]
    spans[1::2] = at + ends[line_codes]
    text = pa.Array.from_buffers(
        pa.binary(), 2 * len(at) - 1, [None, pa.py_buffer(spans), pa.py_buffer(tails)]
    )
    digits = pc.call_function("take", [text, _indices(pa, np.arange(0, 2 * len(at), 2))])
    try:
        values = pc.call_function("cast", [digits], pc.CastOptions.safe(pa.float64()))
    except pa.ArrowInvalid:  # not met on `\d+(\.\d+)?` (1e400 gives inf, as float()): bulk decides
        return None
    found = np.frombuffer(values.buffers()[1], dtype=np.float64, count=len(at))
    if every:
        return found
    took = np.full(len(codes), np.nan)
    took[lines] = found
    return took


def _residues(codes: np.ndarray, forms: list[bytes], offsets: np.ndarray, keys: bytes) -> np.ndarray:
    """Each line's (form, residue) number: its form's, or one past the forms when its form's
    keys differ in a residue digit (`/flavors/abc` and `/flavors/def` share a form)."""
    if len(forms) < 65_536:  # a radix sort
        by_form = np.argsort(codes.astype(np.uint16), kind="stable")
    else:
        by_form = np.argsort(codes, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(codes, minlength=len(forms)))))
    key_bytes = np.frombuffer(keys, dtype=np.uint8)
    residue = codes.astype(np.intp)
    extra = len(forms)
    for form_no, form in enumerate(forms):
        positions = _FORMS.plan(form).residue
        if not len(positions):
            continue
        lines = by_form[bounds[form_no] : bounds[form_no + 1]]
        rows = key_bytes[offsets[lines][:, None] + positions]
        if np.all(rows == rows[0]):
            continue
        packed = np.ascontiguousarray(rows).view(np.dtype((np.void, rows.shape[1]))).ravel()
        inverse = np.unique(packed, return_inverse=True)[1].ravel()
        numbers = np.arange(extra, extra + inverse.max() + 1)
        extra += len(numbers)
        residue[lines] = numbers[inverse]
    return residue


def _first_seen(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(code of each value, numbered in first-seen order; the first index of each code)."""
    narrow = values.astype(np.uint16) if values.max() < 65_536 else values
    order = np.argsort(narrow, kind="stable")  # a radix sort when narrow
    ordered = values[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    firsts = order[starts]  # stable: each value's first line
    rank = np.argsort(firsts, kind="stable")
    code_of_run = np.empty(len(starts), dtype=np.intp)
    code_of_run[rank] = np.arange(len(starts))
    codes = np.empty(len(values), dtype=np.intp)
    codes[order] = np.repeat(code_of_run, np.diff(np.append(starts, len(values))))
    return codes, firsts[rank]


def _add_durations(
    keyed: list[GroupKey], gids: np.ndarray, took: np.ndarray, durations: dict[GroupKey, array[float]]
) -> None:
    """Each timed line's duration onto its group's array, in file order; groups first given a
    duration here are added in the order of their first timed line (as `stats.bulk`)."""
    timed = ~np.isnan(took)
    if not timed.all():
        gids, took = gids[timed], took[timed]
    if not len(took):
        return
    order = np.argsort(gids.astype(np.uint16) if len(keyed) < 65_536 else gids, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(gids, minlength=len(keyed)))))
    ordered = took[order]
    present = np.flatnonzero(bounds[1:] > bounds[:-1])
    for gid in present[np.argsort(order[bounds[present]], kind="stable")].tolist():
        got = durations.get(keyed[gid])
        if got is None:
            got = durations[keyed[gid]] = array("d")
        got.frombytes(ordered[bounds[gid] : bounds[gid + 1]].tobytes())
