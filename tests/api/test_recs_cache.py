"""The answer cache (service/recs/caches.py): a repeated request is served from the cache,
and every change the answer depends on makes the next request a miss."""

from __future__ import annotations

import time
from typing import Any

from records.keys import ROLES, create_key
from service.recs import caches
from tests.api.conftest import MODEL_VERSION, NOW_MS, Keys, load_graph, publish_model, services_of

RECS = "/v1/users/{}/recommendations?k=5"


def get(client: Any, keys: Keys, user: str, query: str = "") -> tuple[str, dict[str, Any]]:
    r = client.get(RECS.format(user) + query, headers=keys.header("read"))
    assert r.status_code == 200, r.get_json()
    return r.headers["X-Recs-Cache"], r.get_json()


def loaded_client(make_app: Any, **overrides: Any) -> tuple[Any, Keys]:
    """A client of an app built with `overrides`, with the test graph loaded."""
    app = make_app(**overrides)
    client = app.test_client()
    sessions = app.extensions["interest_graph"].sessions
    keys = Keys(**{role: create_key(sessions, role) for role in ROLES})
    load_graph(client, keys)
    return client, keys


def test_a_repeated_request_is_a_hit_with_the_same_body(loaded, client, keys: Keys):
    first = get(client, keys, "alice")
    second = get(client, keys, "alice")
    assert (first[0], second[0]) == ("miss", "hit")
    assert second[1]["rec_id"] != first[1]["rec_id"]  # each answer is its own, cached or not
    assert {**second[1], "rec_id": None} == {**first[1], "rec_id": None}
    # other parameters are other entries
    assert get(client, keys, "alice", "&strategy=interest")[0] == "miss"
    assert get(client, keys, "alice", "&exclude=i3")[0] == "miss"
    assert get(client, keys, "bob")[0] == "miss"


def test_an_applied_event_is_seen_at_once(loaded, client, keys: Keys):
    status, before = get(client, keys, "alice")
    assert get(client, keys, "alice")[0] == "hit"
    top = before["items"][0]["item_id"]
    event = {"event_id": "alice-new", "user_id": "alice", "item_id": top, "type": "purchase", "ts": NOW_MS}
    r = client.post("/v1/events", json={"events": [event]}, headers=keys.header("ingest"))
    assert r.status_code == 202 and r.get_json()["accepted"] == 1
    status, after = get(client, keys, "alice")
    assert status == "miss"
    assert top not in {i["item_id"] for i in after["items"]}  # now seen, so excluded
    # a duplicate of the same event changes nothing in the graph: still cached
    client.post("/v1/events", json={"events": [event]}, headers=keys.header("ingest"))
    assert get(client, keys, "alice")[0] == "hit"


def test_a_new_model_and_a_deleted_user_are_misses(loaded, client, keys: Keys):
    get(client, keys, "alice")
    assert get(client, keys, "alice")[0] == "hit"
    publish_model(services_of(client).store())  # no invalidate(): the state query sees the new version
    status, body = get(client, keys, "alice")
    assert status == "miss" and body["model_version"] == MODEL_VERSION
    assert get(client, keys, "alice")[0] == "hit"
    r = client.delete("/v1/users/alice", headers=keys.header("admin"))
    assert r.status_code == 200
    status, body = get(client, keys, "alice")
    assert status == "miss" and body["strategy"] == "trending"
    assert get(client, keys, "alice")[0] == "hit"
    # re-created by a new event: a new rev, never one of the deleted node's
    event = {"event_id": "alice-again", "user_id": "alice", "item_id": "i4", "type": "view", "ts": NOW_MS}
    client.post("/v1/events", json={"events": [event]}, headers=keys.header("ingest"))
    status, body = get(client, keys, "alice")
    assert status == "miss" and "i4" not in {i["item_id"] for i in body["items"]}


def test_a_cold_start_is_cached_until_the_user_appears(loaded, client, keys: Keys):
    assert get(client, keys, "newcomer")[0] == "miss"
    assert get(client, keys, "newcomer")[0] == "hit"
    event = {"event_id": "newcomer-1", "user_id": "newcomer", "item_id": "i1", "type": "view", "ts": NOW_MS}
    client.post("/v1/events", json={"events": [event]}, headers=keys.header("ingest"))
    status, body = get(client, keys, "newcomer")
    assert status == "miss" and body["strategy"] != "trending"
    assert "i1" not in {i["item_id"] for i in body["items"]}


def test_the_cache_can_be_turned_off(make_app):
    client, keys = loaded_client(make_app, recs_answer_cache=0)
    assert [get(client, keys, "alice")[0] for _ in range(3)] == ["miss"] * 3


def test_a_user_written_before_rev_existed_is_refreshed_by_its_next_event(loaded, client, keys: Keys):
    store = services_of(client).store()
    store._write("MATCH (u:User {id: $id}) SET u.rev = null", {"id": "alice"})
    get(client, keys, "alice")
    assert get(client, keys, "alice")[0] == "hit"
    event = {"event_id": "alice-late", "user_id": "alice", "item_id": "i9", "type": "view", "ts": NOW_MS}
    client.post("/v1/events", json={"events": [event]}, headers=keys.header("ingest"))
    status, body = get(client, keys, "alice")
    assert status == "miss" and "i9" not in {i["item_id"] for i in body["items"]}


def test_an_answer_expires_after_recs_answer_ttl_s(make_app):
    client, keys = loaded_client(make_app, recs_answer_ttl_s=0.2)
    assert [get(client, keys, "alice")[0] for _ in range(2)] == ["miss", "hit"]
    time.sleep(0.25)
    assert get(client, keys, "alice")[0] == "miss"


def test_response_cache_is_a_bounded_lru_with_jittered_expiry(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(caches.time, "monotonic", lambda: now[0])
    cache = caches.ResponseCache(capacity=2, ttl_s=10.0)
    a = cache.put("a", b"A", "blend")
    assert 1005.0 <= a.expires_at <= 1010.0
    cache.put("b", b"B", "blend")
    assert cache.get("a") is a  # a is now the most recently used
    cache.put("c", b"C", "blend")  # evicts b
    assert cache.get("b") is None and cache.get("a") is a and len(cache) == 2
    now[0] = 1010.0
    assert cache.get("a") is None and cache.get("c") is None and len(cache) == 0
    assert not caches.ResponseCache(capacity=0).enabled
    assert not caches.ResponseCache(capacity=5, ttl_s=0).enabled
