"""The SQL schema is created by whichever process comes first: API workers, the scheduler
and CLI commands may all start together against a new database."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import inspect

from records.tables import Base, get_engine
from tests.processes import run_together

pytestmark = pytest.mark.sql_engines


def _create(url: str, go: Any, out: Any) -> None:
    go.wait(60)
    try:
        get_engine(url)
        out.put("ok")
    except Exception as exc:  # reported to the test, which names it
        out.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.parametrize("round_", range(3))
def test_processes_starting_together_on_a_new_database_all_get_the_schema(
    sql_url: str, sql_engine: str, round_: int
) -> None:
    results, _ = run_together(_create, [(sql_url,)] * 4, 120)
    assert results == ["ok"] * 4
    assert set(Base.metadata.tables) <= set(inspect(get_engine(sql_url)).get_table_names())
