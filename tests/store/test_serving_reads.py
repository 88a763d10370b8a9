"""The typed serving reads (graph_schema/store/serving.py) and pull_interest_strengths,
on every available backend: the rows come back as the records of serving_rows.py, with
the same values on both engines (FalkorDB's toJSON variants included)."""

from __future__ import annotations

import pytest

from graph_schema.rows import CatalogueItem, Interaction
from graph_schema.store import GraphStore
from graph_schema.store.serving_rows import (
    CoInteractedItem,
    InterestName,
    InterestSignal,
    ItemMeta,
    Neighbour,
    PeerItem,
    RecentItem,
    SimilarItem,
    UserInterest,
    UserState,
)

TAU = 1_000_000.0
ODD_TITLE = 'He said "hi" \\o/ \\u0041'


def ev(user: str, item: str, w: float, ts: int) -> Interaction:
    return Interaction(user, item, float(w), int(ts))


@pytest.fixture
def graph(store: GraphStore) -> GraphStore:
    """u1: i1 (w 2, t 1000), i2 (w 3, t 2000); u2: i1, i3; u3: i2, i3."""
    store.upsert_interests([{"interest_id": "a", "name": "Alpha", "kind": "genre"}])
    store.upsert_items(
        [
            CatalogueItem("i1", title=ODD_TITLE, interests=("a",)),
            CatalogueItem("i2", title="Two", interests=("a", "b")),
            CatalogueItem("i3"),
        ]
    )
    store.apply_interactions(
        [ev("u1", "i1", 2, 1000), ev("u1", "i2", 3, 2000), ev("u2", "i1", 1, 1500), ev("u2", "i3", 4, 1600)],
        TAU,
    )
    store.apply_interactions([ev("u3", "i2", 1, 1700), ev("u3", "i3", 1, 1800)], TAU)
    return store


def publish(store: GraphStore, version: str = "v1") -> None:
    store.write_node_properties("Item", [{"id": "i3", "props": {"embedding": [0.5, 2], "model_version": version}}])
    store.write_node_properties("User", [{"id": "u1", "props": {"embedding": [1.0, -1.0], "model_version": version}}])
    store.write_interest_strengths(
        [{"user_id": "u1", "interest_id": "a", "strength": 0.75, "updated_at": 7, "model_version": version}]
    )
    store.write_similar_items(
        [
            {"item_id": "i1", "other_id": "i3", "score": 0.5, "model_version": version},
            {"item_id": "i1", "other_id": "i2", "score": 0.9, "model_version": version},
            {"item_id": "i1", "other_id": "i2", "score": 0.1, "model_version": "old"},
        ]
    )
    store.stage_node_properties("Interest", [{"id": "a", "props": {"strength": 0.25, "model_version": version}}])
    store.publish_model(version)


def test_profile_of_a_user(graph: GraphStore) -> None:
    assert graph.profile("nobody", anchors=10, seen_limit=100) is None
    p = graph.profile("u1", anchors=1, seen_limit=100)
    assert p is not None
    assert (p.interactions, p.seen) == (2, ("i2", "i1"))
    assert p.recent == (RecentItem("i2", "Two", 3.0, 2000),)
    by_id = {i.interest_id: i for i in p.interests}
    assert set(by_id) == {"a", "b"}
    assert by_id["a"].name == "Alpha" and by_id["b"].name == "b"  # a tag makes an interest named by its id
    assert by_id["a"].strength is None and by_id["a"].evidence_ts == 2000
    assert by_id["a"].evidence == pytest.approx(2.0 * 2.718281828459045 ** (-1000 / TAU) + 3.0, rel=1e-9)
    assert (p.embedding, p.model_version) == (None, None)
    # quotes and backslashes in a title survive FalkorDB's toJSON variant
    assert graph.profile("u1", anchors=10, seen_limit=1).recent[1] == RecentItem("i1", ODD_TITLE, 2.0, 1000)
    assert graph.profile("u1", anchors=10, seen_limit=1).seen == ("i2",)


def test_profile_and_interests_with_a_model(graph: GraphStore) -> None:
    publish(graph)
    p = graph.profile("u1", anchors=10, seen_limit=100)
    assert p is not None and p.embedding == (1.0, -1.0) and p.model_version == "v1"
    signal = next(i for i in p.interests if i.interest_id == "a")
    assert isinstance(signal, InterestSignal) and (signal.strength, signal.model_version) == (0.75, "v1")
    interests = {i.interest_id: i for i in graph.interests_of("u1")}
    assert interests["a"] == UserInterest(
        "a", "Alpha", "genre", interests["a"].evidence, 2000, 0.75, 7, "v1"
    ) and isinstance(interests["a"].evidence, float)
    assert (interests["b"].name, interests["b"].kind, interests["b"].strength) == ("b", "tag", None)
    assert graph.interests_of("nobody") == []


def test_user_state_moves_with_every_batch(graph: GraphStore) -> None:
    assert graph.user_state("nobody") == UserState(False, (None, 0), None)
    before = graph.user_state("u1")
    assert before.known and before.model_version is None and isinstance(before.rev, tuple)
    graph.apply_interactions([ev("u1", "i3", 1, 3000)], TAU)
    after = graph.user_state("u1")
    assert after.rev != before.rev and hash(after)
    publish(graph)
    assert graph.user_state("u1").model_version == "v1" == graph.current_model_version()


def test_published_neighbours_and_vectors(graph: GraphStore) -> None:
    assert graph.current_model_version() is None
    publish(graph)
    assert graph.similar_lists("v1", ["i1", "i2", "nothing"], per_item=5) == {
        "i1": (Neighbour("i2", 0.9), Neighbour("i3", 0.5))
    }
    assert graph.similar_lists("v1", ["i1"], per_item=1) == {"i1": (Neighbour("i2", 0.9),)}
    assert graph.similar_lists("old", ["i1"], per_item=5) == {"i1": (Neighbour("i2", 0.1),)}
    assert graph.item_embeddings("v1", ["i3", "i1"]) == {"i3": (0.5, 2.0)}
    assert graph.item_embeddings("v0", ["i3"]) == {}
    assert graph.similar_items("i1", "v1", k=5) == [SimilarItem("i2", "Two", 0.9), SimilarItem("i3", None, 0.5)]
    assert graph.similar_items("i1", "v2", k=5) == []
    assert graph.pull_interest_strengths() == {"a": 0.25}


def test_pull_interest_strengths_before_a_model(graph: GraphStore) -> None:
    assert graph.pull_interest_strengths() == {}


def test_trending_interests_and_item_meta(graph: GraphStore) -> None:
    rows = graph.trending(tau_ms=TAU, limit=10)
    assert [r.item_id for r in rows] == ["i3", "i2", "i1"]  # 4+1 vs 3+1 vs 2+1, decayed from t=2000
    assert rows[0].users == 2 and rows[0].interests == () and rows[1].interests in (("a", "b"), ("b", "a"))
    assert rows[0].score > rows[1].score > rows[2].score > 0
    assert len(graph.trending(tau_ms=TAU, limit=1)) == 1
    names = graph.interest_names(limit=10)
    assert names == [InterestName("a", "Alpha", "genre"), InterestName("b", "b", "tag")]
    assert graph.interest_exists("a") and not graph.interest_exists("z")
    meta = {m.item_id: m for m in graph.item_meta(["i1", "i3", "nothing"])}
    assert meta == {"i1": ItemMeta("i1", ODD_TITLE, ("a",)), "i3": ItemMeta("i3", None, ())}
    assert graph.item_titles(["i2", "i3", "nothing"]) == {"i2": "Two", "i3": None}


def test_co_interaction_reads(graph: GraphStore) -> None:
    # u1's peers: u2 (shares i1), u3 (shares i2); their items scored by shared * weight
    assert graph.peer_items("u1", anchors=10, peers=10, k=10) == [
        PeerItem("i3", 5.0, 2),
        PeerItem("i1", 1.0, 1),
        PeerItem("i2", 1.0, 1),
    ]
    assert graph.peer_items("nobody", anchors=10, peers=10, k=10) == []
    rows = graph.co_interacted_items("i1", users=10, candidates=10, k=10)
    assert [(r.item_id, r.shared) for r in rows] == [("i2", 1), ("i3", 1)]
    assert isinstance(rows[0], CoInteractedItem) and rows[0].title == "Two"
    assert rows[0].score == pytest.approx(1 / 2**0.5) and rows[1].score == pytest.approx(1 / 2**0.5)
