"""Benchmark: verdict accuracy and line recall per real corpus, with the time it takes.

For every real corpus with a ground truth (`tests/data/<corpus>/truth.json`, or the lab's
`traffic.json`), index it once, then trace and isolate every request in it and compare with
the truth: the root cause's service (and exception, and host where the truth names them) or
"ok", and the share of the request's physical lines the trace found. Speed is reported as a
ratio against a baseline run in the same script: `grep -rF ID` over the same files for every
request id (what an operator would do by hand).

Writes bench/results/verdicts.md. `--quick` is accepted (the corpora are small either way).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_model

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
#: corpus -> the OpenStack generation it is from (docs/tracing.md, release matrix)
CORPORA = {
    "havana-gate": "Havana (2013 gate), `[req-X user tenant]`, rpc.amqp, TRACE",
    "rdo-juno": "Juno (RDO), TRACE tracebacks, `<host>/var/log/<project>/`",
    "rdo-liberty": "Liberty (RDO/OSP 7), oslo_messaging.rpc.dispatcher, TRACE",
    "real-openstack": "2025.x (nova 34, oslo.log 8.3), global ids, placement JSON",
    "real-openstack-create": "2025.x, a six-service server create and NoValidHost",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="accepted for run_all; no effect")
    parser.parse_args()
    sys.path.insert(0, str(REPO))
    from kansoku.tracing.evaluate import check_request, load_truth
    from kansoku.tracing.index import build_index
    from kansoku.tracing.ingest.files import DefaultRule
    from kansoku.tracing.nearby import NearbyErrors
    from kansoku.tracing.sources.index import IndexSource

    rows = []
    misses: list[str] = []
    for corpus, generation in CORPORA.items():
        path = DATA / corpus
        store = tempfile.mkdtemp(prefix=f"verdicts-{corpus}-")
        t0 = time.perf_counter()
        build_index([path], store, DefaultRule("lab"))
        index_s = time.perf_counter() - t0
        truth = load_truth(path)["requests"]
        results = []
        trace_s = 0.0
        for req in truth:
            source = IndexSource(store)  # a fresh source per request, as one `kansoku trace` run
            t0 = time.perf_counter()
            res = check_request(path, source, req, NearbyErrors(source.manifest.files, source.block_table))
            trace_s += time.perf_counter() - t0
            results.append(res)
            if not res.verdict_ok or res.recall < 0.98:
                misses.append(
                    f"{corpus} {res.request_id}: want {res.expected}, got {res.got}, recall {res.recall:.3f}"
                )
        t0 = time.perf_counter()
        for req in truth:
            subprocess.run(["grep", "-rF", req["id"], str(path)], capture_output=True, check=False)
        grep_s = time.perf_counter() - t0
        failed = sum(1 for r in truth if r["status"] != "ok")
        right_failed = sum(
            1 for r, q in zip(results, truth, strict=True) if r.verdict_ok and q["status"] != "ok"
        )
        right_ok = sum(1 for r, q in zip(results, truth, strict=True) if r.verdict_ok and q["status"] == "ok")
        lines = sum(r.lines_expected for r in results)
        found = sum(r.lines_found for r in results)
        rows.append(
            (corpus, generation, str(len(truth)), f"{right_failed}/{failed}", f"{right_ok}/{len(truth) - failed}",
             f"{found / lines:.3f}" if lines else "-", f"{min(r.recall for r in results):.3f}",
             f"{index_s:.2f} s", f"{trace_s / len(truth) * 1000:.1f} ms",
             f"{grep_s / len(truth) * 1000:.1f} ms", f"{grep_s / trace_s:.1f}x" if trace_s else "-")
        )  # fmt: skip
    header = (
        "| corpus | generation | requests | failed: verdict right | ok: read ok | line recall | "
        "worst recall | index | trace+isolate / request | grep -rF / request | vs grep |"
    )
    out = [
        "## Verdicts on real corpora (bench/bench_verdicts.py)",
        "",
        f"Machine: {os.cpu_count()} cores (`nproc`), {cpu_model()}; Python {platform.python_version()}. "
        f"Run: `python bench/bench_verdicts.py` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}). "
        "Truth: `tests/data/<corpus>/truth.json` (rdo-*: outcome and lines read by hand) or the lab's "
        "`traffic.json` (outcome recorded by `kansoku lab traffic`; lines: the records holding the "
        "request's ids). A verdict is right when the root cause's service, exception (when the truth "
        "names one) and host (rdo-*) match, and, where the truth names one, the weak origin's "
        "service too. `vs grep`: the time of `grep -rF ID` over the corpus / kansoku's trace and "
        "verdict from an index (above 1: kansoku is faster).",
        "",
        header,
        "|" + "---|" * (header.count("|") - 1),
    ]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    out += ["", "Misses: " + ("; ".join(misses) if misses else "none."), ""]
    text = "\n".join(out)
    print(text)
    (REPO / "bench" / "results" / "verdicts.md").write_text(text, encoding="utf-8")
    return 0 if not misses else 1


if __name__ == "__main__":
    raise SystemExit(main())
