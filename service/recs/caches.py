"""Per-worker caches: a bounded map for per-model-version lists, and the answer cache.

Computing an answer costs a profile query (the user's whole history) and a few
hundred candidates scored in Python; most traffic asks again for the same user
before anything about that user changed. So the answer is cached under
everything it depends on. With RECS_FRESHNESS=feed the key holds the user's
generation in this worker and the model version the change feed last read
(freshness.py: no store query on a hit). With `check` each request first asks the
graph one indexed question (GraphStore.user_state: the user's `rev` — the user node's
incarnation and the user's interaction count, which every ingest batch touching the
user raises — and the published model version) and the log for the user's negative
feedback:

- the user acted (rev moved) or was deleted (no node)  -> miss, recomputed;
- a new model was published (model_version moved)      -> miss;
- any other query parameter differs                    -> a different entry;
- the entry is older than its time to live             -> miss.

The time to live is RECS_ANSWER_TTL_S (5 minutes) times a random factor in
[0.5, 1]. It bounds what the checks above do not see: trending and catalogue
titles/tags (the snapshot itself is up to RECS_CACHE_S older) and, before any
model exists, the peers' side of co-interaction (other users' new events). The
jitter keeps entries computed together (a warm-up, a burst of traffic) from all
expiring in the same second, which would turn into a burst of
expensive recomputations. A user node written before `rev` existed has no
incarnation (null): its interaction count still moves with every batch.
"""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

_MISSING = object()
T = TypeVar("T")


class BoundedCache:
    """A dict that forgets everything when it grows past `capacity` (cheap on the hot
    path; entries are per model version and refill from one query)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._data: dict[Any, Any] = {}

    def get_many(self, keys: Iterable[Any]) -> tuple[dict[Any, Any], list[Any]]:
        data = self._data
        found, missing = {}, []
        for key in keys:
            value = data.get(key, _MISSING)
            if value is _MISSING:
                missing.append(key)
            else:
                found[key] = value
        return found, missing

    def put_many(self, items: dict[Any, Any]) -> None:
        if len(self._data) + len(items) > self.capacity:
            self._data = {}
        self._data.update(items)

    def clear(self) -> None:
        self._data = {}


class KeptPerUser(Generic[T]):
    """What a worker keeps of each user under the user's change-feed generation
    (freshness.py): a new event of the user, a delete or a reset of the feed raises the
    generation, which makes the entry unreachable, as it does the user's cached answers.
    Entries live at most `ttl_s` (each between half and all of it, as cached answers, so
    values read together do not expire together); everything goes past `capacity`
    entries (cheap on the hot path). Read the generation before reading the value from
    the stores, so that a change during the read leaves the entry under the old
    generation."""

    def __init__(self, capacity: int, ttl_s: float) -> None:
        self.capacity, self.ttl_s = capacity, ttl_s
        self._data: dict[tuple[str, int], tuple[float, T]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.capacity > 0 and self.ttl_s > 0

    def get(self, user_id: str, generation: int) -> T | None:
        found = self._data.get((user_id, generation))
        if found is None or found[0] <= time.monotonic():
            return None
        return found[1]

    def get_or_read(self, user_id: str, generation: int, read: Callable[[], T]) -> T:
        """The kept value, or `read()` kept now."""
        found = self.get(user_id, generation)
        if found is None:
            found = read()
            self.put(user_id, generation, found)
        return found

    def put(self, user_id: str, generation: int, value: T) -> None:
        if not self.enabled:
            return
        with self._lock:
            if len(self._data) >= self.capacity:
                self._data = {}
            self._data[(user_id, generation)] = (time.monotonic() + self.ttl_s * random.uniform(0.5, 1.0), value)

    def clear(self) -> None:
        with self._lock:
            self._data = {}

    def __len__(self) -> int:
        return len(self._data)


@dataclass(frozen=True)
class CachedAnswer:
    body: bytes
    strategy: str
    expires_at: float = float("inf")  # time.monotonic()
    model_version: str | None = None


class ResponseCache:
    """A bounded LRU map from request key to serialised answer, each entry with a
    jittered time to live in [ttl_s / 2, ttl_s]; thread-safe."""

    def __init__(self, capacity: int, ttl_s: float = float("inf")) -> None:
        self.capacity = capacity
        self.ttl_s = ttl_s
        self._data: OrderedDict[Hashable, CachedAnswer] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.capacity > 0 and self.ttl_s > 0

    def get(self, key: Hashable) -> CachedAnswer | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is None:
                return None
            if hit.expires_at <= time.monotonic():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return hit

    def put(self, key: Hashable, body: bytes, strategy: str, model_version: str | None = None) -> CachedAnswer:
        """Store an answer (with its expiry) and return it."""
        expires = time.monotonic() + self.ttl_s * random.uniform(0.5, 1.0)
        answer = CachedAnswer(body, strategy, expires, model_version)
        if not self.enabled:
            return answer
        with self._lock:
            self._data[key] = answer
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)
        return answer

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
