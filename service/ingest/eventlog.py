"""The durable, idempotent event log and its application to the graph.

accept():  validated events -> SQL (event_id unique; duplicates counted, not stored)
apply_pending(): claim pending events into a batch id, apply that batch to the
    graph (one atomic query, guarded by the batch id), then mark it applied.
    A failed graph write leaves the events pending *with their batch id*, and
    the retry reuses that id, so a write whose reply was lost is not applied twice.

Throughput (see bench/ingest.py):
- accept() claims the first graph batch of what it stored in the same INSERT
  (batch id and claim time are columns of the new rows) and keeps those events
  in memory, so the usual accept-then-apply_pending flow (API, CLI) needs
  neither a claiming UPDATE nor a re-read of the rows, and apply_pending takes
  that batch first. Such a batch belongs to this EventLog; if apply_pending
  never runs, its claim goes stale after STALE_CLAIM_MS and any worker retries
  it, like a crashed worker's batch. Several waiting (many small accepts before
  one apply) are written one after another, each under its own id.
- apply_pending() hands batches to a writer thread through a one-slot queue:
  the writer sends batch k+1 the moment batch k's write (and its re-deletes,
  below) returned, while this thread claims batch k+2 and encodes it for the
  graph (tags, rows, query text: GraphStore.prepare_interactions) and marks
  the written ones applied. The graph runs in its own process (FalkorDB) or on
  its own server (Neo4j), so all make progress. One graph write is in flight
  at a time, in claim order, and a batch is marked applied only after its
  write returned. A claimed batch that never reached the graph (the store went
  down first) is flagged failed, for any worker to retry under the same id: a
  claim is never cleared, because another worker may have taken it over as
  stale, and a new id would apply its events twice.
- A privacy delete removes the user from the log (with a tombstone) before the
  graph; a batch already holding the user's events may re-create the user after
  that, so after every write the pipeline re-deletes users tombstoned since the
  batch's events were read.
- ingest() does the same for a long stream (the MovieLens import, `ingest
  FILE`): batch k+1 is validated, stored and claimed (one INSERT) and encoded
  while the graph writes batch k.
"""

from __future__ import annotations

import itertools
import logging
import queue
import sys
import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from graph_schema.rows import CatalogueItem, Interaction
from graph_schema.settings import Settings
from graph_schema.store import GraphStore, StoreError, StoreUnavailable
from graph_schema.store.base import PreparedBatch
from records.tables import (
    CatalogueRecord,
    DeletedUser,
    EventRecord,
    InterestRecord,
    UserRecord,
    now_ms,
    session_factory,
)
from service.ingest.schemas import EventIn, ItemIn

log = logging.getLogger(__name__)

STALE_CLAIM_MS = 60_000  # a claim older than this belongs to a crashed worker
EVENTS = EventRecord.__table__  # Core statements: no ORM bookkeeping on the hot path
_PENDING = select(func.count()).select_from(EVENTS).where(EVENTS.c.status == "pending")
_DELETED = DeletedUser.__table__
_RECENT_DELETES = select(_DELETED.c.user_id).where(_DELETED.c.deleted_at >= bindparam("since"))
_RECENT_TOMBSTONES = select(_DELETED.c.user_id, _DELETED.c.deleted_at).where(
    _DELETED.c.deleted_at >= bindparam("since")
)


class UnknownEventType(ValueError):
    pass


@dataclass
class AcceptReport:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    accepted_ids: list[str] = field(default_factory=list)


@dataclass
class ApplyReport:
    applied: int = 0
    batches: int = 0
    failed: int = 0
    pending: int = 0
    error: str | None = None


@dataclass
class _Batch:
    """A claimed batch and its events. `fresh`: its id was never sent to the graph
    (the already-applied check can be skipped). `read_at`: when its events were read
    from the log (a privacy delete after that must be re-done after the write)."""

    batch_id: str
    events: list[Interaction]
    fresh: bool = True
    read_at: int = field(default_factory=now_ms)
    prepared: PreparedBatch | None = None  # encoded for the graph ahead of its turn


def _insert_ignore(session: Session):  # type: ignore[no-untyped-def]
    """INSERT ... ON CONFLICT DO NOTHING for the session's dialect."""
    name = session.get_bind().dialect.name
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    elif name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:  # pragma: no cover - other databases are not supported
        raise RuntimeError(f"unsupported database dialect {name}")
    return dialect_insert


_EVENT_COLUMNS = (
    "event_id",
    "user_id",
    "item_id",
    "type",
    "ts",
    "weight",
    "status",
    "received_at",
    "batch_id",
    "claimed_at",
)
_INSERT_PAGE = 2000  # rows per statement: 20,000 parameters (SQLite allows 32,766, PostgreSQL 65,535)


@cache
def _insert_sql(n_rows: int, placeholder: str) -> str:
    row = "(" + ",".join([placeholder] * len(_EVENT_COLUMNS)) + ")"
    return (
        f"INSERT INTO {EVENTS.name} ({','.join(_EVENT_COLUMNS)}) VALUES {','.join([row] * n_rows)} "
        "ON CONFLICT (event_id) DO NOTHING RETURNING event_id, batch_id"
    )


def _insert_events(session: Session, rows: Sequence[tuple[Any, ...]]) -> list[tuple[str, str | None]]:
    """Insert event rows (tuples in _EVENT_COLUMNS order) unless their event_id
    exists; returns (event_id, batch_id) of the rows stored now.

    Multi-row INSERT ... VALUES statements with positional parameters, written
    here because SQLAlchemy's executemany/insertmanyvalues path builds a
    parameter dict per row (~1/3 of accept's time for 1,000 events). The text
    is fixed; every value is a bound parameter."""
    conn = session.connection()
    paramstyle = conn.dialect.paramstyle
    if paramstyle == "qmark":
        placeholder = "?"
    elif paramstyle in ("format", "pyformat"):
        placeholder = "%s"
    else:  # pragma: no cover - sqlite3 and psycopg2 use the styles above
        stmt = _insert_ignore(session)(EVENTS).on_conflict_do_nothing(index_elements=["event_id"])
        stmt = stmt.returning(EVENTS.c.event_id, EVENTS.c.batch_id)
        result = conn.execute(stmt, [dict(zip(_EVENT_COLUMNS, r, strict=True)) for r in rows])
        return [(e, b) for e, b in result.all()]
    inserted: list[tuple[str, str | None]] = []
    for start in range(0, len(rows), _INSERT_PAGE):
        page = rows[start : start + _INSERT_PAGE]
        params = tuple(itertools.chain.from_iterable(page))
        inserted.extend((e, b) for e, b in conn.exec_driver_sql(_insert_sql(len(page), placeholder), params).all())
    return inserted


def _interactions(rows: Iterable[Any]) -> list[Interaction]:
    return [Interaction(u, i, float(w), int(t)) for u, i, w, t in rows]


class EventLog:
    def __init__(self, settings: Settings, sessions: sessionmaker | None = None) -> None:
        self.settings = settings
        self.sessions = sessions or session_factory(settings.sql_url)
        self._owned: list[_Batch] = []  # claimed by accept(), not yet applied
        self._owned_lock = threading.Lock()

    # --- weights ------------------------------------------------------------
    def resolve_weight(self, event: EventIn) -> float:
        if event.weight is not None:
            return event.weight
        if event.type == "rating":
            raise UnknownEventType("weight: a rating event needs its value in `weight`")
        try:
            return float(self.settings.event_weights[event.type])
        except KeyError:
            known = ", ".join(sorted(self.settings.event_weights))
            raise UnknownEventType(f"type: unknown event type {event.type!r} (known: {known})") from None

    # --- accept ---------------------------------------------------------------
    def accept(self, events: Sequence[tuple[int, EventIn]]) -> AcceptReport:
        """Store valid events; each event id counts once however often it is sent.

        INSERT ... ON CONFLICT DO NOTHING RETURNING: the returned ids are exactly
        the rows stored now, also against a concurrent request with the same ids.
        The first graph batch of them is claimed for this log's apply_pending."""
        report, batch = self._accept(events)
        if batch is not None:
            with self._owned_lock:
                self._owned.append(batch)
        return report

    def _accept(self, events: Sequence[tuple[int, EventIn]], claim: bool = True) -> tuple[AcceptReport, _Batch | None]:
        """accept(), handing the claimed batch (if any) to the caller."""
        report = AcceptReport()
        rows: list[tuple[Any, ...]] = []
        seen: set[str] = set()
        received = now_ms()
        claim_id = uuid.uuid4().hex
        claim_size = self.settings.batch_size if claim else 0
        claim_left = claim_size
        # resolve_weight's usual answers, without a call per event; it still words the refusals
        type_weights = {t: float(w) for t, w in self.settings.event_weights.items() if t != "rating"}
        for index, ev in events:
            weight = ev.weight
            if weight is None:
                weight = type_weights.get(ev.type)
                if weight is None:
                    try:
                        weight = self.resolve_weight(ev)
                    except UnknownEventType as exc:
                        report.rejected.append({"index": index, "error": str(exc)})
                        continue
            event_id = ev.event_id
            if event_id in seen:
                report.duplicates += 1
                continue
            seen.add(event_id)
            mine = claim_left > 0
            claim_left -= 1
            # in _EVENT_COLUMNS order
            rows.append(
                (
                    event_id,
                    ev.user_id,
                    ev.item_id,
                    ev.type,
                    ev.ts_ms,
                    weight,
                    "pending",
                    received,
                    claim_id if mine else None,
                    received if mine else None,
                )
            )
        if not rows:
            return report, None
        with self.sessions.begin() as session:
            inserted = _insert_events(session, rows)
        report.accepted = len(inserted)
        report.duplicates += len(rows) - len(inserted)
        report.accepted_ids = [event_id for event_id, _ in inserted]
        claimed = {event_id for event_id, batch_id in inserted if batch_id == claim_id}
        if not claimed:
            return report, None
        mine_rows = rows[:claim_size]  # the rows claimed are the first ones
        if len(claimed) < len(mine_rows):  # some were in the log already
            mine_rows = [r for r in mine_rows if r[0] in claimed]
        return report, _Batch(claim_id, [Interaction(r[1], r[2], r[5], r[4]) for r in mine_rows])

    # --- apply ----------------------------------------------------------------
    def _claim(self, limit: int) -> _Batch | None:
        """Reserve up to `limit` unclaimed pending events under a new batch id,
        returning them (UPDATE ... RETURNING: one statement, no re-read)."""
        batch_id = uuid.uuid4().hex
        ids = select(EVENTS.c.id).where(EVENTS.c.status == "pending", EVENTS.c.batch_id.is_(None))
        ids = ids.order_by(EVENTS.c.id).limit(limit).scalar_subquery()
        with self.sessions.begin() as session:
            rows = (
                session.connection()
                .execute(
                    update(EVENTS)
                    .where(EVENTS.c.id.in_(ids), EVENTS.c.batch_id.is_(None))
                    .values(batch_id=batch_id, claimed_at=now_ms())
                    .returning(EVENTS.c.user_id, EVENTS.c.item_id, EVENTS.c.weight, EVENTS.c.ts)
                )
                .all()
            )
        return _Batch(batch_id, _interactions(rows)) if rows else None

    def _retryable_batch(self, running: Collection[str] = ()) -> tuple[_Batch | None, bool]:
        """A claimed batch that failed, or whose worker vanished (with its events);
        never one of `running`, the batches this worker is writing right now. Also:
        are there unclaimed pending events (so that a claim is worth a write)?"""
        stale = now_ms() - STALE_CLAIM_MS
        query = select(EVENTS.c.batch_id).where(
            EVENTS.c.status == "pending",
            EVENTS.c.batch_id.is_not(None),
            or_(EVENTS.c.failed_at.is_not(None), EVENTS.c.claimed_at < stale),
        )
        if running:
            query = query.where(EVENTS.c.batch_id.not_in(list(running)))
        with self.sessions() as session:
            conn = session.connection()
            batch_id = conn.execute(query.limit(1)).scalar()
            if batch_id is not None:
                rows = conn.execute(
                    select(EVENTS.c.user_id, EVENTS.c.item_id, EVENTS.c.weight, EVENTS.c.ts).where(
                        EVENTS.c.batch_id == batch_id, EVENTS.c.status == "pending"
                    )
                ).all()
                if rows:  # (emptied meanwhile: applied by another worker)
                    return _Batch(batch_id, _interactions(rows), fresh=False), True
            unclaimed = conn.execute(
                select(EVENTS.c.id).where(EVENTS.c.status == "pending", EVENTS.c.batch_id.is_(None)).limit(1)
            ).scalar()
        return None, unclaimed is not None

    def _take_owned(self) -> _Batch | None:
        """The oldest batch accept() claimed for this log (its events are at hand)."""
        with self._owned_lock:
            return self._owned.pop(0) if self._owned else None

    def _give_up(self, batches: Iterable[_Batch | None]) -> None:
        """Claimed batches this worker will not write (the graph is down): flag them
        failed, so any worker retries them at once *under the same batch id*. Never
        clear the claim: another worker may have taken a stale claim over and be
        writing it, and a fresh id would then apply the same events twice."""
        ids = [b.batch_id for b in batches if b is not None]
        if not ids:
            return
        with self.sessions.begin() as session:
            session.connection().execute(
                update(EVENTS)
                .where(EVENTS.c.batch_id.in_(ids), EVENTS.c.status == "pending")
                .values(failed_at=now_ms())
            )

    def _redo_deletes(self, store: GraphStore, batch: _Batch) -> None:
        """Re-delete users of a just-written batch whom a privacy delete removed after
        the batch's events were read: the write may have re-created them (in this or
        another process). delete_user tombstones before it deletes from the graph, so
        either the graph delete comes after this write, or this check sees the tombstone.

        Reads the recent tombstones (an index range, almost always empty: deletes are
        rare) and matches them to the batch's users here, not in an IN (<every user>)."""
        with self.sessions() as session:
            recent = session.connection().execute(_RECENT_DELETES, {"since": batch.read_at - 1}).scalars().all()
        if not recent:
            return
        users = {e.user_id for e in batch.events}
        for user_id in recent:
            if user_id in users:
                log.info("user %s was deleted while batch %s was in flight: deleting again", user_id, batch.batch_id)
                store.delete_user(user_id)

    SWEEP_DELETES_MS = 3_600_000  # tombstones this recent are checked by _sweep_deletes

    def _sweep_deletes(self, store: GraphStore) -> None:
        """The re-delete after a write can fail (the graph went away just then): the
        user a batch in flight re-created would stay. So each apply_pending first
        deletes again any user tombstoned in the last hour who is in the graph with
        no event logged since the delete (one who came back has new events: kept)."""
        since = now_ms() - self.SWEEP_DELETES_MS
        with self.sessions() as session:
            recent = session.execute(_RECENT_TOMBSTONES, {"since": since}).all()
        for user_id, deleted_at in recent:
            if not store.user_exists(user_id):
                continue
            with self.sessions() as session:
                came_back = session.execute(
                    select(EVENTS.c.id).where(EVENTS.c.user_id == user_id, EVENTS.c.received_at >= deleted_at).limit(1)
                ).first()
            if came_back is None:
                log.warning("user %s, deleted at %d, is in the graph again: deleting again", user_id, deleted_at)
                store.delete_user(user_id)

    def _next_batch(self, running: Collection[str] = ()) -> _Batch | None:
        """The batch accept() claimed (its events are at hand: the graph can start
        at once), then retried batches, then new claims."""
        batch = self._take_owned()
        if batch is not None:
            return batch
        batch, unclaimed = self._retryable_batch(running)
        if batch is not None:
            return batch
        return self._claim(self.settings.batch_size) if unclaimed else None

    def _mark(self, batch_id: str, count_pending: bool = False, **values: Any) -> tuple[int, int | None]:
        """Update the batch's pending events; with count_pending, also count the
        events still pending (the caller's report) in the same transaction."""
        with self.sessions.begin() as session:
            conn = session.connection()
            n = conn.execute(
                update(EVENTS).where(EVENTS.c.batch_id == batch_id, EVENTS.c.status == "pending").values(**values)
            ).rowcount
            pending = conn.execute(_PENDING).scalar() if count_pending else None
        return n, pending

    def _prepare(self, store: GraphStore, batch: _Batch | None) -> _Batch | None:
        """Encode a batch for the graph now (tags, rows, query text), on this thread,
        while the graph writes the batch before it: the write thread then only sends."""
        if batch is not None and batch.events:
            try:
                batch.prepared = store.prepare_interactions(batch.events, self.settings.evidence_tau_ms, batch.batch_id)
            except StoreError:
                batch.prepared = None  # the write thread prepares it again and meets the error there
        return batch

    def _apply_batch(self, store: GraphStore, batch: _Batch) -> int:
        if batch.prepared is not None:
            store.apply_prepared(batch.prepared, new_batch=batch.fresh)
        else:
            store.apply_interactions(
                batch.events, self.settings.evidence_tau_ms, batch_id=batch.batch_id, new_batch=batch.fresh
            )
        return len(batch.events)

    def apply_pending(
        self, store: GraphStore, max_batches: int | None = None, progress: Callable[[int], None] | None = None
    ) -> ApplyReport:
        """Apply pending events batch by batch until none are left (or a failure).

        The graph write of one batch overlaps the SQL work around it (claiming
        the next batch, marking the previous one applied); see the module notes."""
        report = ApplyReport()
        claimed = 0
        self._sweep_deletes(store)

        def next_batch(running: Collection[str]) -> _Batch | None:
            nonlocal claimed
            if max_batches is not None and claimed >= max_batches:
                return None
            batch = self._next_batch(running)
            if batch is not None:
                claimed += 1
            return batch

        self._pipeline(store, next_batch, report, progress)
        return report

    def ingest(
        self,
        store: GraphStore,
        events: Iterable[tuple[int, EventIn]],
        progress: Callable[[int], None] | None = None,
    ) -> tuple[AcceptReport, ApplyReport]:
        """accept() then apply_pending() for a long stream of events, batch by
        batch: while the graph writes batch k, batch k+1 is validated by the
        caller's iterator, stored and claimed (one INSERT, no claiming UPDATE).
        What the stream leaves pending (a failure) stays in the log, as with
        accept(); the remaining pending events are applied at the end."""
        accepted = AcceptReport()
        stream = iter(events)
        report = ApplyReport()

        def store_chunk(claim: bool) -> tuple[bool, _Batch | None]:
            chunk = list(itertools.islice(stream, self.settings.batch_size))
            part, batch = self._accept(chunk, claim=claim) if chunk else (AcceptReport(), None)
            accepted.accepted += part.accepted
            accepted.duplicates += part.duplicates
            accepted.rejected.extend(part.rejected)
            accepted.accepted_ids.extend(part.accepted_ids)
            return bool(chunk), batch

        def next_batch(_running: Collection[str]) -> _Batch | None:
            more = True
            while more:
                more, batch = store_chunk(claim=True)
                if batch is not None:
                    return batch
            return None

        stopped = self._pipeline(store, next_batch, report, progress)
        while store_chunk(claim=False)[0]:  # the graph is down: log the rest, pending
            pass
        if not stopped:
            after = self.apply_pending(store, progress=progress)
            report.applied += after.applied
            report.batches += after.batches
            report.failed += after.failed
            report.error = after.error
            report.pending = after.pending
        else:
            report.pending = self.pending_count()
        return accepted, report

    def _pipeline(
        self,
        store: GraphStore,
        next_batch: Callable[[Collection[str]], _Batch | None],
        report: ApplyReport,
        progress: Callable[[int], None] | None,
    ) -> bool:
        """Write batches to the graph on a writer thread, one at a time in claim
        order, fed through a one-slot queue: the writer sends the next batch as soon
        as the previous write (and its re-deletes) returned, while this thread claims
        and encodes the batch after it (`next_batch(ids in flight)`) and marks the
        written ones applied. A batch is marked applied only after its write returned.
        True: stopped because the graph store is unavailable."""
        todo: queue.Queue[_Batch | None] = queue.Queue(maxsize=1)
        done: queue.Queue[tuple[_Batch, int | None, BaseException | None]] = queue.Queue()
        down = threading.Event()  # set: the writer sends nothing more (reports batches unsent)

        def writer() -> None:
            while (batch := todo.get()) is not None:
                if down.is_set():
                    done.put((batch, None, None))
                    continue
                try:
                    n = self._apply_batch(store, batch)
                    self._redo_deletes(store, batch)
                    done.put((batch, n, None))
                except BaseException as exc:  # settled (or re-raised) by the caller's thread
                    if not isinstance(exc, StoreError) or isinstance(exc, StoreUnavailable):
                        down.set()
                    done.put((batch, None, exc))

        thread = threading.Thread(target=writer, name="graph-apply", daemon=True)
        thread.start()
        in_flight: list[_Batch] = []  # handed to the writer, not settled yet (in order)
        unsent: _Batch | None = None  # claimed and encoded, not handed over yet
        stopped = False
        failure: BaseException | None = None

        def settle(wait: bool) -> None:
            nonlocal stopped, failure
            while in_flight:
                try:
                    batch, n, exc = done.get(block=wait)
                except queue.Empty:
                    return
                assert batch is in_flight[0], "the writer settles batches in order"
                in_flight.pop(0)
                if isinstance(exc, StoreUnavailable):
                    # transient: the batch keeps its id and is retried first next time
                    failed, _ = self._mark(batch.batch_id, failed_at=now_ms())
                    report.failed += failed
                    report.error = str(exc)
                    log.warning("graph batch %s failed, %d events stay pending: %s", batch.batch_id, failed, exc)
                    stopped = True
                elif isinstance(exc, StoreError):
                    # the engine refused the batch (nothing of it applied: one atomic query)
                    # unless a concurrent worker applied the same batch id first
                    self._settle_refused_batch(store, batch.batch_id, exc, report)
                elif exc is not None:  # a bug, not the store: flagged for a retry, then raised
                    self._give_up([batch])
                    failure = failure or exc
                elif n is None:  # never sent: the store went down before its turn
                    self._give_up([batch])
                else:
                    self._mark(batch.batch_id, status="applied", applied_at=now_ms(), failed_at=None)
                    report.applied += n
                    report.batches += 1
                    if progress:
                        progress(n)

        try:
            unsent = next_batch(())
            self._prepare(store, unsent)
            while unsent is not None and not stopped and failure is None:
                todo.put(unsent)  # waits while one batch is queued behind the one being written
                in_flight.append(unsent)
                unsent = None
                settle(wait=False)  # the next write has started: bookkeeping of the finished ones
                if stopped or failure is not None:
                    break
                unsent = next_batch([b.batch_id for b in in_flight])
                self._prepare(store, unsent)
        finally:
            # also on an interrupt (Ctrl-C) or an error here: the writer stops sending,
            # what it finished is settled, and every claimed batch not written is flagged
            # for any worker to retry under its id (a claim is never cleared)
            if stopped or failure is not None or sys.exc_info()[0] is not None:
                down.set()
            todo.put(None)
            thread.join()
            try:
                settle(wait=False)  # the writer has stopped: everything it did is in `done`
            finally:
                owned: list[_Batch] = []
                if stopped:
                    with self._owned_lock:
                        owned, self._owned = self._owned, []
                self._give_up([unsent, *in_flight, *owned])
        if failure is not None:
            raise failure
        report.pending = self.pending_count()
        return stopped

    def _settle_refused_batch(self, store: GraphStore, batch_id: str, exc: StoreError, report: ApplyReport) -> None:
        """A refused batch: if another worker applied it, it is done; otherwise its
        events are parked as `failed` (kept in the log, never silently dropped) so
        one poison batch cannot block every later event."""
        try:
            applied_elsewhere = store.batch_applied(batch_id)
        except StoreError:
            applied_elsewhere = False
        status = "applied" if applied_elsewhere else "failed"
        n, _ = self._mark(batch_id, status=status, failed_at=now_ms())
        if applied_elsewhere:
            return
        report.failed += n
        report.error = str(exc)
        log.error("graph refused batch %s; %d events parked as failed in the event log: %s", batch_id, n, exc)

    def users_since(self, received_ms: int) -> list[str]:
        """Users with events received (not: dated) since a time — what an incremental
        refresh must re-fit, even when the events carry old timestamps."""
        with self.sessions() as session:
            return list(
                session.scalars(select(EventRecord.user_id).where(EventRecord.received_at >= received_ms).distinct())
            )

    def pending_count(self) -> int:
        with self.sessions() as session:
            return int(session.scalar(select(func.count()).where(EventRecord.status == "pending")) or 0)

    def count(self) -> int:
        with self.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(EventRecord)) or 0)

    # --- catalogue --------------------------------------------------------------
    def _upsert(self, table: Any, rows: list[dict[str, Any]], key: str) -> None:
        """Bulk INSERT ... ON CONFLICT (key) DO UPDATE: the latest record wins."""
        if not rows:
            return
        with self.sessions.begin() as session:
            stmt = _insert_ignore(session)(table)
            cols = {c: stmt.excluded[c] for c in rows[0] if c != key}
            session.connection().execute(stmt.on_conflict_do_update(index_elements=[key], set_=cols), rows)

    def record_items(self, items: Sequence[ItemIn]) -> None:
        """Keep the latest catalogue record per item (for replay)."""
        latest = {i.item_id: i for i in items}
        rows = [
            {
                "item_id": i.item_id,
                "title": i.title,
                "interests": list(i.interests),
                "attributes": dict(i.attributes),
                "updated_at": now_ms(),
            }
            for i in latest.values()
        ]
        self._upsert(CatalogueRecord.__table__, rows, "item_id")

    def record_interests(self, rows: Iterable[dict[str, Any]]) -> None:
        unique = {
            r["interest_id"]: {"interest_id": r["interest_id"], "name": r["name"], "kind": r["kind"]} for r in rows
        }
        self._upsert(InterestRecord.__table__, list(unique.values()), "interest_id")

    def record_users(self, rows: Iterable[dict[str, Any]]) -> None:
        unique = {r["user_id"]: {"user_id": r["user_id"], "attributes": r.get("props", {})} for r in rows}
        self._upsert(UserRecord.__table__, list(unique.values()), "user_id")

    def upsert_items(self, store: GraphStore, items: Sequence[ItemIn]) -> int:
        """Log catalogue records, then write them to the graph."""
        self.record_items(items)
        return store.upsert_items([_catalogue_item(i) for i in items])

    # --- privacy ----------------------------------------------------------------
    def delete_user(self, store: GraphStore, user_id: str) -> dict[str, Any]:
        """The log first (events, user record, tombstone), then the graph. A batch
        holding the user's events already in memory (this process or another) may
        still write them after the graph delete; the pipeline sees the tombstone
        after that write and deletes the user again (_redo_deletes). If the graph
        delete fails, the log side is done and a retry of the delete finishes it."""
        with self.sessions.begin() as session:
            events = session.execute(delete(EventRecord).where(EventRecord.user_id == user_id)).rowcount
            session.execute(delete(UserRecord).where(UserRecord.user_id == user_id))
            session.merge(DeletedUser(user_id=user_id, deleted_at=now_ms()))
        with self._owned_lock:  # events accept() holds for the graph: gone from the log, so from these too
            for batch in self._owned:
                batch.events = [e for e in batch.events if e.user_id != user_id]
        relationships = store.delete_user(user_id)
        return {
            "user_id": user_id,
            "graph_user_removed": relationships is not None,
            "graph_relationships_removed": relationships or 0,
            "events_removed": events,
        }

    # --- replay -----------------------------------------------------------------
    def replay(self, store: GraphStore, progress: Callable[[int], None] | None = None) -> int:
        """Rebuild the graph from the log: catalogue first, then every event in
        log order, in fresh batches (the target store must be empty)."""
        with self.sessions() as session:
            interests = session.scalars(select(InterestRecord)).all()
            items = session.scalars(select(CatalogueRecord)).all()
            users = session.scalars(select(UserRecord)).all()
        store.upsert_interests([{"interest_id": r.interest_id, "name": r.name, "kind": r.kind} for r in interests])
        store.upsert_items(
            [CatalogueItem(r.item_id, r.title, tuple(r.interests), dict(r.attributes or {})) for r in items]
        )
        store.upsert_users([{"user_id": r.user_id, "props": dict(r.attributes or {})} for r in users])
        applied = 0
        size = self.settings.batch_size

        def read(after_id: int) -> tuple[int, list[Interaction]]:
            with self.sessions() as session:
                rows = session.execute(
                    select(EVENTS.c.id, EVENTS.c.user_id, EVENTS.c.item_id, EVENTS.c.weight, EVENTS.c.ts)
                    .where(EVENTS.c.id > after_id)
                    .order_by(EVENTS.c.id)
                    .limit(size)
                ).all()
            return (rows[-1].id if rows else after_id), _interactions((u, i, w, t) for _, u, i, w, t in rows)

        # the next batch is read from the log while the graph writes this one
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="graph-replay") as graph:
            last_id, events = read(0)
            while events:
                write = graph.submit(
                    store.apply_interactions,
                    events,
                    self.settings.evidence_tau_ms,
                    batch_id=f"replay-{uuid.uuid4().hex}",
                    new_batch=True,
                )
                last_id, upcoming = read(last_id)
                write.result()
                applied += len(events)
                if progress:
                    progress(len(events))
                events = upcoming
        with self.sessions.begin() as session:
            session.execute(
                update(EventRecord)
                .where(EventRecord.status == "pending")
                .values(status="applied", applied_at=now_ms(), failed_at=None)
            )
        return applied


def _catalogue_item(item: ItemIn) -> CatalogueItem:
    return CatalogueItem(item.item_id, item.title, tuple(item.interests), dict(item.attributes))


__all__ = ["AcceptReport", "ApplyReport", "EventLog", "UnknownEventType"]
