"""Rebuild a graph from the event log (`interest-graph replay`): the catalogue
records first, then every logged event in log order, in fresh batches."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from graph_schema.store import GraphStore
from service.ingest import catalogue, relations
from service.ingest.eventlog import EventLog


def replay(event_log: EventLog, store: GraphStore, progress: Callable[[int], None] | None = None) -> int:
    """Replay the whole log into `store` (which must be empty); returns the number
    of events written. Every pending event is then marked applied."""
    catalogue.restore(event_log, store)
    settings = event_log.settings
    applied = 0
    # the next batch is read from the log while the graph writes this one
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="graph-replay") as graph:
        last_id, events = event_log.events_after(0, settings.batch_size)
        more = last_id > 0  # a page may hold only log-only events (impressions): read on past it
        while more:
            write = None
            if events:
                write = graph.submit(
                    store.apply_interactions,
                    events,
                    settings.evidence_tau_ms,
                    batch_id=f"replay-{uuid.uuid4().hex}",
                    new_batch=True,
                )
            next_id, upcoming = event_log.events_after(last_id, settings.batch_size)
            more = next_id > last_id
            if write is not None:
                write.result()
                applied += len(events)
                if progress:
                    progress(len(events))
            last_id, events = next_id, upcoming
    event_log.mark_all_applied()
    relations.replay(event_log.sessions, store)  # the registers' state, not the events
    return applied
