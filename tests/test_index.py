"""The on-disk index: lookups agree with a full scan, incremental runs, rotation, gzip, bad input."""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import shutil
import tempfile
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from kansoku.errors import KansokuError
from kansoku.tracing.index import IndexReport, Store, build_index, gz_cache, id_key, postings
from kansoku.tracing.ingest.files import (
    DefaultRule,
    PatternRule,
    discover,
    make_rule,
    read_chunks,
    strip_rotation,
)
from kansoku.tracing.ingest.records import iter_records
from kansoku.tracing.model import LogLine
from kansoku.tracing.sources.index import IndexSource

DATA = Path(__file__).parent / "data" / "oslo"
T0 = "2026-11-20 10:{:02d}:{:02d}.{:03d}"


def _req() -> str:
    return f"req-{uuid.uuid4()}"


def _text_record(rng: random.Random, i: int, gid: str | None, rid: str, inst: str, error: bool) -> str:
    ts = T0.format((i // 600) % 60, (i // 10) % 60, i % 1000)
    ctx = f"[{gid or 'None'} {rid} 0f4e3d2c1b0a49586776655443322110 5a6b7c8d9e0f41a2b3c4d5e6f7a8b9c0 - default default]"
    if not error:
        msg = rng.choice(
            [
                f"[instance: {inst}] Claim successful on node cmp-{rng.randint(1, 9)}",
                f"GET call to placement for http://10.0.0.10/placement/allocations/{inst} used request id {_req()}",
                f'10.0.0.11 "GET /v2.1/servers/{inst} HTTP/1.1" status: 200  len: 1834 time: 0.0451220',
            ]
        )
        return f"{ts} 1901 INFO nova.compute.manager {ctx} {msg}\n"
    head = f"{ts} 1901 ERROR nova.compute.manager"
    tb = [
        "Traceback (most recent call last):",
        '  File "/usr/lib/python3/dist-packages/nova/compute/manager.py", line 2615, in _build_resources',
        "    yield resources",
        "nova.exception.PortBindingFailed: Binding failed for port 27d514c6-2b51-4149-af3a-1165404a8978",
        "",
    ] * rng.randint(1, 40)  # long tracebacks straddle block boundaries
    lines = [f"{head} {ctx} [instance: {inst}] Instance failed to spawn: nova.exception.PortBindingFailed: x"]
    lines += [f"{head} [instance: {inst}] {t}" for t in tb]
    return "\n".join(lines) + "\n"


def _json_record(i: int, gid: str | None, rid: str, inst: str) -> str:
    obj = {
        "message": f"Port for instance {inst} bound on host cmp-3",
        "asctime": T0.format((i // 600) % 60, (i // 10) % 60, 0)[:19],
        "name": "neutron.plugins.ml2.managers",
        "levelname": "INFO",
        "created": 1795601729.0 + i,
        "process": 812,
        "traceback": None,
        "context": {"request_id": rid, "global_request_id": gid, "user": None, "project": None},
        "extra": {},
    }
    return json.dumps(obj) + "\n"


def _write_corpus(root: Path, seed: int = 7, records: int = 6000) -> list[str]:
    """`<host>/<service>.log` files of several blocks each; returns ids to look up."""
    rng = random.Random(seed)
    gids = [_req() for _ in range(60)]
    insts = [str(uuid.uuid4()) for _ in range(60)]
    ids: list[str] = []
    files: dict[Path, list[str]] = {
        root / "ctl-1" / "nova-api.log": [],
        root / "cmp-3" / "nova-compute.log": [],
        root / "ctl-1" / "neutron-server.log": [],
    }
    paths = list(files)
    for i in range(records):
        k = rng.randrange(60)
        rid = _req()
        ids.append(rid)
        path = paths[i % 3]
        if path.name == "neutron-server.log":
            files[path].append(_json_record(i, gids[k], rid, insts[k]))
        else:
            files[path].append(_text_record(rng, i, gids[k], rid, insts[k], error=rng.random() < 0.03))
    for path, recs in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(recs))
    return gids[:8] + insts[:4] + rng.sample(ids, 12)


def _all_records(root: Path) -> list[LogLine]:
    """The oracle's input: every record of every file, parsed by a full scan."""
    files, _ = discover([root])
    out: list[LogLine] = []
    for lf in files:
        data = b"".join(read_chunks(lf.path))
        out += [
            r for r in iter_records(io.BytesIO(data), lf.path, lf.service, lf.host) if isinstance(r, LogLine)
        ]
    return out


def _lookup(store: Path, ids: list[str]) -> list[LogLine]:
    return list(IndexSource(store).lines_for(ids))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str], IndexReport]]:
    root = tmp_path_factory.mktemp("corpus")
    ids = _write_corpus(root / "logs")
    report = build_index([root / "logs"], root / "store")
    yield root, ids, report


def test_build_report(corpus: tuple[Path, list[str], IndexReport]) -> None:
    root, _, report = corpus
    total = sum(p.stat().st_size for p in (root / "logs").rglob("*.log"))
    assert report.files_seen == 3 and report.files_indexed == 3
    assert report.new_bytes == total
    assert report.lines == sum(p.read_bytes().count(b"\n") for p in (root / "logs").rglob("*.log"))
    assert report.problems == []
    manifest = json.loads((root / "store" / "manifest.json").read_text())
    assert all(f["blocks"] > 3 for f in manifest["files"])  # the lookups below cross blocks
    assert all(f["first_ts"] and f["last_ts"] for f in manifest["files"])


def test_lookup_matches_a_full_scan(corpus: tuple[Path, list[str], IndexReport]) -> None:
    root, ids, _ = corpus
    records = _all_records(root / "logs")
    for one in ids:
        got = _lookup(root / "store", [one])
        assert got, one
        assert {(x.file, x.line_no) for x in got} == {(r.file, r.line_no) for r in records if one in r.raw}
        assert all(one in x.raw for x in got)


def test_tracebacks_come_back_whole(corpus: tuple[Path, list[str], IndexReport]) -> None:
    root, ids, _ = corpus
    errors = [x for x in _lookup(root / "store", ids[:8]) if x.level == "ERROR"]
    assert errors
    for err in errors:
        assert err.exception == "nova.exception.PortBindingFailed"
        assert err.raw.count("Traceback (most recent call last):") * 5 == err.n_lines - 1


def test_unknown_id_finds_nothing_and_describe_says_where(
    corpus: tuple[Path, list[str], IndexReport],
) -> None:
    root, _, _ = corpus
    src = IndexSource(root / "store")
    assert list(src.lines_for([_req()])) == []
    assert list(src.lines_for(["not-an-id"])) == []
    text = src.describe()
    assert text.startswith("3 files (indexed up to log time 2026-11-20 ")


def test_index_is_small(corpus: tuple[Path, list[str], IndexReport]) -> None:
    root, _, _ = corpus
    logs = sum(p.stat().st_size for p in (root / "logs").rglob("*.log"))
    store = sum(p.stat().st_size for p in (root / "store").rglob("*") if p.is_file())
    assert store < logs * 0.10


def test_id_key_ignores_req_prefix_and_case() -> None:
    u = str(uuid.uuid4())
    assert id_key(u) == id_key(f"req-{u}") == id_key(u.upper())
    assert id_key("no uuid in here") is None


def _copy_samples(dst: Path) -> Path:
    shutil.copytree(DATA, dst)
    return dst


def test_samples_tree_services_hosts_and_lookup(tmp_path: Path) -> None:
    logs = _copy_samples(tmp_path / "logs")
    report = build_index([logs], tmp_path / "st")
    assert report.problems == []
    gid = "req-1b7e0f4c-2a9d-4c8b-9e61-3f5d7a2c8b90"
    got = _lookup(tmp_path / "st", [gid])
    where = sorted({(x.service, x.host) for x in got})
    assert where == [("nova-conductor", "ctl-1"), ("placement-api", "ctl-1")]
    assert {(x.file.rsplit("/", 1)[1], x.line_no) for x in got} == {
        ("nova-conductor.log", 3),
        ("nova-conductor.log", 20),
        ("placement-api.log", 1),
        ("placement-api.log", 2),
    }


def test_incremental_run_reads_only_new_bytes(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "ctl-1" / "nova-api.log"
    log.parent.mkdir(parents=True)
    rng = random.Random(1)
    first = "".join(_text_record(rng, i, _req(), _req(), str(uuid.uuid4()), False) for i in range(500))
    log.write_text(first)
    r1 = build_index([tmp_path / "logs"], tmp_path / "st")
    assert r1.new_bytes == len(first.encode())
    r2 = build_index([tmp_path / "logs"], tmp_path / "st")
    assert (r2.new_bytes, r2.lines, r2.files_indexed) == (0, 0, 0)
    new_id = _req()
    more = _text_record(rng, 501, None, new_id, str(uuid.uuid4()), True)
    with open(log, "a") as fh:
        fh.write(more)
    r3 = build_index([tmp_path / "logs"], tmp_path / "st")
    assert r3.new_bytes == len(more.encode())
    got = _lookup(tmp_path / "st", [new_id])
    assert len(got) == 1 and got[0].line_no == 501 and got[0].exception == "nova.exception.PortBindingFailed"


def test_partial_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "h" / "nova-api.log"
    log.parent.mkdir(parents=True)
    rid = _req()
    line = _text_record(random.Random(2), 1, None, rid, str(uuid.uuid4()), False)
    log.write_text(line[:50])  # a writer is in the middle of the line
    assert build_index([tmp_path / "logs"], tmp_path / "st").new_bytes == 0
    log.write_text(line)
    assert build_index([tmp_path / "logs"], tmp_path / "st").new_bytes == len(line)
    assert len(_lookup(tmp_path / "st", [rid])) == 1


def test_rotation_rename_then_recompress(tmp_path: Path) -> None:
    logs = tmp_path / "logs" / "ctl-1"
    logs.mkdir(parents=True)
    rng = random.Random(3)
    old_id, new_id = _req(), _req()
    live = logs / "nova-api.log"
    live.write_text(_text_record(rng, 1, None, old_id, str(uuid.uuid4()), False))
    build_index([tmp_path / "logs"], tmp_path / "st")
    # logrotate: nova-api.log -> nova-api.log.1, a fresh nova-api.log
    os.rename(live, logs / "nova-api.log.1")
    fresh = _text_record(rng, 2, None, new_id, str(uuid.uuid4()), False)
    live.write_text(fresh)
    r = build_index([tmp_path / "logs"], tmp_path / "st")
    assert r.new_bytes == len(fresh)  # the renamed file is not read again
    assert r.rotated == [f"{live.absolute()} -> {(logs / 'nova-api.log.1').absolute()}"]
    (hit,) = _lookup(tmp_path / "st", [old_id])
    assert hit.file.endswith("nova-api.log.1") and hit.service == "nova-api"
    # next rotation with delaycompress: .1 -> .2.gz, the live file -> .1
    with open(logs / "nova-api.log.1", "rb") as src, gzip.open(logs / "nova-api.log.2.gz", "wb") as dst:
        dst.write(src.read())
    os.unlink(logs / "nova-api.log.1")
    os.rename(live, logs / "nova-api.log.1")
    r = build_index([tmp_path / "logs"], tmp_path / "st")
    assert r.new_bytes == 0
    (hit,) = _lookup(tmp_path / "st", [old_id])
    assert hit.file.endswith("nova-api.log.2.gz") and hit.line_no == 1
    manifest = json.loads((tmp_path / "st" / "manifest.json").read_text())
    (gz_entry,) = [f for f in manifest["files"] if f["path"].endswith(".2.gz")]
    assert gz_entry["gz_blocks"] == gz_entry["blocks"] == 1  # the seekable copy was written
    (hit,) = _lookup(tmp_path / "st", [new_id])
    assert hit.file.endswith("nova-api.log.1")


def test_truncation_starts_over(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "h" / "glance-api.log"
    log.parent.mkdir(parents=True)
    rng = random.Random(4)
    gone, fresh = _req(), _req()
    log.write_text("".join(_text_record(rng, i, None, gone, str(uuid.uuid4()), False) for i in range(20)))
    build_index([tmp_path / "logs"], tmp_path / "st")
    text = _text_record(rng, 1, None, fresh, str(uuid.uuid4()), False)
    log.write_text(text)  # copytruncate, then a new line
    r = build_index([tmp_path / "logs"], tmp_path / "st")
    assert r.truncated == [str(log.absolute())]
    assert r.new_bytes == len(text)
    assert _lookup(tmp_path / "st", [gone]) == []
    assert [x.line_no for x in _lookup(tmp_path / "st", [fresh])] == [1]


def test_gzip_and_corrupt_gzip(tmp_path: Path) -> None:
    logs = tmp_path / "logs" / "h"
    logs.mkdir(parents=True)
    rng = random.Random(5)
    ids = [_req() for _ in range(3000)]
    text = "".join(_text_record(rng, i, None, rid, str(uuid.uuid4()), False) for i, rid in enumerate(ids))
    good = gzip.compress(text.encode())
    (logs / "cinder-api.log.2.gz").write_bytes(good)
    (logs / "nova-api.log.3.gz").write_bytes(good[: len(good) * 2 // 3])  # truncated
    r = build_index([tmp_path / "logs"], tmp_path / "st")
    assert r.problems == [
        f"{(logs / 'nova-api.log.3.gz').absolute()}: truncated gzip file; lines before the damage were read"
    ]
    got = _lookup(tmp_path / "st", [ids[0]])
    assert sorted((x.service, x.line_no) for x in got) == [("cinder-api", 1), ("nova-api", 1)]
    assert [x.service for x in _lookup(tmp_path / "st", [ids[-1]])] == ["cinder-api"]
    # everything before the damage is there
    readable = sum(1 for _ in iter_records((b"".join(_safe_chunks(logs / "nova-api.log.3.gz"))).splitlines()))
    assert readable > 1000
    assert any(x.service == "nova-api" for x in _lookup(tmp_path / "st", [ids[readable // 2]]))


@pytest.mark.parametrize("cut_in", ["header", "message"])
def test_a_gzip_cut_inside_a_line_is_one_problem_and_the_cut_line_is_kept(
    tmp_path: Path, cut_in: str
) -> None:
    """The damage names the file once; the half line it leaves is indexed, not reported again
    as a malformed line (it was a random flake while the cut point came from uuid4 text)."""
    logs = tmp_path / "logs" / "h"
    logs.mkdir(parents=True)
    rng = random.Random(6)
    ids = [_req() for _ in range(40)]
    records = [_text_record(rng, i, None, rid, str(uuid.UUID(int=i)), False) for i, rid in enumerate(ids)]
    head = "".join(records[:30])
    last = records[30]
    # cut 25 characters in (inside the 'pid LEVEL logger' header) or just after the request id
    cut = 25 if cut_in == "header" else last.index(ids[30]) + len(ids[30])
    comp = zlib.compressobj(wbits=31)
    damaged = comp.compress((head + last[:cut]).encode()) + comp.flush(zlib.Z_SYNC_FLUSH)  # no gzip trailer
    (logs / "nova-api.log.1.gz").write_bytes(damaged)
    r = build_index([tmp_path / "logs"], tmp_path / "st")
    assert r.problems == [
        f"{(logs / 'nova-api.log.1.gz').absolute()}: truncated gzip file; lines before the damage were read"
    ]
    assert r.lines == head.count("\n") + 1
    assert [x.line_no for x in _lookup(tmp_path / "st", [ids[29]])] == [
        head[: head.index(ids[29])].count("\n") + 1
    ]
    if cut_in == "message":  # the cut line still carries its id: it is found
        assert [x.line_no for x in _lookup(tmp_path / "st", [ids[30]])] == [head.count("\n") + 1]


def test_a_gzip_corrupt_in_the_middle_is_named_and_what_came_before_is_indexed(tmp_path: Path) -> None:
    logs = tmp_path / "logs" / "h"
    logs.mkdir(parents=True)
    rng = random.Random(7)
    ids = [f"req-{uuid.UUID(int=rng.getrandbits(128), version=4)}" for _ in range(4000)]
    text = "".join(_text_record(rng, i, None, rid, str(uuid.UUID(int=i)), False) for i, rid in enumerate(ids))
    good = bytearray(gzip.compress(text.encode(), 6, mtime=0))
    for at in range(len(good) // 2, len(good) // 2 + 64):  # a run of damaged bytes mid-stream
        good[at] ^= 0x5A
    (logs / "nova-api.log.2.gz").write_bytes(bytes(good))
    r = build_index([tmp_path / "logs"], tmp_path / "st")
    path = (logs / "nova-api.log.2.gz").absolute()
    damage = [p for p in r.problems if p.startswith(f"{path}: corrupt gzip data (")]
    assert len(damage) == 1 and damage[0].endswith("); lines before the damage were read")
    # Damage corrupts the output from its own position on (never before): the ids come back
    # at their lines up to there (a failing decoder call used to drop its whole 1 MiB input
    # chunk: here, the whole file), then garbage (reported line by line when it is not
    # log-shaped) until the decoder notices, then nothing.
    line_of = {rid: text[: text.index(rid)].count("\n") + 1 for rid in ids}
    found = [[x.line_no for x in _lookup(tmp_path / "st", [rid])] == [line_of[rid]] for rid in ids[::10]]
    intact = found.index(False) if False in found else len(found)
    assert intact * 10 > 1000 and not any(found[intact + 100 :])
    garbled = [int(p.split(":")[1]) for p in r.problems if p not in damage]
    assert all(n > (intact - 1) * 10 for n in garbled)  # (ids sampled every 10 lines)
    assert _lookup(tmp_path / "st", [ids[-1]]) == []


def _safe_chunks(path: Path) -> Iterator[bytes]:
    try:
        yield from read_chunks(str(path))
    except KansokuError:
        return


def test_bad_lines_are_counted_with_file_line_and_findable(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "ctl-1" / "neutron-server.log"
    log.parent.mkdir(parents=True)
    rid = _req()
    lines = [_json_record(i, None, _req(), str(uuid.uuid4())) for i in range(5)]
    lines.insert(2, f"kernel: nf_conntrack: table full, dropping packet {rid}\n")
    lines.append(_json_record(9, None, rid, str(uuid.uuid4()))[:-30] + "\n")  # cut-off JSON
    log.write_text("".join(lines))
    r = build_index([tmp_path / "logs"], tmp_path / "st")
    where = str(log.absolute())
    assert r.problems_count == 2
    assert r.problems[0].startswith(f"{where}:3: not an oslo.log, JSON or access line: 'kernel: nf_conntrack")
    assert r.problems[1] == f"{where}:7: not a JSON log object (cut off?)"
    got = _lookup(tmp_path / "st", [rid])
    assert [(x.line_no, x.fmt) for x in got] == [(3, "unparsed"), (7, "unparsed")]
    manifest = json.loads((tmp_path / "st" / "manifest.json").read_text())
    assert manifest["files"][0]["problems_count"] == 2


def test_unreadable_file_is_named_and_the_rest_indexed(tmp_path: Path) -> None:
    # root reads any file, so as root the build runs in a child that dropped to nobody, in a
    # directory nobody can reach (pytest's tmp_path is under a root-only 0700 directory)
    base = Path(tempfile.mkdtemp(prefix="kansoku-perm-", dir="/tmp")) if os.geteuid() == 0 else tmp_path
    try:
        logs = base / "logs" / "h"
        logs.mkdir(parents=True)
        rid = _req()
        (logs / "nova-api.log").write_text(
            _text_record(random.Random(6), 1, None, rid, str(uuid.uuid4()), False)
        )
        secret = logs / "keystone.log"
        secret.write_text("2026-11-20 10:00:00.000 1 INFO keystone [-] x\n")
        secret.chmod(0)
        hidden = base / "logs" / "h2"  # a host directory that cannot be listed
        hidden.mkdir()
        (hidden / "nova-compute.log").write_text("")
        hidden.chmod(0)
        store = base / "st"
        if os.geteuid() != 0:
            problems = build_index([base / "logs"], store).problems
        else:
            problems = _build_as_nobody(base, store)
        assert sorted(problems) == sorted(
            [f"{hidden}: permission denied", f"{secret.absolute()}: permission denied"]
        )
        assert len(_lookup(store, [rid])) == 1
    finally:
        (base / "logs" / "h2").chmod(0o755)
        if base != tmp_path:
            shutil.rmtree(base)


def _build_as_nobody(base: Path, store: Path) -> list[str]:
    """Run build_index in a forked child with uid/gid 65534; returns its problems."""
    import fcntl  # noqa: F401 - loaded before dropping privileges (the stdlib lives under /root)

    import numpy  # noqa: F401

    for p in [base, *base.rglob("*")]:
        if p.name not in ("keystone.log", "h2") and p.parent.name != "h2":
            p.chmod(0o777 if p.is_dir() else 0o666)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        status = 1
        try:
            os.close(read_fd)
            os.setgid(65534)
            os.setuid(65534)
            report = build_index([base / "logs"], store)
            os.write(write_fd, json.dumps(report.problems).encode())
            status = 0
        except BaseException as err:
            os.write(write_fd, json.dumps([f"child failed: {err!r}"]).encode())
        finally:
            os._exit(status)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as fh:
        out = fh.read()
    os.waitpid(pid, 0)
    problems: list[str] = json.loads(out)
    return problems


def test_missing_path_is_named(tmp_path: Path) -> None:
    r = build_index([tmp_path / "nope"], tmp_path / "st")
    assert r.problems == [f"{tmp_path / 'nope'}: no such file or directory"]


def test_store_errors_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(KansokuError, match="no index here"):
        IndexSource(tmp_path / "empty")
    (tmp_path / "st").mkdir()
    (tmp_path / "st" / "manifest.json").write_text(json.dumps({"version": 99}))
    with pytest.raises(KansokuError, match="index format 99"):
        IndexSource(tmp_path / "st")


def test_segments_are_merged_when_there_are_many(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postings, "MAX_SEGMENTS", 2)
    logs = tmp_path / "logs" / "h"
    logs.mkdir(parents=True)
    rng = random.Random(8)
    ids = []
    for n in range(4):
        rid = _req()
        ids.append(rid)
        with open(logs / "nova-api.log", "a") as fh:
            fh.write(_text_record(rng, n, None, rid, str(uuid.uuid4()), False))
        build_index([tmp_path / "logs"], tmp_path / "st")
    manifest = json.loads((tmp_path / "st" / "manifest.json").read_text())
    assert len(manifest["segments"]) <= 2
    assert len(list((tmp_path / "st").glob("seg-*.idx"))) == len(manifest["segments"])
    assert [x.line_no for x in _lookup(tmp_path / "st", ids)] == [1, 2, 3, 4]


def test_segments_are_cut_at_the_block_that_fills_them_and_list_only_named_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs of blocks are scanned at once, yet a segment is still flushed right after the
    block whose postings reach FLUSH_POSTINGS, and its block list names only blocks that
    have postings (a block without any id is in no segment)."""
    from kansoku.tracing.segment import SegmentReader

    monkeypatch.setattr(postings, "FLUSH_POSTINGS", 2500)
    monkeypatch.setattr(postings, "MAX_SEGMENTS", 1000)
    root = tmp_path / "logs"
    _write_corpus(root, seed=12, records=12000)  # ~16 blocks of ~1,000 postings a file
    quiet = "".join(
        f"2026-11-20 10:00:{i % 60:02d}.000 1901 INFO nova.x nothing to see {i}\n" for i in range(6000)
    )
    with open(root / "ctl-1" / "nova-api.log", "a") as fh:
        fh.write(quiet)  # blocks without any UUID
    build_index([root], tmp_path / "st")
    store = Store(tmp_path / "st")
    full = 0
    for meta in store.load().segments:
        reader = SegmentReader(store.root / meta.name, meta)
        try:
            _, refs, blocks, _ = reader.arrays()
        finally:
            reader.close()
        assert sorted({int(r) for r in refs}) == list(range(len(blocks)))  # each listed block is named
        if meta.count >= 2500:  # flushed when full (the others: at the end of a file)
            last = int((refs == refs.max()).sum())  # postings of the segment's last block
            assert meta.count - last < 2500
            full += 1
    assert full >= 5


@pytest.mark.parametrize(
    ("path", "service", "host"),
    [
        ("/var/log/nova/nova-api.log", "nova-api", "THIS"),
        ("/var/log/nova/nova-api.log.2.gz", "nova-api", "THIS"),
        ("/srv/logs/cmp-3/nova-compute.log.1", "nova-compute", "cmp-3"),
        ("/srv/logs/cmp-3/nova/nova-compute.log-20261120.gz", "nova-compute", "cmp-3"),
        ("/srv/logs/ctl-1/apache2/keystone_access.log", "keystone_access", "ctl-1"),
        ("/srv/logs/ctl-1/placement-api.log", "placement-api", "ctl-1"),
    ],
)
def test_default_path_rule(path: str, service: str, host: str) -> None:
    assert DefaultRule("THIS")(Path(path)) == (service, host)


def test_pattern_rule_and_rotation_suffixes() -> None:
    rule = PatternRule("{host}/{project}/{service}", host="THIS")
    assert rule(Path("/x/db-1/mysql/mysqld.log.3.gz")) == ("mysqld", "db-1")
    assert strip_rotation("nova-api.log.2.gz") == ("nova-api.log", ".2.gz")
    assert strip_rotation("nova-api.log-20261120") == ("nova-api.log", "-20261120")
    assert strip_rotation("nova-api.log") == ("nova-api.log", "")
    with pytest.raises(KansokuError, match="must contain"):
        PatternRule("{host}/x")
    regex = make_rule(r"/(?P<host>[^/]+)/(?:[^/]+/)?(?P<service>[^/]+)$", host="THIS")
    assert regex(Path("/x/cmp-3/nova/nova-compute.log.1")) == ("nova-compute", "cmp-3")
    with pytest.raises(KansokuError, match="needs a"):
        make_rule(r"(?P<host>x)")


def test_path_rule_mismatch_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "ctl-1").mkdir()
    (tmp_path / "ctl-1" / "nova-api.log").write_text("")
    (tmp_path / "keystone.log").write_text("")
    regex = r"/(?P<host>ctl-\d+)/(?P<service>[^/]+)$"
    files, problems = discover([tmp_path], make_rule(regex))
    assert [(f.service, f.host) for f in files] == [("nova-api", "ctl-1")]
    assert problems == [f"{tmp_path / 'keystone.log'}: does not match path rule {regex!r}"]


def test_discover_orders_rotations_oldest_first(tmp_path: Path) -> None:
    for name in ["nova-api.log", "nova-api.log.1", "nova-api.log.2.gz", "nova-api.log.10.gz", "notes.txt"]:
        (tmp_path / "h" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "h" / name).write_bytes(b"")
    files, problems = discover([tmp_path])
    assert problems == []
    assert [Path(f.path).name for f in files] == [
        "nova-api.log.10.gz",
        "nova-api.log.2.gz",
        "nova-api.log.1",
        "nova-api.log",
    ]


@pytest.mark.parametrize("codec_name", ["zlib", "zstd"])
def test_seekable_gz_copy_with_each_codec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, codec_name: str
) -> None:
    monkeypatch.setattr(gz_cache, "default_codec_name", lambda: codec_name)
    logs = tmp_path / "logs" / "h"
    logs.mkdir(parents=True)
    rng = random.Random(9)
    ids = [_req() for _ in range(2500)]
    text = "".join(
        _text_record(rng, i, None, rid, str(uuid.uuid4()), i % 50 == 0) for i, rid in enumerate(ids)
    )
    (logs / "nova-compute.log.2.gz").write_bytes(gzip.compress(text.encode()))
    build_index([tmp_path / "logs"], tmp_path / "st")
    manifest = json.loads((tmp_path / "st" / "manifest.json").read_text())
    (entry,) = manifest["files"]
    assert entry["gz_codec"] == codec_name and entry["gz_blocks"] == entry["blocks"] > 3
    expected = {
        (r.file, r.line_no)
        for r in iter_records(io.BytesIO(text.encode()), entry["path"])
        if isinstance(r, LogLine) and ids[-7] in r.raw
    }
    assert len(expected) == 1
    assert {(x.file, x.line_no) for x in _lookup(tmp_path / "st", [ids[-7]])} == expected
    # without the copy (a .gz damaged before the copy was complete) the lookup decodes the
    # .gz itself; the manifest is rewritten through the store so that its checksum holds
    for p in (tmp_path / "st" / "gz").iterdir():
        p.unlink()
    store = Store(tmp_path / "st")
    loaded = store.load()
    (only,) = loaded.files
    only.gz_blocks = only.gz_size = only.gz_off_crc = 0
    store.save(loaded)
    assert {(x.file, x.line_no) for x in _lookup(tmp_path / "st", [ids[-7]])} == expected


def test_gzip_reading_is_bounded_and_reads_concatenated_members(tmp_path: Path) -> None:
    data = b"2026-11-20 10:00:00.000 1 INFO nova.compute.manager [-] Running periodic task\n" * 200_000
    path = tmp_path / "nova-compute.log.3.gz"
    path.write_bytes(gzip.compress(data, 1) + gzip.compress(b"tail\n", 1))  # as `cat a.gz b.gz`
    chunks = list(read_chunks(str(path)))
    assert b"".join(chunks) == data + b"tail\n"
    assert max(len(c) for c in chunks) <= 8 << 20  # 16 MB inflated from ~100 KB, in bounded pieces
    assert b"".join(read_chunks(str(path), 5)) == (data + b"tail\n")[5:]


def test_replaced_file_retires_the_old_entry(tmp_path: Path) -> None:
    logs = tmp_path / "logs" / "h"
    logs.mkdir(parents=True)
    rng = random.Random(10)
    old_id, new_id = _req(), _req()
    live = logs / "keystone.log"
    live.write_text(
        "".join(_text_record(rng, i, None, old_id if i == 5 else _req(), "x", False) for i in range(9))
    )
    build_index([tmp_path / "logs"], tmp_path / "st")
    live.unlink()  # rotated away and deleted (rotate 0), a new file in its place
    live.write_text(_text_record(rng, 1, None, new_id, "x", False) * 12)
    r = build_index([tmp_path / "logs"], tmp_path / "st")
    assert r.new_bytes == live.stat().st_size
    assert _lookup(tmp_path / "st", [old_id]) == []
    assert len(_lookup(tmp_path / "st", [new_id])) == 12
    assert IndexSource(tmp_path / "st").describe().startswith("1 file (indexed up to log time 2026-11-20 ")
