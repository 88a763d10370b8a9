"""Kept profiles (Recommender._profile, RECS_PROFILE_CACHE): with the change feed a worker
keeps each user's profile while the feed sees the user unchanged, so a computed answer
(answer cache off, or other parameters) for such a user asks no store at all; the answer
is the one a fresh read gives; the user's own events, another worker's, a new publish and
a privacy delete each make the next answer read the graph again."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from records.keys import ROLES, create_key
from service.app import create_app
from service.recs import model_snapshot
from service.recs.caches import KeptPerUser
from service.recs.profile import load
from tests.api.conftest import MODEL_VERSION, NOW_MS, Keys, load_graph, publish_model, services_of

STRATEGIES = ("blend", "graph", "embedding", "interest")


def _client(make_app: Any, **overrides: Any) -> tuple[Any, Keys]:
    app = make_app(recs_answer_cache=0, recs_freshness="feed", **overrides)
    client = app.test_client()
    keys = Keys(**{role: create_key(app.extensions["interest_graph"].sessions, role) for role in ROLES})
    load_graph(client, keys)
    return client, keys


def _publish(client: Any, ranking: bool = True) -> None:
    """The conftest's model, a learned ranking for alice, and the version's snapshot."""
    svc = services_of(client)
    store = svc.store()
    publish_model(store)
    if ranking:
        store._write(
            "MATCH (u:User {id: 'alice'}) SET u.recs_items = ['i8', 'i3', 'i6'], "
            "u.recs_scores = [2.0, 1.5, 0.5], u.recs_because = ['i1', '', 'i2'], u.recs_at = $at",
            {"at": NOW_MS - 1_000},
        )
    assert model_snapshot.write(store, svc.settings.recs_snapshot_root, svc.settings.recs_similar_per_item)
    svc.recommender.invalidate()


class Reads:
    """The graph reads and event-log reads of this thread (the feed's polls included)."""

    def __init__(self, client: Any) -> None:
        svc = services_of(client)
        self.graph: list[str] = []
        self.log: list[str] = []
        self.profiles: list[str] = []
        me = threading.get_ident()
        store, log = svc.store(), svc.eventlog
        read, terms, profile = store._read, log.negative_terms, store.profile

        def counting(text: str, params: dict[str, Any]) -> list[dict[str, Any]]:
            if threading.get_ident() == me:
                self.graph.append(text.strip().splitlines()[-1][:60])
            return read(text, params)

        store._read = counting
        log.negative_terms = lambda user: self.log.append(user) or terms(user)
        store.profile = lambda user, **kw: self.profiles.append(user) or profile(user, **kw)

    def clear(self) -> None:
        self.graph.clear()
        self.log.clear()
        self.profiles.clear()


def _items(client: Any, keys: Keys, user: str, query: str = "") -> list[tuple[str, float, list[str]]]:
    r = client.get(f"/v1/users/{user}/recommendations?k=5{query}", headers=keys.header("read"))
    assert r.status_code == 200, r.get_json()
    assert r.headers["X-Recs-Cache"] == "miss"  # computed: the answer cache is off
    return [(i["item_id"], i["score"], i["reasons"]) for i in r.get_json()["items"]]


def test_an_unchanged_user_is_answered_without_a_store_query(make_app: Any) -> None:
    client, keys = _client(make_app, recs_feed_poll_ms=60_000)  # one poll, at the first request
    _publish(client)
    users = ["alice", "bob", "carol", "nobody"]
    for user in users:
        _items(client, keys, user)  # opens the snapshot, reads trending, keeps the profile
    reads = Reads(client)
    kept = {}
    for user in users:
        for strategy in STRATEGIES:
            kept[user, strategy] = _items(client, keys, user, f"&strategy={strategy}&exclude=i9")
    assert reads.graph == [] and reads.log == []
    assert any(kept.values())
    # the same answers from fresh reads of the graph and the log
    rec = services_of(client).recommender
    for kept_per_user in (rec.profiles, rec.terms):
        kept_per_user.capacity = 0
        kept_per_user.clear()
    for (user, strategy), answer in kept.items():
        reads.clear()
        assert _items(client, keys, user, f"&strategy={strategy}&exclude=i9") == answer, (user, strategy)
        assert len(reads.graph) == 1 and reads.profiles == [user] and reads.log == [user]


def test_the_kept_profile_shares_the_snapshots_objects(make_app: Any) -> None:
    client, keys = _client(make_app)
    _publish(client)
    svc = services_of(client)
    rec, store = svc.recommender, svc.store()
    first = _items(client, keys, "alice")
    assert first[0][0] == "i8" and "Star Voyage" in first[0][2][0]  # the learned ranking (because i1)
    kept = rec.profiles.get("alice", rec.feed.generation("alice"))
    assert kept == load(store, "alice", svc.settings)  # what the graph has ...
    model = rec.published.snapshot(store, MODEL_VERSION, kept.published_at)
    assert model is not None and model.users is not None
    ids = {id(i) for i in model.ids}
    assert kept.seen and all(id(i) in ids for i in kept.seen)  # ... in the snapshot's strings
    assert [r.item_id for r in kept.ranking] == ["i8", "i3", "i6"]
    assert all(id(r.item_id) in ids for r in kept.ranking) and kept.embedding is not None
    assert _items(client, keys, "alice") == first
    # without a snapshot for the version the profile is kept as read
    rec.profiles.clear()
    snapshot = rec.published.snapshot
    rec.published.snapshot = lambda *args: None
    try:
        assert _items(client, keys, "alice") == first
    finally:
        rec.published.snapshot = snapshot
    kept = rec.profiles.get("alice", rec.feed.generation("alice"))
    assert kept == load(store, "alice", svc.settings) and not any(id(i) in ids for i in kept.seen)


def test_the_users_changes_make_the_next_answer_read_the_graph(make_app: Any) -> None:
    client, keys = _client(make_app, recs_feed_poll_ms=50)
    other_app = create_app(services_of(client).settings)  # a second worker of the deployment
    other_app.config["TESTING"] = True
    other = other_app.test_client()
    try:
        _publish(client, ranking=False)
        reads = Reads(other)
        before = _items(other, keys, "bob")
        _items(other, keys, "bob", "&strategy=graph")
        top = before[0][0]
        event = {"event_id": "b-buy", "user_id": "bob", "item_id": top, "type": "purchase", "ts": NOW_MS}
        r = client.post("/v1/events", json={"events": [event]}, headers=keys.header("ingest"))
        assert r.status_code == 202 and r.get_json()["pending"] == 0
        time.sleep(0.1)  # the other worker's next poll
        reads.clear()
        after = _items(other, keys, "bob")
        assert top not in {i for i, *_ in after}  # seen now
        assert reads.profiles == ["bob"]
        reads.clear()
        assert _items(other, keys, "bob") == after and reads.profiles == []
        # the worker taking a dislike knows at once
        second = _items(client, keys, "bob")[0][0]
        dislike = {"event_id": "b-no", "user_id": "bob", "item_id": second, "type": "dislike", "ts": NOW_MS}
        client.post("/v1/events", json={"events": [dislike]}, headers=keys.header("ingest"))
        assert second not in {i for i, *_ in _items(client, keys, "bob")}
        # a privacy delete: a cold start at once here, at the next poll there
        assert client.delete("/v1/users/bob", headers=keys.header("admin")).status_code == 200
        time.sleep(0.1)
        r = other.get("/v1/users/bob/recommendations?k=5", headers=keys.header("read"))
        assert r.get_json()["strategy"] == "trending"
    finally:
        other_app.extensions["interest_graph"].store_holder.close()


def test_relation_events_make_both_workers_read_the_profiles_again(make_app: Any) -> None:
    """A follow changes its user's profile (the followed rows), a friend event both ends':
    the worker taking them reads those profiles again at once, another worker at its next
    poll, and again at each poll while the row is under a second old (its graph write
    follows the row)."""
    client, keys = _client(make_app, recs_feed_poll_ms=50)
    other_app = create_app(services_of(client).settings)
    other_app.config["TESTING"] = True
    other = other_app.test_client()
    try:
        _publish(client, ranking=False)
        users = ("bob", "carol", "dave", "erin")
        for worker in (client, other):
            for user in users:
                _items(worker, keys, user)
        here, there = Reads(client), Reads(other)
        relations = [
            {"event_id": "r1", "user_id": "bob", "target_user_id": "carol", "type": "follow", "ts": NOW_MS},
            {"event_id": "r2", "user_id": "dave", "target_user_id": "erin", "type": "friend", "ts": NOW_MS},
        ]
        r = client.post("/v1/events", json={"events": relations}, headers=keys.header("ingest"))
        assert r.status_code == 202 and r.get_json()["accepted"] == 2, r.get_json()
        here.clear()
        for user in users:
            _items(client, keys, user)
        assert sorted(here.profiles) == ["bob", "dave", "erin"]  # carol follows no one new
        time.sleep(0.1)
        there.clear()
        for user in users:
            _items(other, keys, user)
        assert sorted(there.profiles) == ["bob", "dave", "erin"]
        feed = services_of(other).recommender.feed
        before = feed.generation("bob")
        time.sleep(0.1)
        _items(other, keys, "carol")  # the next poll counts the young rows again
        assert feed.generation("bob") > before
    finally:
        other_app.extensions["interest_graph"].store_holder.close()


def test_a_new_publish_is_read_at_the_next_poll(make_app: Any) -> None:
    client, keys = _client(make_app, recs_feed_poll_ms=50)
    r = client.get("/v1/users/alice/recommendations?k=5", headers=keys.header("read"))
    assert r.get_json()["model_version"] is None
    publish_model(services_of(client).store())  # no invalidate(): the feed's next poll sees it
    time.sleep(0.1)
    r = client.get("/v1/users/alice/recommendations?k=5", headers=keys.header("read"))
    assert r.get_json()["model_version"] == MODEL_VERSION
    rec = services_of(client).recommender
    kept = rec.profiles.get("alice", rec.feed.generation("alice"))
    assert kept is not None and kept.published == MODEL_VERSION


def test_kept_per_user_is_keyed_by_generation_bounded_and_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    from service.recs import caches

    now = [100.0]
    monkeypatch.setattr(caches.time, "monotonic", lambda: now[0])
    kept: KeptPerUser[str] = KeptPerUser(capacity=2, ttl_s=10.0)
    kept.put("a", 1, "A1")
    assert kept.get("a", 1) == "A1" and kept.get("a", 2) is None and kept.get("b", 1) is None
    kept.put("b", 1, "B1")
    kept.put("c", 1, "C1")  # past the capacity: everything else goes
    assert kept.get("a", 1) is None and kept.get("c", 1) == "C1" and len(kept) == 1
    now[0] = 110.0
    assert kept.get("c", 1) is None
    assert not KeptPerUser(capacity=0, ttl_s=10.0).enabled and not KeptPerUser(capacity=5, ttl_s=0).enabled
    off: KeptPerUser[str] = KeptPerUser(capacity=0, ttl_s=10.0)
    off.put("a", 1, "A")
    assert off.get("a", 1) is None


def test_a_feed_reset_never_hands_out_a_generation_read_before_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_USERS the feed forgets every user's generation (and the kept entries). A
    request that read a user's generation before the reset and stores its answer after
    it must not be found by a later request: the user's generation after the reset is new."""
    from service.recs import freshness

    monkeypatch.setattr(freshness, "MAX_USERS", 3)
    resets: list[int] = []
    feed = freshness.ChangeFeed(100, 0, lambda: resets.append(1))
    kept: KeptPerUser[str] = KeptPerUser(capacity=10, ttl_s=60.0)
    read_before = feed.generation("quiet")  # a request reads it, then computes from the old profile
    feed.touch(["quiet"])  # ... the user changes meanwhile
    feed.touch(["a", "b", "c"])  # past MAX_USERS: reset
    assert resets == [1]
    kept.clear()  # what on_reset does in the Recommender
    kept.put("quiet", read_before, "computed before the change")  # the slow request stores its entry late
    assert feed.generation("quiet") != read_before
    assert kept.get("quiet", feed.generation("quiet")) is None
    feed.touch(["quiet"])
    assert feed.generation("quiet") > read_before
