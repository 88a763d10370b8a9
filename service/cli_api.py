"""CLI commands for the API: `serve`, `scheduler`, `apikey create|list|revoke`.

Registered on the main `interest-graph` typer app with `register(app)`.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

import typer

from records.keys import ROLES, create_key, list_keys, revoke_key
from records.tables import session_factory
from service.config import get_api_settings

log = logging.getLogger(__name__)

apikey_app = typer.Typer(help="API keys (stored hashed; a new key is shown once).", no_args_is_help=True)


@apikey_app.command("create")
def apikey_create(
    role: Annotated[str, typer.Option("--role", help=f"One of: {', '.join(ROLES)}")],
    name: Annotated[str | None, typer.Option("--name", help="A label for listings.")] = None,
) -> None:
    """Create a key and print it (and nothing else) on stdout — it is not stored and cannot be shown again."""
    if role not in ROLES:
        typer.echo(f"error: --role must be one of {', '.join(ROLES)}", err=True)
        raise typer.Exit(2)
    key = create_key(session_factory(get_api_settings().sql_url), role, name)
    typer.echo(key)


@apikey_app.command("list")
def apikey_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Keys by id, prefix, role and name (never the key itself)."""
    keys = list_keys(session_factory(get_api_settings().sql_url))
    if as_json:
        typer.echo(json.dumps(keys))
        return
    for k in keys:
        state = "revoked" if k["revoked_at"] else "active"
        typer.echo(f"{k['id']:>4}  {k['prefix']}…  {k['role']:<8} {state:<8} {k['name'] or ''}")


@apikey_app.command("revoke")
def apikey_revoke(key_id: int) -> None:
    """Revoke a key by id (workers notice within API_KEY_CACHE_S seconds)."""
    if not revoke_key(session_factory(get_api_settings().sql_url), key_id):
        typer.echo(f"error: no active key with id {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked key {key_id}")


def serve(
    host: Annotated[str | None, typer.Option("--host", help="Default: API_HOST (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Default: API_PORT (8000).")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="gunicorn worker processes.")] = 1,
    threads: Annotated[int, typer.Option("--threads", min=1, help="Threads per worker.")] = 8,
) -> None:
    """Serve the API with gunicorn (and the refresh scheduler when SCHEDULER_ENABLED=1)."""
    settings = get_api_settings()
    if settings.scheduler_enabled and workers > 1:
        typer.echo("error: SCHEDULER_ENABLED=1 runs the scheduler inside the single worker; "
                   "use --workers 1, or run `interest-graph scheduler` as its own process", err=True)  # fmt: skip
        raise typer.Exit(2)
    run_gunicorn(host or settings.api_host, port or settings.api_port, workers, threads, settings.scheduler_enabled)


def run_gunicorn(host: str, port: int, workers: int, threads: int, with_scheduler: bool) -> None:
    from gunicorn.app.base import BaseApplication

    from service.app import create_app

    def post_worker_init(worker: Any) -> None:
        from service.runtime import tune_gc

        tune_gc()  # the app is loaded: freeze it out of the collector's way
        if with_scheduler:
            from service.jobs.scheduler import start_scheduler

            worker._ig_scheduler = start_scheduler()
            log.info("refresh scheduler running in worker %s", worker.pid)

    def worker_exit(server: Any, worker: Any) -> None:
        scheduler = getattr(worker, "_ig_scheduler", None)
        if scheduler is not None:
            scheduler.shutdown(wait=False)

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options = {
                "bind": f"{host}:{port}",
                "workers": workers,
                "threads": threads,
                "worker_class": "gthread",
                "timeout": 60,
                "graceful_timeout": 20,
                "keepalive": 5,
                "accesslog": "-",
                "post_worker_init": post_worker_init,
                "worker_exit": worker_exit,
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return create_app()

    typer.echo(f"interest graph API on http://{host}:{port}  (docs: http://{host}:{port}/docs)", err=True)
    Server().run()


def scheduler() -> None:
    """Run the refresh scheduler (APScheduler, SQL job store) until stopped."""
    from service.jobs.scheduler import run_forever

    settings = get_api_settings()
    trigger = settings.refresh_cron or (
        f"every {settings.refresh_interval_minutes:g} min" if settings.refresh_interval_minutes > 0 else "none"
    )
    typer.echo(f"refresh scheduler: {settings.refresh_mode} refresh, trigger {trigger}; Ctrl-C stops", err=True)
    run_forever(settings)


def register(app: typer.Typer) -> None:
    """Add `serve`, `scheduler` and `apikey` to the main CLI."""
    app.command("serve")(serve)
    app.command("scheduler")(scheduler)
    app.add_typer(apikey_app, name="apikey")
