"""The scheduler process: APScheduler 3 running the refresh job on a schedule, the runs
the API queued, and the retry of events left pending.

BackgroundScheduler with the SQLAlchemy job store on DATABASE_URL (the same database
as the event log), coalesce=True (a backlog of missed runs becomes one run),
max_instances=1 and a misfire grace time (REFRESH_MISFIRE_GRACE_S). Trigger:
REFRESH_CRON (5 fields, UTC) or every REFRESH_INTERVAL_MINUTES. The scheduler process is
the one meant to train; the refresh lease keeps any two refreshes apart whichever
process starts them.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from graph_schema.store import GraphStore, StoreHolder
from records.runs import create_run_row, list_runs, oldest_queued
from records.tables import session_factory
from service.config import ApiSettings, get_api_settings
from service.ingest import relations
from service.ingest.eventlog import EventLog
from service.ingest.graph_writer import GraphWriter
from service.jobs import refresh as refresh_job
from service.jobs.background import active_refresh, execute_queued

log = logging.getLogger(__name__)

REFRESH_JOB_ID = "refresh"
QUEUED_JOB_ID = "queued-refreshes"
APPLY_PENDING_JOB_ID = "apply-pending"
ONLINE_METRICS_JOB_ID = "online-metrics"

_holder: dict[str, StoreHolder] = {}


def _job_store() -> GraphStore:
    """One graph store per scheduler process, opened lazily and reused."""
    holder = _holder.get("store")
    if holder is None:
        holder = _holder["store"] = StoreHolder(get_api_settings())
    return holder.get()


def _may_start(what: str, settings: ApiSettings) -> bool:
    missing = refresh_job.training_missing()
    if missing:
        log.error("%s skipped: %s", what, missing)
        return False
    busy = active_refresh(session_factory(settings.sql_url))
    if busy:
        log.info("%s skipped: %s", what, busy)
        return False
    return True


def scheduled_refresh(mode: str | None = None) -> None:
    """The scheduler's refresh job (referenced by name in the SQL job store)."""
    settings = get_api_settings()
    if not _may_start("scheduled refresh", settings):
        return
    mode = mode or scheduled_mode(settings)
    run_id = create_run_row(settings, mode, "scheduler")
    execute_queued(_job_store, settings, run_id, mode, False, "scheduler", settings.refresh_device)  # type: ignore[arg-type]


def scheduled_mode(settings: ApiSettings) -> str:
    """REFRESH_MODE, except that with incremental runs every REFRESH_FULL_EVERY-th is full:
    incremental runs re-fit users only, full runs move items and rebuild SIMILAR_TO."""
    every = settings.refresh_full_every
    if settings.refresh_mode != "incremental" or every <= 0:
        return settings.refresh_mode
    if every == 1:
        return "full"
    recent = list_runs(settings, every - 1, status="published")
    # what actually ran: an incremental request falls back to full when nothing is published
    ran = [(r.get("metrics") or {}).get("mode_run", r["mode"]) for r in recent]
    return "full" if len(ran) == every - 1 and "full" not in ran else "incremental"


def scheduled_queued_runs() -> None:
    """Start the oldest run an API worker queued (API_RUNS_REFRESH=false)."""
    settings = get_api_settings()
    queued = oldest_queued(settings)
    if queued is None or not _may_start(f"queued refresh run {queued[0]}", settings):
        return
    run_id, mode, forced, trigger = queued
    execute_queued(_job_store, settings, run_id, mode, forced, trigger, settings.refresh_device)  # type: ignore[arg-type]


def scheduled_apply_pending() -> None:
    """Apply events that stayed pending while the graph was unavailable."""
    settings = get_api_settings()
    event_log = EventLog(settings)
    if relations.pending_count(event_log.sessions):
        rel = relations.apply_pending(event_log.sessions, _job_store())
        log.info(
            "applied pending relations: %d written, %d removed (%d still pending)",
            rel.written,
            rel.removed,
            rel.pending,
        )
    if event_log.pending_count() == 0:
        return
    report = GraphWriter(event_log).apply_pending(_job_store())
    log.info("applied %d pending events (%d still pending)", report.applied, report.pending)


def scheduled_online_metrics() -> None:
    """Compute the online metrics from the event log into their SQL history."""
    from service.loop import online

    settings = get_api_settings()
    groups = online.compute(session_factory(settings.sql_url), settings.online_ctr_k)
    log.info("online metrics computed for %d (model version, strategy) groups", len(groups))


def build_scheduler(settings: ApiSettings | None = None) -> Any:
    """A configured, not yet started BackgroundScheduler with its jobs added
    (they reach the SQL job store, replacing earlier definitions, on start)."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    s = settings or get_api_settings()
    session_factory(s.sql_url)  # creates the database file/tables if needed
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=s.sql_url, tablename="apscheduler_jobs")},
        executors={"default": ThreadPoolExecutor(max_workers=2)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": s.refresh_misfire_grace_s},
        timezone="UTC",
    )
    for job_id, (func, name, trigger, kwargs) in _jobs(s).items():
        if trigger is not None:
            scheduler.add_job(
                f"service.jobs.scheduler:{func}", trigger=trigger, id=job_id, name=name, kwargs=kwargs,
                replace_existing=True,
            )  # fmt: skip
    return scheduler


def _jobs(s: ApiSettings) -> dict[str, tuple[str, str, Any, dict[str, Any]]]:
    """job id -> (function in this module, name, trigger or None when the settings turn it off, kwargs)."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    def every(seconds: float) -> Any:
        return IntervalTrigger(seconds=seconds, timezone="UTC") if seconds > 0 else None

    refresh = (
        CronTrigger.from_crontab(s.refresh_cron, timezone="UTC")
        if s.refresh_cron
        else every(s.refresh_interval_minutes * 60)
    )
    return {
        REFRESH_JOB_ID: ("scheduled_refresh", "graph refresh (training)", refresh, {"mode": s.refresh_mode}),
        QUEUED_JOB_ID: ("scheduled_queued_runs", "start refresh runs queued by the API", every(s.queued_poll_s), {}),
        APPLY_PENDING_JOB_ID: (
            "scheduled_apply_pending",
            "apply pending events",
            every(s.apply_pending_interval_s),
            {},
        ),
        ONLINE_METRICS_JOB_ID: (
            "scheduled_online_metrics",
            "online metrics per model version and strategy",
            every(s.online_metrics_every_s),
            {},
        ),
    }


def start_scheduler(settings: ApiSettings | None = None) -> Any:
    """Start the scheduler; a job the configuration no longer asks for is removed."""
    s = settings or get_api_settings()
    scheduler = build_scheduler(s)
    scheduler.start()
    for job_id, (_, _, trigger, _) in _jobs(s).items():
        if trigger is None and scheduler.get_job(job_id):
            scheduler.remove_job(job_id)
    for job in scheduler.get_jobs():
        log.info("scheduled %s: %s, next run %s", job.id, job.trigger, job.next_run_time)
    return scheduler


def run_forever(settings: ApiSettings | None = None) -> None:
    """`interest-graph scheduler`: run the scheduler until SIGINT/SIGTERM."""
    scheduler = start_scheduler(settings)
    stop = threading.Event()

    def _stop(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while not stop.is_set():
            stop.wait(1.0)
    finally:
        scheduler.shutdown(wait=False)
        time.sleep(0.1)
