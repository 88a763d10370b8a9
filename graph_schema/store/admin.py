"""Operator actions on the whole graph: schema migrations, wipe, counts."""

from __future__ import annotations

import logging

from graph_schema.migrations import MIGRATIONS
from graph_schema.store.base import StoreBase

log = logging.getLogger(__name__)


class Admin(StoreBase):
    def migrate(self) -> list[int]:
        """Apply pending migrations in order; returns the versions applied now."""
        done = self.schema_versions()
        applied = []
        for migration in MIGRATIONS:
            if migration.version in done:
                continue
            self._apply_migration(migration)
            self._named_write("record_migration", version=migration.version, name=migration.name)
            applied.append(migration.version)
            log.info("applied schema migration %s: %s", migration.version, migration.name)
        return applied

    def schema_versions(self) -> set[int]:
        return {int(r["version"]) for r in self._named_read("schema_versions")}

    def wipe(self, batch: int = 1_000) -> int:
        """Delete every node but the schema records, in bounded batches: relationships
        first, then nodes (1,000 nodes with 64-float vectors: ~8 MB of Neo4j transaction
        memory). Returns the nodes deleted."""
        self.tag_cache.clear()
        while int(self._named_write("wipe_relationships_batch", limit=batch * 10)[0]["deleted"]) >= batch * 10:
            pass
        total = 0
        while True:
            n = int(self._named_write("wipe_batch", limit=batch)[0]["deleted"])
            total += n
            if n < batch:
                return total

    def counts(self) -> dict[str, dict[str, int]]:
        """Nodes per label and relationships per type."""
        labels = {r["label"]: int(r["n"]) for r in self._named_read("count_labels") if r["label"]}
        types = {r["type"]: int(r["n"]) for r in self._named_read("count_types")}
        return {"nodes": dict(sorted(labels.items())), "relationships": dict(sorted(types.items()))}
