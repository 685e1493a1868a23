"""Check verdicts and line recall against a corpus's ground truth (`truth.json`).

Each real corpus in `tests/data/<corpus>/` names its requests, the outcome a careful reader
of the logs gives them (failed: which service, host and exception; or ok) and the physical
lines that belong to each request (the lines carrying its ids and their continuation lines).
The tests and `bench/bench_verdicts.py` use this to say how often the verdict is right and
what share of a request's lines the trace finds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kansoku.tracing.isolate import isolate, short_exception
from kansoku.tracing.model import LogSource, Trace, Verdict
from kansoku.tracing.stitch import build_trace


@dataclass(frozen=True, slots=True)
class RequestResult:
    corpus: str
    request_id: str
    expected: str  # "ok" or "service/exception"
    got: str
    verdict_ok: bool
    lines_expected: int
    lines_found: int

    @property
    def recall(self) -> float:
        return self.lines_found / self.lines_expected if self.lines_expected else 1.0


def load_truth(corpus: Path) -> dict[str, Any]:
    """`truth.json`, or the lab's `traffic.json` (kansoku lab traffic records each request's
    ids, expected outcome, failing service and exception) in the same shape."""
    truth = corpus / "truth.json"
    if truth.exists():
        data: dict[str, Any] = json.loads(truth.read_text(encoding="utf-8"))
        return data
    traffic = json.loads((corpus / "traffic.json").read_text(encoding="utf-8"))
    requests = []
    for rec in traffic["requests"]:
        rid = rec.get("sent_global_request_id") or rec.get("local_request_id")
        ids = [i for i in (rec.get("sent_global_request_id"), rec.get("local_request_id")) if i]
        if not rid or not rec.get("services"):
            continue  # logged under no id at all (nova's refused token, odd case 5): nothing to trace
        failed = rec.get("failing_service") is not None
        requests.append(
            {
                "id": rid,
                "what": rec.get("description", ""),
                "status": "failed" if failed else "ok",
                "service": rec.get("failing_service"),
                "exception": rec.get("exception"),
                "lines": _lines_with(corpus, ids),
            }
        )
    return {"corpus": corpus.name, "requests": requests}


def _lines_with(corpus: Path, ids: list[str]) -> dict[str, list[list[int]]]:
    """Physical lines of the records holding any of `ids` (the lab's own ground truth names
    ids, not lines): what a trace from the first id must find at least."""
    from kansoku.tracing.ingest.records import iter_raw_records

    out: dict[str, list[list[int]]] = {}
    for path in sorted(corpus.glob("*.log")):
        with path.open("rb") as fh:
            for line_no, _, raw in iter_raw_records(fh):
                if any(i in raw for i in ids):
                    out.setdefault(path.name, []).append([line_no, line_no + raw.count("\n")])
    return out


def _expected_lines(corpus: Path, spec: dict[str, list[list[int]]]) -> set[tuple[str, int]]:
    out: set[tuple[str, int]] = set()
    for rel, ranges in spec.items():
        path = str((corpus / rel).resolve())
        for first, last in ranges:
            out.update((path, n) for n in range(first, last + 1))
    return out


def _found_lines(trace: Trace) -> set[tuple[str, int]]:
    out: set[tuple[str, int]] = set()
    for line in trace.lines():
        path = str(Path(line.file).resolve())
        out.update((path, line.line_no + i) for i in range(line.n_lines))
    return out


def verdict_text(verdict: Verdict) -> str:
    """`service/Exception` of the root cause, or `ok`."""
    root = verdict.root_cause
    if root is None:
        return "ok"
    return f"{root.span.service}/{short_exception(root.exception) or root.status or '-'}"


def check_request(corpus: Path, source: LogSource, req: dict[str, Any], nearby: Any = None) -> RequestResult:
    trace = build_trace(source, req["id"])
    verdict = isolate(trace, nearby)
    expected = "ok" if req["status"] == "ok" else f"{req['service']}/{req['exception'] or '*'}"
    got = verdict_text(verdict)
    right = got == expected or (expected.endswith("/*") and got.split("/", 1)[0] == req["service"])
    if right and req["status"] != "ok":
        root = verdict.root_cause
        right = root is not None and root.span.host == req.get("host", root.span.host)
        if "weak_origin" in req:
            right = right and any(w.span.service == req["weak_origin"] for w in verdict.weak_origin)
    want = _expected_lines(corpus, req["lines"])
    found = _found_lines(trace) & want
    return RequestResult(corpus.name, req["id"], expected, got, right, len(want), len(found))
