"""`kansoku ship`: real oslo.log files -> bulk NDJSON -> the loopback Elasticsearch -> trace back."""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kansoku.errors import KansokuError
from kansoku.process import free_port
from kansoku.tracing.ship import doc_id, ship
from kansoku.tracing.ship_cli import register
from kansoku.tracing.sources.es import ElasticsearchSource
from tests.support.es import (
    GLOBAL_ID,
    FakeES,
)


def physical_records(tree: Path) -> int:
    """Records as oslo.log wrote them: lines that start with a timestamp and are not traceback lines."""
    first = re.compile(r"^\S+ \S+ \d+ [A-Z]+ \S+ \[")
    return sum(1 for p in tree.rglob("*.log") for line in p.read_text().splitlines() if first.match(line))


def test_ship_writes_fluentd_shaped_documents_with_stable_ids(fake_es: FakeES, oslo_tree: Path) -> None:
    report = ship([oslo_tree], fake_es.url)
    assert report.ok and report.files == 2 and report.failed == 0
    assert report.records == report.created == len(fake_es.docs) == physical_records(oslo_tree)
    assert len(report.indices) == 1 and next(iter(report.indices)).startswith("flog-")

    bulk = fake_es.of("PUT", "/_bulk")[0]
    # The client's own `application/x-ndjson` is pinned to the server's major too.
    assert bulk.headers["content-type"] == "application/vnd.elasticsearch+x-ndjson; compatible-with=8"
    lines = bulk.ndjson()
    action, source = lines[0], lines[1]
    meta = action["create"]
    nova = str(oslo_tree / "ctl1" / "nova" / "nova-api.log")
    first = next(i for i in range(0, len(lines), 2) if lines[i + 1]["path"] == nova)
    assert lines[first]["create"]["_id"] == doc_id("ctl1", nova, 0)
    assert lines[first + 1]["offset"] == 0 and lines[first + 1]["lineno"] == 1
    assert meta["_index"] == next(iter(report.indices))
    assert {"Timestamp", "Pid", "log_level", "python_module", "Payload", "@timestamp"} <= set(source)
    assert source["Hostname"] == "ctl1" and source["programname"] in {"nova-api", "placement-api"}
    traceback = next(doc for doc in lines[1::2] if "Traceback" in doc.get("Payload", ""))
    assert traceback["Payload"].count("\n") >= 3  # one document per record, as Fluentd's multiline

    again = ship([oslo_tree], fake_es.url)
    assert (again.created, again.already_present, again.failed) == (0, report.records, 0)
    assert len(fake_es.docs) == report.records  # re-shipping duplicated nothing


def test_trace_from_shipped_documents_points_at_the_original_files(fake_es: FakeES, oslo_tree: Path) -> None:
    ship([oslo_tree], fake_es.url)
    got = list(ElasticsearchSource(fake_es.url, "flog-*").lines_for([GLOBAL_ID]))
    on_disk = {
        (str(p), n)
        for p in oslo_tree.rglob("*.log")
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if GLOBAL_ID in line
    }
    assert {(line.file, line.line_no) for line in got} == on_disk
    assert {(line.service, line.host) for line in got} == {("nova-api", "ctl1"), ("placement-api", "ctl1")}


def test_rotated_gzip_files_ship_under_their_service(
    fake_es: FakeES, oslo_tree: Path, tmp_path: Path
) -> None:
    tree = tmp_path / "bundle"
    shutil.copytree(oslo_tree, tree)
    live = tree / "ctl1" / "nova" / "nova-api.log"
    rotated = live.with_name("nova-api.log.1.gz")
    rotated.write_bytes(gzip.compress(live.read_bytes()))
    report = ship([tree], fake_es.url, index="Kansoku-%Y.%m")  # lower-cased like Fluentd
    assert report.ok and report.files == 3
    services = {d.source["programname"] for d in fake_es.docs.values() if d.source["path"] == str(rotated)}
    assert services == {"nova-api"}
    assert all(
        d.index.startswith("kansoku-20") and len(d.index) == len("kansoku-2026.11")
        for d in fake_es.docs.values()
    )


def test_rejected_documents_are_counted_and_reported_with_file_and_line(
    fake_es: FakeES, oslo_tree: Path
) -> None:
    nova = str(oslo_tree / "ctl1" / "nova" / "nova-api.log")
    fake_es.reject_doc_ids = {doc_id("ctl1", nova, 0)}
    report = ship([oslo_tree], fake_es.url)
    assert report.failed == 1 and not report.ok and report.created == report.records - 1
    assert report.errors == [
        f"{nova}:1: HTTP 400 mapper_parsing_exception: failed to parse field [Pid] of type [long] "
        f"in document with id '{doc_id('ctl1', nova, 0)}'"
    ]


def test_cli_reports_counts_and_fails_on_errors(fake_es: FakeES, oslo_tree: Path) -> None:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:  # a group, so `ship` is a subcommand as in `kansoku ship`
        return None

    runner = CliRunner()
    ok = runner.invoke(app, ["ship", str(oslo_tree), "--es", fake_es.url])
    assert ok.exit_code == 0, ok.output
    assert "created, 0 already present, 0 failed" in ok.output and "indices: flog-" in ok.output
    nova = str(oslo_tree / "ctl1" / "nova" / "nova-api.log")
    fake_es.docs.clear()
    fake_es.reject_doc_ids = {doc_id("ctl1", nova, 0)}
    bad = runner.invoke(app, ["ship", str(oslo_tree), "--es", fake_es.url])
    assert bad.exit_code != 0
    assert isinstance(bad.exception, KansokuError) and "1 documents failed" in str(bad.exception)
    assert f"{nova}:1: HTTP 400 mapper_parsing_exception" in bad.output


def test_ship_errors_are_clear(fake_es: FakeES, tmp_path: Path) -> None:
    with pytest.raises(KansokuError, match="cannot reach Elasticsearch"):
        ship([tmp_path], f"http://127.0.0.1:{free_port()}")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(KansokuError, match="no log records found"):
        ship([empty], fake_es.url)
    with pytest.raises(KansokuError, match="expected http"):
        ship([empty], "es.example:9200")
    report_missing = tmp_path / "gone.log"
    (tmp_path / "one.log").write_text("not an oslo.log line with req-11111111-2222-4333-8444-555555555555\n")
    report = ship([tmp_path / "one.log", report_missing], fake_es.url)
    assert report.records == 1 and report.unparsed == 1 and not report.ok
    assert report.problems == [f"{report_missing}: no such file or directory"]
    kept = next(iter(fake_es.docs.values())).source
    assert kept["message"].startswith("not an oslo.log line")  # kept whole, still findable


def test_kansoku_trace_reads_shipped_lines_from_elasticsearch(
    fake_es: FakeES, oslo_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole loop: files -> ship -> Elasticsearch -> `open_source(URL)` -> stitch -> verdict."""
    import json

    from kansoku.tracing.outputs import run_trace

    ship([oslo_tree], fake_es.url)
    capsys.readouterr()
    port = fake_es.url.rsplit(":", 1)[1]
    code = run_trace(GLOBAL_ID, f"elasticsearch://127.0.0.1:{port}/flog-*", as_json=True)
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    services = {span["service"] for span in doc["spans"]}
    assert services == {"nova-api", "placement-api"}
    assert "nova-api" in json.dumps(doc["verdict"]) and "ValueError" in json.dumps(doc["verdict"])
