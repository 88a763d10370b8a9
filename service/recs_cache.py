"""Per-worker cache of finished recommendation responses (serialised JSON).

Computing an answer costs a profile query (the user's whole history) and a few
hundred candidates scored in Python; most traffic asks again for the same user
before anything about that user changed. So the answer is cached under
everything it depends on, and each request first asks the graph one indexed
question (`recs_user_state`: the user's `rev`, bumped by every ingest batch that
touches the user, and the published model version):

- the user acted (rev moved) or was deleted (no node)  -> miss, recomputed;
- a new model was published (model_version moved)      -> miss;
- the trending/catalogue snapshot was reloaded         -> miss (RECS_CACHE_S);
- any other query parameter differs                    -> a different entry.

What can be stale is what the snapshot already makes stale (trending and
catalogue, at most RECS_CACHE_S old), and, before any model exists, the peers'
side of co-interaction (other users' new events), for at most RECS_CACHE_S too.
A user node written before `rev` existed has none (null): that is a state like any
other, since the next batch touching the user sets it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class UserState:
    """What `recs_user_state` says about a user right now."""

    known: bool
    rev: Any
    model_version: str | None

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]]) -> UserState:
        row = rows[0] if rows else {}
        return cls(bool(row.get("known")), row.get("rev"), row.get("model_version"))


@dataclass(frozen=True)
class CachedAnswer:
    body: bytes
    strategy: str


class ResponseCache:
    """A bounded LRU map from request key to serialised answer; thread-safe."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._data: OrderedDict[Hashable, CachedAnswer] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def get(self, key: Hashable) -> CachedAnswer | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
            return hit

    def put(self, key: Hashable, answer: CachedAnswer) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._data[key] = answer
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
