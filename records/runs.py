"""Refresh-run history and the cross-process refresh lock (SQL, no torch).

    with refresh_run(settings, mode="full", trigger="cli") as run:
        with run.phase("pull"):
            ...
        run.counts["users"] = 943
        run.finish("published", model_version="v...", metrics={...})

The lock is a row in `locks` (INSERT succeeds for exactly one holder; an
expired row is taken over), so API workers, the scheduler and the CLI never
run two refreshes at once, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from graph_schema.clock import now_ms
from graph_schema.settings import Settings
from records.tables import NamedLock, RefreshRun, session_factory

log = logging.getLogger(__name__)

REFRESH_LOCK = "refresh"


class RefreshAlreadyRunning(RuntimeError):
    pass


class DbLock:
    def __init__(self, sessions: sessionmaker, name: str, ttl_s: float) -> None:
        self.sessions, self.name, self.ttl_ms = sessions, name, int(ttl_s * 1000)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def acquire(self) -> None:
        now = now_ms()
        with self.sessions.begin() as s:
            # take over an expired lock (its holder crashed)
            s.execute(delete(NamedLock).where(NamedLock.name == self.name, NamedLock.expires_at < now))
        try:
            with self.sessions.begin() as s:
                s.add(NamedLock(name=self.name, holder=self.holder, acquired_at=now, expires_at=now + self.ttl_ms))
        except IntegrityError:
            with self.sessions() as s:
                row = s.get(NamedLock, self.name)
            who = (
                f"{row.holder}, since {time.strftime('%H:%M:%S', time.localtime(row.acquired_at / 1000))}"
                if row
                else "?"
            )
            raise RefreshAlreadyRunning(
                f"another refresh is already running ({who}); try again when it has finished"
            ) from None

    def refresh(self) -> None:
        with self.sessions.begin() as s:
            s.execute(
                update(NamedLock)
                .where(NamedLock.name == self.name, NamedLock.holder == self.holder)
                .values(expires_at=now_ms() + self.ttl_ms)
            )

    def release(self) -> None:
        with self.sessions.begin() as s:
            s.execute(delete(NamedLock).where(NamedLock.name == self.name, NamedLock.holder == self.holder))


@dataclass
class RunRecorder:
    run_id: int
    sessions: sessionmaker
    lock: DbLock
    phases: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    device: str | None = None
    status: str | None = None
    model_version: str | None = None

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = round(self.phases.get(name, 0.0) + time.perf_counter() - t0, 3)
            self.save()
            self.lock.refresh()

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
        self.finish(result.status, model_version=result.model_version, error=result.reason or None)

    def finish(self, status: str, model_version: str | None = None, error: str | None = None) -> None:
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
    lock_ttl_s: float = 3600.0,
    run_id: int | None = None,
) -> Iterator[RunRecorder]:
    """Take the refresh lock, record a run (or start a queued one), and mark it
    failed if the body raises. A second concurrent call raises RefreshAlreadyRunning
    (and marks the queued run, if any, as failed with that message)."""
    sessions = session_factory(settings.sql_url)
    lock = DbLock(sessions, REFRESH_LOCK, lock_ttl_s)
    try:
        lock.acquire()
    except RefreshAlreadyRunning as exc:
        if run_id is not None:
            with sessions.begin() as s:
                s.execute(
                    update(RefreshRun)
                    .where(RefreshRun.id == run_id)
                    .values(status="failed", error=str(exc), finished_at=now_ms())
                )
        raise
    try:
        with sessions.begin() as s:
            if run_id is None:
                run = RefreshRun(mode=mode, status="running", trigger=trigger, forced=forced, started_at=now_ms())
                s.add(run)
                s.flush()
                run_id = run.id
            else:
                s.execute(
                    update(RefreshRun)
                    .where(RefreshRun.id == run_id)
                    .values(status="running", mode=mode, forced=forced, started_at=now_ms())
                )
        recorder = RunRecorder(run_id, sessions, lock)
        try:
            yield recorder
        except BaseException as exc:
            recorder.finish("failed", error=f"{type(exc).__name__}: {exc}")
            raise
        if recorder.status is None:
            recorder.finish("failed", error="the run ended without publishing or rejecting a model")
    finally:
        lock.release()


def create_run_row(settings: Settings, mode: str, trigger: str) -> int:
    """A queued run row (the API answers 202 with its id before the job starts)."""
    sessions = session_factory(settings.sql_url)
    with sessions.begin() as s:
        run = RefreshRun(mode=mode, status="queued", trigger=trigger, started_at=now_ms())
        s.add(run)
        s.flush()
        return run.id


def list_runs(settings: Settings, limit: int = 50) -> list[dict[str, Any]]:
    sessions = session_factory(settings.sql_url)
    with sessions() as s:
        rows = s.scalars(select(RefreshRun).order_by(RefreshRun.id.desc()).limit(limit)).all()
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
