"""One analyst answer on both engines: every shipped analyst query, run through the API
on the same hand-built, published graph in FalkorDB and in Neo4j, returns the same JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from graph_schema.cypher import QUERY_DIR
from records.keys import ROLES, create_key
from service.app import create_app
from service.config import ApiSettings

from .conftest import NOW_MS, Keys, load_graph, publish_model, services_of
from .test_analyst_queries import ANALYST, header


def _close(value: Any) -> Any:
    """Floats to 12 significant digits: FalkorDB sends floats as text with 15 (Neo4j 17)."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, list):
        return [_close(v) for v in value]
    if isinstance(value, dict):
        return {k: _close(v) for k, v in value.items()}
    return value


def comparable(columns: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    # published_at_ms is when each engine's copy was published: not the same instant
    keep = [k for k, c in enumerate(columns) if c != "published_at_ms"]
    return {"columns": [columns[k] for k in keep], "rows": [[_close(row[k]) for k in keep] for row in rows]}


def _published_client(data_dir: Path, db: Path, graph: dict[str, Any]) -> tuple[FlaskClient, Keys]:
    app = create_app(ApiSettings(data_dir=data_dir, **graph, database_url=f"sqlite:///{db}", api_key_cache_s=0))
    app.config["TESTING"] = True
    client = app.test_client()
    sessions = app.extensions["interest_graph"].sessions
    keys = Keys(**{role: create_key(sessions, role, name=f"t-{role}") for role in ROLES})
    load_graph(client, keys)
    publish_model(services_of(client).store())
    return client, keys


@pytest.fixture
def both(
    request: pytest.FixtureRequest, data_dir: Path, tmp_path: Path, neo4j_graph: dict
) -> Iterator[dict[str, tuple[FlaskClient, Keys]]]:
    from tests.conftest import drop_graph, graph_fields

    clients = {
        "falkordb": _published_client(data_dir, tmp_path / "f.sqlite3", graph_fields(request, "falkordb", "same")),
        "neo4j": _published_client(data_dir, tmp_path / "n.sqlite3", neo4j_graph),
    }
    yield clients
    for client, _ in clients.values():
        holder = client.application.extensions["interest_graph"].store_holder
        drop_graph(holder.get())
        holder.close()


def test_every_analyst_query_gives_the_same_json_on_both_engines(both) -> None:
    differ = {}
    for path in ANALYST:
        _, params = header(path)
        if "now_ms" in params:
            params["now_ms"] = NOW_MS
        answers = {}
        for engine, (client, keys) in both.items():
            r = client.post(
                "/v1/cypher", json={"query": path.read_text(), "params": params}, headers=keys.header("analyst")
            )
            assert r.status_code == 200, (engine, path.name, r.get_json())
            body = r.get_json()
            answers[engine] = json.dumps(comparable(body["columns"], body["rows"]), sort_keys=True)
        if answers["falkordb"] != answers["neo4j"]:
            differ[path.stem] = answers
    assert not differ, json.dumps(differ, indent=1)
    assert len(ANALYST) == len(list((QUERY_DIR / "analyst").glob("*.cypher")))


def test_sums_of_integers_are_integers_on_both_engines(both) -> None:
    query = "UNWIND [1, 2, 3, 4, 5] AS x RETURN sum(x) AS total, sum(x * 1.5) AS weighted, avg(x) AS mean"
    for engine, (client, keys) in both.items():
        r = client.post("/v1/cypher", json={"query": query}, headers=keys.header("analyst"))
        assert r.status_code == 200, (engine, r.get_json())
        [row] = r.get_json()["rows"]
        assert row == [15, 22.5, 3] and [type(v) for v in row] == [int, float, int], (engine, row)
