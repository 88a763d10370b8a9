"""Stores for the refresh tests: one embedded FalkorDB server per session, one graph per
test; modules marked `graph_engines` also run on the (emptied) test Neo4j."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from graph_schema.settings import Settings
from graph_schema.store import GraphStore, open_store
from tests.conftest import drop_graph, embedded_session, graph_fields


@pytest.fixture(scope="session")
def embedded_training_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with embedded_session(tmp_path_factory, "training-falkordb") as settings:
        yield settings


@pytest.fixture
def training_settings(
    request: pytest.FixtureRequest, embedded_training_settings: Settings, graph_engine: str
) -> Settings:
    """Settings of the test's own graph (a new FalkorDB key, or the emptied Neo4j)."""
    return embedded_training_settings.model_copy(update=graph_fields(request, graph_engine, "train"))


@pytest.fixture
def graph_store(training_settings: Settings) -> Iterator[GraphStore]:
    # the graph is new (a new key, or the emptied Neo4j): so is its local text vector cache
    shutil.rmtree(training_settings.text_cache_dir, ignore_errors=True)
    shutil.rmtree(training_settings.base_vectors_dir, ignore_errors=True)
    with open_store(training_settings) as store:
        try:
            store.migrate()
            yield store
        finally:
            drop_graph(store)
