"""Choose the backend from GRAPH_URI: neo4j/bolt -> Neo4j, else embedded FalkorDB."""

from __future__ import annotations

from graph_schema.settings import Settings, get_settings
from graph_schema.store.embedded import EmbeddedServer
from graph_schema.store.graph_store import GraphStore


def embedded_server(settings: Settings | None = None, may_start: bool = True) -> EmbeddedServer:
    s = settings or get_settings()
    return EmbeddedServer(
        s.falkordb_dir, s.falkordb_appendfsync, s.falkordb_start_timeout_s, s.falkordb_load_timeout_s, may_start
    )


def open_store(settings: Settings | None = None, start_server: bool = True) -> GraphStore:
    """The configured graph store. `start_server=False`: the embedded server is used
    only if it runs (see EmbeddedServer.may_start)."""
    s = settings or get_settings()
    if s.backend == "neo4j":
        from graph_schema.store.neo4j_store import Neo4jStore

        return Neo4jStore(s.graph_uri or "", s.neo4j_user, s.neo4j_password, s.neo4j_database, s.batch_size)
    from graph_schema.store.falkor import FalkorDBStore

    return FalkorDBStore(embedded_server(s, start_server), s.graph_name, s.batch_size)
