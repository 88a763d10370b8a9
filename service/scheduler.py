"""Refresh jobs: on demand from the API, and on a schedule (APScheduler 3).

The training stack (torch, dgl) is imported only inside the job, never when
this module or the API is imported. A run is a RefreshRun row, created as
`queued` (so the API can answer 202 with its id at once) and run under
records.runs.refresh_run, which takes the cross-process database lock:
several API processes and the scheduler never run two refreshes at once.

Scheduler: BackgroundScheduler with the SQLAlchemy job store on DATABASE_URL
(the same database as the event log), one worker thread, coalesce=True (a
backlog of missed runs becomes one run), max_instances=1 and a misfire grace
time (REFRESH_MISFIRE_GRACE_S). Trigger: REFRESH_CRON (5 fields, UTC) or every
REFRESH_INTERVAL_MINUTES. A second job applies events left pending while the
graph was unavailable (APPLY_PENDING_INTERVAL_S).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import sessionmaker

from graph_schema.clock import now_ms
from graph_schema.store import GraphStore
from records.runs import REFRESH_LOCK, RefreshAlreadyRunning, create_run_row, refresh_run
from records.tables import NamedLock, session_factory
from service.config import ApiSettings, get_api_settings

log = logging.getLogger(__name__)

REFRESH_JOB_ID = "refresh"
APPLY_PENDING_JOB_ID = "apply-pending"

_local_runs: dict[int, threading.Thread] = {}
_local_lock = threading.Lock()


class TrainingUnavailable(RuntimeError):
    pass


class RefreshBusy(RuntimeError):
    def __init__(self, detail: str, run_id: int | None = None) -> None:
        super().__init__(detail)
        self.run_id = run_id


def training_missing() -> str | None:
    """Why the refresh job cannot run in this process, or None if it can (no import of torch)."""
    for module, hint in (
        ("training", "the training package is not installed"),
        ("torch", "torch is not installed (pip install -r requirements-train.txt)"),
        ("dgl", "dgl is not installed (pip install -r requirements-train.txt)"),
    ):
        try:
            if importlib.util.find_spec(module) is None:
                return hint
        except (ImportError, ValueError):
            return hint
    try:
        if importlib.util.find_spec("training.refresh") is None:
            return "training.refresh (the refresh job) does not exist yet"
    except (ImportError, ValueError):
        return "training.refresh (the refresh job) cannot be found"
    return None


def _run_refresh_callable() -> Callable[..., Any]:
    module = importlib.import_module("training.refresh")  # imports torch/dgl: only inside a job
    return module.run_refresh


def active_refresh(sessions: sessionmaker) -> str | None:
    """A description of a refresh holding the database lock, if any."""
    with sessions() as session:
        lock = session.get(NamedLock, REFRESH_LOCK)
    if lock is not None and lock.expires_at > now_ms():
        return f"a refresh is running (lock held by {lock.holder} until epoch ms {lock.expires_at})"
    return None


def execute_run(
    store_getter: Callable[[], GraphStore],
    settings: ApiSettings,
    run_id: int,
    mode: str,
    force: bool,
    trigger: str,
) -> None:
    """Run one refresh under a queued RefreshRun row (API thread or scheduler job).

    records.runs.refresh_run takes the cross-process lock, marks the row
    running, and marks it failed if anything below raises (or if another
    refresh holds the lock); training.refresh.run_refresh does the work.
    """
    try:
        with refresh_run(settings, mode, trigger=trigger, forced=force, run_id=run_id) as run:

            def on_phase(name: str) -> None:
                run.metrics["phase"] = name
                run.save()
                run.lock.refresh()

            run_refresh = _run_refresh_callable()
            from service.cli_train import touched_users

            store = store_getter()
            touched = touched_users(store, settings) if mode == "incremental" else None
            result = run_refresh(store, settings, mode, device=settings.refresh_device, force=force,
                                 on_phase=on_phase, touched_users=touched)  # fmt: skip
            run.record(result)
            log.info("refresh run %s: %s %s", run_id, result.status, result.model_version)
    except RefreshAlreadyRunning as exc:
        log.info("refresh run %s not started: %s", run_id, exc)
    except Exception:
        log.exception("refresh run %s failed", run_id)


def start_refresh(
    store_getter: Callable[[], GraphStore],
    settings: ApiSettings,
    sessions: sessionmaker,
    mode: str,
    force: bool = False,
    trigger: str = "api",
) -> int:
    """Record a queued run and start it in a background thread; returns its run id."""
    missing = training_missing()
    if missing:
        raise TrainingUnavailable(missing)
    with _local_lock:
        for rid, thread in list(_local_runs.items()):
            if thread.is_alive():
                raise RefreshBusy(f"refresh run {rid} is still running in this process", rid)
            del _local_runs[rid]
        busy = active_refresh(sessions)
        if busy:
            raise RefreshBusy(busy)
        run_id = create_run_row(settings, mode, trigger)
        thread = threading.Thread(
            target=execute_run,
            args=(store_getter, settings, run_id, mode, force, trigger),
            name=f"refresh-{run_id}",
            daemon=True,
        )
        _local_runs[run_id] = thread
        thread.start()
    return run_id


# --- the scheduler ------------------------------------------------------------------------
_job_store_holder: dict[str, Any] = {}


def _job_store() -> GraphStore:
    """One graph store per scheduler process, opened lazily and reused."""
    from service.api.deps import StoreHolder

    holder = _job_store_holder.get("holder")
    if holder is None:
        holder = _job_store_holder["holder"] = StoreHolder(get_api_settings())
    return holder.get()


def scheduled_refresh(mode: str | None = None) -> None:
    """The scheduler's refresh job (referenced by name in the SQL job store)."""
    settings = get_api_settings()
    missing = training_missing()
    if missing:
        log.error("scheduled refresh skipped: %s", missing)
        return
    busy = active_refresh(session_factory(settings.sql_url))
    if busy:
        log.info("scheduled refresh skipped: %s", busy)
        return
    mode = mode or settings.refresh_mode
    execute_run(_job_store, settings, create_run_row(settings, mode, "scheduler"), mode, False, "scheduler")


def scheduled_apply_pending() -> None:
    """Apply events that stayed pending while the graph was unavailable."""
    from service.ingest.eventlog import EventLog
    from service.ingest.graph_writer import GraphWriter

    settings = get_api_settings()
    log_ = EventLog(settings)
    if log_.pending_count() == 0:
        return
    report = GraphWriter(log_).apply_pending(_job_store())
    log.info("applied %d pending events (%d still pending)", report.applied, report.pending)


def build_scheduler(settings: ApiSettings | None = None) -> Any:
    """A configured, not yet started BackgroundScheduler with its jobs added
    (they reach the SQL job store, replacing earlier definitions, on start)."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    s = settings or get_api_settings()
    session_factory(s.sql_url)  # creates the database file/tables if needed
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=s.sql_url, tablename="apscheduler_jobs")},
        executors={"default": ThreadPoolExecutor(max_workers=2)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": s.refresh_misfire_grace_s},
        timezone="UTC",
    )
    trigger: Any = None
    if s.refresh_cron:
        trigger = CronTrigger.from_crontab(s.refresh_cron, timezone="UTC")
    elif s.refresh_interval_minutes > 0:
        trigger = IntervalTrigger(minutes=s.refresh_interval_minutes, timezone="UTC")
    if trigger is not None:
        scheduler.add_job(
            "service.scheduler:scheduled_refresh",
            trigger=trigger,
            id=REFRESH_JOB_ID,
            name="graph refresh (training)",
            kwargs={"mode": s.refresh_mode},
            replace_existing=True,
        )
    if s.apply_pending_interval_s > 0:
        scheduler.add_job(
            "service.scheduler:scheduled_apply_pending",
            trigger=IntervalTrigger(seconds=s.apply_pending_interval_s, timezone="UTC"),
            id=APPLY_PENDING_JOB_ID,
            name="apply pending events",
            replace_existing=True,
        )
    return scheduler


def start_scheduler(settings: ApiSettings | None = None) -> Any:
    """Start the scheduler; a job the configuration no longer asks for is removed."""
    s = settings or get_api_settings()
    scheduler = build_scheduler(s)
    scheduler.start()
    wanted = {
        REFRESH_JOB_ID: bool(s.refresh_cron or s.refresh_interval_minutes > 0),
        APPLY_PENDING_JOB_ID: s.apply_pending_interval_s > 0,
    }
    for job_id, keep in wanted.items():
        if not keep and scheduler.get_job(job_id):
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
