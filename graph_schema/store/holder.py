"""One graph store per process, opened (and migrated) on first use and reopened after a
fork: API workers and the scheduler share this, so neither reaches into the other."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field

from graph_schema.settings import Settings
from graph_schema.store.factory import open_store
from graph_schema.store.graph_store import GraphStore

log = logging.getLogger(__name__)


@dataclass
class StoreHolder:
    settings: Settings
    start_server: bool = True  # False: the embedded server is used only if it runs (open_store)
    _store: GraphStore | None = None
    _pid: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self) -> GraphStore:
        store = self._store
        if store is not None and self._pid == os.getpid():
            return store
        with self._lock:
            if self._store is None or self._pid != os.getpid():
                store = open_store(self.settings, self.start_server)
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
