"""The scheduler's configuration and jobs, and the API's CLI commands."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from records.keys import KeyResolver
from records.tables import RefreshRun, session_factory
from service.cli_api import register
from service.config import ApiSettings, get_api_settings
from service.jobs import refresh as refresh_job
from service.jobs import scheduler as sched

# the scheduler's job store and the CLI on SQLite and on PostgreSQL
pytestmark = pytest.mark.sql_engines


@pytest.fixture
def env(tmp_path: Path, monkeypatch, sql_url: str) -> ApiSettings:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", sql_url)
    get_api_settings.cache_clear()
    yield get_api_settings()
    get_api_settings.cache_clear()


def test_scheduler_uses_sql_job_store_with_safe_defaults(env: ApiSettings):
    settings = env.model_copy(update={"refresh_interval_minutes": 30.0, "refresh_misfire_grace_s": 120})
    scheduler = sched.start_scheduler(settings)
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert set(jobs) == {"refresh", "queued-refreshes", "apply-pending", "online-metrics"}
        refresh = jobs["refresh"]
        assert refresh.coalesce is True and refresh.max_instances == 1 and refresh.misfire_grace_time == 120
        assert refresh.func_ref == "service.jobs.scheduler:scheduled_refresh"
        assert refresh.trigger.interval.total_seconds() == 1800
        store = scheduler._lookup_jobstore("default")
        assert type(store).__name__ == "SQLAlchemyJobStore"
        assert store.engine.url.render_as_string(hide_password=False) == settings.sql_url
    finally:
        scheduler.shutdown(wait=False)
    # a second scheduler (another process, or a restart) finds the same job in SQL, replaced not duplicated
    again = sched.start_scheduler(settings.model_copy(update={"refresh_cron": "0 3 * * *"}))
    try:
        jobs = {job.id: job for job in again.get_jobs()}
        assert type(jobs["refresh"].trigger).__name__ == "CronTrigger"
    finally:
        again.shutdown(wait=False)


def test_scheduler_without_trigger_removes_the_refresh_job(env: ApiSettings):
    sched.start_scheduler(env).shutdown(wait=False)
    scheduler = sched.start_scheduler(
        env.model_copy(
            update={
                "refresh_interval_minutes": 0,
                "apply_pending_interval_s": 0,
                "queued_poll_s": 0,
                "online_metrics_every_s": 0,
            }
        )
    )
    try:
        assert scheduler.get_jobs() == []
    finally:
        scheduler.shutdown(wait=False)


def test_scheduled_refresh_skips_without_training(env: ApiSettings, monkeypatch, caplog):
    monkeypatch.setattr(refresh_job, "training_missing", lambda: "torch is not installed")
    sched.scheduled_refresh("full")
    assert "scheduled refresh skipped: torch is not installed" in caplog.text


def test_cron_must_have_five_fields():
    with pytest.raises(ValueError, match="5-field"):
        ApiSettings(refresh_cron="0 3 * *")


def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_apikey_create_prints_only_the_key(env: ApiSettings):
    result = CliRunner().invoke(cli(), ["apikey", "create", "--role", "read", "--name", "demo"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert key.startswith("ig_") and len(key) > 40 and "\n" not in key
    principal = KeyResolver(session_factory(env.sql_url), 0).resolve(key)
    assert principal is not None and principal.role == "read" and principal.name == "demo"
    listed = CliRunner().invoke(cli(), ["apikey", "list"])
    assert "read" in listed.stdout and key not in listed.stdout
    assert CliRunner().invoke(cli(), ["apikey", "revoke", "1"]).exit_code == 0
    assert KeyResolver(session_factory(env.sql_url), 0).resolve(key) is None


def test_apikey_create_refuses_unknown_role(env: ApiSettings):
    result = CliRunner().invoke(cli(), ["apikey", "create", "--role", "root"])
    assert result.exit_code == 2 and result.stdout == ""


def test_serve_refuses_scheduler_with_many_workers(env: ApiSettings, monkeypatch):
    monkeypatch.setenv("SCHEDULER_ENABLED", "1")
    get_api_settings.cache_clear()
    result = CliRunner().invoke(cli(), ["serve", "--workers", "2"])
    assert result.exit_code == 2


def test_every_nth_scheduled_run_is_full(env: ApiSettings):
    """Incremental runs re-fit users only: REFRESH_FULL_EVERY makes every Nth scheduled run a
    full one, counted over the published runs by the mode that actually ran."""
    settings = env.model_copy(update={"refresh_mode": "incremental", "refresh_full_every": 3})
    sessions = session_factory(settings.sql_url)

    def published(mode: str, ran: str | None = None) -> None:
        with sessions.begin() as s:
            s.add(RefreshRun(mode=mode, status="published", metrics={"mode_run": ran or mode}))

    assert sched.scheduled_mode(settings) == "incremental"  # nothing published: it runs full anyway
    published("incremental", ran="full")
    published("incremental")
    assert sched.scheduled_mode(settings) == "incremental"  # the last two published hold a full run
    published("incremental")
    assert sched.scheduled_mode(settings) == "full"
    with sessions.begin() as s:  # failed runs do not count
        s.add(RefreshRun(mode="full", status="failed", metrics={}))
    assert sched.scheduled_mode(settings) == "full"
    published("full")
    assert sched.scheduled_mode(settings) == "incremental"
    assert sched.scheduled_mode(settings.model_copy(update={"refresh_full_every": 0})) == "incremental"
    assert sched.scheduled_mode(settings.model_copy(update={"refresh_full_every": 1})) == "full"
    assert sched.scheduled_mode(settings.model_copy(update={"refresh_mode": "full"})) == "full"
