"""`kansoku trace stats`: a fleet table by service, route and status from the indexed access lines.

Which API routes fail and which are slow is the first question after "what broke this one
request". The access lines are already in the indexed files; we stream them in chunks
(`stats.scan`: whole chunks of oslo access lines grouped in C by `stats.columns`, or in
bulk by `stats.bulk` when it cannot prove them, other lines found by cheap byte tests before
any regex) and keep only per-group counts and
durations, so memory grows with the number of access lines' durations (8 bytes each), never
the log size. pandas is imported only here, inside the functions, and only when a frame is
asked for (`--csv`, `--parquet`, `fleet_stats`), to keep `kansoku trace ID` and the
terminal table fast.
"""

from __future__ import annotations

import json
import re
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kansoku.errors import KansokuError
from kansoku.tracing.model import AccessInfo

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

#: The table's columns, in order (CSV and Parquet keep them).
COLUMNS = [
    "service",
    "method",
    "route",
    "status",
    "count",
    "route_count",
    "error_rate",
    "p50_s",
    "p95_s",
    "p99_s",
]

GroupKey = tuple[str, str, str, int]  # service, method, route, status


@dataclass
class StatsInput:
    """What was read: durations per group, counts per group, files and problems."""

    durations: dict[GroupKey, array[float]] = field(default_factory=dict)
    counts: dict[GroupKey, int] = field(default_factory=dict)
    files: int = 0
    lines: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, service: str, access: AccessInfo) -> None:
        key = (service, access.method, access.route, access.status)
        self.counts[key] = self.counts.get(key, 0) + 1
        if access.duration is not None:
            self.durations.setdefault(key, array("d")).append(access.duration)


_JSON_MESSAGE_RE = re.compile(r'"message": ("(?:[^"\\]|\\.)*")')


def _candidate(line: bytes) -> bool:
    """Could this line be an access line? Byte tests only: most lines are not."""
    return b"status: " in line or (b"HTTP/" in line and b'" ' in line) or b"=> generated" in line


def access_infos(lines: Iterable[bytes]) -> Iterator[AccessInfo]:
    """The access lines among raw log lines: oslo/eventlet, combined and uWSGI text, and JSON."""
    from kansoku.tracing.ingest.access import parse_access
    from kansoku.tracing.ingest.parse import parse_record

    for raw in lines:
        if not _candidate(raw):
            continue
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if text.startswith("{"):
            # oslo.log JSON: decode only the "message" string, not the whole object (3x faster).
            m = _JSON_MESSAGE_RE.search(text)
            if m is not None:
                access = parse_access(json.loads(m.group(1)))
            else:
                rec = parse_record(text)
                access = rec.access if rec is not None else None
        else:
            access = parse_access(_from_client(text)) or parse_access(text)
        if access is not None:
            yield access


def _from_client(text: str) -> str:
    r"""`... [ctx] 10.0.0.5 "GET /x" status: 200` -> `10.0.0.5 "GET /x" status: 200`.

    The access regexes start with an unanchored `\S+` (the client), so searching a whole oslo
    line retries at every position of the header: cutting at the client is ~5x faster.
    """
    quote = text.find('"')
    if quote <= 1:
        return text
    return text[text.rfind(" ", 0, quote - 1) + 1 :]


def _stream_lines(path: str) -> Iterator[bytes]:
    from kansoku.tracing.ingest.files import read_chunks

    rest = b""
    for chunk in read_chunks(path):
        data = rest + chunk
        lines = data.split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


def collect(store: Path, meanwhile: Callable[[], object] | None = None) -> StatsInput:
    """Stream every live file of the index store and group its access lines (`meanwhile`:
    run in this process while worker processes read, see `stats.scan.scan_files`)."""
    from kansoku.tracing.index import Store, iter_entries

    if not Store(store).exists():
        raise KansokuError(f"{store}: no index here; run `kansoku index PATH...` first (or give --store)")
    from kansoku.numeric import import_numpy

    import_numpy()  # before the scan's modules import it (and before its workers fork)
    from kansoku.tracing.stats.scan import scan_files

    out = StatsInput()
    entries = list(iter_entries(store))
    out.files = len(entries)
    # fills out's dicts, in file order, on as many cores as there are (see stats.scan)
    out.lines, out.problems = scan_files(
        [(e.path, e.service) for e in entries], out.counts, out.durations, access_infos, meanwhile=meanwhile
    )
    return out


Row = tuple[str, str, str, int, int, int, float, float, float, float]  # COLUMNS, in order


def table_rows(data: StatsInput) -> list[Row]:
    """The rows of `stats_table`, in its order, without pandas (the terminal table needs no
    frame, and importing pandas costs a quarter of a second at every `kansoku trace stats`)."""
    import numpy as np

    route_total: dict[tuple[str, str, str], int] = {}
    route_errors: dict[tuple[str, str, str], int] = {}
    for (service, method, route, status), n in data.counts.items():
        rk = (service, method, route)
        route_total[rk] = route_total.get(rk, 0) + n
        if status >= 500:
            route_errors[rk] = route_errors.get(rk, 0) + n
    rows: list[Row] = []
    for key, n in data.counts.items():
        service, method, route, status = key
        rk = (service, method, route)
        durations = np.frombuffer(data.durations[key], dtype=np.float64) if key in data.durations else None
        if durations is not None and len(durations):
            p50, p95, p99 = (float(x) for x in np.percentile(durations, [50, 95, 99]))
        else:
            p50 = p95 = p99 = float("nan")
        rows.append(
            (
                service,
                method,
                route,
                status,
                n,
                route_total[rk],
                route_errors.get(rk, 0) / route_total[rk],
                p50,
                p95,
                p99,
            )
        )
    # by service, then busiest route first, then busiest status (stable: first seen first)
    rows.sort(key=lambda row: (row[0], -row[5], -row[4]))
    return rows


def _frame(rows: list[Row]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.astype({"status": "int64", "count": "int64", "route_count": "int64"})


def stats_table(data: StatsInput) -> pd.DataFrame:
    """One row per (service, method, route, status), sorted by service and volume.

    `error_rate` is the share of the (service, method, route) requests answered 5xx, so a row
    tells both how often this status occurs and how healthy its route is.
    """
    return _frame(table_rows(data))


def fleet_stats(store: Path) -> pd.DataFrame:
    """The table for an index store (what `kansoku trace stats` prints)."""
    return stats_table(collect(store))


def write_outputs(frame: pd.DataFrame, csv: Path | None = None, parquet: Path | None = None) -> None:
    try:
        if csv is not None:
            frame.to_csv(csv, index=False)
        if parquet is not None:
            frame.to_parquet(parquet, index=False)
    except OSError as err:
        raise KansokuError(f"{err.filename or csv or parquet}: cannot write ({err.strerror})") from None


def print_table(frame: pd.DataFrame, console: Console, limit: int = 40) -> None:
    print_rows([tuple(row) for row in frame.itertuples(index=False)], console, limit)  # type: ignore[misc]


def print_rows(rows: list[Row], console: Console, limit: int = 40) -> None:
    """The busiest `limit` rows as a terminal table (CSV/Parquet have them all)."""
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("service", no_wrap=True)
    table.add_column("request", overflow="fold")
    for col in ("status", "count", "err%", "p50 s", "p95 s", "p99 s"):
        table.add_column(col, justify="right", no_wrap=True)
    busiest = sorted(rows, key=lambda row: -row[4])[:limit]  # stable: ties keep the table's order
    for service, method, route, status, count, _, error_rate, p50, p95, p99 in busiest:
        style = "red" if status >= 500 else ("yellow" if status >= 400 else "")
        table.add_row(
            service,
            f"{method} {route}",
            str(status),
            str(count),
            f"{error_rate:.1%}",
            *(f"{v:.3f}" if v == v else "-" for v in (p50, p95, p99)),
            style=style,
        )
    console.print(table)
    if len(rows) > limit:
        console.print(
            f"… {len(rows) - limit} more rows (the busiest {limit} shown; --csv/--parquet have all)"
        )


def _import_printer() -> None:
    import rich.console
    import rich.table  # noqa: F401


def run_stats(
    store: Path, csv: Path | None = None, parquet: Path | None = None, console: Console | None = None
) -> None:
    """`kansoku trace stats`: read, tabulate, print, and write CSV/Parquet if asked."""
    data = collect(store, meanwhile=_import_printer)  # rich's imports overlap the workers' reading
    from rich.console import Console

    console = console or Console(highlight=False)
    rows = table_rows(data)
    console.print(
        f"{data.lines:,} access lines in {data.files} files: {len(rows)} (service, method, route, status) groups"
    )
    print_rows(rows, console)
    for problem in data.problems:
        console.print(f"[yellow]warning:[/] {problem}", soft_wrap=True)
    if csv is not None or parquet is not None:
        write_outputs(_frame(rows), csv, parquet)  # pandas only when a file is asked for
    for target in (csv, parquet):
        if target is not None:
            console.print(f"wrote {target}")
