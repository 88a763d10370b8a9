"""Interest profiles, privacy delete and similar items."""

from __future__ import annotations

import pytest

from records.strength_history import record_version, user_history

from .conftest import MODEL_VERSION, NOW_MS, Keys, services_of

# the API on FalkorDB + SQLite and on Neo4j + PostgreSQL
pytestmark = pytest.mark.stacks


def test_interests_before_a_model(loaded, client, keys: Keys):
    r = client.get("/v1/users/alice/interests", headers=keys.header("read"))
    assert r.status_code == 200
    body = r.get_json()
    assert body["model_version"] is None
    by_id = {i["interest_id"]: i for i in body["interests"]}
    assert set(by_id) == {"genre:scifi"}
    scifi = by_id["genre:scifi"]
    assert scifi["name"] == "Sci-Fi" and scifi["strength"] is None
    # purchase (8) 3 days ago + click (2) 1 day ago, decayed with tau = 30 days to now
    assert 9.0 < scifi["evidence"] < 10.0
    assert scifi["updated_at"] == scifi["evidence_ts"]


def test_evidence_moves_with_every_event(loaded, client, keys: Keys):
    before = client.get("/v1/users/alice/interests", headers=keys.header("read")).get_json()["interests"]
    ev = {"event_id": "more-1", "user_id": "alice", "item_id": "i6", "type": "purchase", "ts": NOW_MS}
    assert client.post("/v1/events", json={"events": [ev]}, headers=keys.header("ingest")).status_code == 202
    after = {
        i["interest_id"]: i
        for i in client.get("/v1/users/alice/interests", headers=keys.header("read")).get_json()["interests"]
    }
    assert "genre:comedy" in after and 7.9 < after["genre:comedy"]["evidence"] <= 8.0
    assert len(after) == len(before) + 1


def test_interests_with_a_model(published, client, keys: Keys):
    body = client.get("/v1/users/alice/interests", headers=keys.header("analyst")).get_json()
    assert body["model_version"] == MODEL_VERSION
    assert [(i["interest_id"], i["strength"]) for i in body["interests"]][:2] == [
        ("genre:scifi", 0.9),
        ("genre:comedy", 0.1),
    ]
    assert body["interests"][0]["updated_at"] == NOW_MS


def test_interests_of_unknown_user_is_404(loaded, client, keys: Keys):
    r = client.get("/v1/users/nobody/interests", headers=keys.header("read"))
    assert r.status_code == 404 and r.content_type == "application/problem+json"
    assert "nobody" in r.get_json()["detail"]


def test_delete_user_removes_graph_and_log(loaded, client, keys: Keys):
    svc = services_of(client)
    record_version(
        svc.sessions, "v-old", NOW_MS, [("bob", {"genre:scifi": 0.5}), ("alice", {})], keep=5, recorded_since=0
    )
    r = client.delete("/v1/users/bob", headers=keys.header("admin"))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body == {
        "user_id": "bob",
        "graph_user_removed": True,
        "graph_relationships_removed": 4 + 3,
        "events_removed": 4,
        "relation_events_removed": 0,
    }
    assert not svc.store().user_exists("bob")
    assert user_history(svc.sessions, "bob") == [] and len(user_history(svc.sessions, "alice")) == 1
    # bob is gone: alice's co-interaction peers are now only erin
    items = client.get("/v1/users/alice/recommendations?strategy=graph&k=10", headers=keys.header("read")).get_json()[
        "items"
    ]
    assert all("2 of them" not in " ".join(i["reasons"]) for i in items)
    # bob now gets a cold start, and a second delete is a 404
    assert client.get("/v1/users/bob/recommendations", headers=keys.header("read")).get_json()["strategy"] == "trending"
    assert client.delete("/v1/users/bob", headers=keys.header("admin")).status_code == 404


def test_similar_items_before_a_model(loaded, client, keys: Keys):
    body = client.get("/v1/items/i1/similar?k=3", headers=keys.header("read")).get_json()
    assert body["item_id"] == "i1" and body["model_version"] is None
    ids = [i["item_id"] for i in body["items"]]
    assert "i1" not in ids and ids[0] == "i2"  # i2 shares i1's three users... bob and alice
    assert body["items"][0]["reasons"][0].endswith("users who interacted with Star Voyage also interacted with this")


def test_similar_items_with_a_model(published, client, keys: Keys):
    body = client.get("/v1/items/i1/similar?k=2", headers=keys.header("read")).get_json()
    assert body["model_version"] == MODEL_VERSION
    assert [i["item_id"] for i in body["items"]] == ["i8", "i2"]  # the old version's i1 -> i7 is not served
    assert body["items"][0]["reasons"] == ["similar in the published model"]
    assert body["items"][0]["title"] == "Deep Space Drama"


def test_similar_items_unknown_item_and_bad_k(loaded, client, keys: Keys):
    r = client.get("/v1/items/nope/similar", headers=keys.header("read"))
    assert r.status_code == 404 and "nope" in r.get_json()["detail"]
    assert client.get("/v1/items/i1/similar?k=0", headers=keys.header("read")).status_code == 422
