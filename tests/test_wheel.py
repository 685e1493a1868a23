"""The wheel is the product: build the sdist and the wheel, install the wheel in a clean venv,
run the first commands a new user runs, from an empty directory.

Why: every other test imports kansoku from the editable install, which maps the repository
folders; a data file missing from the wheel (the nested bundle folders were) goes unnoticed
there. Here kansoku must be imported from the installed wheel: the venv is created without
system site-packages, the wheel is installed into it with `pip --no-deps`, and only then a
`.pth` file makes the dev environment's third-party packages visible (the dependencies
cannot be installed offline). `.pth` lines only add directories to sys.path; the editable
install's import hook lives in a `.pth` of the dev site-packages, which the clean venv never
processes, so the repository folders stay invisible. The test asserts where kansoku was
imported from.

The wheel (and the sdist it is built from) is also compared with `git ls-files`: every
tracked file of the package folders, Python or data, must be in the wheel at its installed
name, and nothing else; every tracked file must be in the sdist.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

import kansoku

REPO = Path(__file__).resolve().parent.parent
#: Top-level folders that never ship inside the import package.
NOT_PACKAGE = {"tests", "bench", "docs", "examples"}

pytestmark = pytest.mark.real


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120):
    proc = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _tracked() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    return [f for f in out.split("\0") if f and (REPO / f).is_file()]


def _installed_name(path: str) -> str | None:
    """Where a tracked file lands in the wheel: `tracing/x.py` -> `kansoku/tracing/x.py`,
    `addon-bundles/...` -> `kansoku/addon_bundles/...`; None for files outside the package."""
    top, _, rest = path.partition("/")
    if not rest or top in NOT_PACKAGE or top.startswith("."):
        return None
    if top == "kansoku":
        return path
    if not (REPO / top / "__init__.py").is_file():
        return None
    return f"kansoku/{top.replace('-', '_')}/{rest}"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """sdist and wheel built offline (no build isolation), the wheel from the sdist."""
    out = tmp_path_factory.mktemp("dist")
    _run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)], REPO, timeout=300
    )
    (wheel,) = out.glob("kansoku-*.whl")
    (sdist,) = out.glob("kansoku-*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


def test_wheel_holds_exactly_the_tracked_package_files(dist: dict[str, Path]) -> None:
    with zipfile.ZipFile(dist["wheel"]) as zf:
        names = {n for n in zf.namelist() if not n.split("/")[0].endswith((".dist-info", ".data"))}
        metadata = zf.read(f"kansoku-{kansoku.__version__}.dist-info/METADATA").decode()
    expected = {n for f in _tracked() if (n := _installed_name(f)) is not None}
    assert "kansoku/addon_bundles/bundles/kansoku-k8s-2.1.0/tests/kubernetes.rules.test.yaml" in expected
    assert sorted(expected - names) == [], "tracked files missing from the wheel"
    assert sorted(names - expected) == [], "files in the wheel that git does not track"
    assert f"Version: {kansoku.__version__}" in metadata
    assert "Requires-Dist: numpy" in metadata
    assert "License-Expression: Apache-2.0" in metadata


def test_sdist_holds_every_tracked_file(dist: dict[str, Path]) -> None:
    prefix = f"kansoku-{kansoku.__version__}/"
    with tarfile.open(dist["sdist"]) as tf:
        names = {m.name.removeprefix(prefix) for m in tf.getmembers() if m.isfile()}
    wanted = {f for f in _tracked() if not f.startswith(".git")}  # .gitignore is for the checkout only
    assert sorted(wanted - names) == []
    assert {"LICENSE", "CHANGELOG.md", "setup.py"} <= names


@pytest.fixture(scope="module")
def clean_venv(dist: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "v"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], REPO)
    py = venv / "bin" / "python"
    # The wheel goes in first, while the venv sees nothing else, so pip finds no other kansoku.
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(dist["wheel"]),
        ],
        REPO,
    )
    purelib = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], REPO).stdout
    dev_dirs = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    assert sysconfig.get_path("purelib") in dev_dirs
    (Path(purelib.strip()) / "_kansoku_test_deps.pth").write_text("\n".join(dev_dirs) + "\n")
    return venv


def _env() -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "KANSOKU_STORE", "KANSOKU_INVENTORY"}
    }
    env["COLUMNS"] = "100"
    return env


def test_wheel_runs_the_first_commands_from_an_empty_directory(clean_venv: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    bin_ = clean_venv / "bin"
    env = _env()
    where = _run(
        [
            str(bin_ / "python"),
            "-c",
            "import kansoku, kansoku.addon_bundles.catalog as c, importlib.metadata as m;"
            "print(kansoku.__file__); print(c.BUNDLES_DIR); print(m.version('kansoku'))",
        ],
        empty,
        env,
    ).stdout.splitlines()
    assert all(line.startswith(str(clean_venv)) for line in where[:2]), where
    assert where[2] == kansoku.__version__
    # Every module imports from the wheel: shipped data (templates, rule folders) is found
    # at import time by kansoku.resources, which fails when a file did not ship.
    imported = _run(
        [
            str(bin_ / "python"),
            "-c",
            "import pkgutil, importlib, kansoku;"
            "names = [m.name for m in pkgutil.walk_packages(kansoku.__path__, 'kansoku.')"
            " if not m.name.endswith('__main__')];"
            "[importlib.import_module(n) for n in names]; print(len(names))",
        ],
        empty,
        env,
    ).stdout
    assert int(imported) > 100

    assert (
        _run([str(bin_ / "kansoku"), "--version"], empty, env).stdout.strip()
        == f"kansoku {kansoku.__version__}"
    )
    listing = _run([str(bin_ / "kansoku"), "bundle", "list"], empty, env).stdout
    assert "kansoku-k8s-2.1.0" in listing and "kansoku-core-1.0.0" in listing
    rules = _run([str(bin_ / "kansoku"), "rules", "test"], empty, env).stdout
    assert "FAIL" not in rules and "coverage:" in rules
    demo = _run([str(bin_ / "kansoku"), "demo"], empty, env, timeout=300).stdout
    assert "demo passed" in demo
    assert (empty / "demo-out").is_dir()
