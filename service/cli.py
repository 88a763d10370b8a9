"""The `interest-graph` command line."""

from __future__ import annotations

import json
import logging
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from graph_schema.settings import get_settings
from graph_schema.store import StoreError, embedded_server, open_store
from graph_schema.store.embedded import EmbeddedStoreError

app = typer.Typer(help="Interest graph service: stores, ingestion, training and the API.", no_args_is_help=True)
store_app = typer.Typer(help="Manage the embedded FalkorDB server.", no_args_is_help=True)
app.add_typer(store_app, name="store")

console = Console(stderr=True)


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


def _parse_param(raw: str) -> tuple[str, Any]:
    """`k=v`; v is parsed as JSON when it is valid JSON (numbers, lists), else a string."""
    if "=" not in raw:
        raise typer.BadParameter(f"--param expects key=value, got {raw!r}")
    key, value = raw.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def print_counts(counts: dict[str, dict[str, int]]) -> None:
    table = Table(title="graph")
    table.add_column("kind")
    table.add_column("name")
    table.add_column("count", justify="right")
    for kind in ("nodes", "relationships"):
        for name, n in counts[kind].items():
            table.add_row(kind, name, f"{n:,}")
    Console().print(table)


@app.callback()
def _setup(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")


@app.command()
def migrate() -> None:
    """Apply pending schema migrations to the graph store."""
    try:
        with open_store() as store:
            applied = store.migrate()
            versions = sorted(store.schema_versions())
    except (StoreError, EmbeddedStoreError) as exc:
        _fail(str(exc))
    typer.echo(f"applied: {applied or 'none'}; schema at version {versions[-1] if versions else 0}")


@app.command()
def stats(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Counts of nodes per label and relationships per type."""
    try:
        with open_store() as store:
            counts = store.counts()
            model = store.current_model_version()
    except (StoreError, EmbeddedStoreError) as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps({**counts, "model_version": model}))
    else:
        print_counts(counts)
        typer.echo(f"published model: {model or 'none yet'}")


@app.command("cypher")
def cypher_cmd(
    query: str,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="key=value (value as JSON if it parses)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    timeout_ms: Annotated[int | None, typer.Option("--timeout-ms")] = None,
    limit: Annotated[int | None, typer.Option("--limit")] = None,
) -> None:
    """Run a read-only Cypher query (writes are refused by the engine)."""
    settings = get_settings()
    params = dict(_parse_param(p) for p in (param or []))
    try:
        with open_store() as store:
            result = store.read_only_query(
                query, params, timeout_ms or settings.cypher_timeout_ms, limit or settings.cypher_row_limit
            )
    except (StoreError, EmbeddedStoreError) as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps({"columns": result.columns, "rows": result.rows}))
        return
    table = Table(*result.columns)
    for row in result.rows:
        table.add_row(*(json.dumps(v) if not isinstance(v, str) else v for v in row))
    Console().print(table)
    if result.truncated:
        console.print(f"[yellow]rows truncated at {len(result.rows)}[/yellow]")


@store_app.command("start")
def store_start() -> None:
    """Start the embedded store (or reuse the one already serving DATA_DIR)."""
    server = embedded_server()
    try:
        endpoint = server.ensure_running()
    except EmbeddedStoreError as exc:
        _fail(str(exc))
    typer.echo(f"embedded FalkorDB running (pid {server.pid()}, socket {endpoint.socket_path})")


@store_app.command("stop")
def store_stop() -> None:
    """Stop the embedded store cleanly."""
    try:
        stopped = embedded_server().stop()
    except EmbeddedStoreError as exc:
        _fail(str(exc))
    typer.echo("stopped" if stopped else "not running")


@store_app.command("status")
def store_status() -> None:
    """Whether the embedded store for DATA_DIR is running."""
    typer.echo(json.dumps(embedded_server().status()))


@app.command()
def demo() -> None:
    """What `make run` does: start the store, migrate, and show the graph."""
    settings = get_settings()
    try:
        with open_store() as store:
            store.migrate()
            print_counts(store.counts())
    except (StoreError, EmbeddedStoreError) as exc:
        _fail(str(exc))
    typer.echo(f"data directory: {settings.data_dir.resolve()}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)
