"""The worker's ingest process (INGEST_NICE > 0): serving comes first on the CPU.

A POST /v1/events batch costs the API ~40 ms of CPU per 1,000 events (validation, the
log insert, the graph write's client side), held under the worker's GIL. In the request
threads that serve recommendations too, a stream of batches makes every answer wait
(bench/mixed.py). With INGEST_NICE = N > 0 each worker process hands its batches to
one child process of its own, started at nice N: the request thread only waits on a
pipe, the batch's work runs in the child, and the kernel gives the CPU to the
answering threads first. One child per worker bounds ingest to one core's worth per
worker; batches queue for it.

Nothing is held only in memory: the child runs the same intake as the request thread
(service/ingest/intake.py), so an event is answered as accepted only once it is in the
log. A child that dies (kill -9, out of memory) fails the batches it held with a 503
— the client resends them; event ids make that safe — and the next batch starts a new
child. The child exits with its worker (it watches its parent process).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import pickle
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from service.config import ApiSettings
from service.ingest.intake import Intake, IntakeResources, take_events

PARENT_POLL_S = 0.5

_settings: ApiSettings | None = None  # the child's: the worker's settings
_resources: IntakeResources | None = None  # the child's own log, store and applier


class IngestProcessLost(RuntimeError):
    """The ingest process died while it held the batch: resend it."""


def _start_child(settings: ApiSettings, worker: int, nice: int, log_level: int) -> None:
    """Only what cannot fail: the parent watch, the priority, logging. The log, the
    store and the applier are built on the first batch (_resources_for), so a database
    or graph outage comes back as that batch's error instead of breaking the pool."""
    if os.getppid() != worker:  # the worker died while this process was starting
        os._exit(0)
    threading.Thread(target=_exit_with, args=(worker,), name="ingest-parent-watch", daemon=True).start()
    with contextlib.suppress(OSError, AttributeError):
        os.nice(nice)
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s [ingest child]: %(message)s")
    global _settings
    _settings = settings


def _exit_with(parent: int) -> None:
    """End this process once its worker is gone (the worker killed with -9 cannot shut
    the pool down, and the child holds its own end of the task pipe, so it would wait
    forever). Not the parent-death signal: that follows the *thread* that started the
    child, and a development server's request thread ends with its request."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(0)


def _resources_for() -> IntakeResources:
    global _resources
    if _resources is None:
        settings = _settings
        assert settings is not None, "the ingest process was not initialised"
        from graph_schema.store import StoreHolder
        from records.tables import session_factory
        from service.ingest.applier import BackgroundApplier
        from service.ingest.eventlog import EventLog

        eventlog = EventLog(settings, session_factory(settings.sql_url))
        # never starts the embedded server: it would run at this process's priority (the
        # worker started it; if it died, the worker's next read restarts it, and the
        # batch's events stay pending until then)
        holder = StoreHolder(settings, start_server=False)
        _resources = IntakeResources(settings, eventlog, holder.get, BackgroundApplier(eventlog, holder.get))
    return _resources


def _take(raw: list[Any]) -> Intake:
    try:
        return take_events(_resources_for(), raw)
    except Exception as exc:
        raise sendable(exc) from None


def sendable(exc: Exception) -> Exception:
    """`exc` if it survives the trip to the worker; else a RuntimeError naming it (an
    exception that pickles but cannot be rebuilt would break the pool, and with it
    every batch queued behind)."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


class IngestPool:
    """One per worker process: the child is started on the first batch in that
    process (a gunicorn worker forks after the app is built)."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self._executor: ProcessPoolExecutor | None = None
        self._pid = 0
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.settings.ingest_nice > 0

    def take(self, raw: list[Any]) -> Intake:
        """The batch's intake, run in the child; IngestProcessLost if the child died."""
        executor = self._executor_here()
        try:
            return executor.submit(_take, raw).result()
        except BrokenProcessPool as exc:
            self._discard(executor)
            raise IngestProcessLost(str(exc) or "the ingest process died") from exc

    def pids(self) -> list[int]:
        """The child's process id, once started (tests, diagnostics)."""
        executor = self._executor
        if executor is None or self._pid != os.getpid():
            return []
        return [p.pid for p in (executor._processes or {}).values() if p.pid is not None]

    def close(self) -> None:
        with self._lock:
            if self._executor is not None and self._pid == os.getpid():
                self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def _executor_here(self) -> ProcessPoolExecutor:
        executor = self._executor
        if executor is not None and self._pid == os.getpid():
            return executor
        with self._lock:
            if self._executor is None or self._pid != os.getpid():
                # spawn, not fork: the worker has threads (a fork copies their held locks)
                self._executor = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=mp.get_context("spawn"),
                    initializer=_start_child,
                    initargs=(
                        self.settings,
                        os.getpid(),
                        self.settings.ingest_nice,
                        logging.getLogger().getEffectiveLevel(),
                    ),
                )
                self._pid = os.getpid()
            return self._executor

    def _discard(self, executor: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is executor:
                self._executor = None
        with contextlib.suppress(Exception):
            executor.shutdown(wait=False, cancel_futures=True)
