"""Prometheus configuration for sharded collectors under federation.

One Prometheus next to each collector shard scrapes it; one global Prometheus federates them
(`/federate`, `honor_labels`) and carries the two rules that make a lost shard visible:
`KansokuCollectorDown` (the shard's `up == 0`, federated) and `KansokuClusterStale` (a cluster
that had check series within the window and has none now). Written as data so that
`kansoku collect scrape-config` and the federation test use the very same configuration.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from kansoku.errors import KansokuError

from .shard import Shard

COLLECTOR_JOB = "kansoku"
FEDERATE_JOB = "kansoku-federate"


def shard_prometheus_config(
    collector_target: str, shard: Shard, scrape_interval: str = "30s", scrape_timeout: str = "25s"
) -> dict[str, object]:
    """prometheus.yml of the Prometheus next to one collector shard."""
    return {
        "global": {"scrape_interval": scrape_interval, "scrape_timeout": scrape_timeout},
        "scrape_configs": [
            {
                "job_name": COLLECTOR_JOB,
                # the collector's own `shard` label and the target's are the same value; honour
                # the scraped ones so they are not renamed to exported_shard
                "honor_labels": True,
                "static_configs": [{"targets": [collector_target], "labels": {"shard": shard.label}}],
            }
        ],
    }


def global_prometheus_config(
    shard_prometheus_targets: list[str],
    rule_file: str = "kansoku-federation.rules.yml",
    scrape_interval: str = "30s",
    scrape_timeout: str = "25s",
) -> dict[str, object]:
    """prometheus.yml of the global Prometheus that federates every shard's Prometheus.

    `honor_labels` keeps the shards' `job`, `instance`, `shard` and `cluster` labels; the
    `up{job="kansoku"}` of each shard is federated too, so a stopped collector is seen
    globally as `up == 0`, not as an absence.
    """
    return {
        "global": {
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_timeout,
            "evaluation_interval": scrape_interval,
        },
        "rule_files": [rule_file],
        "scrape_configs": [
            {
                "job_name": FEDERATE_JOB,
                "honor_labels": True,
                "metrics_path": "/federate",
                "params": {"match[]": [f'{{job="{COLLECTOR_JOB}"}}']},
                "static_configs": [{"targets": list(shard_prometheus_targets)}],
            }
        ],
    }


def federation_rules(down_for: str = "2m", stale_after: str = "2m", window: str = "1h") -> dict[str, object]:
    """Alert rules for the global Prometheus: a collector down, and its clusters gone stale.

    `KansokuClusterStale` fires for every cluster that had check series within `window` but
    no sample newer than `stale_after`: the clusters of a stopped shard are named one by one,
    never silently missing from the fleet view.

    Why sample timestamps and not absence: federated samples carry their original timestamps,
    and Prometheus does not write staleness markers for samples with explicit timestamps, so
    a dead shard's series stay visible globally for the 5-minute lookback; only their age
    tells that they stopped.
    """
    sel = f'kansoku_check_state{{job="{COLLECTOR_JOB}"}}'
    return {
        "groups": [
            {
                "name": "kansoku-federation",
                "rules": [
                    {
                        "alert": "KansokuCollectorDown",
                        "expr": f'up{{job="{COLLECTOR_JOB}"}} == 0',
                        "for": down_for,
                        "labels": {"severity": "critical"},
                        "annotations": {
                            "summary": "kansoku collector shard {{ $labels.shard }} is down",
                            "description": "The Prometheus of shard {{ $labels.shard }} cannot scrape "
                            "its collector ({{ $labels.instance }}); the clusters this shard owns are "
                            "not checked (see KansokuClusterStale).",
                        },
                    },
                    {
                        "alert": "KansokuClusterStale",
                        "expr": (
                            f"group by (cluster, shard) (last_over_time({sel}[{window}])) "
                            f"unless on (cluster) group by (cluster) (time() - timestamp({sel}) < {_seconds(stale_after)})"
                        ),
                        "labels": {"severity": "warning"},
                        "annotations": {
                            "summary": "cluster {{ $labels.cluster }} has no current check data",
                            "description": "Cluster {{ $labels.cluster }} was checked by shard "
                            "{{ $labels.shard }} within the last "
                            + window
                            + " but has no sample newer than "
                            + stale_after
                            + ": its collector is down or no longer owns it.",
                        },
                    },
                ],
            }
        ]
    }


def _seconds(duration: str) -> int:
    """A Prometheus duration of one unit (`90s`, `2m`, `1h`) in seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    if len(duration) < 2 or duration[-1] not in units or not duration[:-1].isdigit():
        raise KansokuError(f"duration {duration!r}: expected a number and one of s, m, h (e.g. 2m)")
    return int(duration[:-1]) * units[duration[-1]]


def write_federation(out: Path, shards: int, collectors: list[str], prometheus: list[str]) -> list[Path]:
    """Write `shard-<i>.prometheus.yml`, `global.prometheus.yml` and the global rule file."""
    if shards < 1:
        raise KansokuError(f"--shards {shards}: at least 1")
    collectors = collectors or [f"127.0.0.1:{9478 + i}" for i in range(shards)]
    prometheus = prometheus or [f"127.0.0.1:{9090 + i}" for i in range(shards)]
    for name, given in (("--collector", collectors), ("--prometheus", prometheus)):
        if len(given) != shards:
            raise KansokuError(f"{name}: {len(given)} given for {shards} shards; give one per shard")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i in range(shards):
        path = out / f"shard-{i}.prometheus.yml"
        cfg = shard_prometheus_config(collectors[i], Shard(i, shards))
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        written.append(path)
    rules = out / "kansoku-federation.rules.yml"
    rules.write_text(yaml.safe_dump(federation_rules(), sort_keys=False))
    glob = out / "global.prometheus.yml"
    glob.write_text(yaml.safe_dump(global_prometheus_config(prometheus, rules.name), sort_keys=False))
    return [*written, glob, rules]
