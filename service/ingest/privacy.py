"""Privacy deletes: a user out of the event log (with a tombstone), then out of the graph.

A batch already holding the user's events (read before the delete, in this process
or another) may re-create the user in the graph after the graph delete, so:
- redo_deletes(): after every batch write, the writer deletes again the batch's
  users tombstoned since its events were read;
- sweep_deletes(): that re-delete can fail (the graph went away just then), so
  each apply first deletes again any recently tombstoned user the graph has,
  unless the user came back with new events.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import bindparam, delete, select

from graph_schema.clock import now_ms
from graph_schema.store import GraphStore
from records.tables import DeletedUser, EventAttribution, EventRecord, StrengthHistoryRecord, UserRecord
from service.ingest import relations
from service.ingest.eventlog import EVENTS, Batch, EventLog

log = logging.getLogger(__name__)

SWEEP_DELETES_MS = 3_600_000  # tombstones this recent are checked by sweep_deletes
_DELETED = DeletedUser.__table__
_RECENT_DELETES = select(_DELETED.c.user_id).where(_DELETED.c.deleted_at >= bindparam("since"))
_RECENT_TOMBSTONES = select(_DELETED.c.user_id, _DELETED.c.deleted_at).where(
    _DELETED.c.deleted_at >= bindparam("since")
)


def delete_user(event_log: EventLog, store: GraphStore, user_id: str) -> dict[str, Any]:
    """The log first (events, user record, strength history, tombstone), then the graph. A batch
    holding the user's events already in memory (this process or another) may
    still write them after the graph delete; the writer sees the tombstone after
    that write and deletes the user again (redo_deletes). If the graph delete
    fails, the log side is done and a retry of the delete finishes it."""
    with event_log.sessions.begin() as session:
        session.execute(
            delete(EventAttribution).where(
                EventAttribution.event_id.in_(select(EventRecord.event_id).where(EventRecord.user_id == user_id))
            )
        )
        events = session.execute(delete(EventRecord).where(EventRecord.user_id == user_id)).rowcount
        session.execute(delete(UserRecord).where(UserRecord.user_id == user_id))
        session.execute(delete(StrengthHistoryRecord).where(StrengthHistoryRecord.user_id == user_id))
        relation_events = relations.delete_user(session, user_id)  # both directions
        session.merge(DeletedUser(user_id=user_id, deleted_at=now_ms()))
    event_log.discard_held_events(user_id)
    relationships = store.delete_user(user_id)
    return {
        "user_id": user_id,
        "graph_user_removed": relationships is not None,
        "graph_relationships_removed": relationships or 0,
        "events_removed": events,
        "relation_events_removed": relation_events,
    }


def redo_deletes(event_log: EventLog, store: GraphStore, batch: Batch) -> None:
    """Re-delete users of a just-written batch whom a privacy delete removed after
    the batch's events were read: the write may have re-created them (in this or
    another process). delete_user tombstones before it deletes from the graph, so
    either the graph delete comes after this write, or this check sees the tombstone.

    Reads the recent tombstones (an index range, almost always empty: deletes are
    rare) and matches them to the batch's users here, not in an IN (<every user>)."""
    with event_log.sessions() as session:
        recent = session.connection().execute(_RECENT_DELETES, {"since": batch.read_at - 1}).scalars().all()
    if not recent:
        return
    users = {e.user_id for e in batch.events}
    for user_id in recent:
        if user_id in users:
            log.info("user %s was deleted while batch %s was in flight: deleting again", user_id, batch.batch_id)
            store.delete_user(user_id)


def sweep_deletes(event_log: EventLog, store: GraphStore) -> None:
    """The re-delete after a write can fail (the graph went away just then): the
    user a batch in flight re-created would stay. So each apply first deletes
    again any user tombstoned in the last hour who is in the graph with no event
    logged since the delete (one who came back has new events: kept)."""
    since = now_ms() - SWEEP_DELETES_MS
    with event_log.sessions() as session:
        recent = session.execute(_RECENT_TOMBSTONES, {"since": since}).all()
    for user_id, deleted_at in recent:
        if not store.user_exists(user_id):
            continue
        with event_log.sessions() as session:
            came_back = session.execute(
                select(EVENTS.c.id).where(EVENTS.c.user_id == user_id, EVENTS.c.received_at >= deleted_at).limit(1)
            ).first()
        if came_back is None:
            log.warning("user %s, deleted at %d, is in the graph again: deleting again", user_id, deleted_at)
            store.delete_user(user_id)
