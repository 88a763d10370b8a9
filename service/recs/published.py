"""What a worker knows of the published model: its version (re-read every 5 s, or
taken from a read the caller just made) and, per version, the items' neighbour lists
and vectors — from the version's shared, memory-mapped snapshot (model_snapshot.py)
once it exists, else read from the graph into per-worker caches — and the social
weight it learned. Entries are keyed by version, and a new version drops the old
one's at once."""

from __future__ import annotations

import operator
import time
from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from graph_schema.store.model_io import ModelIO
from graph_schema.store.serving import ServingReads
from graph_schema.store.serving_rows import Neighbour
from service.config import ApiSettings
from service.recs.caches import BoundedCache
from service.recs.model_snapshot import ModelSnapshot, SharedSnapshots, learned_social_weight

MODEL_VERSION_TTL_S = 5.0
# dot products are rounded so that both paths (numpy over the snapshot, Python over
# graph reads; summed in different orders) rank ties the same way
DOT_DIGITS = 9
NOT_READ: Any = object()  # "the caller has not read the version": read it (or use the cached one)


class PublishedModel:
    def __init__(self, settings: ApiSettings) -> None:
        self._per_item = settings.recs_similar_per_item
        self._mv: tuple[float, str | None] = (0.0, None)
        self._similar = BoundedCache(settings.recs_cache_items)
        self._embeddings = BoundedCache(settings.recs_cache_items)
        self.shared = SharedSnapshots(
            settings.recs_snapshot_root,
            settings.recs_similar_per_item,
            settings.recs_snapshot_keep,
            settings.recs_snapshot_users,
        )
        self._social: tuple[str | None, float | None] = (None, None)  # (version, its learned weight)

    def version(self, store: ServingReads, known: Any = NOT_READ) -> str | None:
        """The published version: `known` when the caller just read it, else cached for 5 s."""
        ts, mv = self._mv
        if known is NOT_READ:
            if time.monotonic() - ts < MODEL_VERSION_TTL_S:
                return mv
            known = store.current_model_version()
        if known != mv:  # entries are keyed by version: drop the old version's at once
            self._similar.clear()
            self._embeddings.clear()
        self._mv = (time.monotonic(), known)
        return known

    def learned_social_weight(self, store: ServingReads, mv: str | None) -> float | None:
        """The social weight version `mv`'s learned blend chose (training.combiner; 0 when
        the social component did not help); None before any model or when the run had no
        social component (no FOLLOWS ties). Read once per version."""
        if mv is None:
            return None
        if self._social[0] != mv:
            model = cast(ModelIO, store).current_model() or {}
            if model.get("model_version") != mv:  # another version was published meanwhile
                return None
            self._social = (mv, learned_social_weight(model.get("metrics") or {}))
        return self._social[1]

    def forget_version(self) -> None:
        """Read the version (and what it learned) again on next use."""
        self._mv = (0.0, None)
        self.shared.drop()
        self._social = (None, None)

    def snapshot(self, store: ServingReads, mv: str | None, published_at: int | None) -> ModelSnapshot | None:
        """The shared snapshot of the publish (mv, published_at), None while it has none
        (or before any model)."""
        return self.shared.get(store, mv, published_at)

    def similar_lists(
        self, store: ServingReads, mv: str, items: Sequence[str], snap: ModelSnapshot | None = None
    ) -> dict[str, tuple[Neighbour, ...]]:
        """Each item's neighbours in version `mv` (() for none): from `snap` (version
        mv's snapshot) if given, else the cached ones and the ones read now."""
        if snap is not None:
            return {i: snap.neighbours(i, self._per_item) for i in items}
        found, missing = self._similar.get_many((mv, i) for i in items)
        out = {key[1]: value for key, value in found.items()}
        if missing:
            fetched = store.similar_lists(mv, [k[1] for k in missing], self._per_item)
            new = {(mv, i): fetched.get(i, ()) for _, i in missing}
            self._similar.put_many(new)
            out.update({k[1]: v for k, v in new.items()})
        return out

    def item_embeddings(
        self, store: ServingReads, mv: str, items: Sequence[str]
    ) -> dict[str, tuple[float, ...] | None]:
        """Each item's vector in version `mv` (None for none), read from the graph; see
        dot_products for the snapshot's path."""
        found, missing = self._embeddings.get_many((mv, i) for i in items)
        out = {key[1]: value for key, value in found.items()}
        if missing:
            fetched = store.item_embeddings(mv, [k[1] for k in missing])
            new = {(mv, i): fetched.get(i) for _, i in missing}
            self._embeddings.put_many(new)
            out.update({k[1]: v for k, v in new.items()})
        return out

    def dot_products(
        self,
        store: ServingReads,
        mv: str,
        user: Sequence[float],
        items: Sequence[str],
        snap: ModelSnapshot | None = None,
    ) -> dict[str, float]:
        """user · item for the items with a vector of version `mv` (of matching length):
        from `snap` (version mv's snapshot) if given, else read from the graph."""
        if snap is not None:
            kept, vectors = snap.vector_rows(items)
            if not kept or vectors.shape[1] != len(user):
                return {}
            dots = (vectors @ np.asarray(user, dtype=np.float64)).tolist()
            return {i: round(d, DOT_DIGITS) for i, d in zip(kept, dots, strict=True)}
        return {
            i: round(sum(map(operator.mul, user, v)), DOT_DIGITS)
            for i, v in self.item_embeddings(store, mv, items).items()
            if v and len(v) == len(user)
        }
