"""Progress of long work on a terminal, and nothing at all when stderr is not a terminal.

Why one helper: `kansoku index` over a gigabyte, `ship`, `bundle render` for a fleet and
`lab up` run for seconds to minutes; on a terminal the operator should see that they move
and when they will end. Piped into a file, a CI log or another program, the output must
stay exactly what it was, so the bar goes to stderr, only when stderr is a TTY, and is
removed when the work ends (the commands print their own summary). The library functions
take a plain callback; only the CLI builds a bar with this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: `update(completed=..., total=..., description=..., **fields)`; fields fill the columns.
Update = Callable[..., None]


def _noop(**_: Any) -> None:
    return None


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def progress_bar(description: str, *, unit: str = "items", rate_field: str | None = None) -> Iterator[Update]:
    """A transient bar on stderr: count or bytes done of total, a rate field, and ETA.

    `unit="bytes"` shows sizes (MB of GB); `rate_field` names a field shown after the bar
    (e.g. "lines/s", set by the caller through `update(rate=...)`).
    """
    console = _stderr_console()
    if not console.is_terminal:
        yield _noop
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn()]
    columns.append(DownloadColumn() if unit == "bytes" else MofNCompleteColumn())
    columns.append(TextColumn("{task.fields[detail]}"))
    if rate_field:
        columns.append(TextColumn(f"{{task.fields[rate]}} {rate_field}"))
    columns.append(TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=None, detail="", rate="")

        def update(**kw: Any) -> None:
            bar.update(task, **kw)

        yield update


@contextmanager
def status_line(description: str) -> Iterator[Callable[[str], None]]:
    """A transient spinner with the current step (`step("starting keystone")`) on a terminal."""
    console = _stderr_console()
    if not console.is_terminal:
        yield lambda _step: None
        return
    with console.status(description) as status:
        yield lambda step: status.update(f"{description}: {step}")
