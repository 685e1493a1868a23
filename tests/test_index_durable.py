"""The index store is crash-safe: an interrupted run, a failed commit or a damaged file never
gives a wrong answer or a traceback (issue 11, items 1-3).

Every test compares what a store answers (records per probe id, verdict per injected fault;
`tests/index_oracle.py`) against a clean build of the same demo-cloud logs.
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kansoku.errors import KansokuError
from kansoku.tracing.demo.generate import generate
from kansoku.tracing.index import Manifest, Store, build_index, postings
from kansoku.tracing.sources.index import IndexSource
from kansoku.tracing.store_check import verify_store
from tests.index_oracle import answers, differences, probe_ids

KANSOKU = Path(sys.executable).parent / "kansoku"


@dataclass
class Demo:
    logs: Path
    ids: list[str]
    faults: list[str]
    want: dict[str, object]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    root = tmp_path_factory.mktemp("durable")
    generate(root / "logs", seed=4242)
    build_index([root / "logs"], root / "clean")
    ids, faults = probe_ids(root / "logs")
    want = answers(root / "clean", ids, faults)
    assert sum(1 for k, v in want.items() if not k.startswith("verdict") and v) >= 40
    yield Demo(root / "logs", ids, faults, want)


def _same_as_clean(store: Path, demo: Demo) -> None:
    assert differences(answers(store, demo.ids, demo.faults), demo.want) == []


class _Boom(Exception):
    """Stands for the process dying (disk full, kill -9) at the commit point."""


def _failing_save(self: Store, manifest: Manifest) -> None:
    raise _Boom("the commit never happened")


def test_reindex_after_losing_the_manifest_and_segments(demo: Demo, tmp_path: Path) -> None:
    # the deterministic form of "kill -9 then re-run": side files survive, the commit does not
    store = tmp_path / "st"
    build_index([demo.logs], store)
    for p in [store / "manifest.json", *store.glob("seg-*.idx")]:
        p.unlink()
    build_index([demo.logs], store)
    _same_as_clean(store, demo)


def _half_tree(src: Path, dst: Path) -> None:
    """A copy of the log tree with every plain file cut at a line near its middle."""
    shutil.copytree(src, dst)
    for path in dst.rglob("*.log*"):
        if path.suffix == ".gz":
            continue
        data = path.read_bytes()
        cut = data.find(b"\n", len(data) // 2) + 1
        path.write_bytes(data[:cut])


def test_interrupted_incremental_run_is_rolled_back(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = tmp_path / "logs"
    _half_tree(demo.logs, logs)
    store = tmp_path / "st"
    build_index([logs], store)
    for path in logs.rglob("*.log*"):  # the logs grow back to their full size
        shutil.copyfile(demo.logs / path.relative_to(logs), path)
    with monkeypatch.context() as m:
        m.setattr(Store, "save", _failing_save)
        with pytest.raises(_Boom):
            build_index([logs], store)
    build_index([logs], store)
    got = _relocate(answers(store, demo.ids, demo.faults), logs, demo.logs)
    assert differences(got, _relocate(demo.want, demo.logs, demo.logs)) == []


def _relocate(value: dict[str, object], old: Path, new: Path) -> dict[str, object]:
    """The answers with paths under `old` moved under `new` (tuples become lists)."""
    moved: dict[str, object] = json.loads(json.dumps(value).replace(str(old), str(new)))
    return moved


def test_failed_commit_after_a_merge_keeps_the_old_segments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo: Demo
) -> None:
    monkeypatch.setattr(postings, "MAX_SEGMENTS", 2)
    logs = tmp_path / "logs"
    logs.mkdir()
    files = sorted(p for p in demo.logs.rglob("*.log") if p.stat().st_size > 0)[:4]
    for n, src in enumerate(files):  # one run per file: one segment each
        dst = logs / src.relative_to(demo.logs)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        if n == len(files) - 1:
            with monkeypatch.context() as m:
                m.setattr(Store, "save", _failing_save)
                with pytest.raises(_Boom):
                    build_index([logs], tmp_path / "st")  # merges, then cannot commit
        else:
            build_index([logs], tmp_path / "st")
    some = [i for i in demo.ids if demo.want[i]][:20]
    # the last committed state (three files, four segments or one merged) still answers
    assert list(IndexSource(tmp_path / "st").lines_for(some))
    build_index([logs], tmp_path / "st")
    manifest = Store(tmp_path / "st").load()
    assert sorted(p.name for p in (tmp_path / "st").glob("seg-*.idx")) == sorted(
        s.name for s in manifest.segments
    )
    clean = tmp_path / "clean"
    build_index([logs], clean)
    assert answers(tmp_path / "st", some, []) == answers(clean, some, [])


def _damage(path: Path, at: int | None = None, truncate: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    if truncate is not None:
        path.write_bytes(bytes(data[:truncate]))
        return
    pos = len(data) // 2 if at is None else at
    data[pos] ^= 0x5A
    path.write_bytes(bytes(data))


def _ask_all(store: Path, demo: Demo) -> None:
    answers(store, demo.ids, demo.faults)


def test_flipped_byte_in_a_segment_is_named_not_a_wrong_answer(demo: Demo, tmp_path: Path) -> None:
    store = tmp_path / "st"
    build_index([demo.logs], store)
    (seg,) = store.glob("seg-*.idx")
    keys_end = 16 + 8 * (seg.stat().st_size // 16)
    _damage(seg, at=min(seg.stat().st_size - 1, keys_end // 3))
    with pytest.raises(KansokuError, match=rf"{seg.name}.*(checksum|damaged).*--repair"):
        _ask_all(store, demo)


def test_truncated_segment_is_named(demo: Demo, tmp_path: Path) -> None:
    store = tmp_path / "st"
    build_index([demo.logs], store)
    (seg,) = store.glob("seg-*.idx")
    _damage(seg, truncate=seg.stat().st_size // 2)
    with pytest.raises(KansokuError, match=rf"{seg.name}.*--repair"):
        _ask_all(store, demo)
    with pytest.raises(KansokuError, match=rf"{seg.name}.*--repair"):
        build_index([demo.logs], store)  # an update never builds on a damaged store


def test_manifest_checksum_catches_an_edited_number(demo: Demo, tmp_path: Path) -> None:
    store = tmp_path / "st"
    build_index([demo.logs], store)
    text = (store / "manifest.json").read_text()
    at = text.index('"offset":') + len('"offset":')
    digit = text[at]
    (store / "manifest.json").write_text(text[:at] + str((int(digit) + 1) % 10) + text[at + 1 :])
    with pytest.raises(KansokuError, match=r"manifest\.json.*checksum.*--repair"):
        IndexSource(store)


def test_truncated_manifest_is_named(demo: Demo, tmp_path: Path) -> None:
    store = tmp_path / "st"
    build_index([demo.logs], store)
    _damage(store / "manifest.json", truncate=100)
    with pytest.raises(KansokuError, match=r"manifest\.json.*--repair"):
        IndexSource(store)
    with pytest.raises(KansokuError, match=r"manifest\.json.*--repair"):
        build_index([demo.logs], store)
    build_index([demo.logs], store, repair=True)
    _same_as_clean(store, demo)


def _big_table(store: Path, compressed: bool) -> tuple[Path, Path]:
    """(block table, seekable copy) of a file with several blocks."""
    manifest = Store(store).load()
    entry = max((f for f in manifest.files if f.compressed == compressed), key=lambda f: f.blocks)
    return Store(store).block_table_path(entry.id), Store(store).gz_paths(entry.id)[0]


def test_damaged_block_table_is_named(demo: Demo, tmp_path: Path) -> None:
    store = tmp_path / "st"
    build_index([demo.logs], store)
    tables = [_big_table(store, False)[0], _big_table(store, True)[0]]
    for table in tables:
        _damage(table, at=20)  # the second block's offset
    with pytest.raises(KansokuError, match=r"blocks/\d+\.bin.*--repair"):
        _ask_all(store, demo)


def test_damaged_gz_copy_is_named_not_silently_empty(demo: Demo, tmp_path: Path) -> None:
    store = tmp_path / "st"
    build_index([demo.logs], store)
    for copy in (store / "gz").glob("*.z"):
        _damage(copy, at=40)
    with pytest.raises(KansokuError, match=r"gz/\d+\.z.*--repair"):
        _ask_all(store, demo)


def test_verify_names_every_damaged_file_and_repair_restores_the_answers(demo: Demo, tmp_path: Path) -> None:
    store = tmp_path / "st"
    build_index([demo.logs], store)
    assert verify_store(store) == []
    (seg,) = store.glob("seg-*.idx")
    table, _ = _big_table(store, False)
    _, gz_copy = _big_table(store, True)
    _damage(seg)
    _damage(table, truncate=table.stat().st_size - 8)
    _damage(gz_copy, at=40)
    damaged = verify_store(store)
    assert sorted(d.split(":", 1)[0] for d in damaged) == sorted(str(p) for p in (seg, table, gz_copy))
    verify = subprocess.run(
        [str(KANSOKU), "index", "--verify", "--store", str(store)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verify.returncode == 1, verify.stdout + verify.stderr
    assert all(str(p) in verify.stdout for p in (seg, table, gz_copy)), verify.stdout
    assert "Traceback" not in verify.stdout + verify.stderr
    repair = subprocess.run(
        [str(KANSOKU), "index", str(demo.logs), "--repair", "--store", str(store)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert "repaired" in repair.stdout
    assert verify_store(store) == []
    _same_as_clean(store, demo)


def test_store_files_are_private(demo: Demo, tmp_path: Path) -> None:
    store = tmp_path / "st"
    build_index([demo.logs], store)
    for path in [store, *store.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode)}"


def test_readers_survive_a_commit_that_merges_away_their_segments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo: Demo
) -> None:
    monkeypatch.setattr(postings, "MAX_SEGMENTS", 1)
    logs = tmp_path / "logs"
    files = sorted(p for p in demo.logs.rglob("*.log") if p.stat().st_size > 0)[:2]
    dst = [logs / p.relative_to(demo.logs) for p in files]
    for d in dst:
        d.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(files[0], dst[0])
    build_index([logs], tmp_path / "st")
    reader = IndexSource(tmp_path / "st")  # has read the manifest, not yet the segments
    shutil.copyfile(files[1], dst[1])
    build_index([logs], tmp_path / "st")  # merges: the segment the reader knows is deleted
    some = [i for i in demo.ids if any(r[0] == str(files[0]) for r in demo.want[i])]  # type: ignore[attr-defined]
    assert some
    assert all(list(reader.lines_for([one])) for one in some)
    assert not (tmp_path / "st" / "seg-000001.idx").exists()


def test_flipped_byte_inside_a_compressed_block_is_named(demo: Demo, tmp_path: Path) -> None:
    # a zstd frame has no checksum unless asked: a flipped literal byte decodes to text of
    # the same length, a wrong line no length check sees (each block's CRC32 catches it)
    store = tmp_path / "st"
    build_index([demo.logs], store)
    manifest = Store(store).load()
    entry = max((f for f in manifest.files if f.compressed), key=lambda f: f.blocks)
    assert entry.gz_codec == "zstd" and entry.gz_blocks > 3
    copy, offsets = Store(store).gz_paths(entry.id)
    starts = [*array("Q", offsets.read_bytes()).tolist()[0::2], copy.stat().st_size]
    original = copy.read_bytes()
    for b in range(len(starts) - 1):
        bad = bytearray(original)
        bad[(starts[b] + starts[b + 1]) // 2] ^= 0x20  # in the middle of the block's frame
        copy.write_bytes(bytes(bad))
        damaged = verify_store(store)
        assert [d.split(":", 1)[0] for d in damaged] == [str(copy)], (b, damaged)
        assert f"block {b} " in damaged[0]


def test_kansoku_trace_on_a_damaged_store_names_the_file(demo: Demo, tmp_path: Path) -> None:
    store = tmp_path / "st"
    build_index([demo.logs], store)
    (seg,) = store.glob("seg-*.idx")
    _damage(seg, truncate=seg.stat().st_size - 3)
    out = subprocess.run(
        [str(KANSOKU), "trace", demo.faults[0], "--store", str(store)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and out.stdout == ""
    assert f"{seg}: index segment is" in " ".join(out.stderr.split()) and "--repair" in out.stderr


def test_repair_without_paths_uses_the_files_the_manifest_names(demo: Demo, tmp_path: Path) -> None:
    store = tmp_path / "st"
    build_index([demo.logs], store)
    (seg,) = store.glob("seg-*.idx")
    _damage(seg)
    report = build_index([], store, repair=True)
    assert report.repaired and report.files_seen == 117 and report.new_bytes > 14_000_000
    _same_as_clean(store, demo)
    # a damaged manifest names no files: the store is left as it is and the paths asked for
    _damage(store / "manifest.json", truncate=50)
    before = sorted(p.name for p in store.rglob("*"))
    with pytest.raises(
        KansokuError, match=r"manifest\.json: unreadable.*give them: `kansoku index --repair PATH"
    ):
        build_index([], store, repair=True)
    assert sorted(p.name for p in store.rglob("*")) == before
