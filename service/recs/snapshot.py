"""The per-worker trending snapshot: trending items with their titles and tags, per
interest, and the interests' names. A stale snapshot is served while a thread
reads the next one, so no request waits for the trending query after the first."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from graph_schema.store.serving import ServingReads
from graph_schema.store.serving_rows import InterestName, TrendingItem
from service.recs.model_snapshot import ModelSnapshot

log = logging.getLogger(__name__)

INTEREST_NAMES_LIMIT = 100_000

# item -> (title, interest ids)
Meta = dict[str, tuple[str | None, tuple[str, ...]]]


@dataclass
class Snapshot:
    loaded_at: float = 0.0
    trending: list[tuple[str, float]] = field(default_factory=list)  # normalised, best first
    score: dict[str, float] = field(default_factory=dict)
    position: dict[str, int] = field(default_factory=dict)
    titles: dict[str, str | None] = field(default_factory=dict)
    tags: dict[str, tuple[str, ...]] = field(default_factory=dict)
    by_interest: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # normalised per interest
    interest_names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, trending: list[TrendingItem], interests: list[InterestName]) -> Snapshot:
        snap = cls(loaded_at=time.monotonic())
        top = max((r.score for r in trending), default=0.0) or 1.0
        for pos, r in enumerate(trending):
            s = r.score / top
            snap.trending.append((r.item_id, s))
            snap.score[r.item_id] = s
            snap.position[r.item_id] = pos
            snap.titles[r.item_id] = r.title
            snap.tags[r.item_id] = r.interests
            for t in r.interests:
                snap.by_interest.setdefault(t, []).append((r.item_id, s))
        for lst in snap.by_interest.values():
            best = lst[0][1] or 1.0
            lst[:] = [(i, s / best) for i, s in lst]
        snap.interest_names = {r.interest_id: r.name for r in interests}
        return snap

    def meta(self, store: ServingReads, items: Iterable[str], model: ModelSnapshot | None = None) -> Meta:
        """Titles and interest ids of `items`: from this snapshot (the freshest), else
        from the published model's snapshot (as of its build), else from the graph
        (items unknown to the graph are left out)."""
        out: Meta = {}
        missing = []
        for i in items:
            if i in self.tags:
                out[i] = (self.titles.get(i), self.tags[i])
            elif model is not None and (known := model.meta(i)) is not None:
                out[i] = known
            else:
                missing.append(i)
        if missing:
            for m in store.item_meta(missing):
                out[m.item_id] = (m.title, m.interests)
        return out

    def knows_interest(self, store: ServingReads, interest: str) -> bool:
        """Whether the interest exists: named in the snapshot, else asked of the graph."""
        return interest in self.interest_names or store.interest_exists(interest)


class SnapshotKeeper:
    """Holds the worker's snapshot and refreshes it in the background once it is
    older than `max_age_s`."""

    def __init__(self, max_age_s: float, trending_tau_ms: float, trending_limit: int) -> None:
        self.max_age_s = max_age_s
        self._tau_ms = trending_tau_ms
        self._limit = trending_limit
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        self._refreshing = False

    def load(self, store: ServingReads) -> Snapshot:
        return Snapshot.build(store.trending(self._tau_ms, self._limit), store.interest_names(INTEREST_NAMES_LIMIT))

    def get(self, store: ServingReads) -> Snapshot:
        """The snapshot; a stale one is served while a thread refreshes it."""
        snap = self._snapshot
        if snap is None:
            with self._lock:
                if self._snapshot is None:
                    self._snapshot = self.load(store)
                return self._snapshot
        if time.monotonic() - snap.loaded_at > self.max_age_s and not self._refreshing:
            self._refreshing = True

            def refresh() -> None:
                try:
                    self._snapshot = self.load(store)
                except Exception as exc:
                    log.warning("trending snapshot refresh failed: %s", exc)
                finally:
                    self._refreshing = False

            threading.Thread(target=refresh, name="trending-refresh", daemon=True).start()
        return snap

    def drop(self) -> None:
        """Load a new snapshot on next use."""
        self._snapshot = None
