"""User-user relation events: the SQL log, the per-edge register, and the graph apply.

A relation event (follow, unfollow, friend, unfriend) is logged like a behaviour event
(`event_id` unique: a resent event is a no-op), in its own table so the item-event
batches and the training pulls never meet one. Each event then updates a
last-writer-wins register per directed edge (user, target, kind): the event with the
newest `ts` decides whether the edge exists, a removal winning a tie. So an unfollow
wins over an older follow whatever the order of arrival, and a replay of the log
in any order ends in the same graph.

The graph is given the registers' state (never the events): changed registers are
flagged `pending`, written by `apply_pending`, and unflagged if unchanged meanwhile;
a write that fails leaves them pending for the next apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, tuple_, update
from sqlalchemy.orm import Session, sessionmaker

from graph_schema.clock import now_ms
from graph_schema.store import GraphStore, StoreError
from graph_schema.store.social import RelationState, changed_by
from records.tables import RelationEventRecord, RelationRecord
from service.ingest.eventlog import AcceptReport, dialect_insert
from service.ingest.schemas import RelationIn

RELATION_EVENTS = RelationEventRecord.__table__
RELATIONS = RelationRecord.__table__
_KIND = {"follow": ("follow", 1), "unfollow": ("follow", 0), "friend": ("friend", 1), "unfriend": ("friend", 0)}
_INSERT_PAGE = 1000


@dataclass
class RelationApplyReport:
    written: int = 0
    removed: int = 0
    pending: int = 0
    error: str | None = None


def changed_users(events: Iterable[RelationIn]) -> set[str]:
    return {u for e in events for u in changed_by(e.type, e.user_id, e.target_user_id)}


def _register_rows(event: RelationIn) -> list[dict[str, Any]]:
    kind, active = _KIND[event.type]
    weight = 1.0 if event.weight is None else float(event.weight)
    pairs = [(event.user_id, event.target_user_id)]
    if kind == "friend":
        pairs.append((event.target_user_id, event.user_id))
    return [
        {"user_id": u, "target_user_id": t, "kind": kind, "active": active, "ts": event.ts_ms, "weight": weight}
        for u, t in pairs
    ]


def _newest(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per register key: the newest ts, a removal winning a tie (as the SQL does)."""
    best: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["user_id"], row["target_user_id"], row["kind"])
        old = best.get(key)
        if old is None or (row["ts"], -row["active"]) > (old["ts"], -old["active"]):
            best[key] = row
    return list(best.values())


def accept(sessions: sessionmaker, events: Sequence[tuple[int, RelationIn]]) -> AcceptReport:
    """Log relation events (duplicates by event_id counted, not stored) and fold the new
    ones into the registers, in one transaction."""
    report = AcceptReport()
    unique: dict[str, RelationIn] = {}
    for _, ev in events:
        if ev.event_id in unique:
            report.duplicates += 1
        else:
            unique[ev.event_id] = ev
    if not unique:
        return report
    received = now_ms()
    with sessions.begin() as session:
        insert = dialect_insert(session)
        stored: list[str] = []
        evs = list(unique.values())
        for start in range(0, len(evs), _INSERT_PAGE):
            page = evs[start : start + _INSERT_PAGE]
            stmt = (
                insert(RELATION_EVENTS)
                .values(
                    [
                        {
                            "event_id": e.event_id,
                            "user_id": e.user_id,
                            "target_user_id": e.target_user_id,
                            "type": e.type,
                            "ts": e.ts_ms,
                            "weight": 1.0 if e.weight is None else e.weight,
                            "received_at": received,
                        }
                        for e in page
                    ]
                )
                .on_conflict_do_nothing(index_elements=["event_id"])
                .returning(RELATION_EVENTS.c.event_id)
            )
            stored.extend(session.execute(stmt).scalars().all())
        report.accepted = len(stored)
        report.duplicates += len(unique) - len(stored)
        report.accepted_ids = stored
        rows = _newest([r for event_id in stored for r in _register_rows(unique[event_id])])
        _fold(session, rows)
    return report


def _fold(session: Session, rows: list[dict[str, Any]]) -> None:
    """Upsert registers: a row replaces the stored state only if it is newer (or as new
    and a removal). One row per key (ON CONFLICT cannot touch a row twice)."""
    insert = dialect_insert(session)
    for start in range(0, len(rows), _INSERT_PAGE):
        page = [{**r, "pending": 1} for r in rows[start : start + _INSERT_PAGE]]
        stmt = insert(RELATIONS).values(page)
        newer = or_(
            stmt.excluded.ts > RELATIONS.c.ts,
            and_(stmt.excluded.ts == RELATIONS.c.ts, stmt.excluded.active < RELATIONS.c.active),
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["user_id", "target_user_id", "kind"],
            set_={"active": stmt.excluded.active, "ts": stmt.excluded.ts, "weight": stmt.excluded.weight, "pending": 1},
            where=newer,
        )
        session.execute(stmt)


def _states(rows: Any) -> list[RelationState]:
    return [RelationState(u, t, k, bool(a), int(ts), float(w)) for u, t, k, a, ts, w in rows]


_COLUMNS = (
    RELATIONS.c.user_id,
    RELATIONS.c.target_user_id,
    RELATIONS.c.kind,
    RELATIONS.c.active,
    RELATIONS.c.ts,
    RELATIONS.c.weight,
)


def apply_pending(sessions: sessionmaker, store: GraphStore, page: int = 5000) -> RelationApplyReport:
    """Write every pending register to the graph; each is unflagged only if its state
    did not change while it was being written (a newer event keeps it pending)."""
    report = RelationApplyReport()
    after: tuple[str, str, str] = ("", "", "")
    while True:
        with sessions() as session:
            key = (RELATIONS.c.user_id, RELATIONS.c.target_user_id, RELATIONS.c.kind)
            query = select(*_COLUMNS).where(RELATIONS.c.pending == 1)
            query = query.where(tuple_(*key) > tuple_(*after))
            rows = session.execute(query.order_by(*key).limit(page)).all()
        if not rows:
            break
        states = _states(rows)
        try:
            written, removed = store.apply_relations(states)
        except StoreError as exc:
            report.error = str(exc)
            break
        report.written += written
        report.removed += removed
        with sessions.begin() as session:
            for s in states:
                session.execute(
                    update(RELATIONS)
                    .where(
                        RELATIONS.c.user_id == s.user_id,
                        RELATIONS.c.target_user_id == s.target_user_id,
                        RELATIONS.c.kind == s.kind,
                        RELATIONS.c.ts == s.since,
                        RELATIONS.c.active == int(s.active),
                    )
                    .values(pending=0)
                )
        last = states[-1]
        after = (last.user_id, last.target_user_id, last.kind)
        if len(rows) < page:
            break
    report.pending = pending_count(sessions)
    return report


def pending_count(sessions: sessionmaker) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).where(RELATIONS.c.pending == 1)) or 0)


def active_states(sessions: sessionmaker) -> list[RelationState]:
    """Every active register (a replay writes them all)."""
    with sessions() as session:
        return _states(session.execute(select(*_COLUMNS).where(RELATIONS.c.active == 1)).all())


def replay(sessions: sessionmaker, store: GraphStore) -> int:
    """Write every active relation into a rebuilt graph; the registers are then written."""
    states = active_states(sessions)
    store.apply_relations(states)
    with sessions.begin() as session:
        session.execute(update(RELATIONS).values(pending=0))
    return len(states)


def delete_user(session: Session, user_id: str) -> int:
    """A privacy delete: the user's relation events and registers, in both directions
    (inside the caller's transaction). The graph's user delete removes the edges."""
    n = session.execute(
        delete(RELATION_EVENTS).where(
            or_(RELATION_EVENTS.c.user_id == user_id, RELATION_EVENTS.c.target_user_id == user_id)
        )
    ).rowcount
    session.execute(delete(RELATIONS).where(or_(RELATIONS.c.user_id == user_id, RELATIONS.c.target_user_id == user_id)))
    return int(n or 0)
