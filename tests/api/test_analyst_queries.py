"""Every analyst query in graph_schema/queries/analyst runs, read-only, on the embedded store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph_schema.cypher import QUERY_DIR

from .conftest import NOW_MS, services_of

# the analyst queries on FalkorDB + SQLite and on Neo4j + PostgreSQL
pytestmark = pytest.mark.stacks

ANALYST = sorted((QUERY_DIR / "analyst").glob("*.cypher"))


def header(path: Path) -> tuple[str, dict]:
    lines = path.read_text().splitlines()
    comment = [line[2:].strip() for line in lines if line.startswith("//")]
    params = next(line for line in comment if line.startswith("params:"))
    question = " ".join(line for line in comment if not line.startswith("params:"))
    return question, json.loads(params.removeprefix("params:"))


def test_there_are_ten_or_more():
    assert len(ANALYST) >= 10


@pytest.mark.parametrize("path", ANALYST, ids=[p.stem for p in ANALYST])
def test_runs_read_only_with_documented_params(published, client, path: Path):
    question, params = header(path)
    assert question.endswith("?") or "?" in question, f"{path.name}: the comment should say what it answers"
    if "now_ms" in params:
        params["now_ms"] = NOW_MS
    store = services_of(client).store()
    result = store.read_only_query(path.read_text(), params, 10_000, 1000)
    assert result.columns
    r = client.post("/v1/cypher", json={"query": path.read_text(), "params": params}, headers={"X-API-Key": "x"})
    assert r.status_code == 401  # (the endpoint path itself is covered in test_cypher.py)


def _run(client, name: str, **params):
    store = services_of(client).store()
    result = store.read_only_query((QUERY_DIR / "analyst" / f"{name}.cypher").read_text(), params, 10_000, 1000)
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def test_answers_on_the_hand_built_graph(published, client):
    top = _run(client, "user_top_interests", user_id="alice", now_ms=NOW_MS, tau_ms=2.592e9, limit=10)
    assert [r["interest_id"] for r in top][:2] == ["genre:scifi", "genre:comedy"] and top[0]["strength"] == 0.9
    bridge = _run(client, "items_bridging_interests", a="genre:scifi", b="genre:drama", limit=5)
    assert [r["item_id"] for r in bridge] == ["i8"]
    pairs = _run(client, "co_interest_pairs", min_users=1, limit=50)
    assert {"interest_a": "genre:comedy", "interest_b": "genre:scifi"}.items() <= next(
        p for p in pairs if (p["interest_a"], p["interest_b"]) == ("genre:comedy", "genre:scifi")
    ).items()
    cold = _run(client, "cold_items", min_users=1, limit=100)
    assert cold == []  # every hand-built item has a user
    status = _run(client, "model_status")
    assert status[0]["model_version"] == "test-v1" and status[0]["similar_edges"] == 3
    assert status[0]["users_embedded"] == 6 and status[0]["items_embedded"] == 10
    neighbours = _run(client, "item_neighbours", item_id="i1", limit=5)
    assert [r["item_id"] for r in neighbours] == ["i8", "i2"]  # i1 -> i7 is an old version's edge
    changed = _run(client, "strongest_interest_changed", now_ms=NOW_MS, tau_ms=2.592e9, limit=100)
    assert changed == []  # alice's strongest is Sci-Fi by both measures
    drift = _run(client, "user_interest_drift", user_id="alice", now_ms=NOW_MS, tau_ms=2.592e9)
    assert drift[0]["interest_id"] == "genre:scifi" and drift[0]["model_rank"] == 1
    days = _run(client, "interest_popularity_by_day", since_ms=0)
    assert sum(r["interactions"] for r in days if r["interest_id"] == "genre:horror") == 2
    cold_users = _run(client, "cold_users", max_items=3, limit=10)
    assert {r["user_id"] for r in cold_users} == {"alice", "frank"}
