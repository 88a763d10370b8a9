"""The graph store a refresh needs: what training calls on it, and nothing else.

graph_schema.store.GraphStore implements it; training never imports that package at run
time, so the store's engines and drivers stay out of a refresh's imports (and tests or
benches may hand in anything with these methods).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from graph_schema.columns import GraphColumns
    from graph_schema.rows import Subgraph


class RefreshStore(Protocol):
    # --- the published model -----------------------------------------------------
    def current_model(self) -> dict[str, Any] | None: ...

    # --- pull ----------------------------------------------------------------------
    def pull_subgraph(self, since_ts: int | None = None, user_ids: Sequence[str] | None = None) -> Subgraph: ...

    # a full pull, in keyset-paginated pages, as columns
    def pull_columns(
        self, since_ts: int | None = None, page: int | None = None, vectors: bool = True
    ) -> GraphColumns: ...

    def users_active_since(self, since_ts: int) -> list[str]: ...

    def pull_neighbourhood(
        self, user_ids: Sequence[str], per_item: int, since_ts: int | None = None, new_since: int | None = None
    ) -> GraphColumns: ...

    # interest id -> the published Interest.strength ({} if none)
    def pull_interest_strengths(self) -> dict[str, float]: ...

    # user-user ties (FOLLOWS): (user, target, weight, since ms); read when TRAIN_SOCIAL_WEIGHT > 0
    def relation_ties(self) -> list[tuple[str, str, float, int]]: ...

    # --- item and interest text (training.text_sync) ------------------------------------
    # every Item / Interest as {id, props}, a page at a time
    def pull_texts(self, label: str, page: int | None = None) -> Iterable[dict[str, Any]]: ...

    def pull_text_vectors(self, label: str, page: int | None = None) -> Mapping[str, Sequence[float]]: ...

    def write_text_embeddings(self, label: str, rows: Iterable[dict[str, Any]]) -> int: ...

    # after publishing: each item's TAGGED {source: 'text'} edges replaced, under the published version
    def write_text_tags(self, rows: Iterable[dict[str, Any]], model_version: str, encoder: str) -> int: ...

    def remove_text_tags(self, batch: int = 10_000) -> int: ...

    # a run with nothing changed for its text tags moves the published ones to its version
    def catalogue_items_rev(self) -> int: ...

    def mark_text_tags(self, model_version: str, key: str, items_rev: int) -> None: ...

    def retag_text_tags(self, from_version: str, model_version: str, key: str, items_rev: int) -> int | None: ...

    # --- write, then publish -----------------------------------------------------------
    def write_similar_items(self, rows: Iterable[dict[str, Any]]) -> int: ...

    def stage_interest_strengths(self, rows: Iterable[dict[str, Any]]) -> int: ...

    def stage_node_properties(self, label: str, rows: Iterable[dict[str, Any]]) -> int: ...

    def publish_model(
        self,
        model_version: str,
        metrics: dict[str, Any] | None = None,
        carry_from: str | None = None,
        similar_version: str | None = None,
        batch: int | None = None,
    ) -> dict[str, int]: ...

    def finish_publish(self, batch: int) -> tuple[str | None, dict[str, int]]: ...

    def cleanup_versions(
        self, keep: str, batch: int = 10_000, users: Sequence[str] | None = None, base: str | None = None
    ) -> dict[str, int]: ...
