"""The OpenStack control plane over time: per service, error rate and p50/p95/p99 latency.

Why buckets computed once per store scan: the overview must render in well under a second
for a large fleet, so the per-service series are built when the data is (re)loaded, never
per request. The answers are the wsgi access lines the tracer's parser reads
(`tracing.parse.parse_access`, the same as `kansoku trace stats`), grouped by service and by
time bucket.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kansoku.health.crosslayer.sources import AccessSamples

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


def series(samples: Mapping[str, AccessSamples], buckets: int = BUCKETS) -> list[ServiceSeries]:
    """One series per service (busiest first), each with `buckets` equal time buckets over the
    time span of all services (so the charts share one x axis)."""
    import numpy as np

    data = {
        svc: (np.frombuffer(s.ts, dtype=np.float64), np.frombuffer(s.duration, dtype=np.float64),
              np.frombuffer(s.status, dtype=np.uint16))
        for svc, s in samples.items() if len(s.ts)
    }  # fmt: skip
    if not data:
        return []
    t0 = min(float(ts.min()) for ts, _, _ in data.values())
    t1 = max(float(ts.max()) for ts, _, _ in data.values())
    width = max((t1 - t0) / buckets, 1e-6)
    out = []
    for service, (ts, dur, status) in data.items():
        index = np.minimum(((ts - t0) / width).astype(np.int64), buckets - 1)
        bs = []
        for i in range(buckets):
            mask = index == i
            d = dur[mask]
            d = d[~np.isnan(d)]
            pct = [float(v) for v in np.percentile(d, [50, 95, 99])] if len(d) else [None, None, None]
            bs.append(Bucket(t0 + i * width, int(mask.sum()), int((status[mask] >= 500).sum()), *pct))
        out.append(ServiceSeries(service, len(ts), int((status >= 500).sum()), tuple(bs)))
    return sorted(out, key=lambda s: (-s.total, s.service))
