"""The console's explore reads (graph_schema/store/explore.py) on every available backend:
the same records, with the same values, from FalkorDB and Neo4j."""

from __future__ import annotations

from graph_schema.rows import CatalogueItem, Interaction
from graph_schema.store import GraphStore
from graph_schema.store.explore import InterestDetail, InterestTag, InterestUser, PopularItem, TrendPoint

TAU = 1_000_000.0
WEEK = 7 * 86_400_000


def test_explore_reads(store: GraphStore) -> None:
    store.upsert_interests([{"interest_id": "a", "name": "Alpha", "kind": "genre"}])
    store.upsert_items(
        [CatalogueItem("i1", title="One", interests=("a",)), CatalogueItem("i2", title="Two", interests=("a", "b"))]
    )
    store.apply_interactions(
        [
            Interaction("u1", "i1", 2.0, 1000),
            Interaction("u1", "i2", 3.0, WEEK + 5),
            Interaction("u2", "i2", 1.0, WEEK + 9),
        ],
        TAU,
    )
    store.write_interest_strengths(
        [{"user_id": "u2", "interest_id": "a", "strength": 0.5, "updated_at": 7, "model_version": "v1"}]
    )

    item = store.item_detail("i2")
    assert item is not None and item.title == "Two" and item.users == 2
    assert item.tags == (InterestTag("a", "Alpha", 1.0), InterestTag("b", "b", 1.0))
    assert store.item_detail("nope") is None
    assert store.item_tag_weights(["i1", "i2", "nope"]) == {"i1": (("a", 1.0),), "i2": (("a", 1.0), ("b", 1.0))}

    assert store.interest_detail("a") == InterestDetail("a", "Alpha", "genre", items=2, users=2)
    assert store.interest_detail("nope") is None
    assert store.interest_trend("a", WEEK) == [TrendPoint(0, 1, 2.0), TrendPoint(WEEK, 2, 4.0)]
    users = store.interest_users("a", 10)
    assert [u.user_id for u in users] == ["u2", "u1"]  # strength first
    assert users[0] == InterestUser("u2", 0.5, "v1", users[0].evidence, WEEK + 9)
    # by hand: u1 saw i1 (a) and i2 (a, b), u2 saw i2 (a, b): four evidence edges, the
    # model strength written onto the existing u2–a edge
    assert store.relationship_counts() == {"INTERACTED": 3, "INTERESTED_IN": 4, "SIMILAR_TO": 0, "TAGGED": 3}
    assert sorted((u.user_id, u.strength is not None) for u in users) == [("u1", False), ("u2", True)]
    assert store.node_counts()["Item"] == 2 and store.node_counts()["User"] == 2
    assert store.interest_items("a", 10) == [PopularItem("i2", "Two", 2, 4.0), PopularItem("i1", "One", 1, 2.0)]
