"""POST /v1/cypher: read-only, limited in time and rows."""

from __future__ import annotations

import pytest

from .conftest import Keys, services_of

# the API on FalkorDB + SQLite and on Neo4j + PostgreSQL
pytestmark = pytest.mark.stacks


def cypher(client, keys: Keys, **body):
    return client.post("/v1/cypher", json=body, headers=keys.header("analyst"))


def test_query_with_params(loaded, client, keys: Keys):
    r = cypher(
        client,
        keys,
        query="MATCH (u:User {id: $id})-[:INTERACTED]->(i:Item) RETURN i.id AS item ORDER BY item",
        params={"id": "alice"},
    )
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["columns"] == ["item"] and body["rows"] == [["i1"], ["i2"]] and body["truncated"] is False


def test_row_limit_truncates(loaded, client, keys: Keys):
    body = cypher(client, keys, query="UNWIND range(1, 50) AS x RETURN x", limit=10).get_json()
    assert len(body["rows"]) == 10 and body["truncated"] is True


def test_configured_row_limit_caps_the_request(make_app):
    client = make_app(auth_disabled=True, cypher_row_limit=5).test_client()
    body = client.post("/v1/cypher", json={"query": "UNWIND range(1, 50) AS x RETURN x", "limit": 40}).get_json()
    assert len(body["rows"]) == 5 and body["truncated"] is True


@pytest.mark.parametrize(
    "query",
    [
        "CREATE (:User {id: 'mallory'})",
        "MATCH (u:User {id: 'alice'}) SET u.id = 'eve'",
        "MATCH (u:User {id: 'alice'}) DETACH DELETE u",
        "MERGE (:Item {id: 'evil'}) RETURN 1",
        "MATCH (u:User) WITH u LIMIT 1 CREATE (u)-[:INTERACTED]->(:Item {id: 'x'})",
    ],
)
def test_writes_are_refused_and_nothing_changes(loaded, client, keys: Keys, query):
    store = services_of(client).store()
    before = store.counts()
    r = cypher(client, keys, query=query)
    assert r.status_code == 403 and r.content_type == "application/problem+json"
    assert "read-only" in r.get_json()["detail"]
    assert store.counts() == before
    assert store.user_exists("alice") and not store.user_exists("mallory")


def test_syntax_error_is_a_400(loaded, client, keys: Keys):
    r = cypher(client, keys, query="MATCH (n RETURN n")
    assert r.status_code == 400 and r.get_json()["title"] == "Invalid Cypher"


def test_timeout_is_a_422(make_app):
    client = make_app(auth_disabled=True, cypher_timeout_ms=50).test_client()
    r = client.post(
        "/v1/cypher",
        json={
            "query": "UNWIND range(1, 3000) AS a UNWIND range(1, 3000) AS b "
            "WITH a, b WHERE (a * b) % 7 = 3 RETURN count(*)"
        },
    )
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["type"].endswith("query-timeout")


def test_bad_bodies(loaded, client, keys: Keys):
    assert cypher(client, keys, query="").status_code == 422
    assert cypher(client, keys, query="RETURN 1", params=[1]).status_code == 422
    assert cypher(client, keys, query="RETURN 1", timeout_ms=0).status_code == 422
    assert (
        client.post("/v1/cypher", data="{", content_type="application/json", headers=keys.header("analyst")).status_code
        == 400
    )
