"""Versioned, idempotent schema migrations, per backend side by side.

A migration is recorded as a ``(:SchemaMigration {version})`` node once all its
statements succeeded; statements themselves tolerate "already exists" so a
half-applied migration can simply be run again.

FalkorDB: exact-match indexes, then ``GRAPH.CONSTRAINT`` (a Redis command, not
Cypher; it needs the index first). Neo4j 5: uniqueness constraints (which bring
their own index) and range indexes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    neo4j: tuple[str, ...]
    # FalkorDB steps: Cypher text, or ("CONSTRAINT", label, property) for GRAPH.CONSTRAINT
    falkordb: tuple[str | tuple[str, str, str], ...]


_KEYED_LABELS = ("User", "Item", "Interest")

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "unique ids for User, Item, Interest",
        neo4j=tuple(
            f"CREATE CONSTRAINT {label.lower()}_id IF NOT EXISTS FOR (n:{label}) REQUIRE n.id IS UNIQUE"
            for label in _KEYED_LABELS
        ),
        falkordb=tuple(f"CREATE INDEX FOR (n:{label}) ON (n.id)" for label in _KEYED_LABELS)
        + tuple(("CONSTRAINT", label, "id") for label in _KEYED_LABELS),
    ),
    Migration(
        2,
        "indexes for time-window pulls and bookkeeping nodes",
        neo4j=(
            "CREATE INDEX interacted_last_ts IF NOT EXISTS FOR ()-[r:INTERACTED]-() ON (r.last_ts)",
            "CREATE CONSTRAINT ingest_batch_id IF NOT EXISTS FOR (n:IngestBatch) REQUIRE n.id IS UNIQUE",
            "CREATE CONSTRAINT model_registry_id IF NOT EXISTS FOR (n:ModelRegistry) REQUIRE n.id IS UNIQUE",
        ),
        falkordb=(
            "CREATE INDEX FOR ()-[r:INTERACTED]-() ON (r.last_ts)",
            "CREATE INDEX FOR (n:IngestBatch) ON (n.id)",
            "CREATE INDEX FOR (n:ModelRegistry) ON (n.id)",
        ),
    ),
    Migration(
        3,
        "index for the SIMILAR_TO version filter",
        neo4j=("CREATE INDEX similar_to_version IF NOT EXISTS FOR ()-[r:SIMILAR_TO]-() ON (r.model_version)",),
        falkordb=("CREATE INDEX FOR ()-[r:SIMILAR_TO]-() ON (r.model_version)",),
    ),
    Migration(
        4,
        "unique ingest batch and model registry ids (FalkorDB)",
        # Neo4j has had these constraints since migration 2. On FalkorDB the
        # batch guard (OPTIONAL MATCH ... CREATE) alone let concurrent retries
        # of one batch through; the constraint makes the duplicate fail and roll back.
        neo4j=(),
        falkordb=(("CONSTRAINT", "IngestBatch", "id"), ("CONSTRAINT", "ModelRegistry", "id")),
    ),
    Migration(
        5,
        "catalogue revision node; FalkorDB: no INTERACTED.last_ts index",
        # The FalkorDB edge index cost ~7 us on every INTERACTED write (about a fifth
        # of an ingest batch on the engine's single writer thread); no serving query
        # uses it (trending and the training pulls scan the edges), only time-window
        # filters, which scan instead. Neo4j keeps its range index.
        neo4j=("CREATE CONSTRAINT catalogue_id IF NOT EXISTS FOR (n:Catalogue) REQUIRE n.id IS UNIQUE",),
        falkordb=(
            "CREATE INDEX FOR (n:Catalogue) ON (n.id)",
            ("CONSTRAINT", "Catalogue", "id"),
            "DROP INDEX FOR ()-[r:INTERACTED]-() ON (r.last_ts)",
        ),
    ),
    Migration(
        6,
        "no SIMILAR_TO.model_version index (Neo4j)",
        # Planned on a graph with few SIMILAR_TO edges of the version being written,
        # set_similar_items' (now set_similar_lists') MERGE seeks this index and filters
        # on the end nodes: every row reads every edge of the version written so far (a first full refresh on
        # MovieLens-100K: 35 s of a 41 s write phase, against 1.9 s without the index).
        # Every query that filters on the version starts from an item and expands
        # (~20 edges), so none needs it. FalkorDB keeps its index (no such plan there).
        neo4j=("DROP INDEX similar_to_version IF EXISTS",),
        falkordb=(),
    ),
    Migration(
        7,
        "interest communities: unique Community key (version/id), the CommunityRegistry pointer",
        neo4j=(
            "CREATE CONSTRAINT community_key IF NOT EXISTS FOR (n:Community) REQUIRE n.key IS UNIQUE",
            "CREATE INDEX community_id IF NOT EXISTS FOR (n:Community) ON (n.id)",
            "CREATE CONSTRAINT community_registry_id IF NOT EXISTS FOR (n:CommunityRegistry) REQUIRE n.id IS UNIQUE",
        ),
        falkordb=(
            "CREATE INDEX FOR (n:Community) ON (n.key)",
            ("CONSTRAINT", "Community", "key"),
            "CREATE INDEX FOR (n:Community) ON (n.id)",
            "CREATE INDEX FOR (n:CommunityRegistry) ON (n.id)",
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version
