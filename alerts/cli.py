"""`kansoku heal serve|history|pause|resume` and `kansoku rules check|test`: thin commands.

The work is in `kansoku.alerts.heal.serve` and `kansoku.alerts.rules.check`; `rules test`
reads the rule files and tests of every add-on bundle. Only typer, stdlib and the bundle CLI's
option types at module level.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Any

import typer

from kansoku.addon_bundles.cli import BundleDirs
from kansoku.options import DEFAULT_BIND, bind_option

CONFIG_OPT = typer.Option(
    Path("heal.yaml"), "--config", "-c", help="heal configuration (see examples/heal.yaml)"
)
rules_app = typer.Typer(
    help="Alert rules: multi-cluster label check and promtool unit tests.", no_args_is_help=True
)


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


@rules_app.command("check")
def rules_check_cmd(
    files: Annotated[list[Path], typer.Argument(help="rule files or PrometheusRule manifests")],
    policy: Annotated[
        bool,
        typer.Option("--policy", help="also require severity, summary, runbook_url, a known heal_action"),
    ] = False,
) -> None:
    """Multi-cluster label check and `promtool check rules`; exit 1 on any finding.

    Example: kansoku rules check --policy alerts/rule-files/kansoku.rules.yaml
    """
    from kansoku.alerts.rules.check import check_files

    report = check_files(files, policy=policy)
    console = _console()
    for finding in report.findings:
        console.print(str(finding), markup=False)
    for finding in report.unchecked:
        console.print(f"note: {finding}", markup=False)
    for name, count in report.skipped.items():
        console.print(
            f"{name}: {count} document(s) that are not PrometheusRule objects skipped", markup=False
        )
    for result in report.promtool:
        if not result.ok:
            console.print(f"{result.target}: promtool check rules failed:\n{result.output}", markup=False)
    console.print(f"{len(files)} file(s), {len(report.findings)} finding(s)")
    raise typer.Exit(0 if report.ok else 1)


@rules_app.command("test")
def rules_test_cmd(bundles: BundleDirs = None) -> None:
    """promtool check + test on every rule file and unit test of every bundle; print coverage.

    Example: kansoku rules test --bundles addon-bundles/bundles --bundles examples/bundle
    """
    from rich.table import Table

    from kansoku.addon_bundles.ops import catalog
    from kansoku.alerts.rules.check import run_rule_tests

    cat = catalog(bundles)
    rule_paths = sorted({p for b in cat.bundles.values() for p in b.rule_paths})
    test_paths = sorted({p for b in cat.bundles.values() for p in b.test_paths})
    report = run_rule_tests(rule_paths, test_paths)
    console = _console()
    for result in report.check.promtool + report.tests:
        console.print(
            f"{'ok  ' if result.ok else 'FAIL'} promtool {result.command} {result.target}", markup=False
        )
        if not result.ok:
            console.print(result.output, markup=False)
    for finding in report.check.findings:
        console.print(str(finding), markup=False)
    table = Table("alert", "source", "fires", "stays silent")
    for alert in report.alerts:
        table.add_row(
            alert,
            "vendored" if alert in report.vendored else "kansoku",
            str(len(report.coverage.fires.get(alert, []))),
            "n/a (always fires)"
            if alert in report.always_firing
            else str(len(report.coverage.silent.get(alert, []))),
        )
    console.print(table)
    own = [a for a in report.alerts if a not in report.vendored]
    vendored = sorted(report.vendored)
    untested = set(report.untested)
    lacking = [a for a in vendored if a in untested]
    console.print(
        f"coverage: {sum(a not in untested for a in own)}/{len(own)} kansoku alerts have a firing "
        f"and a silent test; vendored: {len(vendored) - len(lacking)}/{len(vendored)}"
        + (f" (without both: {', '.join(lacking)}; rules/README.md says why)" if lacking else "")
    )
    raise typer.Exit(0 if report.ok else 1)


def register(app: typer.Typer) -> None:
    heal = typer.Typer(
        help="Alert-driven, careful auto-heal (Alertmanager webhook receiver).", no_args_is_help=True
    )
    app.add_typer(heal, name="heal")
    app.add_typer(rules_app, name="rules")

    @heal.command("serve")
    def serve_cmd(
        config: Path = CONFIG_OPT,
        host: Annotated[str, bind_option()] = DEFAULT_BIND,
        port: int = typer.Option(9095, help="listen port"),
        dry_run: bool = typer.Option(False, "--dry-run", help="decide and journal, never act"),
    ) -> None:
        """Receive Alertmanager webhooks on POST /alertmanager and heal (token: $KANSOKU_HEAL_TOKEN).

        Example: kansoku heal serve --config examples/heal.yaml --dry-run
        """
        from kansoku.alerts.heal.serve import serve

        def ready() -> None:
            typer.echo(
                f"kansoku heal: listening on http://{host}:{port}/alertmanager"
                f"{' (dry-run)' if dry_run else ''}",
                err=True,
            )

        serve(config, host, port, dry_run, on_ready=ready)

    @heal.command("prune")
    def prune_cmd(
        config: Path = CONFIG_OPT,
        older_than_days: float = typer.Option(
            None, "--older-than-days", help="default: retention_days from the config"
        ),
    ) -> None:
        """Drop journal rows closed for longer than the retention (open actions, firing alerts
        and what the rails still look back on are kept). Example: kansoku heal prune -c heal.yaml"""
        from kansoku.alerts.heal.serve import prune_journal

        done = prune_journal(config, older_than_days)
        typer.echo("pruned " + ", ".join(f"{n} {table}" for table, n in done.items()))

    @heal.command("history")
    def history_cmd(
        config: Path = CONFIG_OPT,
        json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
        limit: int = typer.Option(30, help="how many recent actions and decisions"),
    ) -> None:
        """Recent decisions and actions, success rate per action, pause state.

        Example: kansoku heal history --config examples/heal.yaml --limit 10
        """
        from kansoku.alerts.heal.serve import history_json

        text = history_json(config, limit)
        if json_out:
            typer.echo(text)
            return
        from kansoku.alerts.heal.show import print_history

        print_history(text)

    @heal.command("pause")
    def pause_cmd(config: Path = CONFIG_OPT) -> None:
        """Stop all healing now (persisted; the running server obeys at its next decision).

        Example: kansoku heal pause --config /etc/kansoku/heal.yaml
        """
        from kansoku.alerts.heal.serve import set_paused

        typer.echo(set_paused(config, True, getpass.getuser()))

    @heal.command("resume")
    def resume_cmd(config: Path = CONFIG_OPT) -> None:
        """Resume healing (also after the fleet budget or a shared-dependency pause).

        Example: kansoku heal resume --config /etc/kansoku/heal.yaml
        """
        from kansoku.alerts.heal.serve import set_paused

        typer.echo(set_paused(config, False, getpass.getuser()))
