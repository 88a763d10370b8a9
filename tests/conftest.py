"""Suite-wide guard: no test may leave an embedded redis-server running."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from graph_schema.settings import Settings
from graph_schema.store import GraphStore, open_store
from graph_schema.store.factory import embedded_server
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
        with contextlib.suppress(Exception):
            store._graph.delete()  # type: ignore[attr-defined]
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
