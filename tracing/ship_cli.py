"""`kansoku ship PATH... --es URL`: load log files into Elasticsearch in Fluentd's shape.

Thin on purpose: the work is `kansoku.tracing.ship.ship`, which the tests call too.
Only typer and stdlib at module level so `kansoku --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("ship")
    def ship_command(
        paths: list[Path] = typer.Argument(..., help="log files or directories (rotated and .gz included)"),
        es: str = typer.Option(..., "--es", help="Elasticsearch URL, e.g. https://user:pw@es:9200"),
        index: str | None = typer.Option(
            None, "--index", help="index name; '%' makes it a strftime pattern; default flog-YYYY.MM.DD"
        ),
        path_rule: str | None = typer.Option(
            None, "--path-rule", help="how paths name service and host, e.g. '{host}/{project}/{service}'"
        ),
        host: str | None = typer.Option(
            None, "--host", help="host name for files whose path does not say it"
        ),
    ) -> None:
        """Bulk-load oslo.log files into Elasticsearch as kolla-ansible's Fluentd would index them."""
        from rich.console import Console
        from rich.markup import escape

        from kansoku.errors import KansokuError
        from kansoku.tracing.ship import ship

        report = ship(paths, es, index=index, path_rule=path_rule, host=host)
        out = Console(highlight=False, soft_wrap=True)
        out.print(
            f"shipped {report.records} records from {report.files} files in {report.elapsed:.1f}s: "
            f"{report.created} created, {report.already_present} already present, {report.failed} failed"
            + (f", {report.unparsed} kept whole in 'message' (not oslo.log text)" if report.unparsed else "")
        )
        out.print(escape(f"indices: {', '.join(sorted(report.indices))}"))
        for line in report.errors:
            out.print(f"  [red]error[/] {escape(line)}")
        if report.failed > len(report.errors):
            out.print(f"  ... and {report.failed - len(report.errors)} more failed documents")
        for problem in report.problems:
            out.print(f"  [yellow]problem[/] {escape(problem)}")
        if not report.ok:
            raise KansokuError(
                f"{report.failed} documents failed, {len(report.problems)} paths or files unreadable",
                exit_code=1,
            )
