"""What a store answers, as comparable data: shared by the durability tests and the kill -9 loop.

Two stores answer the same when every probe id gives the same records (file, line, level,
exception, text) and every fault's trace gives the same verdict. The probe ids are the demo
cloud's ground truth (the injected faults and the big request) plus a seeded sample of the
request ids in its files, so lines in plain, rotated `.1` and `.gz` files are all asked for.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path

from kansoku.tracing.isolate import isolate
from kansoku.tracing.sources.index import IndexSource
from kansoku.tracing.stitch import build_trace

_REQ = re.compile(rb"req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def probe_ids(logs: Path, seed: int = 11, sample: int = 40) -> tuple[list[str], list[str]]:
    """(ids whose records are compared, fault request ids whose verdicts are compared)."""
    truth = json.loads((logs / "ground-truth.json").read_text())
    faults = [f["request_id"] for f in truth["faults"]]
    found: set[str] = set()
    for path in sorted(logs.rglob("*.log*")):
        if path.suffix == ".gz":
            continue
        found.update(m.decode() for m in _REQ.findall(path.read_bytes()[:400_000]))
    rng = random.Random(seed)
    ids = [*faults, truth["big_request"]["request_id"], *rng.sample(sorted(found), sample)]
    return ids, faults


def answers(store: Path, ids: list[str], faults: list[str]) -> dict[str, object]:
    """Per id the records found, per fault the verdict: the store's observable behaviour."""
    src = IndexSource(store)
    out: dict[str, object] = {}
    for one in ids:
        recs = sorted(
            (x.file, x.line_no, x.level or "", x.exception or "", hashlib.sha1(x.raw.encode()).hexdigest())
            for x in src.lines_for([one])
        )
        out[one] = recs
    for one in faults:
        trace = build_trace(IndexSource(store), one, False)
        verdict = isolate(trace)
        rc = verdict.root_cause
        out["verdict " + one] = (
            None
            if rc is None
            else (rc.span.service, rc.span.host, rc.exception, rc.line.file, rc.line.line_no),
            verdict.explanation,
            len(trace.spans),
            sum(len(s.lines) for s in trace.spans),
        )
    src.close()
    return out


def differences(got: dict[str, object], want: dict[str, object]) -> list[str]:
    """The probe ids whose answers differ (empty: the stores answer the same)."""
    return [k for k in want if got.get(k) != want[k]]
