"""The durable, idempotent event log and its application to the graph.

accept():  validated events -> SQL (event_id unique; duplicates counted, not stored)
apply_pending(): claim pending events into a batch id, apply that batch to the
    graph (one atomic query, guarded by the batch id), then mark it applied.
    A failed graph write leaves the events pending *with their batch id*, and
    the retry reuses that id, so a write whose reply was lost is not applied twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from graph_schema.model import CatalogueItem, Interaction
from graph_schema.settings import Settings
from graph_schema.sql import (
    CatalogueRecord,
    DeletedUser,
    EventRecord,
    InterestRecord,
    UserRecord,
    now_ms,
    session_factory,
)
from graph_schema.store import GraphStore, StoreError, StoreUnavailable
from service.ingest.schemas import EventIn, ItemIn

log = logging.getLogger(__name__)

STALE_CLAIM_MS = 60_000  # a claim older than this belongs to a crashed worker


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


class EventLog:
    def __init__(self, settings: Settings, sessions: sessionmaker | None = None) -> None:
        self.settings = settings
        self.sessions = sessions or session_factory(settings.sql_url)

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
    def accept(self, events: Sequence[tuple[int, EventIn]], chunk: int = 5000) -> AcceptReport:
        """Store valid events; each event id counts once however often it is sent."""
        report = AcceptReport()
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        for index, ev in events:
            try:
                weight = self.resolve_weight(ev)
            except UnknownEventType as exc:
                report.rejected.append({"index": index, "error": str(exc)})
                continue
            if ev.event_id in seen:
                report.duplicates += 1
                continue
            seen.add(ev.event_id)
            rows.append(
                {
                    "event_id": ev.event_id,
                    "user_id": ev.user_id,
                    "item_id": ev.item_id,
                    "type": ev.type,
                    "ts": ev.ts_ms,
                    "weight": weight,
                    "status": "pending",
                    "received_at": now_ms(),
                }
            )
        with self.sessions.begin() as session:
            dialect_insert = _insert_ignore(session)
            conn = session.connection()
            for start in range(0, len(rows), chunk):
                part = rows[start : start + chunk]
                ids = [r["event_id"] for r in part]
                known = set(conn.execute(select(EventRecord.event_id).where(EventRecord.event_id.in_(ids))).scalars())
                fresh = [r for r in part if r["event_id"] not in known]
                if fresh:
                    # ON CONFLICT DO NOTHING covers a concurrent request with the same ids
                    stmt = dialect_insert(EventRecord).on_conflict_do_nothing(index_elements=["event_id"])
                    result = conn.execute(stmt, fresh)
                    inserted = result.rowcount if result.rowcount >= 0 else len(fresh)
                else:
                    inserted = 0
                report.accepted += inserted
                report.duplicates += len(part) - inserted
                report.accepted_ids.extend(r["event_id"] for r in fresh)
        return report

    # --- apply ----------------------------------------------------------------
    def _claim(self, session: Session, limit: int) -> str | None:
        """Reserve up to `limit` unclaimed pending events under a new batch id."""
        batch_id = uuid.uuid4().hex
        ids = select(EventRecord.id).where(EventRecord.status == "pending", EventRecord.batch_id.is_(None))
        ids = ids.order_by(EventRecord.id).limit(limit).scalar_subquery()
        res = session.execute(
            update(EventRecord)
            .where(EventRecord.id.in_(ids), EventRecord.batch_id.is_(None))
            .values(batch_id=batch_id, claimed_at=now_ms())
        )
        return batch_id if res.rowcount else None

    def _retryable_batch(self, session: Session) -> str | None:
        """A claimed batch that failed, or whose worker vanished."""
        stale = now_ms() - STALE_CLAIM_MS
        return session.scalar(
            select(EventRecord.batch_id)
            .where(
                EventRecord.status == "pending",
                EventRecord.batch_id.is_not(None),
                or_(EventRecord.failed_at.is_not(None), EventRecord.claimed_at < stale),
            )
            .limit(1)
        )

    def _apply_batch(self, store: GraphStore, batch_id: str) -> int:
        with self.sessions() as session:
            records = session.execute(
                select(EventRecord.user_id, EventRecord.item_id, EventRecord.weight, EventRecord.ts).where(
                    EventRecord.batch_id == batch_id, EventRecord.status == "pending"
                )
            ).all()
        if not records:
            return 0
        events = [Interaction(u, i, w, t) for u, i, w, t in records]
        store.apply_interactions(events, self.settings.evidence_tau_ms, batch_id=batch_id)
        with self.sessions.begin() as session:
            session.execute(
                update(EventRecord)
                .where(EventRecord.batch_id == batch_id)
                .values(status="applied", applied_at=now_ms(), failed_at=None)
            )
        return len(events)

    def apply_pending(
        self, store: GraphStore, max_batches: int | None = None, progress: Callable[[int], None] | None = None
    ) -> ApplyReport:
        """Apply pending events batch by batch until none are left (or a failure)."""
        report = ApplyReport()
        while max_batches is None or report.batches < max_batches:
            with self.sessions.begin() as session:
                batch_id = self._retryable_batch(session) or self._claim(session, self.settings.batch_size)
            if batch_id is None:
                break
            try:
                n = self._apply_batch(store, batch_id)
            except StoreUnavailable as exc:
                # transient: the batch keeps its id and is retried first next time
                with self.sessions.begin() as session:
                    failed = session.execute(
                        update(EventRecord)
                        .where(EventRecord.batch_id == batch_id, EventRecord.status == "pending")
                        .values(failed_at=now_ms())
                    ).rowcount
                report.failed += failed
                report.error = str(exc)
                log.warning("graph batch %s failed, %d events stay pending: %s", batch_id, failed, exc)
                break
            except StoreError as exc:
                # the engine refused the batch (nothing of it applied: one atomic query)
                # unless a concurrent worker applied the same batch id first
                if self._settle_refused_batch(store, batch_id, exc, report):
                    continue
                break
            report.applied += n
            report.batches += 1
            if progress:
                progress(n)
        report.pending = self.pending_count()
        return report

    def _settle_refused_batch(self, store: GraphStore, batch_id: str, exc: StoreError, report: ApplyReport) -> bool:
        """A refused batch: if another worker applied it, it is done; otherwise its
        events are parked as `failed` (kept in the log, never silently dropped) so
        one poison batch cannot block every later event. True: carry on."""
        try:
            applied_elsewhere = store.batch_applied(batch_id)
        except StoreError:
            applied_elsewhere = False
        status = "applied" if applied_elsewhere else "failed"
        with self.sessions.begin() as session:
            n = session.execute(
                update(EventRecord)
                .where(EventRecord.batch_id == batch_id, EventRecord.status == "pending")
                .values(status=status, failed_at=now_ms())
            ).rowcount
        if applied_elsewhere:
            return True
        report.failed += n
        report.error = str(exc)
        log.error("graph refused batch %s; %d events parked as failed in the event log: %s", batch_id, n, exc)
        return True

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
        relationships = store.delete_user(user_id)
        with self.sessions.begin() as session:
            events = session.execute(delete(EventRecord).where(EventRecord.user_id == user_id)).rowcount
            session.execute(delete(UserRecord).where(UserRecord.user_id == user_id))
            session.merge(DeletedUser(user_id=user_id, deleted_at=now_ms()))
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
        last_id = 0
        size = self.settings.batch_size
        while True:
            with self.sessions() as session:
                rows = session.execute(
                    select(EventRecord.id, EventRecord.user_id, EventRecord.item_id, EventRecord.weight, EventRecord.ts)
                    .where(EventRecord.id > last_id)
                    .order_by(EventRecord.id)
                    .limit(size)
                ).all()
            if not rows:
                break
            last_id = rows[-1].id
            events = [Interaction(r.user_id, r.item_id, float(r.weight), int(r.ts)) for r in rows]
            store.apply_interactions(events, self.settings.evidence_tau_ms, batch_id=f"replay-{uuid.uuid4().hex}")
            applied += len(events)
            if progress:
                progress(len(events))
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
