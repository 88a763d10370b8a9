"""The answer cache (service/recs/caches.py): a repeated request is served from the cache,
and every change the answer depends on makes the next request a miss — with both ways of
knowing (RECS_FRESHNESS: `feed` tails the event log, service/recs/freshness.py; `check`
asks the stores on every request), and across two workers with the feed."""

from __future__ import annotations

import time
from typing import Any

import pytest

from records.keys import ROLES, create_key
from service.app import create_app
from service.ingest.graph_writer import GraphWriter
from service.ingest.schemas import EventIn
from service.recs import caches
from tests.api.conftest import MODEL_VERSION, NOW_MS, Keys, load_graph, publish_model, services_of

RECS = "/v1/users/{}/recommendations?k=5"


@pytest.fixture(params=["feed", "check"])
def app(request: pytest.FixtureRequest, make_app: Any) -> Any:
    return make_app(recs_freshness=request.param)


def next_poll(client: Any) -> None:
    """Wait past the change feed's poll interval (nothing to wait for with `check`)."""
    settings = services_of(client).settings
    if settings.recs_freshness == "feed":
        time.sleep(settings.recs_feed_poll_ms / 1000 + 0.05)


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
    publish_model(services_of(client).store())  # no invalidate(): the next check or poll sees it
    next_poll(client)
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
    store = services_of(client).store()  # (a `check` matter: the feed does not read rev)
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


def _event(event_id: str, user: str, item: str, type_: str) -> dict[str, Any]:
    return {"event_id": event_id, "user_id": user, "item_id": item, "type": type_, "ts": NOW_MS}


def test_another_worker_sees_events_negative_feedback_and_deletes_at_its_next_poll(make_app):
    """Two workers of one deployment (two apps on the same graph and SQL database): what
    one takes in, the other's cached answers reflect after one poll of the log; an
    impression changes nothing."""
    client, keys = loaded_client(make_app, recs_freshness="feed", recs_feed_poll_ms=50)
    other_app = create_app(services_of(client).settings)  # the second worker
    other_app.config["TESTING"] = True
    other = other_app.test_client()
    try:
        status, before = get(other, keys, "alice")
        assert (status, get(other, keys, "alice")[0]) == ("miss", "hit")
        assert get(other, keys, "bob")[0] == "miss"
        top = before["items"][0]["item_id"]
        r = client.post("/v1/events", json={"events": [_event("a-buy", "alice", top, "purchase")]},
                        headers=keys.header("ingest"))  # fmt: skip
        assert r.status_code == 202 and r.get_json()["pending"] == 0
        next_poll(other)
        status, after = get(other, keys, "alice")
        assert status == "miss" and top not in {i["item_id"] for i in after["items"]}
        # a dislike (log-only, no graph change) is seen too
        second = after["items"][0]["item_id"]
        client.post("/v1/events", json={"events": [_event("a-no", "alice", second, "dislike")]},
                    headers=keys.header("ingest"))  # fmt: skip
        next_poll(other)
        status, after = get(other, keys, "alice")
        assert status == "miss" and second not in {i["item_id"] for i in after["items"]}
        # an impression of bob's changes no answer: bob stays cached
        assert get(other, keys, "bob")[0] == "hit"
        client.post("/v1/events", json={"events": [_event("b-seen", "bob", "i5", "impression")]},
                    headers=keys.header("ingest"))  # fmt: skip
        next_poll(other)
        assert get(other, keys, "bob")[0] == "hit"
        # a privacy delete through the first worker
        assert client.delete("/v1/users/alice", headers=keys.header("admin")).status_code == 200
        next_poll(other)
        status, body = get(other, keys, "alice")
        assert status == "miss" and body["strategy"] == "trending"
    finally:
        other_app.extensions["interest_graph"].store_holder.close()


def test_the_feed_keeps_negative_feedback_until_the_user_changes(make_app):
    """An answer computed for other parameters (or after a publish, or after its entry
    expired) reads no negative feedback from the log while the user is unchanged: the
    worker that takes a dislike reads it at once, another worker at its next poll; an
    impression of the user's changes nothing."""
    client, keys = loaded_client(make_app, recs_freshness="feed", recs_feed_poll_ms=50)
    other_app = create_app(services_of(client).settings)  # the second worker
    other_app.config["TESTING"] = True
    other = other_app.test_client()
    reads: list[str] = []
    for app in (client.application, other_app):
        log = app.extensions["interest_graph"].eventlog
        read = log.negative_terms
        log.negative_terms = lambda user, read=read: reads.append(user) or read(user)
    try:
        first = get(client, keys, "alice")[1]["items"][0]["item_id"]
        assert [get(client, keys, "alice", f"&exclude=x{n}")[0] for n in range(3)] == ["miss"] * 3  # computed
        assert reads == ["alice"]  # ... with the log read once
        get(other, keys, "alice")
        assert reads == ["alice"] * 2
        client.post("/v1/events", json={"events": [_event("a-seen", "alice", "i5", "impression")]},
                    headers=keys.header("ingest"))  # fmt: skip
        next_poll(other)
        assert get(other, keys, "alice", "&exclude=y")[0] == "miss"
        assert reads == ["alice"] * 2
        client.post("/v1/events", json={"events": [_event("a-no", "alice", first, "dislike")]},
                    headers=keys.header("ingest"))  # fmt: skip
        assert first not in {i["item_id"] for i in get(client, keys, "alice")[1]["items"]}  # this worker: at once
        next_poll(other)
        assert first not in {i["item_id"] for i in get(other, keys, "alice")[1]["items"]}  # the other: next poll
        assert reads == ["alice"] * 4
    finally:
        other_app.extensions["interest_graph"].store_holder.close()


def test_the_feed_waits_for_a_pending_row_and_counts_each_row_once(make_app):
    """A row still `pending` (in the log, not yet in the graph) is not counted and stops
    the cursor: an answer computed now would miss it. Once applied it is counted, once;
    rows after it are not counted twice while the cursor waits."""
    client, _ = loaded_client(make_app, recs_freshness="feed")
    svc = services_of(client)
    store, log = svc.store(), svc.eventlog
    feed = svc.recommender.feed
    assert feed is not None
    feed._poll(log, store)  # the cursor starts at the log's end
    start = feed._cursor
    log.accept([(0, EventIn(**_event("e-pending", "new1", "i1", "view")))])  # claimed, not applied
    log.accept([(0, EventIn(**_event("e-logged", "new2", "i1", "dislike")))])  # log-only
    feed._poll(log, store)
    assert feed.generation("new1") == 0 and (g_new2 := feed.generation("new2")) > 0
    assert feed._cursor == start
    feed._poll(log, store)
    assert feed.generation("new2") == g_new2  # counted once, though the cursor waits
    assert GraphWriter(log).apply_pending(store).pending == 0
    feed._poll(log, store)
    assert feed.generation("new1") > g_new2 and feed.generation("new2") == g_new2
    assert feed._cursor > start and not feed._counted


def test_the_feed_starts_before_a_row_the_graph_does_not_have_yet(make_app):
    """A worker starting while a row is still `pending` (accepted, not yet applied): its
    feed starts before that row, so the apply that comes later invalidates the user."""
    client, _ = loaded_client(make_app, recs_freshness="feed")
    svc = services_of(client)
    store, log = svc.store(), svc.eventlog
    log.accept([(0, EventIn(**_event("e-early", "early", "i1", "view")))])  # claimed, not applied
    log.accept([(0, EventIn(**_event("e-after", "later", "i2", "view")))])
    feed = svc.recommender.feed
    assert feed is not None and feed._cursor is None
    feed._poll(log, store)  # the worker's first poll
    assert feed.generation("early") == 0
    assert GraphWriter(log).apply_pending(store).pending == 0
    feed._poll(log, store)
    assert feed.generation("early") > 0 and feed.generation("later") > 0
