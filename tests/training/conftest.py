"""An embedded FalkorDB store for the refresh tests: one server per session, one graph per test."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest

from graph_schema.settings import Settings
from graph_schema.store import GraphStore, open_store
from tests.conftest import embedded_session


@pytest.fixture(scope="session")
def training_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with embedded_session(tmp_path_factory, "training-falkordb") as settings:
        yield settings


@pytest.fixture
def graph_store(training_settings: Settings) -> Iterator[GraphStore]:
    settings = training_settings.model_copy(update={"graph_name": f"train_{uuid.uuid4().hex[:12]}"})
    store = open_store(settings)
    store.migrate()
    try:
        yield store
    finally:
        with contextlib.suppress(Exception):
            store._graph.delete()  # type: ignore[attr-defined]
        store.close()
