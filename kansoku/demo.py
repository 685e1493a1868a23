"""``kansoku demo``: every area's demo in one work directory, each under its own heading.

Why one command: the README's first command must show the product working on a fresh
machine with nothing to set up. Each area owns its demo (`run_demo(console, workdir)` in
`kansoku.<area>.demo`); this module only runs them in order, keeps going when one fails so
the user sees everything, and exits 1 if any section failed (for the tracing section: a
verdict that differs from the demo cloud's ground truth).
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

import typer

from kansoku.errors import KansokuError

#: (heading, module) in the order the contract fixes.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("request tracing: the demo cloud", "kansoku.tracing.demo"),
    ("fleet health", "kansoku.health.demo"),
    ("add-on bundles", "kansoku.addon_bundles.demo"),
    ("alerts and self-healing", "kansoku.alerts.demo"),
)


def run(workdir: Path, only: list[str] | None = None) -> int:
    """Run the sections (all, or those whose module name ends with one of `only`); 0 if all passed."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False)
    workdir.mkdir(parents=True, exist_ok=True)
    failed: list[str] = []
    t0 = time.perf_counter()
    for heading, module_name in SECTIONS:
        if only and not any(module_name.endswith(f".{o}.demo") or module_name == o for o in only):
            continue
        console.rule(f"[bold]{heading}")
        try:
            importlib.import_module(module_name).run_demo(console, workdir)
        except KansokuError as exc:
            console.print(f"[bold red]{heading}: {escape(str(exc))}[/]", soft_wrap=True)
            failed.append(heading)
    console.rule()
    took = time.perf_counter() - t0
    if failed:
        console.print(f"[bold red]demo failed in: {', '.join(failed)}[/] ({took:.1f} s)")
        return 1
    console.print(f"[bold green]demo passed[/] ({took:.1f} s; everything is in {workdir})")
    return 0


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        workdir: Path = typer.Option(Path("demo-out"), "--workdir", help="where the demo writes its files"),
        only: list[str] = typer.Option(
            [], "--only", help="run only these sections: tracing, health, addon_bundles, alerts"
        ),
    ) -> None:
        """Run the whole product on embedded demo data: no servers to set up, exit 1 if a check fails.

        Example: kansoku demo --workdir demo-out --only tracing
        """
        raise typer.Exit(run(workdir, only or None))
