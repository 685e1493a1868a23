"""Wiring for `kansoku web`: options -> sources -> state -> uvicorn (what the CLI and tests call)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from rich.console import Console

from kansoku.config import store_dir
from kansoku.errors import KansokuError
from kansoku.health.crosslayer.check import iaas_source

from .state import WebSources, WebState


def sources_from_options(
    store: Path | None, inventory: Path | None, heal_config: Path | None, iaas: str | None
) -> WebSources:
    from kansoku.inventory import load_inventory

    inv = None
    if inventory is not None:
        inv = load_inventory(inventory)
        if inv.sources:
            from kansoku.inventory_sources import SourceCache

            inv = inv.with_clusters(SourceCache().clusters(inv))
    path = store_dir(store)
    notes = []
    from kansoku.tracing.index import Store

    if not Store(path).exists():
        notes.append(
            f"{path}: no index store; traces and control-plane charts need `kansoku index` (or --store)"
        )
        path_or_none: Path | None = None
    else:
        path_or_none = path
    if inv is None:
        notes.append("no --inventory: the fleet grid is empty")
    source = iaas_source(iaas, inv)
    from kansoku.health.crosslayer.sources import SnapshotIaas

    window = source.window if isinstance(source, SnapshotIaas) else None
    return WebSources(path_or_none, inv, heal_config, source, window, notes=notes)


def start_state(sources: WebSources) -> WebState:
    state = WebState(sources)
    state.load_logs()
    state.start()
    return state


def _run(state: WebState, host: str, port: int, token: str | None) -> None:
    import signal

    import uvicorn

    from .app import create_app

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(0)

    # uvicorn re-raises the SIGTERM it caught after shutting down; the default action would
    # kill the process before the `finally` blocks that stop the rounds and the simulated fleet
    signal.signal(signal.SIGTERM, terminate)
    try:
        uvicorn.run(create_app(state, token), host=host, port=port, log_level="warning", access_log=False)
    finally:
        state.stop()


def serve_sources(sources: WebSources, host: str, port: int, token: str | None) -> None:
    state = start_state(sources)
    Console(stderr=True).print(f"kansoku web on http://{host}:{port}/")
    _run(state, host, port, token)


def serve_demo(host: str, port: int, token: str | None, workdir: Path | None) -> None:
    """Build the demo (about 10 s), serve it, and stop the simulated fleet on exit."""
    from .demo import build_demo

    console = Console(stderr=True)
    temp = workdir is None
    root = Path(tempfile.mkdtemp(prefix="kansoku-web-demo-")) if workdir is None else workdir
    console.print(f"building the demo cloud in {root} …")
    try:
        parts = build_demo(root)
    except KansokuError:
        if temp:
            shutil.rmtree(root, ignore_errors=True)
        raise
    try:
        state = start_state(parts.sources)
        console.print(
            f"kansoku web --demo on http://{host}:{port}/  (iaas snapshot {parts.iaas_file}; Ctrl-C stops)"
        )
        _run(state, host, port, token)
    finally:
        if parts.fleet is not None:
            parts.fleet.stop()
        if temp:
            shutil.rmtree(root, ignore_errors=True)
