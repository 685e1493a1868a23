"""`kansoku web`: serve the fleet, the control plane, traces and the healer as pages."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from kansoku.errors import KansokuError
from kansoku.options import DEFAULT_BIND, bind_option, inventory_option, store_option

TOKEN_ENV = "KANSOKU_WEB_TOKEN"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def web_token(host: str) -> str | None:
    """The token every route but /healthz demands; required off loopback (logs are sensitive)."""
    token = os.environ.get(TOKEN_ENV) or None
    if token is None and host not in LOOPBACK:
        raise KansokuError(
            f"--host {host}: binding beyond loopback requires ${TOKEN_ENV} (the pages show raw OpenStack logs)"
        )
    return token


def register(app: typer.Typer) -> None:
    @app.command("web")
    def web(
        store: Annotated[Path | None, store_option()] = None,
        inventory: Annotated[Path | None, inventory_option()] = None,
        heal_config: Annotated[
            Path | None, typer.Option("--heal-config", help="heal.yaml (its journal feeds /heal)")
        ] = None,
        iaas: Annotated[
            str | None,
            typer.Option(
                "--iaas", help="'nova' (the inventory's clouds.yaml cloud) or an IaaS snapshot JSON file"
            ),
        ] = None,
        host: Annotated[str, bind_option()] = DEFAULT_BIND,
        port: Annotated[int, typer.Option("--port")] = 8080,
        demo: Annotated[
            bool,
            typer.Option(
                "--demo", help="serve the demo cloud (generated logs, simulated fleet, demo journal)"
            ),
        ] = False,
        workdir: Annotated[
            Path | None,
            typer.Option("--workdir", help="with --demo: where its files go (default: a temp dir)"),
        ] = None,
    ) -> None:
        """Pages: / (fleet, control plane, failed requests, search), /trace/ID, /heal, /healthz.

        Example: kansoku web --demo   (then open http://127.0.0.1:8080/)
        """
        from kansoku.web.serve import serve_demo, serve_sources, sources_from_options

        token = web_token(host)
        if demo:
            serve_demo(host, port, token, workdir)
            return
        serve_sources(sources_from_options(store, inventory, heal_config, iaas), host, port, token)
