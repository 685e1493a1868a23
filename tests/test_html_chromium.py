"""The --html page opened in real headless Chromium: the DOM its JavaScript builds is checked."""

from __future__ import annotations

import html
import re
import subprocess
from pathlib import Path

import pytest

from kansoku.tracing.isolate import isolate
from kansoku.tracing.outputs.html_page import render_html
from kansoku.tracing.stitch import build_trace
from tests.conftest import require
from tests.support.scenarios import Cloud, boot_novalidhost

CHROMIUM = "chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def _chromium(tmp_path: Path, *args: str) -> str:
    proc = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory):
    require(CHROMIUM, "chromium")
    root = tmp_path_factory.mktemp("html")
    cloud = Cloud(root / "logs")
    sc = boot_novalidhost(cloud)
    trace = build_trace(cloud.source(), sc.ids["api"])
    verdict = isolate(trace)
    path = root / "trace.html"
    path.write_text(render_html(trace, verdict))
    return root, path, trace, verdict


def test_chromium_renders_waterfall_and_verdict(page) -> None:
    root, path, trace, verdict = page
    dom = _chromium(root, "--dump-dom", path.as_uri())
    assert 'data-rendered="js"' in dom  # our script ran to the end
    rows = re.findall(r'<g class="span-row[^"]*" data-span="(s\d+)"', dom)
    assert rows == [f"s{i}" for i in range(len(trace.spans))]
    verdict_div = re.search(r'<div id="verdict" class="failed">(.*?)</div>', dom, re.S)
    assert verdict_div is not None
    assert html.unescape(verdict_div.group(1)) == verdict.explanation
    # the root-cause span is marked and selected on load, its lines listed with file:line
    root_idx = next(i for i, s in enumerate(trace.spans) if s.key == verdict.root_cause.span)
    assert re.search(rf'<g class="span-row root-cause failing selected" data-span="s{root_idx}"', dom)
    assert "◆ root cause" in dom
    assert "ctl-2/placement-api.log:" in dom and "status: 409" in dom
    assert dom.count('class="log-line') == len(trace.spans[root_idx].lines)
    for span in trace.spans:
        assert f">{span.service}@{span.host}<" in dom
    assert len(re.findall(r"<li class=\"strong\">", dom)) == len(trace.links)


def test_chromium_selects_span_from_url_hash(page) -> None:
    """A link to page.html#s1 opens the conductor's lines, traceback included."""
    root, path, trace, _ = page
    idx = next(i for i, s in enumerate(trace.spans) if s.service == "nova-conductor")
    dom = _chromium(root, "--dump-dom", path.as_uri() + f"#s{idx}")
    assert re.search(rf'<g class="span-row[^"]*selected" data-span="s{idx}"', dom)
    assert "lines of nova-conductor@ctl-1" in dom
    assert 'class="log-line error"' in dom
    assert "NoValidHost_Remote: No valid host was found." in html.unescape(dom)


def test_chromium_screenshot_is_drawn(page) -> None:
    root, path, _, _ = page
    shot = root / "shot.png"
    _chromium(root, "--window-size=1400,800", f"--screenshot={shot}", path.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000  # a blank page is ~5 kB; text, bars and colours make it far larger
