"""Outputs: the JSON document against its schema, the terminal waterfall, the HTML page's data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from rich.console import Console

from kansoku.tracing.isolate import isolate
from kansoku.tracing.outputs.html_page import render_html
from kansoku.tracing.outputs.json_doc import SCHEMA_ID, render_json, trace_document
from kansoku.tracing.outputs.terminal import render_terminal, waterfall_bar
from kansoku.tracing.stitch import build_trace
from tests.support.scenarios import ALL, Cloud, boot_novalidhost, rid

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "docs" / "trace-json-schema.json").read_text())


def _trace(tmp_path: Path, name: str = "novalidhost", **kw):
    cloud = Cloud(tmp_path)
    sc = ALL[name](cloud)
    trace = build_trace(cloud.source(), sc.ids["api"], **kw)
    return sc, trace, isolate(trace)


@pytest.mark.parametrize("name", sorted(ALL))
def test_json_matches_schema_and_lists_every_line(tmp_path: Path, name: str) -> None:
    _, trace, verdict = _trace(tmp_path, name)
    doc = json.loads(render_json(trace, verdict))
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(doc, SCHEMA, cls=jsonschema.Draft202012Validator)
    assert doc["schema"] == SCHEMA_ID
    # every record once, with file, line number and the raw text exactly as in the file
    assert len(doc["lines"]) == sum(len(s.lines) for s in trace.spans)
    files = {p: Path(p).read_text().split("\n") for p in {ln["file"] for ln in doc["lines"]}}
    for line in doc["lines"]:
        first = files[line["file"]][line["line_no"] - 1]
        assert line["raw"].split("\n")[0] == first
        assert doc["spans"][int(line["span"][1:])]["id"] == line["span"]
    rc = doc["verdict"]["root_cause"]
    assert rc is not None and doc["verdict"]["status"] == "failed"
    assert doc["lines"][rc["line"]]["file"] + ":" + str(doc["lines"][rc["line"]]["line_no"]) == rc["location"]
    assert doc["verdict"]["summary"] == verdict.explanation
    for link in doc["links"]:
        assert link["explanation"].endswith(link["evidence"]) or link["evidence"] in link["explanation"]


def test_json_spans_keep_parents_and_errors(tmp_path: Path) -> None:
    _, trace, verdict = _trace(tmp_path)
    doc = trace_document(trace, verdict)
    by_id = {s["id"]: s for s in doc["spans"]}
    conductor = next(s for s in doc["spans"] if s["service"] == "nova-conductor")
    assert by_id[conductor["parent"]]["service"] == "nova-api"
    assert [doc["lines"][i]["exception"] for i in conductor["errors"]] == ["nova.exception.NoValidHost"]
    placement_409 = next(ln for ln in doc["lines"] if ln["access"] and ln["access"]["status"] == 409)
    assert placement_409["access"]["route"].startswith("/allocations/")
    assert [p["exception_short"] or p["status"] for p in doc["verdict"]["propagated"]] == ["NoValidHost", 500]


def test_json_for_a_successful_request(tmp_path: Path) -> None:
    c = Cloud(tmp_path)
    a = rid()
    c.access("ctl-1", "nova-api", 0.0, "GET", "/v2.1/servers/detail", 200, req=a)
    trace = build_trace(c.source(), a)
    doc = json.loads(render_json(trace, isolate(trace)))
    jsonschema.validate(doc, SCHEMA, cls=jsonschema.Draft202012Validator)
    assert doc["verdict"]["status"] == "ok" and doc["verdict"]["root_cause"] is None


def test_terminal_waterfall(tmp_path: Path) -> None:
    sc, trace, verdict = _trace(tmp_path)
    console = Console(record=True, width=160, color_system=None)
    render_terminal(trace, verdict, console)
    text = console.export_text()
    lines = text.splitlines()
    assert lines[0].startswith("root cause: placement-api on ctl-2 — 409 Conflict")
    rows = [ln for ln in lines if "@" in ln and "█" in ln]
    assert [r.split()[0] for r in rows] == [
        "nova-api@ctl-1",
        "nova-conductor@ctl-1",
        "nova-scheduler@ctl-1",
        "placement-api@ctl-2",
        "placement-api@ctl-2",
    ]
    assert rows[-1].rstrip().endswith("◆ root cause")
    assert "✗ 1 error" in rows[1]
    # bars share one time axis: the root spans the whole width, children start later
    assert rows[0].index("█") < rows[2].index("█") < rows[4].index("█")
    assert f"joined via callee_id at {sc.where['callee_evidence']}" in text
    assert "errors" in lines and any("NoValidHost" in ln for ln in lines)


def test_terminal_fits_80_columns(tmp_path: Path) -> None:
    _, trace, verdict = _trace(tmp_path)
    console = Console(record=True, width=80, color_system=None)
    render_terminal(trace, verdict, console)
    rows = [ln for ln in console.export_text().splitlines() if "█" in ln]
    assert len(rows) == len(trace.spans)
    assert all(len(r) <= 80 for r in rows)


def test_waterfall_bar_geometry() -> None:
    assert waterfall_bar(0.0, 10.0, 0.0, 10.0, 40) == (0, 40)
    assert waterfall_bar(5.0, 5.0, 0.0, 10.0, 40) == (20, 1)  # an instant still shows
    assert waterfall_bar(9.99, 10.0, 0.0, 10.0, 40) == (39, 1)
    assert waterfall_bar(3.0, 3.0, 3.0, 0.0, 40) == (0, 40)  # a single-instant trace


def test_html_is_self_contained_and_script_safe(tmp_path: Path) -> None:
    c = Cloud(tmp_path)
    sc = boot_novalidhost(c)
    c.log(
        "ctl-1",
        "nova-api",
        0.65,
        "WARNING",
        "nova.api",
        "bad name </script><img src=x onerror=alert(1)>",
        req=sc.ids["api"],
    )
    trace = build_trace(c.source(), sc.ids["api"])
    page = render_html(trace, isolate(trace))
    assert page.count("</script>") == 2  # the data block and the code block, nothing from the logs
    data = page.split('<script type="application/json" id="trace-data">')[1].split("</script>")[0]
    # no network: outside the (log) data, the only URL is the SVG namespace, which is never fetched
    outside = page.replace(data, "")
    assert set(re.findall(r"https?://[^\s\"']+", outside)) == {"http://www.w3.org/2000/svg"}
    assert not re.search(r"<link|@import|url\(", outside)
    doc = json.loads(data)
    assert any("</script><img" in ln["raw"] for ln in doc["lines"])
