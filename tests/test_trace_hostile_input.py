"""Hostile or damaged log text (issue 11, items 4-6): NUL runs from a crash, ids pasted in any
form, escape sequences in log lines, symbolic links out of the log tree.

The tree is the recorded oslo.log sample (`tests/data/oslo`: a NoValidHost after a placement
409), with the damage a real incident leaves written into it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kansoku.tracing.index import build_index
from kansoku.tracing.isolate import isolate
from kansoku.tracing.sources.index import IndexSource
from kansoku.tracing.stitch import build_trace

DATA = Path(__file__).parent / "data" / "oslo"
KANSOKU = Path(sys.executable).parent / "kansoku"
GLOBAL = "req-1b7e0f4c-2a9d-4c8b-9e61-3f5d7a2c8b90"
CONDUCTOR = "req-9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f"
CLEAR = "\x1b[2J\x1b[H"
LINK = "\x1b]8;;http://evil.example/\x07click here\x1b]8;;\x07"
RLO = "\u202e"


def _tree(tmp_path: Path, *, nul: bool = False, escapes: bool = False) -> Path:
    logs = tmp_path / "logs"
    shutil.copytree(DATA, logs)
    conductor = logs / "ctl-1" / "nova" / "nova-conductor.log"
    text = conductor.read_text()
    error_at = text.index("2026-11-20 10:15:32.217 1901 ERROR nova.conductor.manager [")
    if nul:
        # ext4 after a crash: the file's size grew but the last page was never written, so
        # a run of NULs ends the old content and the restarted service appends after it
        text = text[:error_at] + "\x00" * 700 + text[error_at:]
    if escapes:
        text = text.replace(
            "Failed to schedule instances:", f"Failed to schedule {CLEAR}{LINK}{RLO} instances:", 1
        )
    conductor.write_text(text)
    return logs


def test_nul_run_before_an_error_line_keeps_its_level(tmp_path: Path) -> None:
    logs = _tree(tmp_path, nul=True)
    report = build_index([logs], tmp_path / "st")
    conductor = str((logs / "ctl-1" / "nova" / "nova-conductor.log").absolute())
    assert any(p.startswith(f"{conductor}:3: ") and "NUL" in p for p in report.problems), report.problems
    lines = list(IndexSource(tmp_path / "st").lines_for([CONDUCTOR]))
    errors = [x for x in lines if x.level == "ERROR"]
    assert errors and errors[0].exception == "nova.exception.NoValidHost"
    assert "\x00" not in errors[0].message
    verdict = isolate(build_trace(IndexSource(tmp_path / "st"), GLOBAL, False))
    assert verdict.root_cause is not None
    failed = [verdict.root_cause, *verdict.propagated, *verdict.others]
    assert ("nova-conductor", "nova.exception.NoValidHost") in {(e.span.service, e.exception) for e in failed}


@pytest.mark.parametrize(
    "pasted",
    [
        GLOBAL.upper(),
        f"request_id={GLOBAL.upper()}",
        f"  '{GLOBAL}',\n",
        f"[{GLOBAL} {CONDUCTOR}",
        f"X-OpenStack-Request-ID: {GLOBAL}",
        GLOBAL.removeprefix("req-").upper(),
    ],
)
def test_ids_are_found_in_the_form_operators_paste(tmp_path: Path, pasted: str) -> None:
    logs = _tree(tmp_path)
    build_index([logs], tmp_path / "st")
    want = build_trace(IndexSource(tmp_path / "st"), GLOBAL, False)
    got = build_trace(IndexSource(tmp_path / "st"), pasted, False)
    assert got.query == (GLOBAL if pasted.lower().count("req-") else GLOBAL.removeprefix("req-"))
    assert {s.key for s in got.spans} == {s.key for s in want.spans} and want.spans
    out = subprocess.run(
        [str(KANSOKU), "trace", pasted, "--store", str(tmp_path / "st")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert f"trace {got.query}:" in out.stdout


def _trace_tty(store: Path, *extra: str) -> str:
    env = {**os.environ, "FORCE_COLOR": "1", "TERM": "xterm-256color", "COLUMNS": "160"}
    env.pop("NO_COLOR", None)
    out = subprocess.run(
        [str(KANSOKU), "trace", GLOBAL, "--store", str(store), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout + out.stderr


def test_escape_sequences_in_log_lines_are_shown_not_replayed(tmp_path: Path) -> None:
    logs = _tree(tmp_path, escapes=True)
    build_index([logs], tmp_path / "st")
    text = _trace_tty(tmp_path / "st")
    assert "\x1b[2J" not in text and "\x1b[H" not in text  # clear screen, cursor home
    assert "\x1b]8;;" not in text and "\x07" not in text  # a forged hyperlink
    assert RLO not in text
    assert "\\x1b[2J\\x1b[H\\x1b]8;;http://evil.example/\\x07click here" in text
    assert "\\u202e" in text
    assert "\x1b[" in text  # rich's own colours are still there: only log text is escaped


def test_symlink_out_of_the_tree_is_not_followed(tmp_path: Path) -> None:
    logs = _tree(tmp_path)
    secret = tmp_path / "outside" / "shadow"
    secret.parent.mkdir()
    secret.write_text("root:$6$kansoku-test-secret-hash:19000:0:99999:7:::\n")
    link = logs / "ctl-1" / "nova" / "nova-api.log"
    link.symlink_to(secret)
    inside = logs / "ctl-1" / "nova" / "nova-scheduler.log"
    inside.symlink_to(logs / "ctl-1" / "nova" / "nova-conductor.log")  # stays in the tree
    loop = logs / "ctl-1" / "loop"
    loop.symlink_to(logs / "ctl-1")
    out = subprocess.run(
        [str(KANSOKU), "index", str(logs), "--store", str(tmp_path / "st")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "kansoku-test-secret-hash" not in out.stdout + out.stderr
    assert f"{link}: symbolic link to {secret}, outside the given paths; not followed" in out.stdout
    store_text = b"".join(p.read_bytes() for p in (tmp_path / "st").rglob("*") if p.is_file())
    assert b"kansoku-test-secret-hash" not in store_text and str(secret).encode() not in store_text
    src = IndexSource(tmp_path / "st")
    conductor_lines = list(src.lines_for([CONDUCTOR]))
    assert {x.file for x in conductor_lines} == {str(logs / "ctl-1" / "nova" / "nova-conductor.log")}
    # asked for, it is followed (and the loop does not hang the walk)
    report = build_index([logs], tmp_path / "st2", follow_links=True)
    manifest = (tmp_path / "st2" / "manifest.json").read_text()
    assert str(link) in manifest and not any("symbolic link" in p for p in report.problems)


def test_numbers_beyond_any_format_are_text_not_a_traceback(tmp_path: Path) -> None:
    """Garbage a damaged `.gz` decodes to can look like a header or an access line with numbers
    no format has: `time: 0.045122023.0.` (seen in CI), or a 5,000-digit pid, fraction or
    `len:` (beyond int()'s 4,300-digit limit). Index, trace and stats answer; nothing raises."""
    logs = tmp_path / "logs" / "ctl-1"
    logs.mkdir(parents=True)
    big = "9" * 5000
    head = f"2026-11-20 10:15:32.217 1901 INFO nova.api.openstack.requestlog [{GLOBAL} - - - - -]"
    lines = [
        f"2026-11-20 10:15:32.{big} 1901 INFO nova.api [{GLOBAL} - - - - -] fraction",
        f"2026-11-20 10:15:32.217 {big} INFO nova.api [{GLOBAL} - - - - -] pid",
        f'{head} 10.0.0.1 "GET /v2.1/servers HTTP/1.1" status: 200 len: 5 time: 0.045122023.0.',
        f'{head} 10.0.0.1 "GET /v2.1/servers HTTP/1.1" status: 200 len: {big} time: 0.1',
        f'{head} 10.0.0.1 - - [20/Nov/2026:10:15:32 +0000] "GET /v3 HTTP/1.1" 200 {big} "-" "ua" {big}',
    ]
    (logs / "nova-api.log").write_text("\n".join(lines) + "\n")
    build_index([tmp_path / "logs"], tmp_path / "st")
    found = list(IndexSource(str(tmp_path / "st")).lines_for([GLOBAL]))
    assert len(found) == len(lines)
    access = [x.access for x in found if x.access is not None]
    assert [a.duration for a in access[:1]] == [0.045122023]  # the number before the garbage
    for cmd in (["trace", GLOBAL, "--json"], ["trace", "stats"]):
        res = subprocess.run(
            [str(KANSOKU), *cmd, "--store", str(tmp_path / "st")], capture_output=True, text=True, check=False
        )
        assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr[-2000:]
