"""The options kansoku commands share: one flag name, one environment variable, one help text.

Why one module: the same thing had different names in different commands (`--rule` for
`index`, `--path-rule` for `ship`; `--host` meant the log host for `index` and the listen
address for servers; only `check` read $KANSOKU_INVENTORY). Every command now builds these
options here.

Importing this module costs only the standard library: `kansoku trace` parses its options
with argparse on a 300 ms budget (`tracing/trace_cmd.py`) and uses the constants; the typer
commands call the `*_option()` factories, which import typer when called.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from kansoku.config import DEFAULT_STORE, STORE_ENV

__all__ = [
    "BIND_HELP",
    "DEFAULT_BIND",
    "DEFAULT_INVENTORY",
    "DEFAULT_STORE",
    "INVENTORY_ENV",
    "INVENTORY_HELP",
    "LOG_HOST_HELP",
    "RULE_HELP",
    "STORE_ENV",
    "STORE_HELP",
    "bind_option",
    "deprecated",
    "hidden_option",
    "inventory_option",
    "log_host_option",
    "rule_option",
    "store_option",
]

STORE_HELP = (
    f"kansoku's state directory: index, rule store, bundle state (default ./{DEFAULT_STORE}, or ${STORE_ENV})"
)

INVENTORY_ENV = "KANSOKU_INVENTORY"
DEFAULT_INVENTORY = Path("inventory.yaml")
INVENTORY_HELP = f"fleet inventory YAML (see examples/inventory.yaml; or ${INVENTORY_ENV})"

RULE_HELP = (
    "how a log path names service and host: a pattern like '{host}/{project}/{service}' "
    "or a regex with (?P<service>...) and (?P<host>...)"
)
LOG_HOST_HELP = "host name for log files whose path does not name one"

DEFAULT_BIND = "127.0.0.1"
BIND_HELP = "address to listen on"


def store_option() -> Any:
    """`--store DIR` / $KANSOKU_STORE; None means ./.kansoku (resolve with config.store_dir)."""
    import typer

    return typer.Option("--store", envvar=STORE_ENV, help=STORE_HELP, show_envvar=False)


def inventory_option() -> Any:
    """`--inventory/-i FILE` / $KANSOKU_INVENTORY, default ./inventory.yaml."""
    import typer

    return typer.Option("--inventory", "-i", envvar=INVENTORY_ENV, help=INVENTORY_HELP, show_envvar=False)


def rule_option() -> Any:
    """`--rule SPEC`: the path rule of `kansoku.tracing.ingest.files.make_rule`."""
    import typer

    return typer.Option("--rule", help=RULE_HELP)


def log_host_option() -> Any:
    """`--log-host NAME`: the host of files whose path does not name one."""
    import typer

    return typer.Option("--log-host", help=LOG_HOST_HELP)


def bind_option() -> Any:
    """`--host/--bind ADDR` for servers: where they listen."""
    import typer

    return typer.Option("--host", "--bind", help=BIND_HELP)


def hidden_option(name: str) -> Any:
    """An old flag that still works but is not shown in --help (see `deprecated`)."""
    import typer

    return typer.Option(name, hidden=True)


def deprecated(new_value: Any, old_value: Any, old: str, new: str) -> Any:
    """The value of `new`, or of its old spelling `old` (with a note on stderr saying so)."""
    if old_value is None:
        return new_value
    print(f"kansoku: {old} is deprecated here, use {new}", file=sys.stderr)
    return old_value if new_value is None else new_value
