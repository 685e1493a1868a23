"""The demo cloud generator: formats as oslo.log really writes them, determinism, rotation, truth.

Formats are checked against oslo.log itself: sample lines are re-rendered by oslo.log's own
ContextFormatter / JSONFormatter from the fields they carry, and must come out identical
(text) or with the same keys (JSON).
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import logging
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kansoku.ids import REQUEST_ID_RE
from kansoku.tracing.demo.chains import generate_cloud
from kansoku.tracing.demo.faults import FAULT_KINDS
from kansoku.tracing.demo.generate import generate
from kansoku.tracing.demo.truth import GroundTruth

SEED = 4242

#: oslo.log's logging_context_format_string / logging_default_format_string, as a regex.
HEAD_RE = re.compile(
    r"^(?P<date>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(?P<ms>\d{3}) (?P<pid>\d+) "
    r"(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) (?P<name>[\w.]+) "
    r"(?:\[(?P<ctx>-|(?!instance: )[^\]]+)\] (?P<rest>.*)|(?P<tb>.*))$"
)
CTX_RE = re.compile(
    r"^(?P<gid>None|req-[0-9a-f-]{36}) (?P<rid>req-[0-9a-f-]{36}) "
    r"(?P<user>\S+) (?P<project>\S+) (?P<domain>\S+) (?P<scope>\S+) (?P<udom>\S+) (?P<pdom>\S+)$"
)
LEGACY_CTX_RE = re.compile(r"^(?P<rid>req-[0-9a-f-]{36}) (\S+) (\S+) (\S+) (\S+) (\S+)$")
DEBUG_SUFFIX_RE = re.compile(r" (?P<func>\w+) (?P<path>/\S+\.py):(?P<lineno>\d+)$")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GroundTruth]:
    out = tmp_path_factory.mktemp("cloud")
    return out, generate_cloud(out, seed=SEED)  # with the two-step faults: their lines are checked too


def _open_text(path: Path) -> Iterator[str]:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            yield from (line.rstrip("\n") for line in f)
    else:
        with open(path, encoding="utf-8") as f:
            yield from (line.rstrip("\n") for line in f)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/*.log*"))


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in _files(root)}


def test_same_seed_same_bytes_other_seed_other_bytes(cloud: tuple[Path, GroundTruth], tmp_path: Path) -> None:
    root, truth = cloud
    again = generate_cloud(tmp_path / "again", seed=SEED)
    assert _digest(tmp_path / "again") == _digest(root)
    assert again.to_json() == truth.to_json()
    other = generate_cloud(tmp_path / "other", seed=SEED + 1)
    assert other.faults[0].request_id != truth.faults[0].request_id
    assert _digest(tmp_path / "other") != _digest(root)


#: sha256 over (path, sha256 of the decompressed content) of every file `generate_cloud` writes
#: with the default seed and scale, ground-truth.json included: computed before the generator
#: became a package (tracing/demo_gen.py), so a refactoring that changes one byte fails here.
PINNED_CORPUS = "f6886861e7fee710d8553fa73212baa84fbfd9622a7c252c6a0a84ce62c84652"


def corpus_hash(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            data = gzip.decompress(data)  # the content, not gzip's framing
        h.update(f"{path.relative_to(root)}\0{hashlib.sha256(data).hexdigest()}\n".encode())
    return h.hexdigest()


def test_the_default_corpus_is_byte_for_byte_the_pinned_one(tmp_path: Path) -> None:
    generate_cloud(tmp_path / "demo")
    assert corpus_hash(tmp_path / "demo") == PINNED_CORPUS


def test_layout_hosts_services_and_rotation(cloud: tuple[Path, GroundTruth]) -> None:
    root, truth = cloud
    assert {"ctl-1", "ctl-2", "ctl-3", "net-1", "stor-1", "cmp-1", "cmp-4"} <= set(truth.hosts)
    services = {s for svcs in truth.hosts.values() for s in svcs}
    assert {
        "keystone",
        "nova-api",
        "nova-conductor",
        "nova-scheduler",
        "placement-api",
        "nova-compute",
        "neutron-server",
        "neutron-openvswitch-agent",
        "neutron-dhcp-agent",
        "neutron-l3-agent",
        "glance-api",
        "cinder-api",
        "cinder-scheduler",
        "cinder-volume",
    } == services
    for host, svcs in truth.hosts.items():
        for svc in svcs:
            base = root / host / f"{svc}.log"
            assert base.exists() and base.with_name(f"{svc}.log.1").exists(), base
            gz = base.with_name(f"{svc}.log.2.gz")
            assert gz.read_bytes()[:2] == b"\x1f\x8b", gz  # real gzip
            # rotation keeps time order: everything in .2.gz is older than .log.1, older than .log
            firsts = []
            for path in (gz, base.with_name(f"{svc}.log.1"), base):
                stamps = [ts for ts in map(_ts, _open_text(path)) if ts is not None]
                assert stamps == sorted(stamps), f"{path} not in time order"
                firsts.append((stamps[0], stamps[-1]) if stamps else None)
            spans = [f for f in firsts if f is not None]
            assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), base
    assert sorted(str(p.relative_to(root)) for p in _files(root)) == truth.files


def _ts(line: str) -> str | None:
    if line.startswith("{"):
        return str(json.loads(line)["asctime"]).replace(",", ".")
    m = HEAD_RE.match(line)
    return f"{m['date']}.{m['ms']}" if m else None


def _oslo_conf() -> object:
    from oslo_config import cfg
    from oslo_log import log

    conf = cfg.ConfigOpts()
    log.register_options(conf)
    conf([], project="kansoku-test")
    return conf


def test_every_text_line_is_oslo_log_format(cloud: tuple[Path, GroundTruth]) -> None:
    root, truth = cloud
    n_records = n_tb = n_default = n_legacy = n_cont = 0
    for path in _files(root):
        service = path.name.split(".log")[0]
        if service in truth.json_services:
            continue
        legacy = service in truth.legacy_services
        for line in _open_text(path):
            m = HEAD_RE.match(line)
            if m is None:
                # a message with a newline (nova's "Unexpected API Error ...\n<class ...>"):
                # oslo.log writes the rest as plain continuation lines
                assert line.startswith("<class '"), f"{path}: not an oslo.log line: {line!r}"
                n_cont += 1
                continue
            if m["ctx"] is None:
                # a traceback line: logging_exception_prefix (always ERROR) + the traceback text
                assert m["level"] == "ERROR", line
                n_tb += 1
                continue
            n_records += 1
            if m["ctx"] == "-":
                n_default += 1
            elif legacy:
                assert LEGACY_CTX_RE.match(m["ctx"]), line
                n_legacy += 1
            else:
                c = CTX_RE.match(m["ctx"])
                assert c is not None, f"{path}: bad context {m['ctx']!r}"
                assert REQUEST_ID_RE.fullmatch(c["rid"])
            if m["level"] == "DEBUG":
                assert DEBUG_SUFFIX_RE.search(line), f"DEBUG line without the debug suffix: {line}"
    assert n_records > 10_000 and n_tb > 20 and n_default > 100 and n_legacy > 5 and n_cont >= 1


def _rerender(line: str, conf: object) -> str:
    """Rebuild `line` with oslo.log's ContextFormatter from the fields it shows."""
    from oslo_context import context
    from oslo_log import formatters

    m = HEAD_RE.match(line)
    assert m is not None and m["ctx"] is not None
    c = CTX_RE.match(m["ctx"]) if m["ctx"] != "-" else None
    rest = m["rest"]
    instance = None
    if rest.startswith("[instance: "):
        instance, rest = rest[len("[instance: ") : rest.index("]")], rest[rest.index("]") + 2 :]
    func, path, lineno = "f", "/x.py", 1
    if m["level"] == "DEBUG":
        d = DEBUG_SUFFIX_RE.search(rest)
        assert d is not None
        func, path, lineno = d["func"], d["path"], int(d["lineno"])
        rest = rest[: d.start()]
    created = time.mktime(time.strptime(m["date"], "%Y-%m-%d %H:%M:%S")) - time.timezone
    record = logging.LogRecord(m["name"], getattr(logging, m["level"]), path, lineno, rest, None, None, func)
    record.created = created + int(m["ms"]) / 1000 + 0.0004
    record.msecs = int(m["ms"])
    record.process = int(m["pid"])
    if instance:
        record.instance_uuid = instance
    ctx = None
    if c is not None:
        ctx = context.RequestContext(
            request_id=c["rid"],
            global_request_id=None if c["gid"] == "None" else c["gid"],
            user_id=None if c["user"] == "-" else c["user"],
            project_id=None if c["project"] == "-" else c["project"],
            user_domain_id=None if c["udom"] == "-" else c["udom"],
            project_domain_id=None if c["pdom"] == "-" else c["pdom"],
            overwrite=False,
        )
    record.context = ctx  # type: ignore[attr-defined]
    fmt = formatters.ContextFormatter(config=conf, datefmt="%Y-%m-%d %H:%M:%S")  # oslo log_date_format
    fmt.converter = time.gmtime  # type: ignore[method-assign]
    return fmt.format(record)


def test_text_lines_are_what_oslo_log_itself_writes(cloud: tuple[Path, GroundTruth]) -> None:
    """Context lines (with a global id, without, periodic `- - - - - -`, DEBUG suffix, instance)."""
    root, _ = cloud
    conf = _oslo_conf()
    seen: dict[str, int] = {}
    paths = [
        root / "ctl-1" / "nova-api.log",
        root / "cmp-2" / "nova-compute.log",
        root / "ctl-2" / "keystone.log",
    ]
    paths += [root / "ctl-1" / "glance-api.log", root / "ctl-2" / "cinder-api.log"]  # global ids
    for path in paths:
        for line in _open_text(path):
            m = HEAD_RE.match(line)
            summary = m is not None and m["level"] in ("WARNING", "ERROR") and ": " in (m["rest"] or "")
            if m is None or m["ctx"] in (None, "-") or summary:
                continue  # tracebacks and error summaries need an exc_info to re-render
            kind = ("global " if not m["ctx"].startswith("None") else "") + m["level"]
            kind += " instance" if "[instance: " in line else ""
            if seen.get(kind, 0) >= 5:
                continue
            seen[kind] = seen.get(kind, 0) + 1
            assert _rerender(line, conf) == line
    assert {"DEBUG", "INFO", "global INFO", "INFO instance", "DEBUG instance"} <= set(seen)


def test_every_json_line_has_oslo_jsonformatter_keys(cloud: tuple[Path, GroundTruth]) -> None:
    from oslo_context import context
    from oslo_log import formatters

    root, truth = cloud
    record = logging.LogRecord("placement.requestlog", logging.INFO, "/x.py", 1, "hello", None, None, "f")
    record.context = context.RequestContext(request_id="req-x", overwrite=False)  # type: ignore[attr-defined]
    reference = json.loads(formatters.JSONFormatter().format(record))
    n = 0
    for path in _files(root):
        if path.name.split(".log")[0] not in truth.json_services:
            continue
        for line in _open_text(path):
            obj = json.loads(line)
            assert list(obj) == list(reference), f"{path}: keys differ from oslo.log's JSONFormatter"
            ctx = obj["context"]
            if ctx:
                assert set(ctx) == set(reference["context"]), path
                assert REQUEST_ID_RE.fullmatch(ctx["request_id"])
            assert obj["levelno"] == getattr(logging, obj["levelname"])
            n += 1
    assert n > 2000


def test_ground_truth_matches_the_logs(cloud: tuple[Path, GroundTruth]) -> None:
    root, truth = cloud
    assert sorted(f.kind for f in truth.faults) == sorted(FAULT_KINDS)
    assert truth == GroundTruth.load(root / "ground-truth.json")
    text_of: dict[tuple[str, str], str] = {}
    for path in _files(root):
        key = (path.name.split(".log")[0], path.parent.name)
        text_of[key] = text_of.get(key, "") + "\n".join(_open_text(path))
    for fault in truth.faults:
        assert REQUEST_ID_RE.fullmatch(fault.request_id)
        assert f"{fault.root_service}@{fault.root_host}" in fault.services + fault.reachable
        for where in fault.services:
            service, host = where.split("@")
            assert fault.request_id in text_of[(service, host)], f"{fault.kind}: id not in {where}"
        for where in fault.reachable:
            service, host = where.split("@")
            assert fault.request_id not in text_of[(service, host)], f"{fault.kind}: {where} is direct"
        # the evidence is on a line of the root-cause service and host
        assert fault.evidence in text_of[(fault.root_service, fault.root_host)], fault.kind
        if fault.exception:
            assert fault.exception in text_of[(fault.root_service, fault.root_host)], fault.kind
        # every file named holds the id or a line of the request
        assert fault.files and all((root / f).exists() for f in fault.files)
    # faults are spread over the rotated files too, so tracing must read .1 and .gz
    assert any(f.endswith(".gz") for fault in truth.faults for f in fault.files)
    assert any(f.endswith(".log.1") for fault in truth.faults for f in fault.files)


def test_fault_lines_carry_the_real_upstream_texts(cloud: tuple[Path, GroundTruth]) -> None:
    root, truth = cloud
    by_kind = {f.kind: f for f in truth.faults}
    conductor = "\n".join(
        line
        for p in root.glob("ctl-*/nova-conductor.log*")
        for line in _open_text(p)
        if "NoValidHost" in line
    )
    assert (
        "Failed to schedule instances: nova.exception_Remote.NoValidHost_Remote: No valid host" in conductor
    )
    compute = "\n".join(line for p in root.glob("cmp-*/nova-compute.log*") for line in _open_text(p))
    assert "nova.exception.PortBindingFailed: Binding failed for port" in compute
    assert "Instance failed to spawn: nova.exception.PortBindingFailed" in compute
    api = "\n".join(line for p in root.glob("ctl-*/nova-api.log*") for line in _open_text(p))
    assert "WARNING keystonemiddleware.auth_token [None " + by_kind["expired_token"].request_id in api
    assert "MessagingTimeout: Timed out waiting for a reply to message ID" in api
    assert re.search(r"used request id req-[0-9a-f-]{36}", api)
    keystone = "\n".join(line for p in root.glob("ctl-*/keystone.log*") for line in _open_text(p))
    # keystone's token validation lines never carry a caller's global id
    assert re.search(r"DEBUG keystone\S+ \[None req-\S+ \S+ \S+ - - default default\] PATH_INFO", keystone)
    # keystone's own 401s (a wrong password) under its own id, no user yet
    assert re.search(
        r"WARNING keystone.server.flask.application \[None req-\S+ - - - - - -\] Authorization failed\. ",
        keystone,
    )


def test_big_request_spans_ten_services_and_two_thousand_lines(cloud: tuple[Path, GroundTruth]) -> None:
    root, truth = cloud
    big = truth.big_request
    assert big is not None
    assert len(big.services) >= 10 and big.lines >= 2000
    holding = {p.name.split(".log")[0] for p in _files(root) if big.request_id in "\n".join(_open_text(p))}
    assert len(holding) >= 10


def test_target_bytes_keeps_generating(tmp_path: Path) -> None:
    truth = generate(tmp_path, seed=1, target_bytes=30_000_000)
    assert truth.total_bytes >= 30_000_000
    on_disk = sum(
        len(gzip.decompress(p.read_bytes())) if p.name.endswith(".gz") else p.stat().st_size
        for p in _files(tmp_path)
    )
    assert on_disk == truth.total_bytes
    assert sorted(f.kind for f in truth.faults) == sorted(FAULT_KINDS)


def test_refuses_to_overwrite_a_real_log_tree(tmp_path: Path) -> None:
    from kansoku.errors import KansokuError

    real = tmp_path / "var-log"
    (real / "nova").mkdir(parents=True)
    (real / "nova" / "nova-api.log").write_text("2026-11-20 06:00:00.000 1 INFO x [-] mine\n")
    with pytest.raises(KansokuError, match="not a demo cloud"):
        generate(real, seed=1)
    assert (real / "nova" / "nova-api.log").read_text().endswith("mine\n")
    with pytest.raises(KansokuError, match="scale must be >= 1"):
        generate(tmp_path / "x", scale=0)
    proc = subprocess.run(
        [sys.executable, "-m", "kansoku.tracing.demo", str(real)], capture_output=True, text=True
    )
    assert proc.returncode == 1 and "not a demo cloud" in proc.stderr and "Traceback" not in proc.stderr


def test_formats_are_configurable_per_service(tmp_path: Path) -> None:
    truth = generate(tmp_path, seed=7, json_services=frozenset({"nova-compute"}), legacy_services=frozenset())
    binding = next(f for f in truth.faults if f.kind == "port_binding_failed")
    compute = [f for f in binding.files if "nova-compute" in f]
    assert compute
    records = [json.loads(line) for f in compute for line in _open_text(tmp_path / f)]
    failed = [r for r in records if r["message"] == "Instance failed to spawn"]
    assert failed and failed[0]["traceback"].endswith("please check neutron logs for more information.")
    assert failed[0]["error_summary"].startswith("nova.exception.PortBindingFailed: ")
    assert failed[0]["extra"]["instance"]["uuid"]
    assert failed[0]["context"]["request_id"] == binding.request_id
    # neutron-server is text now, and cinder-volume writes the current format with a global id
    line = next(_open_text(tmp_path / "ctl-1" / "neutron-server.log"))
    assert HEAD_RE.match(line)
    heads = [HEAD_RE.match(ln) for ln in _open_text(tmp_path / "stor-1" / "cinder-volume.log")]
    contexts = [m["ctx"] for m in heads if m is not None and m["ctx"] not in (None, "-")]
    assert contexts and all(CTX_RE.match(c) for c in contexts)
