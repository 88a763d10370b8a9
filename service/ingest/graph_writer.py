"""Applying the event log to the graph: the one place that moves events from the
log into the graph store.

apply_pending(): take pending batches from the log (EventLog.next_batch), write
    each to the graph (one atomic query, guarded by the batch id), then mark it
    applied. A failed graph write leaves the events pending *with their batch id*,
    and the retry reuses that id, so a write whose reply was lost is not applied twice.
ingest(): the same for a long stream (the MovieLens import, `ingest FILE`):
    batch k+1 is validated, stored and claimed (one INSERT) and encoded while the
    graph writes batch k.

Throughput (see bench/ingest.py): a _Pipeline hands batches to a writer thread
through a one-slot queue: the writer sends batch k+1 the moment batch k's write
(and its re-deletes, see privacy) returned, while the calling thread claims batch
k+2, encodes it for the graph (tags, rows, query text: GraphStore.prepare_interactions)
and marks the written ones applied. The graph runs in its own process (FalkorDB)
or on its own server (Neo4j), so all make progress. One graph write is in flight
at a time, in claim order, and a batch is marked applied only after its write
returned. A claimed batch that never reached the graph (the store went down
first) is flagged failed, for any worker to retry under the same id.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass

from graph_schema.store import GraphStore, StoreError, StoreUnavailable
from graph_schema.store.base import PreparedBatch
from service.ingest import privacy
from service.ingest.eventlog import AcceptReport, Batch, EventLog
from service.ingest.schemas import EventIn

log = logging.getLogger(__name__)

Progress = Callable[[int], None]
BatchSource = Callable[[Collection[str]], Batch | None]  # (ids being written) -> the next batch


@dataclass
class ApplyReport:
    applied: int = 0
    batches: int = 0
    failed: int = 0
    pending: int = 0
    error: str | None = None


class GraphWriter:
    """Writes an event log's pending batches to a graph store, exactly once each."""

    def __init__(self, event_log: EventLog) -> None:
        self.log = event_log
        self.tau_ms = event_log.settings.evidence_tau_ms

    def apply_pending(
        self, store: GraphStore, max_batches: int | None = None, progress: Progress | None = None
    ) -> ApplyReport:
        """Apply pending events batch by batch until none are left (or a failure).

        The graph write of one batch overlaps the SQL work around it (claiming
        the next batch, marking the previous one applied); see the module notes."""
        report = ApplyReport()
        privacy.sweep_deletes(self.log, store)
        _Pipeline(self, store, report, progress).run(_PendingBatches(self.log, max_batches))
        return report

    def ingest(
        self, store: GraphStore, events: Iterable[tuple[int, EventIn]], progress: Progress | None = None
    ) -> tuple[AcceptReport, ApplyReport]:
        """accept() then apply_pending() for a long stream of events, batch by
        batch: while the graph writes batch k, batch k+1 is validated by the
        caller's iterator, stored and claimed (one INSERT, no claiming UPDATE).
        What the stream leaves pending (a failure) stays in the log, as with
        accept(); the remaining pending events are applied at the end."""
        report = ApplyReport()
        stream = _StreamBatches(self.log, events)
        stopped = _Pipeline(self, store, report, progress).run(stream)
        stream.log_rest()  # the graph is down: the rest into the log, pending
        if not stopped:
            after = self.apply_pending(store, progress=progress)
            report.applied += after.applied
            report.batches += after.batches
            report.failed += after.failed
            report.error = after.error
            report.pending = after.pending
        else:
            report.pending = self.log.pending_count()
        return stream.accepted, report

    def prepare(self, store: GraphStore, batch: Batch | None) -> PreparedBatch | None:
        """Encode a batch for the graph now (tags, rows, query text), on the calling
        thread, while the graph writes the batch before it: the writer then only sends."""
        if batch is None or not batch.events:
            return None
        try:
            return store.prepare_interactions(batch.events, self.tau_ms, batch.batch_id)
        except StoreError:
            return None  # the writer prepares it again and meets the error there

    def write(self, store: GraphStore, batch: Batch, prepared: PreparedBatch | None = None) -> int:
        """Send one batch to the graph under its id; the number of events written."""
        if prepared is not None:
            store.apply_prepared(prepared, new_batch=batch.fresh)
        else:
            store.apply_interactions(batch.events, self.tau_ms, batch_id=batch.batch_id, new_batch=batch.fresh)
        return len(batch.events)


class _PendingBatches:
    """What the log has pending (EventLog.next_batch), at most `limit` batches."""

    def __init__(self, event_log: EventLog, limit: int | None) -> None:
        self.log = event_log
        self.left = limit

    def __call__(self, running: Collection[str]) -> Batch | None:
        if self.left is not None and self.left <= 0:
            return None
        batch = self.log.next_batch(running)
        if batch is not None and self.left is not None:
            self.left -= 1
        return batch


class _StreamBatches:
    """A stream of events, logged chunk by chunk; each chunk's first batch is
    claimed in its INSERT (EventLog.accept_chunk) and written next."""

    def __init__(self, event_log: EventLog, events: Iterable[tuple[int, EventIn]]) -> None:
        self.log = event_log
        self.events: Iterator[tuple[int, EventIn]] = iter(events)
        self.accepted = AcceptReport()

    def __call__(self, _running: Collection[str]) -> Batch | None:
        more = True
        while more:
            more, batch = self._store_chunk(claim=True)
            if batch is not None:
                return batch
        return None

    def log_rest(self) -> None:
        """Log what the stream still holds, unclaimed (pending for any worker)."""
        while self._store_chunk(claim=False)[0]:
            pass

    def _store_chunk(self, claim: bool) -> tuple[bool, Batch | None]:
        chunk = list(itertools.islice(self.events, self.log.settings.batch_size))
        if not chunk:
            return False, None
        part, batch = self.log.accept_chunk(chunk, claim=claim)
        self.accepted.add(part)
        return True, batch


@dataclass
class _Outgoing:
    batch: Batch
    prepared: PreparedBatch | None


class _Pipeline:
    """One run of batches to the graph: a writer thread sends them one at a time,
    in claim order, fed through a one-slot queue; the calling thread claims and
    encodes the next batch and settles (marks) the written ones. A batch is marked
    applied only after its write returned."""

    def __init__(self, writer: GraphWriter, store: GraphStore, report: ApplyReport, progress: Progress | None) -> None:
        self.writer = writer
        self.log = writer.log
        self.store = store
        self.report = report
        self.progress = progress
        self.todo: queue.Queue[_Outgoing | None] = queue.Queue(maxsize=1)
        self.done: queue.Queue[tuple[Batch, int | None, BaseException | None]] = queue.Queue()
        self.down = threading.Event()  # set: the writer sends nothing more (reports batches unsent)
        self.in_flight: list[Batch] = []  # handed to the writer, not settled yet (in order)
        self.unsent: Batch | None = None  # claimed and encoded, not handed over yet
        self.stopped = False  # the graph store is unavailable
        self.failure: BaseException | None = None  # a bug, not the store: raised after the cleanup

    def run(self, next_batch: BatchSource) -> bool:
        """Write what `next_batch` gives until it gives nothing or the graph fails.
        True: stopped because the graph store is unavailable."""
        thread = threading.Thread(target=self._send_all, name="graph-apply", daemon=True)
        thread.start()
        try:
            outgoing = self._next(next_batch)
            while outgoing is not None and not self.stopped and self.failure is None:
                self.todo.put(outgoing)  # waits while one batch is queued behind the one being written
                self.in_flight.append(outgoing.batch)
                self.unsent = None
                self._settle(wait=False)  # the next write has started: bookkeeping of the finished ones
                if self.stopped or self.failure is not None:
                    break
                outgoing = self._next(next_batch)
        except BaseException:
            self.down.set()  # an interrupt (Ctrl-C) or an error here: the writer stops sending
            raise
        finally:
            self._shut_down(thread)
        if self.failure is not None:
            raise self.failure
        self.report.pending = self.log.pending_count()
        return self.stopped

    def _next(self, next_batch: BatchSource) -> _Outgoing | None:
        self.unsent = next_batch([b.batch_id for b in self.in_flight])
        prepared = self.writer.prepare(self.store, self.unsent)
        return None if self.unsent is None else _Outgoing(self.unsent, prepared)

    def _send_all(self) -> None:
        """The writer thread: each batch to the graph, then its re-deletes."""
        while (outgoing := self.todo.get()) is not None:
            batch = outgoing.batch
            if self.down.is_set():
                self.done.put((batch, None, None))
                continue
            try:
                n = self.writer.write(self.store, batch, outgoing.prepared)
                privacy.redo_deletes(self.log, self.store, batch)
                self.done.put((batch, n, None))
            except BaseException as exc:  # settled (or re-raised) by the calling thread
                if not isinstance(exc, StoreError) or isinstance(exc, StoreUnavailable):
                    self.down.set()
                self.done.put((batch, None, exc))

    def _shut_down(self, thread: threading.Thread) -> None:
        """Also after an interrupt or an error: the writer stops sending, what it
        finished is settled, and every claimed batch not written is flagged for any
        worker to retry under its id (a claim is never cleared)."""
        if self.stopped or self.failure is not None:
            self.down.set()
        self.todo.put(None)
        thread.join()
        try:
            self._settle(wait=False)  # the writer has stopped: everything it did is in `done`
        finally:
            owned = self.log.take_all_owned() if self.stopped else []
            self.log.give_up([self.unsent, *self.in_flight, *owned])

    def _settle(self, wait: bool) -> None:
        """Book the writes the writer finished, in order (wait: for all in flight)."""
        while self.in_flight:
            try:
                batch, n, exc = self.done.get(block=wait)
            except queue.Empty:
                return
            assert batch is self.in_flight[0], "the writer settles batches in order"
            self.in_flight.pop(0)
            self._settle_one(batch, n, exc)

    def _settle_one(self, batch: Batch, n: int | None, exc: BaseException | None) -> None:
        if isinstance(exc, StoreUnavailable):
            # transient: the batch keeps its id and is retried first next time
            failed = self.log.give_up([batch])
            self.report.failed += failed
            self.report.error = str(exc)
            log.warning("graph batch %s failed, %d events stay pending: %s", batch.batch_id, failed, exc)
            self.stopped = True
        elif isinstance(exc, StoreError):
            # the engine refused the batch (nothing of it applied: one atomic query)
            # unless a concurrent worker applied the same batch id first
            self._settle_refused(batch, exc)
        elif exc is not None:  # a bug, not the store: flagged for a retry, then raised
            self.log.give_up([batch])
            self.failure = self.failure or exc
        elif n is None:  # never sent: the store went down before its turn
            self.log.give_up([batch])
        else:
            self.log.mark_applied(batch.batch_id)
            self.report.applied += n
            self.report.batches += 1
            if self.progress:
                self.progress(n)

    def _settle_refused(self, batch: Batch, exc: StoreError) -> None:
        """Applied by another worker: done; otherwise parked as failed (EventLog.mark_refused)."""
        try:
            applied_elsewhere = self.store.batch_applied(batch.batch_id)
        except StoreError:
            applied_elsewhere = False
        n = self.log.mark_refused(batch.batch_id, applied_elsewhere)
        if applied_elsewhere:
            return
        self.report.failed += n
        self.report.error = str(exc)
        log.error("graph refused batch %s; %d events parked as failed in the event log: %s", batch.batch_id, n, exc)
