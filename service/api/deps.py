"""Per-process resources of the API, reached from views through `services()`.

Like flaskr's `get_db()`: the graph store is opened lazily, once per process
(re-opened after a fork), and shared by every request thread; the SQL session
factory, event log and recommender are built with the app.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy.orm import sessionmaker

from graph_schema.store import GraphStore, open_store
from service.config import ApiSettings
from service.ingest.eventlog import EventLog
from service.recs.recommender import Recommender

log = logging.getLogger(__name__)

EXTENSION = "interest_graph"


@dataclass
class StoreHolder:
    settings: ApiSettings
    _store: GraphStore | None = None
    _pid: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self) -> GraphStore:
        store = self._store
        if store is not None and self._pid == os.getpid():
            return store
        with self._lock:
            if self._store is None or self._pid != os.getpid():
                store = open_store(self.settings)
                try:
                    applied = store.migrate()
                    if applied:
                        log.info("applied graph schema migrations %s", applied)
                except Exception:
                    store.close()
                    raise
                self._store, self._pid = store, os.getpid()
            return self._store  # type: ignore[return-value]

    def opened(self) -> bool:
        return self._store is not None and self._pid == os.getpid()

    def close(self) -> None:
        with self._lock:
            if self._store is not None and self._pid == os.getpid():
                self._store.close()
            self._store, self._pid = None, None


@dataclass
class Services:
    settings: ApiSettings
    sessions: sessionmaker
    store_holder: StoreHolder
    eventlog: EventLog
    recommender: Recommender

    def store(self) -> GraphStore:
        return self.store_holder.get()


def services() -> Services:
    return current_app.extensions[EXTENSION]
