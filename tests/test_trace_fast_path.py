"""`kansoku trace ID` imports only what the trace needs, and its output is unchanged by that.

Start-up time is measured in bench/bench_lookup.py, never here; these tests pin what the
start-up work depends on: which modules a real `kansoku trace` process loads (rich only
for the terminal output; no pydantic, typer, numpy, pandas, shutil or socket), and that the
JSON document on the fast path is the one the OUTPUTS registry prints for the same trace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kansoku.tracing.demo.generate import generate
from kansoku.tracing.demo.truth import GroundTruth
from kansoku.tracing.index import build_index
from kansoku.tracing.outputs import run_trace

HEAVY = ("rich", "pydantic", "typer", "numpy", "pandas", "shutil", "socket", "opentelemetry", "httpx")

#: Runs the real entry point and reports, at exit, which of HEAVY it imported. What the
#: interpreter had loaded before kansoku ran does not count: a `.pth` file of another package
#: in the same environment runs at every start (urllib3-future's, which grafana-client brings
#: through niquests, imports shutil), and no code of ours can avoid that.
PROBE = (
    "import atexit, sys\n"
    "heavy = {heavy!r}\n"
    "before = {{m.split('.')[0] for m in sys.modules}}\n"
    "atexit.register(lambda: sys.stderr.write('LOADED=' + repr(sorted(({{m.split('.')[0] for m in sys.modules}}"
    " - before) & set(heavy))) + '\\n'))\n"
    "from kansoku.cli import main\n"
    "main({argv!r})\n"
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[GroundTruth, Path]:
    root = tmp_path_factory.mktemp("demo")
    truth = generate(root / "cloud", seed=11)
    build_index([root / "cloud"], root / "store")
    return truth, root / "store"


def _run(argv: list[str]) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY, argv=argv)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=os.environ,
    )
    line = next(x for x in proc.stderr.splitlines() if x.startswith("LOADED="))
    return proc, json.loads(line.removeprefix("LOADED=").replace("'", '"'))


def test_json_trace_process_imports_nothing_heavy(demo) -> None:
    truth, store = demo
    fault = next(f for f in truth.faults if f.kind == "placement_conflict")
    proc, loaded = _run(["trace", fault.request_id, "--store", str(store), "--json"])
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["verdict"]["root_cause"]["service"] == fault.root_service
    assert loaded == []


def test_terminal_trace_imports_rich_and_nothing_else_heavy(demo) -> None:
    truth, store = demo
    fault = next(f for f in truth.faults if f.kind == "placement_conflict")
    proc, loaded = _run(["trace", fault.request_id, "--store", str(store)])
    assert proc.returncode == 0, proc.stderr
    assert f"root cause: {fault.root_service} on {fault.root_host}" in proc.stdout
    assert loaded == ["rich"]


def test_unknown_id_error_still_printed_through_rich(demo) -> None:
    _, store = demo
    proc, loaded = _run(
        ["trace", "req-00000000-0000-4000-8000-000000000000", "--store", str(store), "--json"]
    )
    assert proc.returncode == 1
    assert "no lines for req-00000000-0000-4000-8000-000000000000" in proc.stderr
    assert loaded == ["rich"]  # the error message is printed by rich's console


def test_fast_json_path_prints_the_registry_json_document(
    demo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--json` alone skips the console; with `--html` too it goes through the OUTPUTS
    registry and a rich console. Both print the same document, the one render_json makes."""
    truth, store = demo
    for fault in truth.faults:
        assert run_trace(fault.request_id, str(store), as_json=True) == 0
        fast = capsys.readouterr().out
        page = tmp_path / f"{fault.kind}.html"
        assert run_trace(fault.request_id, str(store), as_json=True, html=page) == 0
        registry = capsys.readouterr()
        assert page.is_file() and f"wrote {page}" in registry.err
        assert json.loads(fast) == json.loads(registry.out), fault.kind
        doc = json.loads(fast)
        assert doc["verdict"]["root_cause"]["service"] == fault.root_service, fault.kind
