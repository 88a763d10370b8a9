"""Ingestion tests run on real engines: the embedded FalkorDB and a SQLite file by
default; modules marked `stacks` also on the test Neo4j and PostgreSQL.

One embedded server for the session; every test gets its own graph key (or the
emptied Neo4j) and its own SQLite file (or PostgreSQL database), so tests never
see each other's data.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph_schema.settings import Settings
from graph_schema.store import GraphStore, open_store
from graph_schema.store.factory import embedded_server
from service.ingest.eventlog import EventLog

_graph_ids = itertools.count()


@pytest.fixture(scope="session")
def ingest_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    data_dir = tmp_path_factory.mktemp("ingest")
    yield data_dir
    embedded_server(Settings(data_dir=data_dir)).stop()


def make_settings(data_dir: Path, db_dir: Path, **overrides: object) -> Settings:
    n = next(_graph_ids)
    return Settings(
        data_dir=data_dir,
        graph_name=f"ingest_{n}",
        database_url=f"sqlite:///{db_dir / f'log_{n}.sqlite3'}",
        **overrides,
    )


@pytest.fixture
def settings(
    request: pytest.FixtureRequest, ingest_data_dir: Path, tmp_path: Path, graph_engine: str, sql_url: str
) -> Settings:
    from tests.conftest import graph_fields

    base = make_settings(ingest_data_dir, tmp_path, batch_size=500)
    return base.model_copy(update={**graph_fields(request, graph_engine, "ingest"), "database_url": sql_url})


@pytest.fixture
def store(settings: Settings) -> Iterator[GraphStore]:
    with open_store(settings) as s:
        s.migrate()
        yield s


@pytest.fixture
def event_log(settings: Settings) -> EventLog:
    return EventLog(settings)
