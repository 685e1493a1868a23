"""What `kansoku trace` start-up was made cheaper with behaves as what it replaced.

`kansoku.lazyre.LazyPattern` against `re.compile`; `kansoku.tracing.slotted` records against
the dataclasses they replace (equality, hashing, frozenness, copy, pickle, `replace`); the
arithmetic UTC minute of `ingest.fields` against `calendar.timegm`; the substring tests that
let `resources` skip (and never compile) a pattern against the patterns alone, on every
line of a generated demo cloud; `isolate.status_phrase` against `http.HTTPStatus`.
"""

from __future__ import annotations

import calendar
import copy
import dataclasses
import gzip
import pickle
import random
import re
from datetime import datetime
from http import HTTPStatus

import pytest

from kansoku.lazyre import LazyPattern
from kansoku.tracing import resources
from kansoku.tracing.demo.chains import generate_cloud
from kansoku.tracing.ingest.fields import _utc_minute, epoch
from kansoku.tracing.ingest.records import iter_records
from kansoku.tracing.isolate import _PHRASES, status_phrase
from kansoku.tracing.model import LogLine, Span, SpanKey, Verdict, replace
from kansoku.tracing.slotted import FrozenRecord, Record

# --- lazyre ---------------------------------------------------------------------------------


def test_lazy_pattern_compiles_on_first_use_and_then_is_the_compiled_pattern() -> None:
    source = r"(?P<word>[a-z]+)-(\d+)"
    lazy = LazyPattern(source)
    before = dict(lazy.__dict__)
    assert set(before) == {"pattern", "flags"}  # nothing compiled yet
    real = re.compile(source)
    text = "abc-12 x de-3 -4"
    assert lazy.search(text).groupdict() == real.search(text).groupdict()  # type: ignore[union-attr]
    # the first call bound the compiled pattern's own methods: no wrapper on later calls
    assert lazy.search == real.search and lazy.search.__self__ is lazy.compiled()  # type: ignore[attr-defined]
    assert lazy.compiled() is re.compile(source)
    assert lazy.match(text).span() == real.match(text).span()  # type: ignore[union-attr]
    assert lazy.fullmatch("ab-1") is not None and lazy.fullmatch(text) is None
    assert lazy.findall(text) == real.findall(text)
    assert [m.span() for m in lazy.finditer(text, 2)] == [m.span() for m in real.finditer(text, 2)]
    assert lazy.sub(r"\2", text) == real.sub(r"\2", text)
    assert lazy.subn(lambda m: m.group(1).upper(), text, 1) == real.subn(
        lambda m: m.group(1).upper(), text, 1
    )
    assert lazy.split(text) == real.split(text)


@pytest.mark.parametrize("method", ["search", "match", "fullmatch", "findall", "finditer", "split"])
def test_any_first_method_compiles_with_the_flags(method: str) -> None:
    lazy = LazyPattern(rb"^b\w+$", re.MULTILINE | re.IGNORECASE)
    real = re.compile(rb"^b\w+$", re.MULTILINE | re.IGNORECASE)
    got, want = getattr(lazy, method)(b"a\nBcd\nbe"), getattr(real, method)(b"a\nBcd\nbe")
    if method == "finditer":
        got, want = [m.span() for m in got], [m.span() for m in want]
    elif method in ("search", "match", "fullmatch"):
        got, want = got and got.span(), want and want.span()
    assert got == want
    assert lazy.compiled().flags == real.flags


def test_a_bad_lazy_pattern_fails_where_it_is_used() -> None:
    lazy = LazyPattern("(unclosed")
    with pytest.raises(re.error):
        lazy.search("x")


# --- slotted records ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _DataKey:
    service: str
    host: str
    request_id: str


@dataclasses.dataclass(slots=True)
class _DataVerdict:
    root_cause: object
    propagated: list[object]
    explanation: str
    others: list[object] = dataclasses.field(default_factory=list)


def test_frozen_record_behaves_as_a_frozen_dataclass() -> None:
    key, same, other = SpanKey("nova-api", "ctl-1", "req-1"), SpanKey("nova-api", "ctl-1", "req-1"), None
    data = _DataKey("nova-api", "ctl-1", "req-1")
    assert key == same and hash(key) == hash(same) and len({key, same}) == 1
    assert key != SpanKey("nova-api", "ctl-1", "req-2") and key != other
    assert key != data  # another class never compares equal, as with dataclasses
    assert repr(key) == repr(data).replace("_DataKey", "SpanKey")
    with pytest.raises(AttributeError):
        key.host = "ctl-2"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del key.host  # type: ignore[misc]
    with pytest.raises(AttributeError):
        key.extra = 1  # type: ignore[attr-defined]
    for twin in (copy.copy(key), copy.deepcopy(key), pickle.loads(pickle.dumps(key))):
        assert twin == key and hash(twin) == hash(key) and twin is not key
    moved = replace(key, host="ctl-2")
    assert moved == SpanKey("nova-api", "ctl-2", "req-1") and key.host == "ctl-1"


def test_record_behaves_as_a_dataclass() -> None:
    verdict = Verdict(None, [], "no errors")
    data = _DataVerdict(None, [], "no errors")
    assert verdict.others == [] and verdict.others is not Verdict(None, [], "x").others  # a fresh list each
    assert verdict == Verdict(None, [], "no errors") and verdict != Verdict(None, [], "other")
    with pytest.raises(TypeError):
        hash(verdict)  # unhashable, like a non-frozen dataclass with eq=True
    assert repr(data).replace("_DataVerdict", "Verdict") in repr(verdict).replace(", reasons=[]", "").replace(
        ", weak_origin=[], chain=None, suspects=[]", ""
    )
    changed = replace(verdict, explanation="root cause: x", others=[1])
    assert (changed.explanation, changed.others, changed.propagated) == ("root cause: x", [1], [])
    assert verdict.explanation == "no errors"  # replace copies
    with pytest.raises(TypeError, match="no field 'colour'"):
        replace(verdict, colour="red")
    span = Span(SpanKey("a", "b", "c"), 1.0, 2.0)
    assert pickle.loads(pickle.dumps(span)) == span and copy.deepcopy(span) == span
    with pytest.raises(AttributeError):
        span.colour = "red"  # type: ignore[attr-defined]  # slots: no stray attributes


def test_every_model_record_lists_its_fields_in_init_order() -> None:
    """`__slots__` is the field list (equality, repr, replace, pickle read it): it must name
    every parameter of `__init__`, in order, for every record of the model."""
    import inspect

    from kansoku.tracing import model

    records = [
        c
        for c in vars(model).values()
        if isinstance(c, type) and issubclass(c, Record) and c.__module__ == model.__name__
    ]
    assert len(records) == 12
    for cls in records:
        params = list(inspect.signature(cls.__init__).parameters)[1:]
        assert list(cls.__slots__) == params, cls.__name__
    assert issubclass(model.SpanKey, FrozenRecord) and not issubclass(model.Span, FrozenRecord)


def test_log_line_defaults_are_the_dataclass_ones() -> None:
    line = LogLine("f", 1, 0, "nova-api", "ctl-1", None, None, None, None, None, None, None, None, "m", "m")
    assert (line.fmt, line.exception, line.access, line.extra_ids, line.n_lines) == (
        "text",
        None,
        None,
        (),
        1,
    )
    assert line.location == "f:1"


# --- the UTC minute without datetime ---------------------------------------------------------


def _reference(year: int, month: int, day: int, hour: int, minute: int) -> int | None:
    try:
        return calendar.timegm(datetime(year, month, day, hour, minute).timetuple())
    except ValueError:
        return None


def _ours(year: int, month: int, day: int, hour: int, minute: int) -> int | None:
    try:
        return _utc_minute(year, month, day, hour, minute)
    except ValueError:
        return None


def test_utc_minute_is_calendar_timegm_and_refuses_what_datetime_refuses() -> None:
    edges = [
        (y, m, d, h, mi)
        for y in (0, 1, 4, 100, 1600, 1900, 1969, 1970, 2000, 2024, 2100, 9999, 10000)
        for m in (0, 1, 2, 12, 13)
        for d in (0, 1, 28, 29, 30, 31, 32)
        for h in (-1, 0, 23, 24)
        for mi in (0, 59, 60)
    ]
    rnd = random.Random(14)
    drawn = [(rnd.randrange(1, 10000), rnd.randrange(1, 13), rnd.randrange(1, 32), rnd.randrange(24), rnd.randrange(60))
             for _ in range(20000)]  # fmt: skip
    for when in edges + drawn:
        assert _ours(*when) == _reference(*when), when


def test_epoch_of_a_header_date_and_of_a_bad_one() -> None:
    assert epoch("2026-11-20 10:15:32") == calendar.timegm((2026, 11, 20, 10, 15, 32, 0, 0, 0))
    assert epoch("2024-02-29T23:59:60") == calendar.timegm((2024, 3, 1, 0, 0, 0, 0, 0, 0))
    for bad in ("2026-02-30 10:15:32", "2026-13-01 10:15:32", "2026-11-20 24:00:00", "2026-11-20 10:15:61"):
        with pytest.raises(ValueError):
            epoch(bad)


# --- resources: substring tests before the patterns ----------------------------------------------


def _refs_by_patterns_alone(line: LogLine) -> list[tuple[str, str]]:
    """`resources.resource_refs` as it was: every pattern on every line, no substring test."""
    found: list[tuple[str, str]] = []
    if line.instance:
        found.append(("instance", line.instance))
    texts = []
    if line.access is not None:
        texts.append((line.access.path, resources._URL_RES))
    first = line.message.split("\n", 1)[0] if line.fmt != "unparsed" else line.raw.split("\n", 1)[0]
    texts.append((first, resources._MSG_RES))
    for text, table in texts:
        for pattern, kind, _needle in table:
            for m in re.finditer(pattern.pattern, text):
                if (kind, m.group(1)) not in found:
                    found.append((kind, m.group(1)))
    return found


def _refusal_by_patterns_alone(line: LogLine) -> tuple[str, str | None] | None:
    """What the three state patterns alone say: (kind, uuid), as `refusal` reads them."""
    text = line.message if line.fmt != "unparsed" else line.raw
    m = re.search(resources._NOVA_STATE_RE.pattern, text)
    if m:
        return "instance", m.group(1) or m.group(4)
    m = re.search(resources._CINDER_STATE_RE.pattern, text)
    if m:
        return "volume", m.group(1)
    m = re.search(resources._GENERIC_STATE_RE.pattern, text)
    return (m.group(1).lower(), m.group(2)) if m else None


@pytest.fixture(scope="module")
def demo_lines(tmp_path_factory: pytest.TempPathFactory) -> list[LogLine]:
    root = tmp_path_factory.mktemp("demo")
    generate_cloud(root)  # the demo cloud with its two-step faults (refusals of broken resources)
    lines: list[LogLine] = []
    for path in sorted(p for p in root.rglob("*.log*") if p.is_file()):
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as fh:
            lines += [
                x for x in iter_records(fh, str(path), path.name, path.parent.name) if isinstance(x, LogLine)
            ]
    return lines


def test_resource_substring_tests_change_no_answer(demo_lines: list[LogLine]) -> None:
    named = refused = broken = 0
    for line in demo_lines:
        refs = [(r.kind, r.uuid) for r in resources.resource_refs(line)]
        assert refs == _refs_by_patterns_alone(line), line.location
        named += bool(refs)
        found, alone_says = resources.refusal(line), _refusal_by_patterns_alone(line)
        if alone_says is not None:
            assert found is not None and (found.kind, found.resource and found.resource.uuid) == alone_says
        elif found is not None:  # a state exception without a refusal text
            assert found.state == "invalid state", line.location
        refused += found is not None
        first = line.message.split("\n", 1)[0]
        alone = re.search(resources._LEFT_BROKEN_RE.pattern, first) is not None
        assert resources.leaves_broken(line) == alone, line.location
        broken += alone
    # the demo cloud's faults name resources, refuse on a resource's state and break resources
    assert named > 1000 and refused >= 2 and broken >= 2, (named, refused, broken)


U1, U2 = "6f1c9a2e-8b1d-4c3e-9f0a-1b2c3d4e5f60", "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#: Texts for every word and case the resource patterns accept (upstream wordings).
WORDED = [
    f"Attaching volume {U1} to /dev/vdb",
    f"Volume {U1} status must be available to reserve, but the current status is error.",
    f"Volume status must be available or downloading to attach, but the status is error. volume_id={U2}",
    f"Binding failed for port {U1}, please check neutron logs",
    f"Port {U1} is still in use. Network:{U2}",
    f"Instance {U1} could not be found.",
    f"Failed to build: instance_uuid={U2}",
    f"Cannot 'reboot' instance {U1} while it is in vm_state error",
    f"Instance {U1} in vm_state error. Cannot attach_volume while the instance is in this state.",
    f"Server {U1} not found; server group {U2} is full",
    f"Server Group: {U1} policy anti-affinity; Server='{U2}'",
    f"Image {U1} could not be found. imageRef: {U2}",
    f"Image {U1} is not active.",
    f"Network {U1} requires a subnet",
    f"image_id={U1} network_id={U2} port_id={U1}",
    f"iSCSI target iqn.2010-10.org.openstack:volume-{U1}",
    f"port {U1} is in ERROR status; network {U2} is in error state",
    f"Setting instance to ERROR state.; Build of instance {U1} aborted: x",
    f"Instance failed to spawn; Unexpected build failure; Volume {U2}: create failed",
    "Updated volume status to 'error'; setting the volume status to error",
    "nothing to see: a volume of traffic, a support port, an imaginary server",
]


@pytest.mark.parametrize("text", WORDED)
def test_resource_substring_tests_on_every_wording(text: str) -> None:
    line = LogLine(
        "f", 1, 0, "nova-api", "ctl-1", 0.0, 1, "ERROR", "nova", None, "req-1", None, None, text, text
    )
    assert [(r.kind, r.uuid) for r in resources.resource_refs(line)] == _refs_by_patterns_alone(line)
    found, alone_says = resources.refusal(line), _refusal_by_patterns_alone(line)
    assert (found.kind, found.resource and found.resource.uuid) == alone_says if found else alone_says is None
    assert resources.leaves_broken(line) == (re.search(resources._LEFT_BROKEN_RE.pattern, text) is not None)


# --- HTTP status phrases -----------------------------------------------------------------------


def test_status_phrases_are_http_status_phrases() -> None:
    for status, phrase in _PHRASES.items():
        assert HTTPStatus(status).phrase == phrase
    for status in (413, 418, 422, 507):  # not in the table: read from HTTPStatus
        assert status_phrase(status) == HTTPStatus(status).phrase
    assert status_phrase(499) == "HTTP error"
