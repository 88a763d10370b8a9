"""Refresh-run history and the cross-process refresh lock (SQL, no torch).

    with refresh_run(settings, mode="full", trigger="cli") as run:
        with run.phase("pull"):
            ...
        run.counts["users"] = 943
        run.finish("published", model_version="v...", metrics={...})

The lock is a lease (records.locks): one row in `locks`, renewed by a heartbeat while
the run lives, so API workers, the scheduler and the CLI never run two refreshes at
once, on SQLite and PostgreSQL alike, and a killed run frees it within a lease.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from graph_schema.clock import now_ms
from graph_schema.settings import Settings
from records.locks import Lease, LeaseHeld
from records.tables import RefreshRun, session_factory

log = logging.getLogger(__name__)

REFRESH_LOCK = "refresh"


RunStatus = Literal["queued", "running", "published", "rejected", "skipped", "failed", "abandoned"]
RUN_STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)
# finished and successful: a model was published
SUCCEEDED: RunStatus = "published"


class RefreshAlreadyRunning(LeaseHeld):
    def __init__(self, who: str) -> None:
        super().__init__(f"another refresh is already running ({who}); try again when it has finished")


class RunNotQueued(RuntimeError):
    pass


@dataclass(frozen=True)
class AbandonedRun:
    """A run whose process stopped while it was running (found by the next run)."""

    run_id: int
    model_version: str | None


@dataclass
class RunRecorder:
    run_id: int
    sessions: sessionmaker
    lease: Lease
    phases: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    device: str | None = None
    status: RunStatus | None = None
    model_version: str | None = None
    abandoned: list[AbandonedRun] = field(default_factory=list)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = round(self.phases.get(name, 0.0) + time.perf_counter() - t0, 3)
            self.save()
            self.lease.check()

    def save(self, **extra: Any) -> None:
        with self.sessions.begin() as s:
            s.execute(
                update(RefreshRun)
                .where(RefreshRun.id == self.run_id)
                .values(
                    phases=dict(self.phases),
                    counts=dict(self.counts),
                    metrics=dict(self.metrics),
                    device=self.device,
                    model_version=self.model_version,
                    **extra,
                )
            )

    def record(self, result: Any) -> None:
        """Copy a training.refresh.RefreshResult into the run and finish it."""
        self.device = result.device
        self.phases = {k: round(float(v), 3) for k, v in result.phases.items()}
        self.counts = dict(result.counts)
        self.metrics = {**result.metrics, "baseline": result.baseline, "mode_run": result.mode}
        if result.published_metric is not None:
            self.metrics["published_before"] = result.published_metric
        if getattr(result, "history", None):  # the training curve (loss, validation) per epoch
            self.metrics["history"] = list(result.history)
            self.metrics["best_epoch"] = result.best_epoch
        self.finish(result.status, model_version=result.model_version, error=result.reason or None)

    def enter_phase(self, name: str) -> None:
        """Show the phase in the run row and renew the lease (raises LeaseLost if it lapsed)."""
        self.metrics["phase"] = name
        self.save()
        self.lease.check()

    def finish(self, status: RunStatus, model_version: str | None = None, error: str | None = None) -> None:
        """status: published | rejected | skipped (nothing to train on) | failed."""
        self.status = status
        if model_version:
            self.model_version = model_version
        self.save(status=status, finished_at=now_ms(), error=error)


@contextmanager
def refresh_run(
    settings: Settings,
    mode: str,
    trigger: str = "cli",
    forced: bool = False,
    lease_s: float | None = None,
    run_id: int | None = None,
    model_version: str | None = None,
) -> Iterator[RunRecorder]:
    """Take the refresh lease (renewed by a heartbeat while the body runs), record a run
    (or start a queued one), and mark it failed if the body raises. Runs left `running`
    by a process that died are marked abandoned first (recorder.abandoned lists them, so
    the caller can remove what they staged in the graph). A second concurrent call raises
    RefreshAlreadyRunning (and marks the queued run, if any, as failed with that message)."""
    sessions = session_factory(settings.sql_url)
    lease = Lease(sessions, REFRESH_LOCK, lease_s if lease_s is not None else settings.refresh_lease_s)
    try:
        try:
            lease.acquire()
        except LeaseHeld as exc:
            raise RefreshAlreadyRunning(str(exc)) from None
    except RefreshAlreadyRunning as exc:
        if run_id is not None:
            mark_run(sessions, run_id, status="failed", error=str(exc), finished_at=now_ms())
        raise
    try:
        with lease.heartbeat():
            # we hold the lease: any other run still `running` has lost its process
            abandoned = _abandon_running(sessions, keep=run_id)
            with sessions.begin() as s:
                if run_id is None:
                    run = RefreshRun(mode=mode, status="running", trigger=trigger, forced=forced, started_at=now_ms(),
                                     model_version=model_version)  # fmt: skip
                    s.add(run)
                    s.flush()
                    run_id = run.id
                else:
                    # only a queued run starts: two schedulers may have picked the same one
                    started = s.execute(
                        update(RefreshRun)
                        .where(RefreshRun.id == run_id, RefreshRun.status == "queued")
                        .values(
                            status="running", mode=mode, forced=forced, started_at=now_ms(), model_version=model_version
                        )
                    )
                    if not started.rowcount:
                        raise RunNotQueued(f"refresh run {run_id} is no longer queued")
            recorder = RunRecorder(run_id, sessions, lease, model_version=model_version, abandoned=abandoned)
            try:
                yield recorder
            except BaseException as exc:
                recorder.finish("failed", error=f"{type(exc).__name__}: {exc}")
                raise
            if recorder.status is None:
                recorder.finish("failed", error="the run ended without publishing or rejecting a model")
    finally:
        lease.release()


def mark_run(sessions: sessionmaker, run_id: int, **values: Any) -> None:
    with sessions.begin() as s:
        s.execute(update(RefreshRun).where(RefreshRun.id == run_id).values(**values))


def mark_published(sessions: sessionmaker, model_version: str, note: str) -> list[int]:
    """Record the runs of `model_version` as published (a batched publish another process
    finished: the run may be recorded failed or abandoned); their ids."""
    with sessions.begin() as s:
        rows = s.scalars(
            select(RefreshRun).where(RefreshRun.model_version == model_version, RefreshRun.status != "published")
        ).all()
        for r in rows:
            r.status, r.error = "published", note
        return [r.id for r in rows]


def _abandon_running(sessions: sessionmaker, keep: int | None) -> list[AbandonedRun]:
    with sessions.begin() as s:
        rows = s.scalars(select(RefreshRun).where(RefreshRun.status == "running", RefreshRun.id != (keep or -1))).all()
        found = [AbandonedRun(r.id, r.model_version) for r in rows]
        for r in rows:
            r.status = "abandoned"
            r.finished_at = now_ms()
            r.error = f"its process stopped during phase {(r.metrics or {}).get('phase', '?')} (its lease lapsed)"
    for run in found:
        log.warning("refresh run %s was abandoned by its process; its staged rows are removed", run.run_id)
    return found


def create_run_row(settings: Settings, mode: str, trigger: str, forced: bool = False) -> int:
    """A queued run row (the API answers 202 with its id before the job starts)."""
    sessions = session_factory(settings.sql_url)
    with sessions.begin() as s:
        run = RefreshRun(mode=mode, status="queued", trigger=trigger, forced=forced, started_at=now_ms())
        s.add(run)
        s.flush()
        return run.id


def oldest_queued(settings: Settings) -> tuple[int, str, bool, str] | None:
    """(run id, mode, forced, trigger) of the oldest queued run, for the scheduler to start."""
    sessions = session_factory(settings.sql_url)
    with sessions() as s:
        row = s.scalars(
            select(RefreshRun).where(RefreshRun.status == "queued").order_by(RefreshRun.id).limit(1)
        ).first()
    return (row.id, row.mode, bool(row.forced), row.trigger) if row else None


def list_runs(settings: Settings, limit: int = 50, status: RunStatus | None = None) -> list[dict[str, Any]]:
    """The run history, newest first (optionally one status only)."""
    stmt = select(RefreshRun).order_by(RefreshRun.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(RefreshRun.status == status)
    with session_factory(settings.sql_url)() as s:
        rows = s.scalars(stmt).all()
    return [run_dict(r) for r in rows]


def get_run(settings: Settings, run_id: int) -> dict[str, Any] | None:
    sessions = session_factory(settings.sql_url)
    with sessions() as s:
        row = s.get(RefreshRun, run_id)
    return run_dict(row) if row else None


def run_dict(r: RefreshRun) -> dict[str, Any]:
    return {
        "run_id": r.id,
        "mode": r.mode,
        "status": r.status,
        "trigger": r.trigger,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "duration_s": round((r.finished_at - r.started_at) / 1000, 3) if r.finished_at else None,
        "phases": r.phases or {},
        "counts": r.counts or {},
        "metrics": r.metrics or {},
        "device": r.device,
        "model_version": r.model_version,
        "forced": bool(r.forced),
        "error": r.error,
    }
