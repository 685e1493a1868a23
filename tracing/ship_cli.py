"""`kansoku ship PATH... --es URL`: load log files into Elasticsearch in Fluentd's shape.

Thin on purpose: the work is `kansoku.tracing.ship.ship`, which the tests call too.
Only typer and stdlib at module level so `kansoku --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kansoku.options import deprecated, hidden_option, log_host_option, rule_option


def register(app: typer.Typer) -> None:
    @app.command("ship")
    def ship_command(
        paths: list[Path] = typer.Argument(..., help="log files or directories (rotated and .gz included)"),
        es: str = typer.Option(..., "--es", help="Elasticsearch URL, e.g. https://user:pw@es:9200"),
        index: str | None = typer.Option(
            None, "--index", help="index name; '%' makes it a strftime pattern; default flog-YYYY.MM.DD"
        ),
        rule: Annotated[str | None, rule_option()] = None,
        log_host: Annotated[str | None, log_host_option()] = None,
        path_rule: Annotated[str | None, hidden_option("--path-rule")] = None,
        host: Annotated[str | None, hidden_option("--host")] = None,
    ) -> None:
        """Bulk-load oslo.log files into Elasticsearch as kolla-ansible's Fluentd would index them.

        Example: kansoku ship /var/log/kolla --es http://127.0.0.1:9200 --rule '{host}/{project}/{service}'
        """
        from rich.console import Console
        from rich.markup import escape

        from kansoku.errors import KansokuError
        from kansoku.progress import progress_bar
        from kansoku.tracing.ship import ship

        with progress_bar("shipping", unit="bytes", rate_field="records") as update:

            def on_file(files_done: int, files_total: int, done: int, total: int, records: int) -> None:
                update(
                    total=total,
                    completed=done,
                    detail=f"{files_done}/{files_total} files",
                    rate=f"{records:,}",
                )

            report = ship(
                paths,
                es,
                index=index,
                path_rule=deprecated(rule, path_rule, "--path-rule", "--rule"),
                host=deprecated(log_host, host, "--host", "--log-host"),
                progress=on_file,
            )
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
