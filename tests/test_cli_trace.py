"""`kansoku index` / `kansoku trace` / `kansoku trace stats` end to end over a real on-disk index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
from typer.testing import CliRunner

from kansoku.cli import build_app
from kansoku.tracing.index import build_index
from kansoku.tracing.ingest.records import iter_records
from kansoku.tracing.isolate import isolate
from kansoku.tracing.model import LogLine
from kansoku.tracing.sources.index import IndexSource
from kansoku.tracing.stats import fleet_stats
from kansoku.tracing.stitch import build_trace
from kansoku.tracing.trace_cmd import trace_main
from tests.support.otlp import Receiver
from tests.support.scenarios import ALL, Cloud, MemorySource, Scenario, api_messaging_timeout, rid

REPO = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((REPO / "docs" / "trace-json-schema.json").read_text())
KANSOKU = str(REPO / ".venv" / "bin" / "kansoku")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Scenario]]:
    """Every scenario in one log tree (as one cloud's /var/log would hold them), indexed once."""
    root = tmp_path_factory.mktemp("cli")
    c = Cloud(root / "logs")
    scenarios = {name: build(c) for name, build in ALL.items()}
    scenarios["messaging_timeout_alive"] = api_messaging_timeout(c, callee_alive=True)
    c.write()
    # a line nobody can parse, in the middle of a file: reported, still findable by its id
    lost = rid()
    path = c.path("ctl-1", "nova-api")
    text = path.read_text().split("\n")
    text.insert(2, f"2026-11-23 09:53:20 nova-api[1037]: worker 3 died while handling {lost}")
    path.write_text("\n".join(text))
    scenarios["lost"] = Scenario(c, {"api": lost}, {"line": f"{path}:3"})
    store = root / "store"
    return root, store, scenarios


def _file_source(root: Path) -> MemorySource:
    """The same lines read straight from the files, without the index."""
    lines = []
    for path in sorted(root.rglob("*.log")):
        with path.open("rb") as fh:
            lines += [
                r for r in iter_records(fh, str(path), path.stem, path.parent.name) if isinstance(r, LogLine)
            ]
    return MemorySource(lines)


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), list(args))
    return result.exit_code, result.output


def test_index_reports_problems_with_file_and_line(cloud) -> None:
    root, store, sc = cloud
    code, out = _run("index", str(root / "logs"), "--store", str(store))
    assert code == 0, out
    assert "indexed 11 of 11 files" in out
    assert "1 line(s) or file(s) could not be parsed or read" in out
    assert f"{sc['lost'].where['line']}: timestamp without the oslo.log" in out
    # incremental: nothing new the second time
    code, out = _run("index", str(root / "logs"), "--store", str(store))
    assert code == 0 and "indexed 0 of 11 files" in out


@pytest.fixture(scope="module")
def indexed(cloud):
    root, store, sc = cloud
    build_index([root / "logs"], store)
    return root, store, sc


@pytest.mark.parametrize("name", sorted(ALL))
def test_real_index_gives_the_same_verdict_as_the_files(indexed, name: str) -> None:
    _, store, sc = indexed
    scenario = sc[name]
    from_index = isolate(build_trace(IndexSource(store), scenario.ids["api"]))
    from_files = isolate(build_trace(_file_source(scenario.cloud.root), scenario.ids["api"]))
    assert from_index.root_cause is not None
    assert from_index.explanation == from_files.explanation


def test_trace_prints_verdict_and_waterfall(indexed, monkeypatch: pytest.MonkeyPatch) -> None:
    _, store, sc = indexed
    monkeypatch.setenv("KANSOKU_STORE", str(store))
    monkeypatch.setenv("COLUMNS", "160")
    code, out = _run("trace", sc["novalidhost"].ids["api"])
    assert code == 0, out
    assert out.splitlines()[0].startswith("root cause: placement-api on ctl-2 — 409 Conflict")
    assert "◆ root cause" in out and "joined via callee_id at" in out


def test_unknown_id_exits_1_with_where_we_looked(indexed) -> None:
    _, store, _ = indexed
    missing = rid()
    proc = subprocess.run(
        [KANSOKU, "trace", missing, "--store", str(store)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert f"no lines for {missing} in 11 files (indexed up to log time 2026-11-23" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [KANSOKU, "trace", rid(), "--store", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "no index store here" in proc.stderr and "Traceback" not in proc.stderr


def test_unparsed_line_stays_findable(indexed) -> None:
    _, store, sc = indexed
    code, out = _run("trace", sc["lost"].ids["api"], "--store", str(store), "--json")
    assert code == 0
    doc = json.loads(out)
    assert [ln["format"] for ln in doc["lines"]] == ["unparsed"]
    assert doc["verdict"]["status"] == "ok"


def test_json_output_validates(indexed, capsys: pytest.CaptureFixture[str]) -> None:
    _, store, sc = indexed
    scenario = sc["port_binding"]
    assert trace_main([scenario.instance, "--json", "--store", str(store)]) == 0
    doc = json.loads(capsys.readouterr().out)
    jsonschema.validate(doc, SCHEMA, cls=jsonschema.Draft202012Validator)
    assert doc["query"] == scenario.instance
    assert doc["verdict"]["root_cause"]["service"] == "neutron-server"
    assert {ln["file"] for ln in doc["lines"]} >= {str(scenario.cloud.path("cmp-2", "nova-compute"))}


def test_html_and_otlp_outputs(indexed, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, store, sc = indexed
    receiver = Receiver()
    receiver.server.start()
    try:
        page = tmp_path / "t.html"
        code = trace_main(
            [
                sc["volume_attach_timeout"].ids["cinder"],
                "--html",
                str(page),
                "--otlp",
                receiver.url,
                "--store",
                str(store),
            ]
        )
    finally:
        receiver.server.stop()
    out = capsys.readouterr().out
    assert code == 0
    assert f"wrote {page} (4 spans)" in out
    assert "exported 4 spans to" in out
    assert 'id="trace-data"' in page.read_text()
    assert len(list(receiver.spans())) == 4


def test_trace_stats_table_csv_parquet(indexed, tmp_path: Path) -> None:
    _, store, _ = indexed
    csv, parquet = tmp_path / "s.csv", tmp_path / "s.parquet"
    code, out = _run("trace", "stats", "--store", str(store), "--csv", str(csv), "--parquet", str(parquet))
    assert code == 0, out
    assert "access lines in 11 files" in out
    frame = pd.read_csv(csv)
    assert frame.equals(pd.read_parquet(parquet).astype(frame.dtypes.to_dict()))
    servers = frame[
        (frame.service == "nova-api") & (frame.route == "/v2.1/servers") & (frame.method == "POST")
    ]
    by_status = dict(zip(servers.status, servers["count"], strict=True))
    assert by_status == {202: 1, 400: 1, 500: 1}
    assert servers.route_count.tolist() == [3, 3, 3]
    assert servers.error_rate.round(4).tolist() == [0.3333] * 3
    attach = frame[(frame.service == "cinder-api") & (frame.status == 500)].iloc[0]
    assert attach.p50_s == pytest.approx(60.0) and attach.error_rate == 1.0


def test_stats_streams_gzip_and_json(tmp_path: Path) -> None:
    """Rotated .gz and oslo.log JSON access lines count the same as plain text."""
    import gzip

    logs = tmp_path / "logs" / "ctl-1"
    logs.mkdir(parents=True)
    text = (
        '2026-11-23 10:00:00.000 101 INFO nova.osapi_compute.wsgi.server [None {r} - - - - - -] 10.0.0.5 "GET /v2.1/servers/detail '
        'HTTP/1.1" status: {s}  len: 100 time: {t}\n'
    )
    with gzip.open(logs / "nova-api.log.1.gz", "wt") as fh:
        for i in range(10):
            fh.write(text.format(r=rid(), s=200, t=0.1 * (i + 1)))
    doc = {
        "message": '10.0.0.5 "GET /v2.1/servers/detail HTTP/1.1" status: 503  len: 10 time: 2.0',
        "levelname": "INFO",
        "name": "nova.osapi_compute.wsgi.server",
        "process": 101,
        "created": 1795430000.0,
        "context": {"request_id": rid(), "global_request_id": None},
    }
    (logs / "nova-api.log").write_text(json.dumps(doc) + "\n")
    store = tmp_path / "store"
    build_index([tmp_path / "logs"], store)
    frame = fleet_stats(store)
    rows = {int(r.status): r for r in frame.itertuples()}
    assert rows[200].count == 10 and rows[503].count == 1
    assert rows[200].p50_s == pytest.approx(0.55)
    assert rows[200].error_rate == pytest.approx(1 / 11)


def test_trace_help_and_no_traceback_on_bad_option() -> None:
    proc = subprocess.run(
        [KANSOKU, "trace", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0 and "--otlp URL" in proc.stdout and "--instance" in proc.stdout
    proc = subprocess.run([KANSOKU, "trace"], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "the following arguments are required: ID" in proc.stderr


def test_trace_import_stays_light() -> None:
    """The trace path must not import pandas, OpenTelemetry or pydantic (start-up time)."""
    code = (
        "import sys; from kansoku.tracing.trace_cmd import trace_command; "
        "import kansoku.tracing.outputs, kansoku.tracing.outputs.terminal, kansoku.tracing.sources.index; "
        "bad = [m for m in ('pandas', 'opentelemetry', 'pydantic', 'httpx') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    assert out.stdout.strip() == "[]"


def test_bad_output_targets_fail_before_any_work(
    indexed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, store, sc = indexed
    rid_ = sc["novalidhost"].ids["api"]
    bad_dir = tmp_path / "no" / "dir"
    assert trace_main([rid_, "--store", str(store), "--html", str(bad_dir / "t.html")]) == 2
    out = capsys.readouterr()
    assert "root cause" not in out.out and f"directory {bad_dir} does not exist" in out.err
    assert trace_main([rid_, "--store", str(store), "--otlp", "grpc://127.0.0.1:4317"]) == 2
    out = capsys.readouterr()
    assert "root cause" not in out.out and "expected an OTLP/HTTP URL" in out.err


def test_index_of_nothing_fails(tmp_path: Path) -> None:
    proc = subprocess.run(
        [KANSOKU, "index", str(tmp_path / "missing"), "--store", str(tmp_path / "s")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert f"{tmp_path / 'missing'}: no such file or directory" in proc.stdout
    assert f"no log files found in {tmp_path / 'missing'}" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
