"""Fixtures for the store conformance suite and the embedded-server tests.

`store` is parameterised over every available backend:

- ``falkordb``: always. One embedded server per test session (in a temporary
  DATA_DIR); every test gets its own graph key, deleted afterwards.
- ``neo4j``: the test Neo4j (tests/engines.py: started by the suite, or NEO4J_URI),
  emptied before each test.

Every embedded server a test starts is stopped at the end, and the session
fails if a redis-server process is left running under the pytest temp dir.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from graph_schema.settings import Settings
from graph_schema.store import GraphStore, open_store
from graph_schema.store.embedded import EmbeddedServer

BACKENDS = ("falkordb", "neo4j")


def redis_servers_under(root: Path) -> list[int]:
    """Pids of live redis-server processes whose working directory is under `root`
    (the embedded server runs in its data directory)."""
    root = Path(root).resolve()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            exe = os.readlink(entry / "exe")
            cwd = os.readlink(entry / "cwd")
        except OSError:  # gone, a zombie, or not ours to look at
            continue
        if "redis-server" not in os.path.basename(exe):
            continue
        cwd_path = Path(cwd.removesuffix(" (deleted)"))
        if cwd_path == root or root in cwd_path.parents:
            found.append(int(entry.name))
    return sorted(found)


def _kill_leftovers(root: Path) -> list[int]:
    leftovers = redis_servers_under(root)
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return leftovers


@pytest.fixture(name="redis_servers_under")
def _redis_servers_under_fixture() -> Callable[[Path], list[int]]:
    return redis_servers_under


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., EmbeddedServer]]:
    """Build EmbeddedServer objects that are stopped when the test ends; the
    test fails if a redis-server is still running under its tmp_path."""
    servers: list[EmbeddedServer] = []

    def make(directory: Path | None = None, **kwargs: object) -> EmbeddedServer:
        server = EmbeddedServer(Path(directory or tmp_path / "falkordb"), **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield make
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop()
    leftovers = _kill_leftovers(tmp_path)
    assert not leftovers, f"test left redis-server processes running (killed now): {leftovers}"


@pytest.fixture(scope="session")
def falkordb_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """One embedded server for the whole conformance session."""
    from tests.conftest import embedded_session

    with embedded_session(tmp_path_factory, "falkordb-session") as settings:
        yield settings


@pytest.fixture(params=BACKENDS)
def raw_store(request: pytest.FixtureRequest) -> Iterator[GraphStore]:
    """A store on an empty graph, schema not migrated."""
    if request.param == "falkordb":
        from tests.conftest import fresh_graph

        base: Settings = request.getfixturevalue("falkordb_settings")
        with fresh_graph(base, "t") as store:
            assert store.backend == "falkordb"
            yield store
        return
    store = open_store(Settings(**request.getfixturevalue("neo4j_graph")))
    assert store.backend == "neo4j"
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def store(raw_store: GraphStore) -> GraphStore:
    """A store on an empty, migrated graph."""
    raw_store.migrate()
    return raw_store
