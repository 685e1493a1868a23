"""Benchmark: the Elasticsearch shape, `kansoku ship`, and `ElasticsearchSource` paging.

No Elasticsearch runs here, so the network figures are against the tests' loopback server
(a Python `http.server`, which itself costs time: they are lower bounds for our side).
Every figure is a ratio against a baseline measured in the same run on the same data:

* shape (file -> document): `es_shape.to_document` per record vs the parser (`parse_record`)
  that every source runs anyway;
* read (document -> LogLine): `read_document` + `parse_record` vs `parse_record` on the raw text;
* ship: files -> bulk actions (read, group, shape) and files -> loopback ES, vs reading and
  grouping the same files only (`iter_records`);
* trace: `lines_for` one request id whose lines are all in the index (PIT + search_after,
  1000-hit pages) vs `grep -F` for the id over the same lines in one file.

Run: `.venv/bin/python bench/bench_elasticsearch.py [--quick]`; writes bench/results/elasticsearch.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from machine import cpu_model  # noqa: E402

from kansoku.tracing import es_shape  # noqa: E402
from kansoku.tracing.ingest.files import read_chunks  # noqa: E402
from kansoku.tracing.ingest.parse import parse_record  # noqa: E402
from kansoku.tracing.ingest.records import iter_records  # noqa: E402
from kansoku.tracing.model import LogLine  # noqa: E402
from kansoku.tracing.ship import ShipReport, _lines, actions, ship  # noqa: E402
from kansoku.tracing.sources.es import ElasticsearchSource  # noqa: E402
from tests.support.es import make_oslo_tree, serve_fake_es  # noqa: E402


def best(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def pair(
    baseline: Callable[[], object], measured: Callable[[], object], repeat: int = 3
) -> tuple[float, float]:
    """Best-of-N of each, run alternately: the machine is shared, so load hits both alike."""
    b: list[float] = []
    m: list[float] = []
    for _ in range(repeat):
        b.append(best(baseline, 1))
        m.append(best(measured, 1))
    return min(b), min(m)


def make_corpus(root: Path, records: int) -> tuple[Path, list[str], str]:
    """Scale real oslo.log output (written by oslo.log) to `records` records with fresh ids.

    Returns the tree, the raw records, and one request id that appears in ~1 % of them.
    """
    seed = make_oslo_tree(root / "seed")
    templates: list[str] = []
    for path in sorted(seed.rglob("*.log")):
        with path.open("rb") as fh:
            templates += [
                r.raw for r in iter_records(fh, str(path), path.stem, "h") if isinstance(r, LogLine)
            ]
    seed_ids = sorted({i for t in templates for i in _ids(t)})
    hot = f"req-{uuid.uuid4()}"
    raws: list[str] = []
    out = root / "corpus" / "ctl1" / "nova"
    out.mkdir(parents=True)
    with (out / "nova-api.log").open("w") as fh:
        n = 0
        while n < records:
            ids = {
                i: (hot if n % 100 == 0 and k == 0 else f"req-{uuid.uuid4()}") for k, i in enumerate(seed_ids)
            }
            for t in templates:
                raw = t
                for old, new in ids.items():
                    raw = raw.replace(old, new)
                raws.append(raw)
                fh.write(raw + "\n")
                n += 1
    return root / "corpus", raws, hot


def _ids(text: str) -> list[str]:
    from kansoku.ids import REQUEST_ID_RE

    return REQUEST_ID_RE.findall(text)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small run (20k records)")
    args = ap.parse_args()
    n = 20_000 if args.quick else 200_000
    tmp = Path(tempfile.mkdtemp(prefix="bench-es-"))
    try:
        corpus, raws, hot = make_corpus(tmp, n)
        size = sum(p.stat().st_size for p in corpus.rglob("*.log"))
        rows: list[tuple[str, str, str, str]] = []

        def parse_all() -> None:
            for r in raws:
                parse_record(r, "f", 1, 0, "nova-api", "h")

        t_parse, t_shape = pair(
            parse_all, lambda: [es_shape.to_document(r, host="h", service="nova-api", ts=0.0) for r in raws]
        )
        rows.append(
            (
                "shape: to_document",
                f"{len(raws) / t_shape:,.0f} rec/s",
                "parse_record",
                f"{t_shape / t_parse:.2f}x",
            )
        )

        docs = [es_shape.to_document(r, host="h", service="nova-api", ts=0.0) for r in raws]

        def read_all() -> None:
            for d in docs:
                rec = es_shape.read_document(d, index="i", doc_id="d")
                parse_record(rec.raw, rec.file, rec.line_no, rec.offset, rec.service, rec.host)

        t_parse2, t_read = pair(parse_all, read_all)
        rows.append(
            (
                "read: read_document + parse",
                f"{len(raws) / t_read:,.0f} rec/s",
                "parse_record",
                f"{t_read / t_parse2:.2f}x",
            )
        )

        files = sorted(str(p) for p in corpus.rglob("*.log"))

        def group_only() -> None:
            for f in files:
                for _ in iter_records(_lines(read_chunks(f)), f, "nova-api", "ctl1"):
                    pass

        def make_actions() -> None:
            for _ in actions([corpus], ShipReport(), {}):
                pass

        t_group, t_actions = pair(group_only, make_actions)
        rows.append(
            (
                "ship: files -> bulk actions",
                f"{len(raws) / t_actions:,.0f} rec/s",
                "read+group files",
                f"{t_actions / t_group:.2f}x",
            )
        )

        with serve_fake_es() as fake:
            t0 = time.perf_counter()
            report = ship([corpus], fake.url, chunk_size=1000)
            t_ship = time.perf_counter() - t0
            assert report.ok and report.created == len(raws), report
            rows.append(
                (
                    "ship: files -> loopback ES (bulk HTTP)",
                    f"{len(raws) / t_ship:,.0f} rec/s",
                    "read+group files",
                    f"{t_ship / t_group:.2f}x",
                )
            )
            src = ElasticsearchSource(fake.url, "flog-*", page_size=1000)
            t_trace = best(lambda: list(src.lines_for([hot])), repeat=1)
            found = src.stats.lines
            hits = src.stats.hits

        grep = shutil.which("grep")
        t_grep = best(
            lambda: subprocess.run([grep or "grep", "-F", hot, *files], capture_output=True, check=False)
        )
        rows.append(
            (
                f"trace: lines_for (PIT pages of 1000; {hits:,} hits returned, {found:,} kept)",
                f"{t_trace * 1000:,.0f} ms ({t_trace / max(hits, 1) * 1e6:,.0f} µs per hit)",
                "grep -F id (same lines, one file)",
                f"{t_trace / t_grep:.1f}x",
            )
        )

        head = (
            "## Elasticsearch shape, ship and source (bench/bench_elasticsearch.py)\n\n"
            f"Data: {len(raws):,} oslo.log records ({size / 1e6:.1f} MB) scaled from real oslo.log 8.3 output; "
            f"machine: {os.cpu_count()} cores (`nproc`), {cpu_model()}; Python {platform.python_version()}."
            + (" Quick run." if args.quick else "")
            + "\nNo Elasticsearch here: network rows use the tests' loopback server (pure Python http.server),"
            " whose own JSON work is included, and its search returns every stored document (no query"
            " evaluation), so `lines_for` there reads the whole index: a worst case, not ES speed.\n\n"
            "| measure | figure | baseline | ratio to baseline |\n|---|---|---|---|\n"
        )
        table = "".join(f"| {a} | {b} | {c} | {d} |\n" for a, b, c, d in rows)
        out = REPO / "bench" / "results" / "elasticsearch.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(head + table)
        print(head + table)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
