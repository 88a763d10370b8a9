"""Applying the event log to the graph off the request path (INGEST_APPLY=background).

POST /v1/events then answers once its events are in the log, and this thread of the
worker process writes the log's pending events to the graph behind it. That is safe
because the log is already the source of truth: an accepted event is durable in SQL
(also through kill -9), each graph batch is claimed under an id the graph applies at
most once, and a claim whose worker died goes stale and is retried by any worker
(EventLog, GraphWriter). Nothing here holds events only in memory.

Why faster: a request no longer waits for the graph, and the thread claims
BATCH_SIZE events at a time across requests (one graph query per batch, the
events aggregated per user and item first), instead of one write per request of
whatever size the client sent. The thread runs at a lower CPU priority (Linux
setpriority on the thread) so that requests come first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable

from graph_schema.store import GraphStore, StoreError
from graph_schema.store.embedded import EmbeddedStoreError
from service.ingest.eventlog import EventLog
from service.ingest.graph_writer import ApplyReport, GraphWriter

log = logging.getLogger(__name__)

NICE = 5  # the thread's CPU priority below the request threads (Linux: a thread has its own nice value)


class BackgroundApplier:
    """One per worker process: a daemon thread woken by each accepted request."""

    def __init__(self, event_log: EventLog, store: Callable[[], GraphStore]) -> None:
        self.log = event_log
        self.store = store
        self._wake = threading.Event()
        self._lock = threading.Lock()  # one apply at a time in this process (thread or drain())
        self._thread: threading.Thread | None = None
        self._pid = 0

    def notify(self) -> None:
        """Events were accepted: apply them soon. Starts the thread on first use in
        this process (a gunicorn worker forks after the app is built: threads do not
        survive a fork)."""
        if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                    self._pid = os.getpid()
                    self._thread = threading.Thread(target=self._run, name="graph-apply-background", daemon=True)
                    self._thread.start()
        self._wake.set()

    def drain(self) -> ApplyReport:
        """Apply everything pending now, on the calling thread (tests, shutdown)."""
        with self._lock:
            return GraphWriter(self.log).apply_pending(self.store())

    def _run(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # not Linux: same priority as the requests
            tid = threading.get_native_id()
            # lower only: in the ingest child (INGEST_NICE) the thread is already below NICE
            if os.getpriority(os.PRIO_PROCESS, tid) < NICE:
                os.setpriority(os.PRIO_PROCESS, tid, NICE)
        while True:
            self._wake.wait()
            self._wake.clear()  # cleared before reading the log: a later notify() is never lost
            try:
                report = self.drain()
            except (StoreError, EmbeddedStoreError) as exc:
                report = ApplyReport(error=str(exc))
            except Exception:  # a bug: logged; the events stay in the log for the next wake or the scheduler
                log.exception("applying the event log to the graph failed")
                report = ApplyReport(error="unexpected error")
            if report.error is not None:
                # no retry loop of its own: as with INGEST_APPLY=inline, the next request or the
                # scheduler's apply-pending job tries again
                log.warning("background apply stopped, events stay pending in the log: %s", report.error)


__all__ = ["BackgroundApplier"]
