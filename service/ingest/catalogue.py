"""Catalogue records: interests, items and users, kept in SQL (the latest record
per id, next to the event log, so a replay can rebuild the graph) and written to
the graph. Each upsert_* records first, then writes the graph."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select

from graph_schema.clock import now_ms
from graph_schema.rows import CatalogueItem
from graph_schema.store import GraphStore
from records.tables import CatalogueRecord, InterestRecord, UserRecord
from service.ingest.eventlog import EventLog, dialect_insert
from service.ingest.schemas import ItemIn


def upsert_interests(event_log: EventLog, store: GraphStore, rows: Sequence[dict[str, Any]]) -> int:
    """Interests ({interest_id, name, kind}) into the log's records, then the graph."""
    unique = {r["interest_id"]: {"interest_id": r["interest_id"], "name": r["name"], "kind": r["kind"]} for r in rows}
    _upsert(event_log, InterestRecord.__table__, list(unique.values()), "interest_id")
    return store.upsert_interests(rows)


def upsert_items(event_log: EventLog, store: GraphStore, items: Sequence[ItemIn]) -> int:
    """Items into the log's records (the latest per item wins), then the graph."""
    latest = {i.item_id: i for i in items}
    records = [
        {
            "item_id": i.item_id,
            "title": i.title,
            "interests": list(i.interests),
            "attributes": dict(i.attributes),
            "updated_at": now_ms(),
        }
        for i in latest.values()
    ]
    _upsert(event_log, CatalogueRecord.__table__, records, "item_id")
    return store.upsert_items([_catalogue_item(i) for i in items])


def upsert_users(event_log: EventLog, store: GraphStore, rows: Sequence[dict[str, Any]]) -> int:
    """Users ({user_id, props}) into the log's records, then the graph."""
    unique = {r["user_id"]: {"user_id": r["user_id"], "attributes": r.get("props", {})} for r in rows}
    _upsert(event_log, UserRecord.__table__, list(unique.values()), "user_id")
    return store.upsert_users(rows)


def restore(event_log: EventLog, store: GraphStore) -> None:
    """Write every catalogue record of the log to the graph (a replay's first step)."""
    with event_log.sessions() as session:
        interests = session.scalars(select(InterestRecord)).all()
        items = session.scalars(select(CatalogueRecord)).all()
        users = session.scalars(select(UserRecord)).all()
    store.upsert_interests([{"interest_id": r.interest_id, "name": r.name, "kind": r.kind} for r in interests])
    store.upsert_items([CatalogueItem(r.item_id, r.title, tuple(r.interests), dict(r.attributes or {})) for r in items])
    store.upsert_users([{"user_id": r.user_id, "props": dict(r.attributes or {})} for r in users])


def _upsert(event_log: EventLog, table: Any, rows: Iterable[dict[str, Any]], key: str) -> None:
    """Bulk INSERT ... ON CONFLICT (key) DO UPDATE: the latest record wins."""
    rows = list(rows)
    if not rows:
        return
    with event_log.sessions.begin() as session:
        stmt = dialect_insert(session)(table)
        cols = {c: stmt.excluded[c] for c in rows[0] if c != key}
        session.connection().execute(stmt.on_conflict_do_update(index_elements=[key], set_=cols), rows)


def _catalogue_item(item: ItemIn) -> CatalogueItem:
    return CatalogueItem(item.item_id, item.title, tuple(item.interests), dict(item.attributes))
