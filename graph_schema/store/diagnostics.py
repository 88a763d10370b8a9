"""Reads for tests and benchmarks only: untyped rows, straight from their queries.

Production code reads through the typed serving role (serving.py); these stay
because tests check the graph's raw state with them and bench/ times them.
"""

from __future__ import annotations

from typing import Any

from graph_schema.store.base import StoreBase


class Diagnostics(StoreBase):
    def read_named(self, query_name: str, /, **params: Any) -> list[dict[str, Any]]:
        """Test/bench-only: run any named read query from graph_schema/queries (trusted
        text). Production code uses the typed reads of its role."""
        return self._named_read(query_name, **params)

    def user_interactions(self, user_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Test-only: the user's INTERACTED edges, most recent first."""
        return self._named_read("user_interactions", user_id=user_id, limit=limit)

    def user_interests(self, user_id: str) -> list[dict[str, Any]]:
        """Test/bench-only: the user's INTERESTED_IN edges as raw rows (the API reads
        the typed interests_of)."""
        return self._named_read("user_interests", user_id=user_id)

    def co_interaction(self, user_id: str, k: int = 20, peers: int = 50) -> list[dict[str, Any]]:
        """Test/bench-only: the unbounded 2-hop co-interaction query (the recommender
        reads the bounded peer_items)."""
        return self._named_read("co_interaction", user_id=user_id, k=k, peers=peers)
