"""Suite-wide fixtures: the engines every backend-parametrised test runs on, and a guard:
no test may leave an embedded redis-server running."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from graph_schema.settings import Settings
from graph_schema.store import GraphStore, open_store
from graph_schema.store.factory import embedded_server
from tests import engines
from tests.store.conftest import _kill_leftovers


@contextmanager
def embedded_session(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Settings]:
    """Settings for one embedded server in a fresh data dir, stopped afterwards."""
    settings = Settings(data_dir=tmp_path_factory.mktemp(name), graph_uri=None)
    server = embedded_server(settings)
    server.ensure_running()
    try:
        yield settings
    finally:
        server.stop()


@contextmanager
def fresh_graph(settings: Settings, prefix: str) -> Iterator[GraphStore]:
    """A store on a new, uniquely named graph of an embedded server; the graph is
    deleted afterwards."""
    import uuid

    store = open_store(settings.model_copy(update={"graph_name": f"{prefix}_{uuid.uuid4().hex[:12]}"}))
    try:
        yield store
    finally:
        drop_graph(store)
        store.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # runs after every session-scoped fixture has been torn down
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    try:
        base = factory.getbasetemp()
    except (OSError, ValueError):
        return
    leftovers = _kill_leftovers(base)
    if leftovers:
        session.config.get_terminal_writer().line(
            f"ERROR: tests left redis-server processes running (killed now): {leftovers}", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# --- the engines: FalkorDB/Neo4j for the graph, SQLite/PostgreSQL for SQL ------------
# A test (or module, via pytestmark) marked `graph_engines` runs once per graph engine
# through the `graph_engine` fixture; `sql_engines` once per SQL database through
# `sql_engine`; `stacks` once on the embedded stack (FalkorDB + SQLite) and once on the
# production stack (Neo4j + PostgreSQL). Unmarked tests get FalkorDB and SQLite.
GRAPH_ENGINES = ("falkordb", "neo4j")
SQL_ENGINES = ("sqlite", "postgresql")
STACKS = (("falkordb", "sqlite"), ("neo4j", "postgresql"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "graph_engines: run on FalkorDB and on Neo4j (fixture graph_engine)")
    config.addinivalue_line("markers", "sql_engines: run on SQLite and on PostgreSQL (fixture sql_engine)")
    config.addinivalue_line("markers", "stacks: run on FalkorDB+SQLite and on Neo4j+PostgreSQL")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = metafunc.fixturenames
    marked = metafunc.definition.get_closest_marker
    if marked("stacks") and "graph_engine" in names and "sql_engine" in names:
        ids = [f"{g}-{s}" for g, s in STACKS]
        metafunc.parametrize(("graph_engine", "sql_engine"), STACKS, indirect=True, ids=ids)
        return
    if marked("graph_engines") and "graph_engine" in names:
        metafunc.parametrize("graph_engine", GRAPH_ENGINES, indirect=True)
    if marked("sql_engines") and "sql_engine" in names:
        metafunc.parametrize("sql_engine", SQL_ENGINES, indirect=True)


@pytest.fixture
def graph_engine(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "falkordb")


@pytest.fixture
def sql_engine(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "sqlite")


@contextmanager
def _started(name: str, start: Callable[[Path], Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An engine from tests/engines.py for the session: skipped (TEST_ENGINES=auto) or
    failed (required) with the reason when it cannot start; stopped at the end."""
    if engines.mode() == "off":
        pytest.skip(f"TEST_ENGINES=off: the {name} tests are not run")
    try:
        server = start(tmp_path_factory.mktemp(f"{name.lower()}-logs"))
    except engines.EngineUnavailable as exc:
        if engines.mode() == "required":
            pytest.fail(f"{name} could not start and TEST_ENGINES=required: {exc}", pytrace=False)
        pytest.skip(f"{name} is not available here ({exc}); `make test` starts it")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def neo4j_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[engines.Neo4jServer]:
    """The test Neo4j (tests/engines.py), started on first use, stopped at the end."""
    with _started("Neo4j", engines.start_neo4j, tmp_path_factory) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[engines.PostgresServer]:
    """The test PostgreSQL (tests/engines.py), started on first use, stopped at the end."""
    with _started("PostgreSQL", engines.start_postgres, tmp_path_factory) as server:
        yield server


def wipe_neo4j(server: engines.Neo4jServer) -> None:
    """Neo4j Community has one user database: every test that uses it starts it empty."""
    from neo4j import GraphDatabase

    with GraphDatabase.driver(server.uri, auth=(server.user, server.password)) as driver, driver.session() as s:
        s.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()


@pytest.fixture
def neo4j_graph(neo4j_server: engines.Neo4jServer) -> dict[str, object]:
    """Settings fields for the (emptied) test Neo4j."""
    wipe_neo4j(neo4j_server)
    return {
        "graph_uri": neo4j_server.uri,
        "neo4j_user": neo4j_server.user,
        "neo4j_password": neo4j_server.password,
        "neo4j_database": "neo4j",
    }


def graph_fields(request: pytest.FixtureRequest, engine: str, prefix: str) -> dict[str, object]:
    """Settings fields for a fresh graph on `engine`: a new graph key on the session's
    embedded server (FalkorDB) or the emptied test Neo4j."""
    if engine == "neo4j":
        return dict(request.getfixturevalue("neo4j_graph"))
    import uuid

    return {"graph_uri": None, "graph_name": f"{prefix}_{uuid.uuid4().hex[:12]}"}


@pytest.fixture
def sql_url(request: pytest.FixtureRequest, sql_engine: str, tmp_path: Path) -> Iterator[str]:
    """A fresh SQL database for the test: a SQLite file, or a new PostgreSQL database."""
    if sql_engine == "postgresql":
        server: engines.PostgresServer = request.getfixturevalue("postgres_server")
        with server.fresh_database() as url:
            yield url
        return
    yield f"sqlite:///{tmp_path / 'test.sqlite3'}"


def drop_graph(store: GraphStore) -> None:
    """Delete a test's graph: its FalkorDB key (Neo4j is emptied by the next test)."""
    if store.backend == "falkordb":
        with contextlib.suppress(Exception):
            store._graph.delete()  # type: ignore[attr-defined]
