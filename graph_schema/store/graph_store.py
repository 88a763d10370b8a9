"""GraphStore: the one interface over Neo4j and the embedded FalkorDB.

One object combining the store's roles, each written once against the backend
contract of base.py:

- ingest.py      behaviour events (at most once per batch), privacy delete
- catalogue.py   items, interests, user records
- model_io.py    what training pulls, stages, publishes and cleans up
- serving.py     typed reads for the API and the recommender
- explore.py     typed reads for the web console's item and interest pages
- social.py      user-user relations (FOLLOWS), social reads and communities
- text_io.py     item and interest text for the text encoder, text vectors and text tags
- admin.py       migrations, wipe, counts
- diagnostics.py untyped reads for tests and benchmarks

A backend (falkor.py, neo4j_store.py) subclasses GraphStore and provides _write,
_read, read_only_query, _apply_migration, ping and close.
"""

from __future__ import annotations

from graph_schema.store.admin import Admin
from graph_schema.store.catalogue import CatalogueWrites
from graph_schema.store.diagnostics import Diagnostics
from graph_schema.store.explore import ExploreReads
from graph_schema.store.ingest import IngestWrites
from graph_schema.store.model_io import ModelIO
from graph_schema.store.serving import ServingReads
from graph_schema.store.social import SocialGraph
from graph_schema.store.text_io import TextIO


class GraphStore(
    IngestWrites, CatalogueWrites, ModelIO, ServingReads, ExploreReads, SocialGraph, TextIO, Admin, Diagnostics
):
    """Every role of the graph store, over one backend connection."""
