"""The per-line reference for `kansoku trace stats` and the comparison every fast path must pass."""

from __future__ import annotations

from kansoku.tracing import stats
from kansoku.tracing.stats.scan import Groups, scan_file


def reference(path: str, service: str) -> stats.StatsInput:
    """What `stats.collect` computed before stats.scan: one AccessInfo per candidate line."""
    out = stats.StatsInput()
    for access in stats.access_infos(stats._stream_lines(path)):
        out.lines += 1
        out.add(service, access)
    return out


def scanned(path: str, service: str, chunk_size: int = 8 << 20) -> Groups:
    """The groups `scan_file` (the fast paths) gives for one file."""
    groups = Groups({}, {}, stats.access_infos)
    scan_file(path, service, groups, chunk_size=chunk_size)
    return groups


def assert_same(ref: stats.StatsInput, got: Groups) -> None:
    """Same lines, groups in first-seen order, and every group's durations in order."""
    assert got.lines == ref.lines
    assert list(got.counts.items()) == list(ref.counts.items())  # first-seen order included
    assert list(got.durations) == list(ref.durations)
    for key, values in ref.durations.items():
        assert got.durations[key] == values, key  # same floats, same order
