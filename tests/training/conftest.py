"""An embedded FalkorDB store for the refresh tests: one server per session, one graph per test."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest

from graph_schema.settings import Settings
from graph_schema.store import GraphStore, open_store
from graph_schema.store.embedded import EmbeddedServer


@pytest.fixture(scope="session")
def training_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("training-falkordb"), graph_uri=None)
    server = EmbeddedServer(settings.falkordb_dir, settings.falkordb_appendfsync, settings.falkordb_start_timeout_s)
    server.ensure_running()
    try:
        yield settings
    finally:
        server.stop()


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
