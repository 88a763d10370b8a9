"""An embedded FalkorDB store for the refresh tests: one server per session, one graph per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from graph_schema.settings import Settings
from graph_schema.store import GraphStore
from tests.conftest import embedded_session, fresh_graph


@pytest.fixture(scope="session")
def training_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with embedded_session(tmp_path_factory, "training-falkordb") as settings:
        yield settings


@pytest.fixture
def graph_store(training_settings: Settings) -> Iterator[GraphStore]:
    with fresh_graph(training_settings, "train") as store:
        store.migrate()
        yield store
