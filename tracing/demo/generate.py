"""The demo cloud: a realistic multi-host OpenStack log tree with injected faults of known kind.

Why a generator and not recorded logs: the demo, the end-to-end tests and the 1 GB benchmark
all need logs whose answer is known (a ground-truth file), in the formats OpenStack really
writes, at any size, identical for one seed. Everything in this package mirrors upstream behaviour read
from the installed sources:

* text lines follow oslo.log's defaults (``_options.py``): the context format
  ``%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s [%(global_request_id)s
  %(request_id)s %(user_identity)s] %(instance)s%(message)s`` where a missing global id prints
  ``None`` and the user identity has six fields (``user project domain system_scope
  user_domain project_domain``, false values as ``-``); ``[-]`` without a context; the DEBUG
  suffix ``funcName pathname:lineno``; ``: <error summary>`` after WARNING+ messages logged
  inside an ``except``; tracebacks with every line prefixed by ``logging_exception_prefix``
  (which says ERROR whatever the record's level);
* one service (cinder-volume, an older release on the storage node) writes the older form
  without the global id: ``[req-... user project - - -]``;
* JSON services (placement-api and neutron-server by default) write oslo.log's JSONFormatter
  objects, one per line, with the context nested under ``context``;
* id propagation as real OpenStack: every service makes its own ``req-`` id per incoming
  request; the incoming ``X-OpenStack-Request-ID`` becomes its global id; nova passes its
  RequestContext over RPC (conductor, scheduler and compute log nova-api's ids); nova calls
  placement/neutron/glance/cinder with ``context.global_id`` and logs the callee's returned id
  ("... used request id req-..."); keystonemiddleware's token validation is logged by keystone
  under its own id with no global id.

This module runs the traffic and writes the files; the pieces are rooms of their own:
`catalog` (services, upstream source locations), `writer` (the oslo.log writer), `cloud`
(state, ids, HTTP calls), `traffic` (the background mix), `boot`/`spawn` (server creates),
`faults` (the fault table), `periodic`, `chains` (two-step faults), `truth` (ground truth).
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kansoku.errors import KansokuError
from kansoku.tracing.demo.boot import boot
from kansoku.tracing.demo.cloud import Cloud
from kansoku.tracing.demo.faults import FAULTS, inject_fault
from kansoku.tracing.demo.periodic import periodic
from kansoku.tracing.demo.traffic import background_request
from kansoku.tracing.demo.truth import BigRequest, FaultRecord, GroundTruth, Tracker

#: The demo's clock starts here (UTC, written as the hosts' local time).
DEFAULT_START = datetime(2026, 11, 20, 6, 0, 0, tzinfo=UTC).timestamp()
DEFAULT_SEED = 20261120
#: Requests per simulated second (background traffic mix).
REQUEST_RATE = 4.0
#: How many requests are generated between flushes to disk.
BATCH = 1500
#: A request starting at t logs nothing before t - FLUSH_MARGIN (keystone checks come first).
FLUSH_MARGIN = 1.0
#: Rotation: each file ends as <svc>.log.2.gz (oldest), <svc>.log.1, <svc>.log (newest).
SEGMENTS = 3

DEFAULT_JSON_SERVICES = frozenset({"placement-api", "neutron-server"})

DEFAULT_LEGACY_SERVICES = frozenset({"cinder-volume"})


def _finish_files(cloud: Cloud, out_dir: Path) -> dict[tuple[str, str, int], str]:
    """Rename segments to logrotate names: newest .log, then .log.1, then .log.2.gz (gzip)."""
    names: dict[tuple[str, str, int], str] = {}
    for log in cloud.logs.values():
        log.close()
        n = len(log.seg_paths)
        for i, path in enumerate(log.seg_paths):
            age = n - 1 - i
            base = out_dir / log.host / f"{log.service}.log"
            if age == 0:
                final = base
                path.rename(final)
            elif age == 1:
                final = base.with_name(base.name + ".1")
                path.rename(final)
            else:
                final = base.with_name(f"{base.name}.{age}.gz")
                # mtime=0 and no file name in the header: the same seed gives the same bytes
                with (
                    open(path, "rb") as src,
                    open(final, "wb") as raw,
                    gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=1, mtime=0) as dst,
                ):
                    shutil.copyfileobj(src, dst, 1 << 20)
                path.unlink()
            names[(log.host, log.service, i)] = str(final.relative_to(out_dir))
    return names


def _clear_previous_demo(out: Path) -> None:
    """Remove an earlier demo cloud's logs; refuse to touch a directory that holds other logs.

    The generator rewrites `<host>/<service>.log*` names; pointed by mistake at a real log
    tree (``/var/log``) it must not delete anything, so only a directory with our
    ``ground-truth.json`` (or without logs) is accepted.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise KansokuError(f"{out}: cannot create the output directory ({err.strerror})") from None
    logs = list(out.glob("*/*.log*"))
    if logs and not (out / "ground-truth.json").exists():
        raise KansokuError(
            f"{out}: holds log files ({logs[0]}) but no ground-truth.json: not a demo cloud, "
            "refusing to overwrite; choose an empty directory"
        )
    for stale in logs:
        stale.unlink()


def generate(
    out_dir: Path | str,
    *,
    seed: int = DEFAULT_SEED,
    scale: int = 1,
    target_bytes: int | None = None,
    json_services: frozenset[str] = DEFAULT_JSON_SERVICES,
    legacy_services: frozenset[str] = DEFAULT_LEGACY_SERVICES,
    big_request: bool = True,
    extra: Mapping[str, tuple[float, Injector]] | None = None,
) -> GroundTruth:
    """Write the demo cloud's log tree and ``ground-truth.json`` into `out_dir`.

    `scale` multiplies hosts (4 compute hosts per unit) and traffic (3,000 requests per unit);
    `target_bytes`, when given, keeps generating traffic until about that many bytes are
    written (the 1 GB benchmark corpus). `extra`: more faults, kind -> (fraction of the
    traffic, injector), written in addition to the traffic into `chain_faults` (the demo's
    two-step faults: `tracing.demo.chains.generate_cloud`). The same arguments always give
    the same bytes.
    """
    out = Path(out_dir)
    if scale < 1:
        raise KansokuError(f"scale must be >= 1, not {scale}")
    _clear_previous_demo(out)
    cloud = Cloud(out, seed, scale, json_services, legacy_services, DEFAULT_START)
    rng = cloud.rng
    n_requests = 3000 * scale
    if target_bytes is not None:
        # about 4.5 kB of logs per request: place faults and rotations across the whole corpus
        n_requests = max(n_requests, target_bytes // 4500)
    t = DEFAULT_START
    # Faults (and the big request) sit at fixed fractions of the traffic, so some land in the
    # rotated and gzipped files: a trace must read those too.
    fault_at = {int(n_requests * f.at): f.kind for f in FAULTS}
    big_at = int(n_requests * 0.5) if big_request else -1
    chain_at = {int(n_requests * f): (k, inject) for k, (f, inject) in (extra or {}).items()}
    chain_faults: list[FaultRecord] = []
    faults: list[FaultRecord] = []
    trackers: list[tuple[FaultRecord, Tracker]] = []
    big: tuple[Tracker, dict[str, Any]] | None = None
    rotations = [int(n_requests * f) for f in (1 / 3, 2 / 3)]
    i = 0
    last_flush_t = t
    while True:
        if i >= n_requests and (
            target_bytes is None or sum(log.bytes for log in cloud.logs.values()) >= target_bytes
        ):
            break
        t += rng.expovariate(REQUEST_RATE)
        if i in rotations:
            periodic(cloud, last_flush_t, t)
            last_flush_t = t
            cloud.flush(t - FLUSH_MARGIN)
            cloud.rotate()
        kind = fault_at.get(i)
        if kind is not None:
            rec, tracker = inject_fault(cloud, kind, t)
            faults.append(rec)
            trackers.append((rec, tracker))
        elif i == big_at:
            tr = Tracker(cloud.req())
            ctx = cloud.ctx_user(tr, tr.request_id)
            info = boot(cloud, t, ctx, count=70, from_volume=True)
            big = (tr, info)
        else:
            background_request(cloud, t)
        extra_at = chain_at.get(i)
        if extra_at is not None:
            # in addition to the request at i (the injector draws from its own random stream)
            rec, tracker = extra_at[1](cloud, extra_at[0], t, seed)
            chain_faults.append(rec)
            trackers.append((rec, tracker))
        i += 1
        if i % BATCH == 0:
            periodic(cloud, last_flush_t, t)
            last_flush_t = t
            cloud.flush(t - FLUSH_MARGIN)
    periodic(cloud, last_flush_t, t + 120)
    cloud.flush(None)
    names = _finish_files(cloud, out)
    for rec, tracker in trackers:
        rec.services = sorted(f"{s}@{h}" for s, h in tracker.direct)
        rec.reachable = sorted(f"{s}@{h}" for s, h in tracker.indirect if (s, h) not in tracker.direct)
        rec.files = sorted({names[k] for k in tracker.segments if k in names})
    big_rec = None
    if big is not None:
        tr, _ = big
        services = sorted({s for s, _ in tr.direct} | {s for s, _ in tr.indirect})
        big_rec = BigRequest(
            tr.request_id, services, tr.lines, sorted({names[k] for k in tr.segments if k in names})
        )
    files = sorted(names.values())
    gt = GroundTruth(
        seed=seed,
        scale=scale,
        start=datetime.fromtimestamp(DEFAULT_START, UTC).isoformat(),
        end=datetime.fromtimestamp(t, UTC).isoformat(),
        hosts=cloud.hosts,
        json_services=sorted(json_services),
        legacy_services=sorted(legacy_services),
        files=files,
        total_bytes=sum(log.bytes for log in cloud.logs.values()),
        total_lines=sum(log.lines for log in cloud.logs.values()),
        requests=i,
        faults=faults,
        big_request=big_rec,
        chain_faults=chain_faults,
    )
    (out / "ground-truth.json").write_text(gt.to_json())
    return gt


#: An extra fault: (cloud, kind, time, seed) -> its ground truth and the tracker of its reported id.
Injector = Callable[["Cloud", str, float, int], tuple[FaultRecord, Tracker]]


def main(argv: list[str] | None = None) -> None:
    """``python -m kansoku.tracing.demo OUT [--scale N] [--bytes N] [--seed N]``."""
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--scale", type=int, default=1)
    p.add_argument("--bytes", type=int, default=None)
    a = p.parse_args(argv)
    try:
        gt = generate(a.out, seed=a.seed, scale=a.scale, target_bytes=a.bytes)
    except KansokuError as err:
        raise SystemExit(f"error: {err}") from None
    print(f"{gt.total_lines} lines, {gt.total_bytes} bytes, {len(gt.files)} files in {a.out}")
