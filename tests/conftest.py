"""Suite-wide guard: no test may leave an embedded redis-server running."""

from __future__ import annotations

import pytest

from tests.store.conftest import _kill_leftovers


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
