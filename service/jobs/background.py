"""Starting a refresh from the API: a queued run row at once (the API answers 202 with
its id), run in a background thread of this process, or left queued for the scheduler
process when API workers may not train (API_RUNS_REFRESH=false)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.orm import sessionmaker

from graph_schema.clock import now_ms
from graph_schema.settings import Settings
from graph_schema.store import GraphStore
from records.locks import lease_row
from records.runs import REFRESH_LOCK, RefreshAlreadyRunning, create_run_row
from service.jobs import refresh as refresh_job
from service.jobs.refresh import Mode, TrainingUnavailable, run_job

log = logging.getLogger(__name__)

_local_runs: dict[int, threading.Thread] = {}
_local_lock = threading.Lock()


class RefreshBusy(RuntimeError):
    def __init__(self, detail: str, run_id: int | None = None) -> None:
        super().__init__(detail)
        self.run_id = run_id


def active_refresh(sessions: sessionmaker) -> str | None:
    """A description of a refresh holding the lease, if any."""
    lock = lease_row(sessions, REFRESH_LOCK)
    if lock is not None and lock.expires_at > now_ms():
        return f"a refresh is running (lease held by {lock.holder} until epoch ms {lock.expires_at})"
    return None


def execute_queued(
    store: Callable[[], GraphStore], settings: Settings, run_id: int, mode: Mode, force: bool, trigger: str, device: str
) -> None:
    """Run a queued run to its end; failures are recorded in the run, and logged."""
    try:
        run_job(store, settings, mode, trigger=trigger, force=force, device=device, run_id=run_id)
    except RefreshAlreadyRunning as exc:
        log.info("refresh run %s not started: %s", run_id, exc)
    except Exception:
        log.exception("refresh run %s failed", run_id)


def start_refresh(
    store: Callable[[], GraphStore],
    settings: Settings,
    sessions: sessionmaker,
    mode: Mode,
    force: bool = False,
    trigger: str = "api",
    device: str = "auto",
    in_process: bool = True,
) -> int:
    """Record a queued run and start it in a background thread (in_process) or leave it
    for the scheduler process; returns its run id."""
    if in_process:
        missing = refresh_job.training_missing()
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
        run_id = create_run_row(settings, mode, trigger, forced=force)
        if not in_process:
            return run_id
        thread = threading.Thread(
            target=execute_queued,
            args=(store, settings, run_id, mode, force, trigger, device),
            name=f"refresh-{run_id}",
            daemon=True,
        )
        _local_runs[run_id] = thread
        thread.start()
    return run_id
