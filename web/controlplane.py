"""The OpenStack control plane over time: per service, error rate and p50/p95/p99 latency.

Why buckets computed once per store scan: the overview must render in well under a second
for a large fleet, so the per-service series are built when the data is (re)loaded, never
per request. The answers are the wsgi access lines the tracer's parser reads
(`tracing.parse.parse_access`, the same as `kansoku trace stats`), grouped by service and by
time bucket.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kansoku.health.crosslayer_sources import AccessSample

BUCKETS = 24


@dataclass(frozen=True, slots=True)
class Bucket:
    start: float
    count: int
    errors: int  # 5xx answers
    p50: float | None
    p95: float | None
    p99: float | None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.count if self.count else None


@dataclass(frozen=True)
class ServiceSeries:
    service: str
    total: int
    errors: int
    buckets: tuple[Bucket, ...]


def _percentiles(values: list[float]) -> tuple[float | None, float | None, float | None]:
    if not values:
        return None, None, None
    import numpy as np

    p50, p95, p99 = (float(v) for v in np.percentile(np.asarray(values), [50, 95, 99]))
    return p50, p95, p99


def series(samples: Sequence[AccessSample], buckets: int = BUCKETS) -> list[ServiceSeries]:
    """One series per service (busiest first), each with `buckets` equal time buckets."""
    if not samples:
        return []
    t0 = min(s.ts for s in samples)
    t1 = max(s.ts for s in samples)
    width = max((t1 - t0) / buckets, 1e-6)
    per: dict[str, list[tuple[list[float], list[int]]]] = {}
    for s in samples:
        rows = per.setdefault(s.service, [([], [0, 0]) for _ in range(buckets)])
        durations, counts = rows[min(int((s.ts - t0) / width), buckets - 1)]
        counts[0] += 1
        if s.status >= 500:
            counts[1] += 1
        if s.duration is not None:
            durations.append(s.duration)
    out = []
    for service, rows in per.items():
        bs = tuple(
            Bucket(t0 + i * width, counts[0], counts[1], *_percentiles(durations))
            for i, (durations, counts) in enumerate(rows)
        )
        out.append(ServiceSeries(service, sum(b.count for b in bs), sum(b.errors for b in bs), bs))
    return sorted(out, key=lambda s: (-s.total, s.service))
