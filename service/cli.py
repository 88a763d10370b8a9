"""The `interest-graph` command line."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from graph_schema.settings import get_settings
from graph_schema.store import StoreError, embedded_server, open_store
from graph_schema.store.embedded import EmbeddedStoreError
from service.runtime import tune_gc

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
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="key=value (value as JSON if it parses)")
    ] = None,
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


import_app = typer.Typer(help="Import data sets.", no_args_is_help=True)
app.add_typer(import_app, name="import")


def _progress(total: int | None, desc: str):  # type: ignore[no-untyped-def]
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="ev", unit_scale=True, file=sys.stderr, disable=None)


@import_app.command("movielens")
def import_movielens_cmd(
    path: Annotated[
        Path | None, typer.Option("--path", help="ml-100k directory (default: the recbole wheel's copy)")
    ] = None,
) -> None:
    """Import MovieLens-100K: users, items, genres as interests, ratings as events."""
    from service.ingest.eventlog import EventLog
    from service.ingest.movielens import import_movielens
    from training.movielens import MovieLensNotFound

    settings = get_settings()
    tune_gc()
    try:
        with open_store() as store:
            store.migrate()
            with _progress(100_000, "ratings") as bar:
                report = import_movielens(store, EventLog(settings), path, progress=bar.update)
            print_counts(store.counts())
    except (StoreError, EmbeddedStoreError, MovieLensNotFound) as exc:
        _fail(str(exc))
    typer.echo(json.dumps(report))


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(help="JSON lines, one event per line (same fields as POST /v1/events)")],
) -> None:
    """Ingest events from a JSON-lines file through the event log.

    The file streams: batches are parsed, validated and logged while the graph
    writes the previous one. Lines that are not valid events are reported by number;
    the rest are accepted."""
    from service.ingest import relations
    from service.ingest.eventlog import EventLog
    from service.ingest.graph_writer import GraphWriter
    from service.ingest.jsonl import read_events
    from service.ingest.schemas import RelationIn

    settings = get_settings()
    try:
        total: int | None = None  # a pipe or FIFO can be read once: no count, no total
        if file.is_file():
            with file.open(encoding="utf-8") as fh:
                total = sum(1 for line in fh if line.strip())
        fh = file.open(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {file}: {exc}")
    rejected: list[dict[str, object]] = []
    log_ = EventLog(settings)
    tune_gc()
    social: list[tuple[int, RelationIn]] = []  # relation lines: logged after the behaviour events
    with fh:
        events = read_events(fh, rejected, social)
        try:
            with open_store() as store:
                store.migrate()
                with _progress(total, "events") as bar:
                    report, applied = GraphWriter(log_).ingest(store, events, progress=bar.update)
        except (StoreError, EmbeddedStoreError) as exc:
            logged = log_.accept(list(events))  # what the graph never saw: into the log, pending
            _fail(
                f"{logged.accepted} events are in the log but not in the graph yet ({exc}); "
                "they stay pending and the next ingest applies them"
            )
    rel_applied = 0
    if social:
        rel_report = relations.accept(log_.sessions, social)
        report.accepted += rel_report.accepted
        report.duplicates += rel_report.duplicates
        try:
            with open_store() as store:
                rel = relations.apply_pending(log_.sessions, store)
            rel_applied, applied.pending = rel.written + rel.removed, applied.pending + rel.pending
        except (StoreError, EmbeddedStoreError) as exc:
            _fail(f"{rel_report.accepted} relation events are in the log but not in the graph yet ({exc})")
    rejected += [{"line": r["index"], "error": r["error"]} for r in report.rejected]
    for r in sorted(rejected, key=lambda r: int(r["line"])):  # type: ignore[call-overload]
        console.print(f"[yellow]line {r['line']}:[/yellow] {r['error']}")
    typer.echo(
        json.dumps(
            {
                "accepted": report.accepted,
                "duplicates": report.duplicates,
                "rejected": len(rejected),
                "applied": applied.applied,
                "pending": applied.pending,
                **({"relations_applied": rel_applied} if social else {}),
            }
        )
    )
    if applied.error:
        _fail(f"graph write failed, {applied.pending} events stay pending: {applied.error}")


@app.command()
def replay(force: Annotated[bool, typer.Option("--force", help="wipe a non-empty graph first")] = False) -> None:
    """Rebuild the graph from the event log into an empty store."""
    from service.ingest.eventlog import EventLog
    from service.ingest.replay import replay as replay_log

    settings = get_settings()
    log_ = EventLog(settings)
    tune_gc()
    try:
        with open_store() as store:
            counts = store.counts()
            data = {k: v for k, v in counts["nodes"].items() if k in ("User", "Item", "Interest")}
            if data and not force:
                _fail(f"the graph is not empty ({data}); replay needs an empty store (or --force to wipe it)")
            if data:
                store.wipe()
            store.migrate()
            with _progress(log_.count(), "replay") as bar:
                n = replay_log(log_, store, progress=bar.update)
            print_counts(store.counts())
    except (StoreError, EmbeddedStoreError) as exc:
        _fail(str(exc))
    typer.echo(f"replayed {n} events")


from service import cli_api, cli_train  # noqa: E402 - registered after the core commands

cli_api.register(app)
cli_train.register(app)


def _demo_key(settings: Any) -> str:
    """The admin key `make run` prints: created once, kept (0600) in DATA_DIR."""
    from sqlalchemy import select

    from records.keys import create_key, hash_key
    from records.tables import ApiKey, session_factory

    path = settings.data_dir / "demo-api-key"
    sessions = session_factory(settings.sql_url)
    if path.exists():
        key = path.read_text().strip()
        with sessions() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None)))
        if row is not None:
            return key
    key = create_key(sessions, "admin", "demo (make run)")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key


@app.command()
def demo(
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Start the API afterwards.")] = True,
    host: Annotated[str | None, typer.Option("--host", help="Default: API_HOST (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Default: API_PORT (8000).")] = None,
) -> None:
    """What `make run` does: start the store, migrate, import MovieLens-100K if the
    graph is empty, run a first full refresh if no model is published, and serve the
    API (with the refresh scheduler) on API_HOST:API_PORT (127.0.0.1:8000)."""
    from service.ingest.eventlog import EventLog
    from service.ingest.movielens import import_movielens
    from training.movielens import MovieLensNotFound

    settings = get_settings()
    try:
        with open_store() as store:
            store.migrate()
            if not store.counts()["nodes"].get("User"):
                typer.echo("empty graph: importing MovieLens-100K ...")
                with _progress(100_000, "ratings") as bar:
                    import_movielens(store, EventLog(settings), progress=bar.update)
            print_counts(store.counts())
            published = store.current_model_version()
    except (StoreError, EmbeddedStoreError, MovieLensNotFound) as exc:
        _fail(str(exc))
    if published is None:
        typer.echo("no model published yet: running a first full refresh ...")
        try:
            cli_train.refresh(incremental=False, device="auto", epochs=None, force=False)
        except typer.Exit as exc:
            if exc.exit_code not in (0, None):
                console.print("[yellow]the first refresh did not publish; serving graph-based recommendations[/yellow]")
    key = _demo_key(settings)
    from service.config import get_api_settings

    api = get_api_settings()
    host, port = host or api.api_host, port or api.api_port
    base = f"http://{host}:{port}"
    typer.echo(
        f"\ndata directory: {settings.data_dir.resolve()}\n"
        f"demo API key (admin): {key}\n"
        f"try:\n  curl -s -H 'Authorization: Bearer {key}' "
        f"'{base}/v1/users/1/recommendations?k=20&explain=true'\n"
        f"API docs: {base}/docs\n"
        f"web console: {base}/console/ (sign in with the demo API key)\n"
    )
    if serve:
        cli_api.run_gunicorn(host, port, workers=1, threads=8, with_scheduler=True)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)
