"""CLI commands for the refresh job: `refresh`, `runs`, `evaluate`.

torch/dgl are imported inside the commands only, so the rest of the CLI (and
the API image, which has no training stack) starts without them.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from graph_schema.settings import get_settings
from graph_schema.store import StoreError, open_store
from graph_schema.store.embedded import EmbeddedStoreError
from records.locks import LeaseLost
from records.runs import RefreshAlreadyRunning, list_runs
from service.jobs.refresh import TrainingUnavailable, run_job

err = Console(stderr=True)
out = Console()

REPORTED = ("recall@10", "recall@20", "ndcg@10", "ndcg@20", "hit@10", "mrr@10")


def _metrics_table(title: str, ours: dict[str, Any], baseline: dict[str, Any]) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("model", justify="right")
    table.add_column("popularity", justify="right")
    for name in REPORTED:
        a, b = ours.get(name), baseline.get(name)
        table.add_row(name, f"{a:.4f}" if a is not None else "-", f"{b:.4f}" if b is not None else "-")
    return table


def refresh(
    incremental: Annotated[
        bool,
        typer.Option(
            "--incremental/--full",
            help="Incremental: re-fit the neighbourhood of users with new events (their items and those "
            "items' recent users); full: retrain everything.",
        ),
    ] = False,
    device: Annotated[str, typer.Option("--device", help="auto|cpu|cuda")] = "auto",
    epochs: Annotated[int | None, typer.Option("--epochs", min=1)] = None,
    force: Annotated[bool, typer.Option("--force", help="Publish even if the quality gate rejects the model.")] = False,
) -> None:
    """Train embeddings and interest strengths and publish them (the refresh job)."""
    settings = get_settings()
    mode = "incremental" if incremental else "full"
    try:
        with open_store(settings) as store, err.status(f"refresh ({mode}) …") as status:

            def on_phase(name: str) -> None:
                status.update(f"refresh ({mode}): {name} …")
                err.print(f"  phase [bold]{name}[/bold]")

            outcome = run_job(store, settings, mode, trigger="cli", force=force, device=device, epochs=epochs,
                              on_phase=on_phase)  # fmt: skip
    except TrainingUnavailable as exc:
        err.print(f"[red]error:[/red] the training stack is not installed ({exc}); run `make install`")
        raise typer.Exit(1) from exc
    except (RefreshAlreadyRunning, LeaseLost, StoreError, EmbeddedStoreError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    result, run_id = outcome.result, outcome.run_id

    phases = Table(title=f"run {run_id}: {result.status} {result.model_version} ({result.mode}, {result.device})")
    phases.add_column("phase")
    phases.add_column("seconds", justify="right")
    for name, seconds in result.phases.items():
        phases.add_row(name, f"{seconds:.2f}")
    phases.add_row("total", f"{sum(result.phases.values()):.2f}")
    out.print(phases)
    if result.metrics:
        out.print(_metrics_table("temporal hold-out", result.metrics, result.baseline))
    if result.reason:
        err.print(f"[yellow]{result.reason}[/yellow]")
    if result.status == "rejected":
        raise typer.Exit(3)


def runs(
    limit: Annotated[int, typer.Option("--limit", min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The refresh run history, newest first."""
    rows = list_runs(get_settings(), limit)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table(title="refresh runs")
    for col in ("id", "mode", "trigger", "status", "version", "seconds", "ndcg@20", "device", "error"):
        table.add_column(col)
    for r in rows:
        ndcg = r["metrics"].get("ndcg@20")
        table.add_row(
            str(r["run_id"]),
            r["mode"],
            r["trigger"],
            r["status"],
            r["model_version"] or "",
            f"{r['duration_s']:.1f}" if r["duration_s"] is not None else "",
            f"{ndcg:.4f}" if isinstance(ndcg, float) else "",
            r["device"] or "",
            (r["error"] or "")[:60],
        )
    out.print(table)


def evaluate(
    protocol: Annotated[
        str,
        typer.Option(
            "--protocol",
            help="temporal (graph knows the train part), deployed (train + valid), random (a seeded random split), "
            "or all.",
        ),
    ] = "all",
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Run seeds 0..N-1; N > 1 prints mean ± std.")] = 1,
    no_genres: Annotated[bool, typer.Option("--no-genres", help="Import the movies without genre interests.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Also print every run's full metrics as JSON.")] = False,
) -> None:
    """Offline quality on MovieLens-100K through the served code path: per protocol, a
    temporary store, ingest, a full refresh, then the recommender's answers for every user
    and strategy, next to popularity (service/evaluation.py)."""
    from service.evaluation import PROTOCOLS, evaluate_all, format_table, rich_progress, without_genres
    from training.movielens import MovieLensNotFound, load

    if protocol != "all" and protocol not in PROTOCOLS:
        err.print(f"[red]error:[/red] --protocol must be one of {', '.join(PROTOCOLS)} or all")
        raise typer.Exit(2)
    try:
        ml = load()
    except MovieLensNotFound as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    if no_genres:
        ml = without_genres(ml)
    protocols = PROTOCOLS if protocol == "all" else (protocol,)
    try:
        with rich_progress() as progress:
            results = evaluate_all(protocols, range(seeds), progress=progress, dataset=ml)
    except TrainingUnavailable as exc:
        err.print(f"[red]error:[/red] the training stack is not installed ({exc}); run `make install`")
        raise typer.Exit(1) from exc
    except (StoreError, EmbeddedStoreError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    typer.echo(format_table(results))
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in results]))


def register(app: typer.Typer) -> None:
    app.command("refresh")(refresh)
    app.command("runs")(runs)
    app.command("evaluate")(evaluate)
