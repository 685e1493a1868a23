"""Benchmark: one request id, side by side with what a user would run instead (issue 14).

Two corpora of the same size (default 250 MB each; `--bytes 1000000000` for 1 GB):

* `demo`: the demo cloud (`python -m kansoku.tracing.demo OUT --bytes N`): text and
  JSON services, tracebacks, rotated `.1` and `.2.gz` files;
* `access`: oslo.log access lines only, two random request ids per line (global and local),
  6 services on 3 hosts: the worst case for an index (every line holds two unique ids).

For each corpus, in one run and on the same files:

* whole process, warm page cache, median of 7 (interleaved, so a burst of load on this
  shared machine hits every tool alike), wall and CPU time: `kansoku trace ID --json`,
  `kansoku trace ID` (terminal output into a pipe), `rg -F ID DIR`, `grep -rF ID DIR`, and
  a tantivy lookup (`bench/tantivy_lookup.py`: open the index, one term query, read the
  lines at the stored offsets);
* one id looked up in process (`IndexSource(store).lines_for([id])`, a fresh source each time);
* index build time (wall and CPU) and size: `kansoku index` and the tantivy build;
* `kansoku trace stats` vs `grep -c 'status: '` over the same files (`zcat` for `.gz`).

`kansoku` runs with byte-code caching allowed (PYTHONDONTWRITEBYTECODE unset), as on a
user's machine. rg and grep skip `.gz` files (kansoku and tantivy... see the tantivy module:
it indexes the plain files only). Writes bench/results/lookup.md; data stays in bench/data/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from machine import cpu_model

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
PY = sys.executable
KANSOKU = str(Path(PY).parent / "kansoku")
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run(cmd: list[str] | str, shell: bool = False) -> tuple[float, float, bytes, int]:
    """(wall s, CPU s of the child, stdout, exit code)."""
    cpu0 = children_cpu()
    t0 = time.perf_counter()
    res = subprocess.run(cmd, shell=shell, capture_output=True, check=False, env=ENV)
    wall = time.perf_counter() - t0
    return wall, children_cpu() - cpu0, res.stdout, res.returncode


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --- corpora ---------------------------------------------------------------------------

SERVICES = [
    ("nova-api", "nova.api.openstack.requestlog", ["/v2.1/servers/{u}", "/v2.1/servers/detail", "/v2.1/flavors/{u}"]),
    ("placement-api", "placement.requestlog", ["/allocations/{u}", "/resource_providers/{u}/inventories"]),
    ("neutron-server", "neutron.wsgi", ["/v2.0/ports/{u}", "/v2.0/networks", "/v2.0/ports?device_id={u}"]),
    ("glance-api", "eventlet.wsgi.server", ["/v2/images/{u}", "/v2/images"]),
    ("cinder-api", "cinder.api.openstack.wsgi", ["/v3/{p}/volumes/{u}", "/v3/{p}/volumes/detail"]),
    ("keystone", "keystone.server.flask.request_processing", ["/v3/auth/tokens", "/v3/projects/{p}"]),
]  # fmt: skip
HOSTS = ["ctl-1", "ctl-2", "ctl-3"]


def _uuid(rnd: random.Random) -> str:
    h = f"{rnd.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def make_access_corpus(out: Path, target: int, seed: int = 14) -> None:
    """oslo.log access lines, every line with two fresh random request ids (global, local)."""
    rnd = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    files = [(h, s) for h in HOSTS for s in SERVICES]
    per_file = target // len(files)
    t0 = 1_795_000_000
    for host, (service, logger, paths) in files:
        (out / host).mkdir(exist_ok=True)
        written = 0
        n = 0
        with open(out / host / f"{service}.log", "w", buffering=1 << 20) as fh:
            buf: list[str] = []
            while written < per_file:
                ts = t0 + n * 0.01
                sec = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))
                path = rnd.choice(paths).format(u=_uuid(rnd), p=f"{rnd.getrandbits(128):032x}")
                status = 200 if rnd.random() > 0.03 else rnd.choice((404, 409, 500, 503))
                method = (
                    "GET" if "detail" in path or path.endswith("s") else rnd.choice(("GET", "PUT", "DELETE"))
                )
                line = (
                    f"{sec}.{n % 1000:03d} {2000 + n % 7} INFO {logger} "
                    f"[req-{_uuid(rnd)} req-{_uuid(rnd)} {rnd.getrandbits(128):032x} "
                    f"{rnd.getrandbits(128):032x} - default default] 10.0.{n % 250}.{n % 199} "
                    f'"{method} {path} HTTP/1.1" status: {status} len: {rnd.randrange(200, 9000)} '
                    f"time: {rnd.random() * 0.4:.7f}\n"
                )
                buf.append(line)
                written += len(line)
                n += 1
                if len(buf) >= 4096:
                    fh.write("".join(buf))
                    buf.clear()
            fh.write("".join(buf))
    (out / "done").write_text("ok\n")


def ensure_corpora(size: int) -> dict[str, Path]:
    tag = f"{size // 1_000_000}mb"
    demo = BENCH / "data" / f"lookup-demo-{tag}"
    if not (demo / "ground-truth.json").is_file():
        from kansoku.tracing.demo.generate import generate

        shutil.rmtree(demo, ignore_errors=True)
        print(f"generating {demo} ...", flush=True)
        generate(demo, target_bytes=size)
    access = BENCH / "data" / f"lookup-access-{tag}"
    if not (access / "done").is_file():
        shutil.rmtree(access, ignore_errors=True)
        print(f"generating {access} ...", flush=True)
        make_access_corpus(access, size)
    return {"demo": demo, "access": access}


def pick_id(name: str, data: Path) -> str:
    """An id a user would look up: a failed request in plain files (demo), a mid-file line (access)."""
    if name == "demo":
        truth = json.loads((data / "ground-truth.json").read_text())
        fault = next(f for f in truth["faults"] if f["kind"] == "placement_conflict")
        return str(fault["request_id"])
    path = data / "ctl-2" / "nova-api.log"
    with open(path, "rb") as fh:
        fh.seek(path.stat().st_size // 2)
        fh.readline()
        line = fh.readline().decode()
    return line.split("[", 1)[1].split()[0]  # the global id


# --- measuring --------------------------------------------------------------------------


def median_runs(
    tools: dict[str, Callable[[], tuple[float, float, bytes, int]]], runs: int
) -> dict[str, dict]:
    """Interleaved runs (one warm-up each): tool -> median wall/CPU, exit code, output size."""
    for fn in tools.values():
        fn()
    walls: dict[str, list[float]] = {k: [] for k in tools}
    cpus: dict[str, list[float]] = {k: [] for k in tools}
    last: dict[str, tuple[int, int]] = {}
    for _ in range(runs):
        for name, fn in tools.items():
            wall, cpu, out, code = fn()
            walls[name].append(wall)
            cpus[name].append(cpu)
            last[name] = (code, len(out))
    return {
        k: {
            "wall": statistics.median(walls[k]),
            "cpu": statistics.median(cpus[k]),
            "min": min(walls[k]),
            "code": last[k][0],
            "out": last[k][1],
        }
        for k in tools
    }


BUILD = """
import json, resource, sys
from kansoku.tracing.index import build_index
r = build_index([sys.argv[1]], sys.argv[2])
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"lines": r.lines, "bytes": r.new_bytes, "files": r.files_seen,
                  "maxrss_mb": ru.ru_maxrss / 1024}))
"""

LOOKUP = """
import json, statistics, sys, time
from kansoku.tracing.sources.index import IndexSource
times, cpus, n = [], [], 0
for _ in range(8):
    t0, c0 = time.perf_counter(), time.process_time()
    n = len(list(IndexSource(sys.argv[1]).lines_for([sys.argv[2]])))
    times.append(time.perf_counter() - t0)
    cpus.append(time.process_time() - c0)
print(json.dumps({"median": statistics.median(times[1:]), "cpu": statistics.median(cpus[1:]), "lines": n}))
"""

ASSEMBLE = """
import json, statistics, sys, time
from kansoku.tracing.isolate import isolate
from kansoku.tracing.sources.index import IndexSource
from kansoku.tracing.stitch import build_trace
build_trace(IndexSource(sys.argv[1]), sys.argv[2])
cpus = []
for _ in range(7):
    c0 = time.process_time()
    trace = build_trace(IndexSource(sys.argv[1]), sys.argv[2])
    isolate(trace)
    cpus.append(time.process_time() - c0)
print(json.dumps({"cpu": statistics.median(cpus), "lines": sum(len(s.lines) for s in trace.spans),
                  "services": len({s.service for s in trace.spans})}))
"""

WHEEL_VENV = BENCH / "data" / "venv-wheel"


def wheel_kansoku() -> str:
    """`kansoku` installed from this tree as a regular package (no editable import hook) in
    its own venv, with only what the lookup needs (rich, zstandard, isal): what a user runs."""
    py = WHEEL_VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(WHEEL_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "rich", "zstandard", "isal"], check=True)
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(REPO)], check=True
    )
    return str(WHEEL_VENV / "bin" / "kansoku")


def measure_corpus(name: str, data: Path, runs: int, wheel: str | None) -> dict:
    store = BENCH / "data" / f"lookup-store-{data.name}"
    tv = BENCH / "data" / f"lookup-tantivy-{data.name}"
    files = sorted(p for p in data.rglob("*") if p.is_file() and ".log" in p.name)
    plain = [str(p) for p in files if not p.name.endswith(".gz")]
    gz = [str(p) for p in files if p.name.endswith(".gz")]
    res: dict = {"name": name, "data": str(data.relative_to(REPO))}
    res["disk_bytes"] = sum(p.stat().st_size for p in files)
    res["plain_bytes"] = sum(Path(p).stat().st_size for p in plain)
    res["gz_files"] = len(gz)

    print(f"[{name}] kansoku index ...", flush=True)
    # warm page cache, as for the lookups and their baselines: a first read of 1 GB from
    # disk shows up as system time (1.7 s of a 3.8 s CPU build here), which is the disk's
    for path in files:
        with open(path, "rb") as fh:
            while fh.read(1 << 24):
                pass
    builds = []
    for _ in range(2):  # the better of two builds, each from an empty store
        shutil.rmtree(store, ignore_errors=True)
        wall, cpu, out, _ = run([PY, "-c", BUILD, str(data), str(store)])
        builds.append((cpu, wall, json.loads(out.decode().strip().splitlines()[-1])))
    cpu, wall, build = min(builds, key=lambda b: b[0])
    res["kansoku_build"] = {"wall": wall, "cpu": cpu, **build, "size": tree_bytes(store)}

    print(f"[{name}] tantivy build ...", flush=True)
    shutil.rmtree(tv, ignore_errors=True)
    wall, cpu, out, _ = run([PY, str(BENCH / "tantivy_lookup.py"), "build", str(data), str(tv)])
    tb = json.loads(out.decode().strip().splitlines()[-1])
    res["tantivy_build"] = {"wall": wall, "cpu": cpu, **tb, "size": tree_bytes(tv)}

    wanted = pick_id(name, data)
    res["id"] = wanted
    _, _, out, _ = run([PY, "-c", LOOKUP, str(store), wanted])
    res["in_process"] = json.loads(out.decode().strip().splitlines()[-1])

    print(f"[{name}] lookups, {runs} interleaved runs ...", flush=True)
    tools: dict[str, Callable[[], tuple[float, float, bytes, int]]] = {
        "kansoku trace ID --json": lambda: run([KANSOKU, "trace", wanted, "--store", str(store), "--json"]),
        "kansoku trace ID (terminal)": lambda: run([KANSOKU, "trace", wanted, "--store", str(store)]),
        **(
            {
                "kansoku trace ID --json (wheel install)": lambda: run(
                    [wheel, "trace", wanted, "--store", str(store), "--json"]
                )
            }
            if wheel
            else {}
        ),
        "tantivy lookup": lambda: run([PY, str(BENCH / "tantivy_lookup.py"), "lookup", str(tv), wanted]),
        "rg -F ID": lambda: run(["rg", "-F", wanted, str(data)]),
        "grep -rF ID": lambda: run(["grep", "-rF", wanted, str(data)]),
        "python -c pass": lambda: run([PY, "-c", "pass"]),
    }
    res["lookups"] = median_runs(tools, runs)

    if name == "demo":  # the generator's big request: ~2,400 lines over 12 services
        big = json.loads((data / "ground-truth.json").read_text())["big_request"]["request_id"]
        _, _, out, _ = run([PY, "-c", ASSEMBLE, str(store), big])
        res["assembly"] = json.loads(out.decode().strip().splitlines()[-1])
        res["assembly"]["grep"] = median_runs({"grep": lambda: run(["grep", "-rF", big, str(data)])}, 3)[
            "grep"
        ]
    res["stats"] = measure_stats(name, store, plain, gz, 3)
    return res


def measure_stats(name: str, store: Path, plain: list[str], gz: list[str], runs: int) -> dict:
    """`kansoku trace stats` and `grep -c 'status: '` over the same files, interleaved."""
    print(f"[{name}] trace stats ...", flush=True)
    # stdout goes to a pipe: GNU grep stops at the first match when its output is /dev/null
    grep_c = "grep -c 'status: ' " + " ".join(plain) + "; " if plain else ""
    grep_c += "".join(f"zcat {g} | grep -c 'status: '; " for g in gz)
    stats_tools: dict[str, Callable[[], tuple[float, float, bytes, int]]] = {
        "kansoku trace stats": lambda: run([KANSOKU, "trace", "stats", "--store", str(store)]),
        "grep -c 'status: '": lambda: run(grep_c, shell=True),
    }
    return median_runs(stats_tools, runs)


def stats_only(corpora: dict[str, Path], only: str | None, runs: int) -> None:
    """`--stats-only`: index each corpus, then only the `trace stats` vs `grep -c` rows."""
    for name, data in corpora.items():
        if only not in (None, name):
            continue
        store = BENCH / "data" / f"lookup-store-{data.name}"
        files = sorted(p for p in data.rglob("*") if p.is_file() and ".log" in p.name)
        plain = [str(p) for p in files if not p.name.endswith(".gz")]
        gz = [str(p) for p in files if p.name.endswith(".gz")]
        shutil.rmtree(store, ignore_errors=True)
        run([PY, "-c", BUILD, str(data), str(store)])
        load0 = os.getloadavg()[0]
        st = measure_stats(name, store, plain, gz, runs)
        k, g = st["kansoku trace stats"], st["grep -c 'status: '"]
        print(
            f"| {name} | {ms(k['wall'])} ({ms(k['cpu'])} CPU) | {ms(g['wall'])} ({ms(g['cpu'])} CPU) | "
            f"{g['wall'] / k['wall']:.2f}x (CPU {g['cpu'] / k['cpu']:.2f}x) | {load0:.1f}-{os.getloadavg()[0]:.1f} |",
            flush=True,
        )


# --- report -----------------------------------------------------------------------------


def ms(s: float) -> str:
    return f"{s * 1000:,.0f} ms" if s >= 0.01 else f"{s * 1000:.2f} ms"


def report(results: list[dict], size: int, runs: int, load: tuple[float, float]) -> str:
    out = [
        f"## Lookup of one request id vs rg, grep and tantivy (issue 14): {size / 1e6:,.0f} MB corpora",
        "",
        f"Machine: {os.cpu_count()} cores (`nproc`), {cpu_model()}, Python {platform.python_version()}, "
        f"ripgrep {_version(['rg', '--version'])}, tantivy (PyPI) {_tantivy_version()}. "
        f"Run: `python bench/bench_lookup.py --bytes {size}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}). "
        f"Load average {load[0]:.1f} before, {load[1]:.1f} after, on {os.cpu_count()} cores: "
        "a shared machine, so wall times are inflated when the load is above the core count; "
        "CPU time (user + system of the process) is less affected and is shown next to it.",
        "",
    ]
    for r in results:
        kb, tb = r["kansoku_build"], r["tantivy_build"]
        lk = r["lookups"]
        desc = (
            "demo cloud (text + JSON, rotated `.1` and `.2.gz`)"
            if r["name"] == "demo"
            else "oslo.log access lines, two random request ids per line"
        )
        out += [
            f"### Corpus `{r['name']}`: {desc}",
            "",
            f"{kb['bytes'] / 1e6:,.0f} MB uncompressed, {kb['lines']:,} lines, {kb['files']} files "
            f"({r['disk_bytes'] / 1e6:,.0f} MB on disk, {r['plain_bytes'] / 1e6:,.0f} MB in plain files"
            f"{', ' + str(r['gz_files']) + ' .gz files' if r['gz_files'] else ''}). Id looked up: `{r['id']}`.",
            "",
            f"Whole process, warm page cache, median of {runs} interleaved runs:",
            "",
            "| command | wall (median) | wall (min) | CPU (median) | exit | output bytes | rg wall / this wall |",
            "|---|---|---|---|---|---|---|",
        ]
        rg = lk["rg -F ID"]["wall"]
        for tool, m in lk.items():
            out.append(
                f"| `{tool}` | {ms(m['wall'])} | {ms(m['min'])} | {ms(m['cpu'])} | {m['code']} | {m['out']:,} | "
                f"{rg / m['wall']:.2f}x |"
            )
        k = lk["kansoku trace ID --json"]["wall"]
        t = lk["tantivy lookup"]["wall"]
        ip = r["in_process"]
        st = r["stats"]
        kst, gst = st["kansoku trace stats"]["wall"], st["grep -c 'status: '"]["wall"]
        out += [
            "",
            "| measure | kansoku | baseline (same run) | ratio |",
            "|---|---|---|---|",
            f"| `kansoku trace ID --json` vs `rg -F ID` | {ms(k)} | {ms(rg)} | {rg / k:.2f}x faster (target >= 3x) |",
            f"| `kansoku trace ID --json` vs tantivy lookup | {ms(k)} | {ms(t)} | {k / t:.2f}x tantivy's time (target <= 1.5x) |",
            f"| one id in process (`IndexSource.lines_for`, fresh source, {ip['lines']} lines) | {ms(ip['median'])} "
            f"({ms(ip['cpu'])} CPU; target <= 2 ms) | "
            f"{ms(rg)} (`rg -F ID`) | {rg / ip['median']:,.0f}x |",
            f"| index size | {kb['size'] / 1e6:,.1f} MB = {100 * kb['size'] / kb['bytes']:.2f} % of the logs "
            f"(uncompressed; gz copies included) | tantivy {tb['size'] / 1e6:,.1f} MB = "
            f"{100 * tb['size'] / max(r['plain_bytes'], 1):.2f} % of the plain files it indexed | "
            f"{(kb['size'] / kb['bytes']) / (tb['size'] / max(r['plain_bytes'], 1)):.2f}x tantivy's share |",
            f"| index build, better of 2, warm page cache, wall (CPU) | {kb['wall']:.1f} s ({kb['cpu']:.1f} s CPU, {kb['lines'] / kb['cpu']:,.0f} lines/s per core, "
            f"peak RSS {kb['maxrss_mb']:.0f} MB) | tantivy {tb['wall']:.1f} s ({tb['cpu']:.1f} s CPU, "
            f"{tb['lines'] / tb['cpu']:,.0f} lines/s; per-line Python loop) | {tb['wall'] / kb['wall']:.1f}x faster |",
            f"| `kansoku trace stats` vs `grep -c 'status: '` (zcat for .gz) | {ms(kst)} "
            f"({ms(st['kansoku trace stats']['cpu'])} CPU) | {ms(gst)} | {gst / kst:.2f}x grep's speed (target >= 0.5x) |",
        ]
        if "assembly" in r:
            a = r["assembly"]
            out.append(
                f"| trace assembly + isolation in process, index lookups included ({a['lines']:,} lines, "
                f"{a['services']} services; fresh `IndexSource`) | {ms(a['cpu'])} CPU (target <= 40 ms) | "
                f"{ms(a['grep']['wall'])} (`grep -rF` of the first id only) | {a['grep']['wall'] / a['cpu']:.1f}x |"
            )
        out.append("")
    out += [
        "`rg -F` and `grep -rF` skip `.gz` files (in the demo corpus some of a request's lines are "
        "only there); kansoku reads them; tantivy indexes the plain files only. `kansoku trace` does "
        "more than find lines: it follows every id it learns (global, local, callee ids), stitches, "
        "isolates the fault and renders; rg, grep and tantivy print the lines of one id. "
        "The terminal output goes into a pipe (no colours). `python -c pass` is the interpreter's "
        "own start with this venv's `site` (an editable install adds its import hook); the "
        "`(wheel install)` row, when measured (`--wheel`), runs kansoku installed as a regular "
        "package in a venv of its own, as a user would.",
        "",
    ]
    return "\n".join(out)


def _version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.split()[1]
    except (OSError, IndexError):
        return "?"


def _tantivy_version() -> str:
    try:
        from importlib.metadata import version

        return version("tantivy")
    except Exception:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bytes", type=int, default=250_000_000, help="size of each corpus (default 250 MB)")
    parser.add_argument("--quick", action="store_true", help="50 MB corpora, 3 runs")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--only", choices=["demo", "access"], default=None)
    parser.add_argument(
        "--stats-only",
        action="store_true",
        help="only `kansoku trace stats` vs `grep -c` (median of --runs), printed as table rows",
    )
    parser.add_argument(
        "--wheel",
        action="store_true",
        help="also time kansoku installed as a package in bench/data/venv-wheel",
    )
    args = parser.parse_args()
    size = 50_000_000 if args.quick else args.bytes
    runs = 3 if args.quick else args.runs
    if shutil.which("rg") is None:
        sys.exit("ripgrep (`rg`) is needed: apt-get install ripgrep")
    try:
        import tantivy  # noqa: F401 - the baseline's engine, run in a child process
    except ImportError:
        if not args.stats_only:
            sys.exit("tantivy is needed for the baseline: pip install -e '.[bench]'")
    corpora = ensure_corpora(size)
    if args.stats_only:
        stats_only(corpora, args.only, runs)
        return
    load0 = os.getloadavg()[0]
    wheel = wheel_kansoku() if args.wheel else None
    results = [measure_corpus(n, p, runs, wheel) for n, p in corpora.items() if args.only in (None, n)]
    text = report(results, size, runs, (load0, os.getloadavg()[0]))
    # one section per corpus size (run_all.py joins every results/*.md)
    (BENCH / "results" / f"lookup-{size // 1_000_000}mb.md").write_text(text)
    (BENCH / "data" / f"lookup-{size // 1_000_000}mb.json").write_text(json.dumps(results, indent=1))
    print(text)


if __name__ == "__main__":
    main()
