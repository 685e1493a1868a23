"""`kansoku trace ID` imports only what the trace needs, and its output is unchanged by that.

Start-up time is measured in bench/bench_lookup.py, never here; these tests pin what the
start-up work depends on: which modules a real `kansoku trace` process loads (rich only
for the terminal output; no pydantic, typer, numpy, pandas, shutil or socket; no argparse,
http, datetime or gzip either, and no standard-library module outside `TRACE_STDLIB`), how
many regexes the modules of the trace path compile at import (`kansoku.lazyre` defers the
rest), that plain command lines read without argparse read as argparse reads them, and that
the JSON document on the fast path is the one the OUTPUTS registry prints for the same trace.
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

#: Every standard-library module (top-level name) `kansoku trace ID --json` may import, beyond
#: what the interpreter had loaded before kansoku ran. Each costs start-up time (~0.1-2 ms):
#: one more here must be worth it. `argparse` (+ gettext, locale), `http`, `datetime`,
#: `calendar` and `gzip` are imported only off the plain path (`--help`, an unknown option,
#: a failed access line with a rare status, a causal chain's date, a `.gz` file).
TRACE_STDLIB = frozenset(
    {
        "array",  # segment lookups
        "bisect",
        "json",  # the store manifest and the output
        "mmap",
        "struct",
        "typing",  # Protocol, Any: store, segment, files, model
        "zlib",  # CRCs of the index
        # `re` and `pathlib` (the store's paths) and what they import: an editable install's
        # import hook loads them before kansoku runs, a regular install does not.
        "re",
        "enum",
        "functools",
        "collections",
        "contextlib",
        "copyreg",
        "operator",
        "keyword",
        "reprlib",
        "itertools",
        "types",
        "warnings",
        "importlib",
        "pathlib",
        "fnmatch",
        "ntpath",
        "errno",
        "urllib",  # urllib.parse, which pathlib imports (Python 3.11)
        "ipaddress",
    }
)

#: The kansoku modules that still compile regexes at import on the trace path, and how many:
#: core ids (shared with the pydantic models and the health probes), the index lookup's
#: byte patterns, and the route templates every access line needs. Everything else compiles
#: on first use (`kansoku.lazyre`).
IMPORT_TIME_REGEXES = {
    "kansoku.ids": 9,
    "kansoku.tracing.sources.chunk": 3,
    "kansoku.tracing.ingest.routes": 2,
}

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
    "atexit.register(lambda: sys.stderr.write('NEW=' + repr(sorted({{m.split('.')[0] for m in sys.modules}}"
    " - before)) + '\\n'))\n"
    "atexit.register(lambda: sys.stderr.write('KANSOKU=' + repr(sorted(m for m in sys.modules"
    " if m.startswith('kansoku'))) + '\\n'))\n"
    "from kansoku.cli import main\n"
    "main({argv!r})\n"
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[GroundTruth, Path]:
    root = tmp_path_factory.mktemp("demo")
    truth = generate(root / "cloud", seed=11)
    build_index([root / "cloud"], root / "store")
    return truth, root / "store"


def _probe(argv: list[str]) -> tuple[subprocess.CompletedProcess[str], dict[str, list[str]]]:
    """Run the entry point in a fresh interpreter: the process and, by what the probe wrote,
    LOADED (the HEAVY modules it imported), NEW (every top-level module it imported) and
    KANSOKU (every kansoku module loaded)."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY, argv=argv)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=os.environ,
    )
    found = {}
    for key in ("LOADED", "NEW", "KANSOKU"):
        line = next(x for x in proc.stderr.splitlines() if x.startswith(key + "="))
        found[key] = json.loads(line.removeprefix(key + "=").replace("'", '"'))
    return proc, found


def _run(argv: list[str]) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    proc, found = _probe(argv)
    return proc, found["LOADED"]


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


def _stdlib_beyond(new: list[str]) -> set[str]:
    """The standard-library modules among `new` that are not in TRACE_STDLIB (C internals,
    `_name`, are the price of their module and not counted)."""
    return {m for m in new if m in sys.stdlib_module_names and not m.startswith("_")} - TRACE_STDLIB


def test_json_trace_imports_only_the_pinned_standard_library(demo) -> None:
    """A failed request (placement 409: an access line, a chain check, suspects) and an id
    with one plain line: nothing outside TRACE_STDLIB, and none of the modules the plain
    path no longer needs."""
    truth, store = demo
    fault = next(f for f in truth.faults if f.kind == "placement_conflict")
    proc, found = _probe(["trace", fault.request_id, "--store", str(store), "--json"])
    assert proc.returncode == 0, proc.stderr
    assert _stdlib_beyond(found["NEW"]) == set()
    for gone in ("argparse", "gettext", "locale", "http", "datetime", "calendar", "gzip", "rich"):
        assert gone not in found["NEW"], gone
    # the JSON path loads neither the other renderers nor the typer commands
    for module in (
        "outputs.terminal",
        "outputs.html_page",
        "outputs.otlp",
        "explain",
        "tracing.cli",
        "options",
    ):
        assert not any(m.endswith(module) for m in found["KANSOKU"]), module


def test_terminal_trace_imports_rich_but_no_json_renderer(demo) -> None:
    truth, store = demo
    fault = next(f for f in truth.faults if f.kind == "placement_conflict")
    proc, found = _probe(["trace", fault.request_id, "--store", str(store)])
    assert proc.returncode == 0, proc.stderr
    assert "rich" in found["NEW"]
    assert "kansoku.tracing.outputs.json_doc" not in found["KANSOKU"]
    assert "argparse" not in found["NEW"] and "kansoku.tracing.outputs.terminal" in found["KANSOKU"]


def test_json_trace_imports_no_dataclasses(demo) -> None:
    """`import dataclasses` is ~8 ms of a ~40 ms process (it imports inspect, ast, dis,
    tokenize): the records on the trace path are plain classes (`tracing.slotted`)."""
    truth, store = demo
    fault = next(f for f in truth.faults if f.kind == "placement_conflict")
    proc, found = _probe(["trace", fault.request_id, "--store", str(store), "--json"])
    assert proc.returncode == 0, proc.stderr
    assert "dataclasses" not in found["NEW"] and "inspect" not in found["NEW"]


COUNT_COMPILES = """
import importlib, json, re, sys
compiled = {}
real = re._compile
def counting(pattern, flags):
    if (type(pattern), pattern, flags) not in re._cache:
        module = sys._getframe(2).f_globals.get("__name__", "?")
        compiled[module] = compiled.get(module, 0) + 1
    return real(pattern, flags)
re._compile = counting
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps({k: v for k, v in compiled.items() if k.startswith("kansoku")}))
"""


def test_trace_path_compiles_few_regexes_at_import(demo) -> None:
    """Importing every kansoku module a `kansoku trace ID --json` process loads compiles only
    the patterns of IMPORT_TIME_REGEXES: the others compile when a line needs them."""
    truth, store = demo
    fault = next(f for f in truth.faults if f.kind == "placement_conflict")
    _, found = _probe(["trace", fault.request_id, "--store", str(store), "--json"])
    assert "kansoku.tracing.chain" in found["KANSOKU"]  # the whole path was loaded
    proc = subprocess.run(
        [sys.executable, "-c", COUNT_COMPILES, *found["KANSOKU"]],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(proc.stdout) == IMPORT_TIME_REGEXES


PLAIN_LINES = [
    ["req-1"],
    ["req-1", "--json"],
    ["--json", "req-1"],
    ["req-1", "--store", "/srv/k", "--json"],
    ["req-1", "--store=/srv/k"],
    ["req-1", "--store="],
    ["req-1", "--store", "a", "--store", "b"],
    ["req-1", "--json", "--json", "--instance", "--explain"],
    [
        "req-1",
        "--source",
        "elasticsearch://h:9200/flog-*",
        "--html",
        "p.html",
        "--otlp",
        "http://127.0.0.1:4318",
    ],
    ["stats", "--csv", "s.csv", "--parquet=s.parquet", "--store", "x y"],
    ["req-1", "--source=http://h:9200/?index=a=b"],
    ["", "--json"],
]
#: Lines the fast reader leaves to argparse (help, errors, abbreviations, `--`, odd values).
OTHER_LINES = [
    [],
    ["--help"],
    ["req-1", "-h"],
    ["req-1", "--js"],
    ["req-1", "--json=yes"],
    ["req-1", "--store"],
    ["req-1", "--store", "--json"],
    ["req-1", "req-2"],
    ["--", "req-1"],
    ["-req-1"],
    ["req-1", "--unknown"],
    ["req-1", "-"],
]


@pytest.mark.parametrize("argv", PLAIN_LINES, ids=" ".join)
def test_plain_command_lines_read_as_argparse_reads_them(argv: list[str]) -> None:
    from kansoku.tracing.trace_cmd import TraceArgs, fast_args, trace_parser

    fast = fast_args(argv)
    assert fast is not None
    assert fast == TraceArgs.of(trace_parser().parse_args(argv))


@pytest.mark.parametrize("argv", OTHER_LINES, ids=lambda a: " ".join(a) or "(none)")
def test_other_command_lines_are_left_to_argparse(argv: list[str]) -> None:
    from kansoku.tracing.trace_cmd import fast_args

    assert fast_args(argv) is None


def test_trace_help_and_usage_errors_still_come_from_argparse(
    demo, capsys: pytest.CaptureFixture[str]
) -> None:
    from kansoku.tracing.trace_cmd import trace_main

    with pytest.raises(SystemExit) as done:
        trace_main(["--help"])
    assert done.value.code == 0
    assert "usage: kansoku trace" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        trace_main(["req-1", "--store"])
    assert done.value.code == 2
    assert "--store: expected one argument" in capsys.readouterr().err
