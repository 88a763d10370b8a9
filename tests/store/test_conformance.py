"""GraphStore conformance: the same test bodies run against every available backend.

Expected values are computed by hand (or by a plain-Python reference) in the
tests, never read back from the engine under test.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph_schema.decay import fold_many
from graph_schema.migrations import MIGRATIONS
from graph_schema.rows import CatalogueItem, Interaction
from graph_schema.store import GraphStore, InvalidQuery, QueryTimeout, ReadOnlyViolation, StoreError

TAU = 1_000_000.0  # ms; event times in the tests span a few tau
REL = 1e-9
# FalkorDB replies carry doubles with 15 significant digits, so a float read
# back is equal to what was written to ~1e-15 relative, not bit for bit.
FLOAT_REL = 1e-13

HYPOTHESIS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def ev(user: str, item: str, w: float, ts: int) -> Interaction:
    return Interaction(user, item, float(w), int(ts))


def interactions(store: GraphStore, user_id: str) -> dict[str, dict]:
    return {r["item_id"]: r for r in store.user_interactions(user_id)}


def evidence(store: GraphStore, user_id: str) -> dict[str, tuple[float, int]]:
    return {
        r["interest_id"]: (r["evidence"], r["evidence_ts"])
        for r in store.user_interests(user_id)
        if r["evidence"] is not None
    }


def ro(store: GraphStore, query: str, **params: object) -> list[list]:
    return store.read_only_query(query, params, timeout_ms=10_000, row_limit=10_000).rows


def node_props(store: GraphStore, label: str, node_id: str) -> dict:
    rows = ro(store, f"MATCH (n:{label} {{id: $id}}) RETURN n", id=node_id)
    assert len(rows) == 1, rows
    return rows[0][0]["properties"]


def tags_of(store: GraphStore, item_id: str) -> set[str]:
    return {r["interest_id"] for r in store.pull_subgraph().tags if r["item_id"] == item_id}


# --- schema -----------------------------------------------------------------------


def test_migrations_twice(raw_store: GraphStore) -> None:
    all_versions = [m.version for m in MIGRATIONS]
    assert raw_store.schema_versions() == set()
    assert raw_store.migrate() == all_versions
    assert raw_store.migrate() == []
    assert raw_store.schema_versions() == set(all_versions)
    recorded = raw_store.read_named("schema_versions")
    assert [r["version"] for r in recorded] == all_versions
    assert [r["name"] for r in recorded] == [m.name for m in MIGRATIONS]
    assert raw_store.counts()["nodes"] == {"SchemaMigration": len(MIGRATIONS)}


def test_a_half_applied_migration_runs_again(store: GraphStore) -> None:
    # the process died after a migration's statements but before it was recorded
    latest = MIGRATIONS[-1].version
    store._write("MATCH (m:SchemaMigration {version: $v}) DELETE m", {"v": latest})
    assert store.migrate() == [latest]
    assert store.migrate() == []


def test_unique_ids_enforced_after_migration(store: GraphStore) -> None:
    store._write("CREATE (:User {id: 'dup'})", {})
    with pytest.raises(StoreError):
        store._write("CREATE (:User {id: 'dup'})", {})
    assert store.counts()["nodes"].get("User") == 1


# --- ingestion ----------------------------------------------------------------------


def test_interactions_add_up_within_and_across_batches(store: GraphStore) -> None:
    assert store.apply_interactions(
        [
            ev("u1", "i1", 1, 1000),
            ev("u1", "i1", 2, 3000),
            ev("u1", "i1", 4, 2000),
            ev("u1", "i2", 8, 500),
            ev("u2", "i1", 1, 100),
        ],
        TAU,
    )
    u1 = interactions(store, "u1")
    assert (u1["i1"]["weight"], u1["i1"]["count"], u1["i1"]["first_ts"], u1["i1"]["last_ts"]) == (7.0, 3, 1000, 3000)
    assert (u1["i2"]["weight"], u1["i2"]["count"], u1["i2"]["first_ts"], u1["i2"]["last_ts"]) == (8.0, 1, 500, 500)

    assert store.apply_interactions(
        [ev("u1", "i1", 0.5, 4000), ev("u1", "i1", 0.25, 10), ev("u1", "i2", 1, 600), ev("u2", "i1", 2, 50)], TAU
    )
    u1 = interactions(store, "u1")
    assert (u1["i1"]["weight"], u1["i1"]["count"], u1["i1"]["first_ts"], u1["i1"]["last_ts"]) == (7.75, 5, 10, 4000)
    assert (u1["i2"]["weight"], u1["i2"]["count"], u1["i2"]["first_ts"], u1["i2"]["last_ts"]) == (9.0, 2, 500, 600)
    u2 = interactions(store, "u2")
    assert (u2["i1"]["weight"], u2["i1"]["count"], u2["i1"]["first_ts"], u2["i1"]["last_ts"]) == (3.0, 2, 50, 100)

    # most recent first, and the limit applies
    assert [r["item_id"] for r in store.user_interactions("u1")] == ["i1", "i2"]
    assert [r["item_id"] for r in store.user_interactions("u1", limit=1)] == ["i1"]
    counts = store.counts()
    assert counts["relationships"] == {"INTERACTED": 3}
    assert counts["nodes"]["User"] == 2 and counts["nodes"]["Item"] == 2
    assert store.user_exists("u1") and not store.user_exists("nobody")
    assert store.item_exists("i2") and not store.item_exists("nothing")


def test_same_batch_id_counts_once(store: GraphStore) -> None:
    store.upsert_items([CatalogueItem("i1", interests=("a",))])
    events = [ev("u1", "i1", 2, 1000), ev("u1", "i1", 3, 2000)]
    assert store.apply_interactions(events, TAU, batch_id="batch-1") is True
    assert store.batch_applied("batch-1")
    before = (interactions(store, "u1"), evidence(store, "u1"))
    assert store.apply_interactions(events, TAU, batch_id="batch-1") is False
    assert (interactions(store, "u1"), evidence(store, "u1")) == before
    assert interactions(store, "u1")["i1"]["weight"] == 5.0
    assert interactions(store, "u1")["i1"]["count"] == 2
    # the same events under another id are another batch
    assert store.apply_interactions(events, TAU, batch_id="batch-2") is True
    assert interactions(store, "u1")["i1"]["weight"] == 10.0
    assert interactions(store, "u1")["i1"]["count"] == 4
    assert not store.batch_applied("batch-3")
    assert store.apply_interactions([], TAU, batch_id="empty") is True
    # untagged items: no evidence written, so "applied by this call" comes from the
    # marker's attempt token (both sends skip the already-applied check)
    first = store.prepare_interactions([ev("u2", "untagged", 1, 1000)], TAU, "batch-4")
    assert store.apply_prepared(first, new_batch=True) is True
    again = store.prepare_interactions([ev("u2", "untagged", 1, 1000)], TAU, "batch-4")
    assert store.apply_prepared(again, new_batch=True) is False
    assert interactions(store, "u2")["untagged"]["count"] == 1


def test_concurrent_retries_of_one_batch_apply_it_once(store: GraphStore) -> None:
    """Several workers retrying the same batch at the same moment: it is applied
    once; the others report it as already applied or fail (and retry later)."""
    store.upsert_items([CatalogueItem("i1", interests=("a",))])
    rounds, workers = 4, 6
    outcomes: list[object] = []

    def apply(barrier: threading.Barrier, user: str, batch_id: str) -> None:
        events = [ev(user, "i1", 2, 1000), ev(user, "i2", 3, 2000)]
        barrier.wait()
        try:
            outcomes.append(store.apply_interactions(events, TAU, batch_id=batch_id))
        except StoreError as exc:  # e.g. a uniqueness conflict on the batch marker: not applied
            outcomes.append(exc)

    for k in range(rounds):
        barrier = threading.Barrier(workers)
        threads = [threading.Thread(target=apply, args=(barrier, f"u{k}", f"retried-{k}")) for _ in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert True in outcomes, outcomes
    for k in range(rounds):
        rows = interactions(store, f"u{k}")
        assert (rows["i1"]["weight"], rows["i1"]["count"], rows["i2"]["weight"]) == (2.0, 1, 3.0), k
        assert evidence(store, f"u{k}") == {"a": (2.0, 1000)}
    assert store.counts()["nodes"]["IngestBatch"] == rounds


def test_upsert_users(store: GraphStore) -> None:
    assert (
        store.upsert_users(
            [
                {"user_id": "u1", "props": {"age": 30, "zip": "12345"}},
                {"user_id": "u2"},
                {"user_id": "u1", "props": {"age": 31, "embedding": [1.0]}},  # last wins; reserved key dropped
            ]
        )
        == 2
    )
    created = {u: node_props(store, "User", u).pop("rev") for u in ("u1", "u2")}  # set on create
    assert {k: v for k, v in node_props(store, "User", "u1").items() if k != "rev"} == {"id": "u1", "age": 31}
    assert {k: v for k, v in node_props(store, "User", "u2").items() if k != "rev"} == {"id": "u2"}
    store.apply_interactions([ev("u1", "i1", 1, 1)], TAU)
    assert store.counts()["nodes"]["User"] == 2
    rev = node_props(store, "User", "u1").pop("rev")  # the incarnation: ingestion leaves it
    assert isinstance(rev, int) and rev == created["u1"]
    assert store.upsert_users([{"user_id": "u1", "props": {"zip": "99999", "rev": "x"}}]) == 1  # rev reserved
    assert node_props(store, "User", "u1") == {"id": "u1", "age": 31, "zip": "99999", "rev": rev}


def test_evidence_across_items_sharing_interests(store: GraphStore) -> None:
    # X -> {a, b}, Y -> {b}, Z -> {} ; events out of order across two batches
    store.upsert_items(
        [CatalogueItem("X", interests=("a", "b")), CatalogueItem("Y", interests=("b",)), CatalogueItem("Z")]
    )
    t = int(TAU)
    store.apply_interactions([ev("u", "X", 1, 2 * t), ev("u", "Z", 100, 3 * t)], TAU)
    store.apply_interactions([ev("u", "Y", 3, t), ev("u", "X", 2, 0)], TAU)
    got = evidence(store, "u")
    assert set(got) == {"a", "b"}
    # as of 2*tau: the X event at 0 decayed by e^-2, the Y event at tau by e^-1
    expected_a = 1 + 2 * math.exp(-2)
    expected_b = 1 + 2 * math.exp(-2) + 3 * math.exp(-1)
    assert got["a"][0] == pytest.approx(expected_a, rel=REL)
    assert got["b"][0] == pytest.approx(expected_b, rel=REL)
    assert got["a"][1] == got["b"][1] == 2 * t
    # a later event moves the state forward
    store.apply_interactions([ev("u", "Y", 1, 4 * t)], TAU)
    got = evidence(store, "u")
    assert got["b"] == (pytest.approx(expected_b * math.exp(-2) + 1, rel=REL), 4 * t)
    assert got["a"] == (pytest.approx(expected_a, rel=REL), 2 * t)


_EVENT = st.tuples(
    st.sampled_from(["X", "Y", "Z", "W"]),
    st.floats(min_value=0.5, max_value=10.0, allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=int(5 * TAU)),
)
_TAGS = {"X": ("a", "b"), "Y": ("b",), "Z": ("c",), "W": ()}


def _split(data: st.DataObject, seq: list) -> list[list]:
    cuts = sorted(data.draw(st.sets(st.integers(min_value=1, max_value=max(1, len(seq) - 1)), max_size=len(seq))))
    bounds = [0, *[c for c in cuts if c < len(seq)], len(seq)]
    return [seq[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@HYPOTHESIS
@given(data=st.data())
def test_evidence_is_order_independent(store: GraphStore, data: st.DataObject) -> None:
    store.upsert_items([CatalogueItem(item, interests=tags) for item, tags in _TAGS.items()])
    events = data.draw(st.lists(_EVENT, min_size=1, max_size=12))
    permuted = data.draw(st.permutations(events))
    run = uuid.uuid4().hex[:8]
    users = {f"seq-{run}": [[e] for e in events], f"perm-{run}": _split(data, list(permuted))}
    for user, batches in users.items():
        for batch in batches:
            assert store.apply_interactions([ev(user, item, w, ts) for item, w, ts in batch], TAU)

    # the reference: every event of an interest's items folded in Python
    expected: dict[str, tuple[float, int]] = {}
    for interest in ("a", "b", "c"):
        terms = [(w, ts) for item, w, ts in events if interest in _TAGS[item]]
        if terms:
            expected[interest] = fold_many(terms, TAU)
    for user in users:
        got = evidence(store, user)
        assert set(got) == set(expected)
        for interest, (value, ts) in expected.items():
            assert got[interest][1] == ts
            assert got[interest][0] == pytest.approx(value, rel=REL)
        rows = interactions(store, user)
        for item in {e[0] for e in events}:
            mine = [(w, ts) for it, w, ts in events if it == item]
            row = rows[item]
            assert row["count"] == len(mine)
            assert row["weight"] == pytest.approx(sum(w for w, _ in mine), rel=REL)
            assert (row["first_ts"], row["last_ts"]) == (min(t for _, t in mine), max(t for _, t in mine))


# --- catalogue ------------------------------------------------------------------------


def _another_worker(store: GraphStore) -> GraphStore:
    """A second store on the same graph, as another API worker or process holds (with
    its own tag cache)."""
    if store.backend == "falkordb":
        from graph_schema.store.falkor import FalkorDBStore

        return FalkorDBStore(store.server, store.graph_name, store.batch_size)  # type: ignore[attr-defined]
    from graph_schema.store.neo4j_store import Neo4jStore

    return Neo4jStore(store.uri, *store._auth, store.database, store.batch_size)  # type: ignore[attr-defined]


def test_evidence_follows_tags_another_worker_changed(store: GraphStore) -> None:
    store.upsert_items(
        [CatalogueItem("i1", interests=("a",)), CatalogueItem("i2", interests=("a",)), CatalogueItem("i3")]
    )
    # cached: i1 -> a, i2 -> a, i3 -> () (every item of the next batch: no re-read of its own)
    store.apply_interactions([ev("u1", "i1", 1, 1000), ev("u1", "i3", 1, 1000), ev("u3", "i2", 1, 1000)], TAU)
    with _another_worker(store) as other:
        other.upsert_items([CatalogueItem("i1", interests=("b",)), CatalogueItem("i3", interests=("c",))])
    store.apply_interactions([ev("u1", "i1", 2, 2000), ev("u1", "i3", 3, 2000), ev("u2", "i2", 1, 2000)], TAU)
    # by hand: the first batch counted under the old tags, the second under the new ones
    got = evidence(store, "u1")
    assert got.keys() == {"a", "b", "c"}
    assert got["a"] == (pytest.approx(1.0, rel=REL), 1000)
    assert got["b"] == (pytest.approx(2.0, rel=REL), 2000)
    assert got["c"] == (pytest.approx(3.0, rel=REL), 2000)
    assert evidence(store, "u2") == {"a": (pytest.approx(1.0, rel=REL), 2000)}
    assert interactions(store, "u1")["i1"]["count"] == 2


def test_a_batch_prepared_before_a_retag_is_applied_under_the_new_tags(store: GraphStore) -> None:
    # the event log encodes batch k+1 while the graph writes batch k: a catalogue
    # change in between must not be missed
    store.upsert_items([CatalogueItem("i1", interests=("a",))])
    prepared = store.prepare_interactions([ev("u1", "i1", 2, 1000)], TAU, "b1")
    assert prepared.statement is not None
    with _another_worker(store) as other:
        other.upsert_items([CatalogueItem("i1", interests=("b",))])
    assert store.apply_prepared(prepared, new_batch=True) is True
    assert evidence(store, "u1") == {"b": (pytest.approx(2.0, rel=REL), 1000)}
    assert store.apply_prepared(prepared) is False  # a retry of the same batch id: a no-op
    assert interactions(store, "u1")["i1"]["count"] == 1


@pytest.mark.parametrize("preload_items", [3, 2])
def test_a_cold_tag_cache_reads_a_small_catalogue_whole(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch, preload_items: int
) -> None:
    store.upsert_items(
        [CatalogueItem("i1", interests=("a",)), CatalogueItem("i2", interests=("a", "b")), CatalogueItem("i3")]
    )
    monkeypatch.setattr(store, "TAG_PRELOAD_ITEMS", preload_items)
    reads: list[str] = []
    original = store._named_read

    def counting(name: str, /, **params: object) -> list[dict]:
        reads.append(name)
        return original(name, **params)

    monkeypatch.setattr(store, "_named_read", counting)
    store.apply_interactions([ev("u1", "i1", 1, 1000)], TAU)
    if preload_items == 3:  # 3 items: read whole, once
        assert reads == ["catalogue_tags"]
        found = store.tag_cache.lookup(["i1", "i2", "i3"], lambda ids: pytest.fail(f"read {ids}"))
        assert found is not None
        assert {i: set(t) for i, t in found[1].items()} == {
            "i1": {("a", 1.0)},
            "i2": {("a", 1.0), ("b", 1.0)},
            "i3": set(),
        }
    else:  # a larger catalogue: what the batch needs
        assert reads == ["catalogue_tags", "item_tags"]
    assert evidence(store, "u1") == {"a": (pytest.approx(1.0, rel=REL), 1000)}


ODD_IDS = ('say "hi"', "back\\slash", "\\u0041", "A", "tab\\t")  # quotes, backslashes, escape look-alikes


@pytest.mark.parametrize("preload_items", [20_000, 0])
def test_ids_with_quotes_and_backslashes_survive_the_tag_cache(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch, preload_items: int
) -> None:
    monkeypatch.setattr(store, "TAG_PRELOAD_ITEMS", preload_items)
    store.upsert_items([CatalogueItem(i, interests=(f"x{i}",)) for i in ODD_IDS])
    store.apply_interactions([ev("u1", i, 1, 1000) for i in ODD_IDS], TAU)
    assert evidence(store, "u1") == {f"x{i}": (pytest.approx(1.0, rel=REL), 1000) for i in ODD_IDS}
    assert set(interactions(store, "u1")) == set(ODD_IDS)


def test_ids_with_quotes_and_backslashes_survive_the_training_pulls(store: GraphStore) -> None:
    store.upsert_items([CatalogueItem(i, interests=(f"x{i}",)) for i in ODD_IDS])
    store.apply_interactions([ev(f"u{i}", i, 1, 1000) for i in ODD_IDS], TAU)
    sub = store.pull_subgraph()
    assert {(r["user_id"], r["item_id"]) for r in sub.interactions} == {(f"u{i}", i) for i in ODD_IDS}
    assert {(r["user_id"], r["interest_id"]) for r in sub.evidence} == {(f"u{i}", f"x{i}") for i in ODD_IDS}
    assert {(r["item_id"], r["interest_id"]) for r in sub.tags} == {(i, f"x{i}") for i in ODD_IDS}
    hood = store.pull_neighbourhood([f"u{ODD_IDS[0]}"], per_item=5)
    assert {r["item_id"] for r in hood.interactions.rows()} == {ODD_IDS[0]}
    assert {r["interest_id"] for r in hood.evidence.rows()} == {f"x{ODD_IDS[0]}"}


def test_community_interest_weights_survive_quotes_and_backslashes(store: GraphStore) -> None:
    """The FalkorDB one-JSON-value variant and the plain query give the same rows."""
    store.upsert_items([CatalogueItem(i, interests=(f"x{i}",)) for i in ODD_IDS])
    store.upsert_interests([{"interest_id": f"x{ODD_IDS[0]}", "name": 'say "hi" \\o/', "kind": "tag"}])
    store.apply_interactions([ev(f"u{i}", i, 1, 1000) for i in ODD_IDS], TAU)
    rows = {(u, t): (name, w) for u, t, name, w in store.user_interest_weights()}
    assert set(rows) == {(f"u{i}", f"x{i}") for i in ODD_IDS}
    assert rows[(f"u{ODD_IDS[0]}", f"x{ODD_IDS[0]}")][0] == 'say "hi" \\o/'
    assert all(w == pytest.approx(1.0, rel=REL) for _, w in rows.values())


def test_titles_with_quotes_and_backslashes_reach_the_recommender_intact(store: GraphStore) -> None:
    title = 'He said "hi" \\o/ \\u0041'
    store.upsert_items([CatalogueItem("i1", title=title, interests=("a",)), CatalogueItem("i2", title="plain")])
    store.apply_interactions([ev("u1", "i1", 1, 1000), ev("u1", "i2", 1, 2000)], TAU)
    (row,) = store.read_named("recs_profile", user_id="u1", anchors=10, seen_limit=100, social_rows=0)
    profile = json.loads(row["profile"]) if isinstance(row["profile"], str) else row["profile"]
    assert {r[0]: r[1] for r in profile["recent"]} == {"i1": title, "i2": "plain"}


def test_every_falkordb_json_variant_is_decoded_by_the_store() -> None:
    from graph_schema import cypher
    from graph_schema.store.falkor import JSON_COLUMNS

    variants = {p.stem for p in (cypher.QUERY_DIR / "falkordb").glob("*.cypher") if "toJSON(" in p.read_text()}
    assert variants == set(JSON_COLUMNS)


def test_a_catalogue_changing_all_the_time_does_not_hold_ingestion_up(store: GraphStore) -> None:
    store.upsert_items([CatalogueItem("i1", interests=("a",)), CatalogueItem("i2", interests=("b",))])
    with _another_worker(store) as other:
        for n in range(5):  # every batch is encoded under a revision that is gone when it lands
            prepared = store.prepare_interactions([ev("u1", "i1", 1, 1000 + n)], TAU, f"churn-{n}")
            other.upsert_items([CatalogueItem("i2", title=f"title {n}", interests=("b",))])
            assert store.apply_prepared(prepared, new_batch=True) is True
            again = store.prepare_interactions([ev("u1", "i1", 1, 1000 + n)], TAU, f"churn-{n}")
            assert store.apply_prepared(again, new_batch=True) is False  # and still at most once
    assert interactions(store, "u1")["i1"]["count"] == 5
    value, ts = evidence(store, "u1")["a"]
    assert ts == 1004 and value == pytest.approx(sum(math.exp(-(1004 - t) / TAU) for t in range(1000, 1005)))


def test_upsert_items(store: GraphStore) -> None:
    title = 'He said "hi" — it\'s a \\ test 🎉\nsecond line'
    written = store.upsert_items(
        [
            CatalogueItem(
                "i1",
                title,
                ("a", "b", "a"),
                {
                    "year": 1999,
                    "genres": ["x", "y"],
                    "meta": {"k": [1, 2]},
                    "score": 0.5,
                    "flag": True,
                    "release-date": "1999-01-01",
                    "path": "C:\\users\\new",
                    "ctrl": "a\x01b",
                    "missing": None,
                    "embedding": [9.0],  # reserved: training output, never from the catalogue
                    "id": "evil",
                },
            ),
            CatalogueItem("i2", "Two", ("b", "c")),
        ]
    )
    assert written == 2
    props = node_props(store, "Item", "i1")
    assert props == {
        "id": "i1",
        "title": title,
        "year": 1999,
        "genres": ["x", "y"],
        "meta": json.dumps({"k": [1, 2]}, sort_keys=True),
        "score": 0.5,
        "flag": True,
        "release-date": "1999-01-01",
        "path": "C:\\users\\new",
        "ctrl": "a\x01b",
    }
    assert tags_of(store, "i1") == {"a", "b"}
    assert tags_of(store, "i2") == {"b", "c"}
    interests = {r[0]: (r[1], r[2]) for r in ro(store, "MATCH (t:Interest) RETURN t.id, t.name, t.kind")}
    assert interests == {"a": ("a", "tag"), "b": ("b", "tag"), "c": ("c", "tag")}
    assert store.counts()["relationships"] == {"TAGGED": 4}

    # re-upsert: tags replaced, other properties kept unless given
    store.upsert_interests([{"interest_id": "b", "name": "Bee", "kind": "genre"}])
    store.upsert_items([CatalogueItem("i1", None, ("b", "d"), {"year": 2000}), CatalogueItem("i2", "Two")])
    assert tags_of(store, "i1") == {"b", "d"}
    assert tags_of(store, "i2") == set()
    props = node_props(store, "Item", "i1")
    assert props["title"] == title and props["year"] == 2000
    interests = {r[0]: (r[1], r[2]) for r in ro(store, "MATCH (t:Interest) RETURN t.id, t.name, t.kind")}
    # an interest keeps its name and kind; one no longer tagged stays a node
    assert interests == {"a": ("a", "tag"), "b": ("Bee", "genre"), "c": ("c", "tag"), "d": ("d", "tag")}

    # within one call the last record per item wins; new items share a new interest
    assert (
        store.upsert_items(
            [
                CatalogueItem("i3", "early", ("a",)),
                CatalogueItem("i4", None, ("new",)),
                CatalogueItem("i5", None, ("new",)),
                CatalogueItem("i3", "late", ("c",)),
            ]
        )
        == 3
    )
    assert node_props(store, "Item", "i3")["title"] == "late"
    assert tags_of(store, "i3") == {"c"}
    assert ro(store, "MATCH (t:Interest {id: 'new'}) RETURN count(t)") == [[1]]
    assert tags_of(store, "i4") == tags_of(store, "i5") == {"new"}


# --- training write-back and pull ----------------------------------------------------------


def test_embedding_write_back_round_trips(store: GraphStore) -> None:
    rng = random.Random(7)
    store.upsert_items([CatalogueItem(f"i{k}", interests=("a", "b")) for k in range(6)])
    store.apply_interactions([ev(f"u{k}", f"i{k % 6}", 1, 1000 + k) for k in range(10)], TAU)
    store.batch_size = 3  # several write batches per call
    vectors: dict[str, dict[str, list[float]]] = {}
    for label, ids in (
        ("User", [f"u{k}" for k in range(10)]),
        ("Item", [f"i{k}" for k in range(6)]),
        ("Interest", ["a", "b"]),
    ):
        vectors[label] = {i: [rng.uniform(-1, 1) for _ in range(64)] for i in ids}
        vectors[label][ids[0]][0] = 1 / 3  # not exactly representable in 15 digits
        rows = [
            {"id": i, "props": {"embedding": v, "model_version": "v1", "refreshed_at": 123}}
            for i, v in vectors[label].items()
        ]
        rows.append({"id": "ghost", "props": {"embedding": [0.0] * 64}})
        assert store.write_node_properties(label, rows) == len(ids)
    pulled = store.pull_subgraph().embeddings
    for label, by_id in vectors.items():
        assert set(pulled[label]) == set(by_id)
        for node_id, vector in by_id.items():
            got = pulled[label][node_id]
            assert len(got) == 64 and all(isinstance(x, float) for x in got)
            assert got == pytest.approx(vector, rel=FLOAT_REL, abs=1e-300)
    props = node_props(store, "Item", "i0")
    assert props["model_version"] == "v1" and props["refreshed_at"] == 123
    with pytest.raises(ValueError):
        store.write_node_properties("IngestBatch", [])


def test_strengths_similar_items_publish_and_cleanup(store: GraphStore) -> None:
    store.upsert_items([CatalogueItem("i1", interests=("a",)), CatalogueItem("i2", interests=("b",))])
    store.upsert_interests([{"interest_id": "c", "name": "C", "kind": "tag"}])
    store.apply_interactions([ev("u1", "i1", 2, 1000), ev("u1", "i2", 3, 2000), ev("u2", "i2", 1, 500)], TAU)
    before = evidence(store, "u1")

    assert (
        store.write_interest_strengths(
            [
                {"user_id": "u1", "interest_id": "a", "strength": 0.1, "updated_at": 10, "model_version": "v1"},
                {"user_id": "u1", "interest_id": "a", "strength": 0.7, "updated_at": 11, "model_version": "v1"},
                {"user_id": "u1", "interest_id": "b", "strength": 0.2, "updated_at": 11, "model_version": "v0"},
                {"user_id": "u2", "interest_id": "c", "strength": 0.3, "updated_at": 11, "model_version": "v1"},
                {"user_id": "ghost", "interest_id": "a", "strength": 0.9, "updated_at": 11, "model_version": "v1"},
            ]
        )
        == 3
    )
    u1 = {r["interest_id"]: r for r in store.user_interests("u1")}
    assert (u1["a"]["strength"], u1["a"]["updated_at"], u1["a"]["model_version"]) == (0.7, 11, "v1")
    assert evidence(store, "u1") == before  # write-back leaves live evidence alone
    u2 = {r["interest_id"]: r for r in store.user_interests("u2")}
    assert (u2["c"]["strength"], u2["c"]["evidence"]) == (0.3, None)
    # ingest onto an edge that training created (no evidence yet)
    store.upsert_items([CatalogueItem("i3", interests=("c",))])
    store.apply_interactions([ev("u2", "i3", 4, 700)], TAU)
    u2 = {r["interest_id"]: r for r in store.user_interests("u2")}
    assert (u2["c"]["strength"], u2["c"]["evidence"], u2["c"]["evidence_ts"]) == (0.3, 4.0, 700)

    assert (
        store.write_similar_items(
            [
                {"item_id": "i1", "other_id": "i2", "score": 0.1, "model_version": "v1"},
                {"item_id": "i1", "other_id": "i2", "score": 0.9, "model_version": "v1"},
                {"item_id": "i2", "other_id": "i1", "score": 0.8, "model_version": "v1"},
                {"item_id": "i1", "other_id": "i2", "score": 0.5, "model_version": "v0"},
                {"item_id": "i1", "other_id": "ghost", "score": 0.5, "model_version": "v1"},
            ]
        )
        == 3
    )
    similar_query = (
        "MATCH (a:Item)-[r:SIMILAR_TO]->(b:Item) RETURN a.id, b.id, r.score, r.model_version "
        "ORDER BY a.id, b.id, r.model_version"
    )
    assert ro(store, similar_query) == [["i1", "i2", 0.5, "v0"], ["i1", "i2", 0.9, "v1"], ["i2", "i1", 0.8, "v1"]]

    assert store.current_model() is None
    assert store.current_model_version() is None
    store.publish_model("v0")
    store.publish_model("v1", {"ndcg@20": 0.25, "runs": [1, 2]})
    model = store.current_model()
    assert model is not None
    assert model["model_version"] == "v1" and model["metrics"] == {"ndcg@20": 0.25, "runs": [1, 2]}
    assert isinstance(model["published_at"], int) and model["published_at"] > 1_600_000_000_000
    assert store.counts()["nodes"]["ModelRegistry"] == 1

    assert store.cleanup_versions("v1", batch=1) == {"similar_deleted": 1, "strengths_cleared": 1, "staged_cleared": 0}
    assert ro(store, similar_query) == [["i1", "i2", 0.9, "v1"], ["i2", "i1", 0.8, "v1"]]
    u1 = {r["interest_id"]: r for r in store.user_interests("u1")}
    assert (u1["b"]["strength"], u1["b"]["model_version"], u1["b"]["updated_at"]) == (None, None, None)
    assert u1["a"]["strength"] == 0.7
    assert evidence(store, "u1") == before
    assert store.cleanup_versions("v1") == {"similar_deleted": 0, "strengths_cleared": 0, "staged_cleared": 0}


def test_pull_subgraph_since_and_for_users(store: GraphStore) -> None:
    store.upsert_items(
        [CatalogueItem("i1", interests=("a",)), CatalogueItem("i2", interests=("a", "b")), CatalogueItem("i3")]
    )
    store.apply_interactions(
        [ev("u1", "i1", 1, 1000), ev("u1", "i2", 2, 5000), ev("u2", "i1", 1, 3000), ev("u3", "i3", 1, 7000)], TAU
    )
    store.apply_interactions([ev("u2", "i1", 1, 8000)], TAU)  # moves last_ts of (u2, i1)

    def pairs(since: int | None = None, users: list[str] | None = None) -> set[tuple[str, str]]:
        return {(r["user_id"], r["item_id"]) for r in store.pull_subgraph(since, users).interactions}

    everything = {("u1", "i1"), ("u1", "i2"), ("u2", "i1"), ("u3", "i3")}
    assert pairs() == everything
    assert pairs(0) == everything
    assert pairs(5000) == {("u1", "i2"), ("u2", "i1"), ("u3", "i3")}
    assert pairs(5001) == {("u2", "i1"), ("u3", "i3")}
    assert pairs(9000) == set()
    assert pairs(None, ["u1", "u3"]) == {("u1", "i1"), ("u1", "i2"), ("u3", "i3")}
    assert pairs(6000, ["u1", "u2"]) == {("u2", "i1")}
    assert pairs(None, []) == set()

    sub = store.pull_subgraph(None, ["u2"])
    (row,) = sub.interactions
    assert row == {"user_id": "u2", "item_id": "i1", "weight": 2.0, "count": 2, "first_ts": 3000, "last_ts": 8000}
    assert {(r["item_id"], r["interest_id"], r["weight"]) for r in sub.tags} == {
        ("i1", "a", 1.0),
        ("i2", "a", 1.0),
        ("i2", "b", 1.0),
    }
    assert {(r["user_id"], r["interest_id"]) for r in sub.evidence} == {("u2", "a")}
    assert {(r["user_id"], r["interest_id"]) for r in store.pull_subgraph().evidence} == {
        ("u1", "a"),
        ("u1", "b"),
        ("u2", "a"),
    }


# --- analyst queries --------------------------------------------------------------------


WRITES = [
    "CREATE (:User {id: 'intruder'})",
    "MERGE (:Item {id: 'intruder'})",
    "MATCH (u:User) SET u.hacked = true",
    "MATCH (i:Item) SET i:Hacked",
    "MATCH (i:Item) REMOVE i.title",
    "MATCH (u:User) DETACH DELETE u",
    "MATCH ()-[r:INTERACTED]->() DELETE r",
    "MATCH (u:User {id: 'u1'}), (i:Item {id: 'i2'}) CREATE (u)-[:INTERACTED {weight: 1}]->(i)",
    "UNWIND [1, 2] AS x MERGE (:Interest {id: toString(x)}) RETURN x",
]


def test_read_only_query_refuses_writes(store: GraphStore) -> None:
    store.upsert_items([CatalogueItem("i1", "One", ("a",)), CatalogueItem("i2", "Two")])
    store.apply_interactions([ev("u1", "i1", 1, 1000)], TAU)
    before = store.counts()
    snapshot = ro(store, "MATCH (n) RETURN n ORDER BY n.id")
    for query in WRITES:
        with pytest.raises(ReadOnlyViolation):
            store.read_only_query(query, None, timeout_ms=5000, row_limit=10)
    assert store.counts() == before
    assert ro(store, "MATCH (n) RETURN n ORDER BY n.id") == snapshot
    # reading with parameters still works
    assert ro(store, "MATCH (i:Item {id: $id}) RETURN i.title AS title", id="i1") == [["One"]]
    with pytest.raises(InvalidQuery):
        store.read_only_query("MATCH (n RETURN n", None, timeout_ms=5000, row_limit=10)


def test_read_only_query_timeout(store: GraphStore) -> None:
    expensive = "UNWIND range(1, 1000) AS a UNWIND range(1, 1000) AS b UNWIND range(1, 1000) AS c RETURN count(*)"
    with pytest.raises(QueryTimeout):
        store.read_only_query(expensive, None, timeout_ms=50, row_limit=10)
    assert store.read_only_query("RETURN 1 AS one", None, timeout_ms=5000, row_limit=10).rows == [[1]]


def test_read_only_query_row_limit(store: GraphStore) -> None:
    query = "UNWIND range(1, 10) AS x RETURN x"
    res = store.read_only_query(query, None, timeout_ms=5000, row_limit=3)
    assert (res.columns, res.rows, res.truncated) == (["x"], [[1], [2], [3]], True)
    for limit in (10, 11):
        res = store.read_only_query(query, None, timeout_ms=5000, row_limit=limit)
        assert (res.rows, res.truncated) == ([[x] for x in range(1, 11)], False)


def test_query_results_are_plain_json(store: GraphStore) -> None:
    store.upsert_items([CatalogueItem("i1", "One", ("a",), {"tags": ["x", "y"]})])
    store.apply_interactions([ev("u1", "i1", 2, 1000)], TAU)
    store.write_node_properties("User", [{"id": "u1", "props": {"embedding": [0.5, -0.25]}}])
    res = store.read_only_query(
        "MATCH p = (u:User)-[r:INTERACTED]->(i:Item) "
        "RETURN u, r, i, p, [u, i] AS both, {user: u, n: 1} AS m, 0.0 / 0.0 AS nan, null AS nothing",
        None,
        timeout_ms=5000,
        row_limit=10,
    )
    assert res.columns == ["u", "r", "i", "p", "both", "m", "nan", "nothing"]
    (row,) = res.rows
    text = json.dumps(res.rows, allow_nan=False)
    assert json.loads(text) == res.rows  # only lists, dicts, str, numbers, bools, null
    u, r, i, p, both, m, nan, nothing = row
    assert u["kind"] == "node" and u["labels"] == ["User"]
    user_props = dict(u["properties"])
    assert isinstance(user_props.pop("rev"), int)  # the user's incarnation (the API's answer cache)
    assert user_props == {"id": "u1", "embedding": [0.5, -0.25]}
    assert i["properties"] == {"id": "i1", "title": "One", "tags": ["x", "y"]}
    assert r["kind"] == "relationship" and r["type"] == "INTERACTED"
    assert (r["start"], r["end"]) == (u["id"], i["id"])
    assert r["properties"] == {"weight": 2.0, "count": 1, "first_ts": 1000, "last_ts": 1000}
    assert p["kind"] == "path"
    assert [n["properties"]["id"] for n in p["nodes"]] == ["u1", "i1"]
    assert [x["type"] for x in p["relationships"]] == ["INTERACTED"]
    assert both == [u, i] and m == {"user": u, "n": 1}
    assert nan is None and nothing is None


# --- recommendations reads ------------------------------------------------------------


def _co_interaction_reference(weights: dict[tuple[str, str], float], user: str, k: int, peers: int) -> list:
    """co_interaction.cypher in plain Python: peers ranked by shared items (then id),
    items they interacted with that `user` did not, scored by sum(shared * weight)."""
    mine = {i for (u, i) in weights if u == user}
    shared = Counter(p for (p, i) in weights if p != user and i in mine)
    top = sorted(shared.items(), key=lambda x: (-x[1], x[0]))[:peers]
    scores: dict[str, float] = defaultdict(float)
    for peer, n in top:
        for (u, i), w in weights.items():
            if u == peer and i not in mine:
                scores[i] += n * w
    return sorted(scores.items(), key=lambda x: (-x[1], x[0]))[:k]


def test_co_interaction_hand_computed(store: GraphStore) -> None:
    # u: A B C.  p3 shares A B C (3), p1 and p5 share A B (2), p2 shares A (1), p4 nothing.
    store.apply_interactions(
        [
            ev("u", "A", 1, 1),
            ev("u", "B", 1, 1),
            ev("u", "C", 1, 1),
            ev("p1", "A", 1, 1),
            ev("p1", "B", 1, 1),
            ev("p1", "D", 2, 1),
            ev("p1", "E", 1, 1),
            ev("p2", "A", 1, 1),
            ev("p2", "D", 3, 1),
            ev("p2", "F", 1, 1),
            ev("p3", "C", 1, 1),
            ev("p3", "B", 1, 1),
            ev("p3", "A", 1, 1),
            ev("p3", "E", 2, 1),
            ev("p4", "G", 50, 1),
            ev("p5", "A", 1, 1),
            ev("p5", "B", 1, 1),
            ev("p5", "H", 10, 1),
        ],
        TAU,
    )
    store.apply_interactions([ev("p3", "E", 3, 2)], TAU)  # p3-E weighs 5 over two batches

    def scores(**kw: int) -> list[tuple[str, float]]:
        return [(r["item_id"], r["score"]) for r in store.co_interaction("u", **kw)]

    # H: p5 2*10 = 20; E: p1 2*1 + p3 3*5 = 17; D: p1 2*2 + p2 1*3 = 7; F: p2 1*1 = 1
    assert scores() == [("H", 20.0), ("E", 17.0), ("D", 7.0), ("F", 1.0)]
    assert scores(k=2) == [("H", 20.0), ("E", 17.0)]
    assert scores(peers=1) == [("E", 15.0)]  # p3 only
    assert scores(peers=2) == [("E", 17.0), ("D", 4.0)]  # p3, then p1 before p5 (tie on 2, by id)
    assert scores(peers=3) == [("H", 20.0), ("E", 17.0), ("D", 4.0)]
    # p5's view: p1 shares A B (2), u shares A B (2), p3 shares A B (2), p2 shares A (1)
    # C: u 2*1 + p3 2*1 = 4; D: p1 2*2 + p2 1*3 = 7; E: p1 2*1 + p3 2*5 = 12; F: p2 1*1 = 1
    assert [(r["item_id"], r["score"]) for r in store.co_interaction("p5")] == [
        ("E", 12.0),
        ("D", 7.0),
        ("C", 4.0),
        ("F", 1.0),
    ]
    assert store.co_interaction("p4") == []
    assert store.co_interaction("nobody") == []


@HYPOTHESIS
@given(
    edges=st.dictionaries(
        st.tuples(st.sampled_from([f"u{k}" for k in range(6)]), st.sampled_from([f"i{k}" for k in range(8)])),
        st.integers(min_value=1, max_value=9),
        min_size=1,
        max_size=30,
    ),
    k=st.integers(min_value=1, max_value=8),
    peers=st.integers(min_value=1, max_value=6),
)
def test_co_interaction_matches_reference(
    store: GraphStore, edges: dict[tuple[str, str], int], k: int, peers: int
) -> None:
    run = uuid.uuid4().hex[:8]  # a disjoint subgraph per example
    weights = {(f"{run}{u}", f"{run}{i}"): float(w) for (u, i), w in edges.items()}
    store.apply_interactions([ev(u, i, w, 1) for (u, i), w in weights.items()], TAU)
    for user in sorted({u for u, _ in weights}):
        got = [(r["item_id"], r["score"]) for r in store.co_interaction(user, k=k, peers=peers)]
        assert got == _co_interaction_reference(weights, user, k, peers)


# --- bookkeeping -------------------------------------------------------------------------


def test_counts(raw_store: GraphStore) -> None:
    assert raw_store.counts() == {"nodes": {}, "relationships": {}}
    raw_store.migrate()
    raw_store.upsert_items(
        [CatalogueItem("i1", interests=("a", "b")), CatalogueItem("i2", interests=("b",)), CatalogueItem("i3")]
    )
    raw_store.apply_interactions([ev("u1", "i1", 1, 1), ev("u1", "i2", 1, 2), ev("u2", "i3", 1, 3)], TAU)
    raw_store.write_similar_items([{"item_id": "i1", "other_id": "i2", "score": 1.0, "model_version": "v"}])
    assert raw_store.counts() == {
        "nodes": {
            "Catalogue": 1,
            "IngestBatch": 1,
            "Interest": 2,
            "Item": 3,
            "SchemaMigration": len(MIGRATIONS),
            "User": 2,
        },
        "relationships": {"INTERACTED": 3, "INTERESTED_IN": 2, "SIMILAR_TO": 1, "TAGGED": 3},
    }


def test_delete_user(store: GraphStore) -> None:
    store.upsert_items([CatalogueItem("i1", interests=("a", "b")), CatalogueItem("i2", interests=("b",))])
    store.apply_interactions(
        [ev("u1", "i1", 1, 1), ev("u1", "i2", 1, 2), ev("u2", "i1", 1, 3), ev("u2", "i2", 2, 4)], TAU
    )
    before = store.counts()
    # u1: 2 INTERACTED + 2 INTERESTED_IN (a, b)
    assert store.delete_user("u1") == 4
    assert not store.user_exists("u1")
    assert store.user_interactions("u1") == [] and store.user_interests("u1") == []
    after = store.counts()
    assert after["nodes"]["User"] == before["nodes"]["User"] - 1
    assert after["nodes"]["Item"] == before["nodes"]["Item"]
    assert after["relationships"]["INTERACTED"] == before["relationships"]["INTERACTED"] - 2
    assert after["relationships"]["INTERESTED_IN"] == before["relationships"]["INTERESTED_IN"] - 2
    assert set(interactions(store, "u2")) == {"i1", "i2"}
    assert store.co_interaction("u2") == []
    assert store.delete_user("u1") is None
    assert store.delete_user("never-existed") is None


def test_staged_outputs_stay_invisible_until_publish_promotes_them_atomically(store: GraphStore) -> None:
    store.upsert_items([CatalogueItem("i1", interests=("a",))])
    store.apply_interactions([ev("u1", "i1", 1, 100)], TAU)
    node = "MATCH (u:User {id: 'u1'}) RETURN u.embedding, u.model_version, u.top_interests"
    edge = "MATCH (:User {id: 'u1'})-[r:INTERESTED_IN]->(:Interest {id: 'a'}) RETURN r.strength, r.model_version"

    def stage(version: str, value: float) -> None:
        store.stage_interest_strengths(
            [{"user_id": "u1", "interest_id": "a", "strength": value, "updated_at": 5, "model_version": version}]
        )
        for label, node_id, extra in (
            ("User", "u1", {"top_interests": ["a"], "interest_strengths": [value]}),
            ("Item", "i1", {}),
            ("Interest", "a", {"strength": value, "trend": 0.0}),
        ):
            props = {"embedding": [value] * 4, "model_version": version, "refreshed_at": 5, **extra}
            store.stage_node_properties(label, [{"id": node_id, "props": props}])

    stage("v1", 0.5)
    assert ro(store, node) == [[None, None, None]] and ro(store, edge) == [[None, None]]
    assert store.publish_model("v1") == {"users": 1, "items": 1, "interests": 1, "strengths": 1}
    assert ro(store, node) == [[[0.5] * 4, "v1", ["a"]]] and ro(store, edge) == [[0.5, "v1"]]
    assert ro(store, "MATCH (t:Interest {id: 'a'}) RETURN t.strength, t.next_strength") == [[0.5, None]]

    # a run that staged and then failed (never published): v1 stays fully readable
    stage("v2-failed", 0.9)
    assert ro(store, node) == [[[0.5] * 4, "v1", ["a"]]] and ro(store, edge) == [[0.5, "v1"]]
    assert store.current_model_version() == "v1"
    # the next run publishes; the failed run's leftovers are cleaned up
    stage("v3", 0.7)
    store.publish_model("v3")
    assert ro(store, node) == [[[0.7] * 4, "v3", ["a"]]] and ro(store, edge) == [[0.7, "v3"]]
    assert store.cleanup_versions("v3")["staged_cleared"] == 0  # v3 consumed what v2 left: overwritten
    with pytest.raises(ValueError, match="cannot be staged"):
        store.stage_node_properties("Item", [{"id": "i1", "props": {"colour": "red", "model_version": "v4"}}])


def test_cleanup_removes_what_an_unpublished_run_staged(store: GraphStore) -> None:
    store.upsert_items([CatalogueItem("i1", interests=("a",)), CatalogueItem("i2", interests=("a",))])
    store.stage_node_properties("Item", [{"id": "i1", "props": {"embedding": [1.0], "model_version": "dead"}}])
    store.stage_node_properties("Item", [{"id": "i2", "props": {"embedding": [2.0], "model_version": "live"}}])
    store.publish_model("live")
    assert store.cleanup_versions("live")["staged_cleared"] == 1
    rows = ro(store, "MATCH (i:Item) RETURN i.id, i.embedding, i.next_embedding, i.next_model_version ORDER BY i.id")
    assert rows == [["i1", None, None, None], ["i2", [2.0], None, None]]


def test_item_attributes_are_stored_as_values_both_engines_accept(store: GraphStore) -> None:
    # Neo4j refuses mixed-type list properties; they are kept as JSON text instead
    attrs = {"tags": ["a", "b"], "mixed": ["x", 3], "nums": [1, 2.5], "flags": [True, False], "nested": {"k": 1}}
    store.upsert_items([CatalogueItem("i1", "T", (), attrs)])
    rows = ro(store, "MATCH (i:Item {id: 'i1'}) RETURN i.tags, i.mixed, i.nums, i.flags, i.nested")
    assert rows == [[["a", "b"], '["x", 3]', [1.0, 2.5], [True, False], '{"k": 1}']]


# --- incremental refresh: neighbourhood pull and carry-forward publish ---------------
def test_pull_neighbourhood_samples_the_most_recent_users_of_the_seeds_new_items(store: GraphStore) -> None:
    store.upsert_items([CatalogueItem(i, interests=("a",)) for i in ("i1", "i2", "i3", "i9")])
    store.apply_interactions(
        [
            ev("s", "i1", 1, 100), ev("s", "i2", 1, 110), ev("s", "i3", 1, 5),  # the seed's items
            ev("p1", "i1", 1, 10), ev("p2", "i1", 1, 20), ev("p3", "i1", 1, 30),  # i1's peers, oldest first
            ev("p4", "i2", 1, 40), ev("p3", "i9", 2, 50),  # a peer's other item: never pulled
            ev("far", "i3", 1, 60), ev("far", "i9", 1, 70),
        ],
        TAU,
    )  # fmt: skip

    def pulled(per_item: int, since: int | None = None, new_since: int | None = 100) -> set[tuple[str, str]]:
        found = []
        # both paths: the per-user lookups of pull_neighbourhood.cypher, and the one full
        # scan filtered in Python that seeds of most users take
        for share in (float("inf"), 0.0):
            store.NEIGHBOURHOOD_SCAN_SHARE = share  # type: ignore[misc]
            sub = store.pull_neighbourhood(["s"], per_item, since, new_since)
            assert {r["item_id"] for r in sub.tags} == {"i1", "i2", "i3", "i9"}  # every tag, always
            assert {r["user_id"] for r in sub.evidence.rows()} == {"s"}
            found.append({(r["user_id"], r["item_id"]) for r in sub.interactions.rows()})
        del store.NEIGHBOURHOOD_SCAN_SHARE
        assert found[0] == found[1]
        return found[0]

    # by hand: the seed's new items (last_ts >= 100) are i1 and i2; per item its most recent
    # users, the seed counting: i1 -> s (100), p3 (30), p2 (20); i2 -> s (110), p4 (40)
    seed = {("s", "i1"), ("s", "i2"), ("s", "i3")}
    assert pulled(3) == seed | {("p3", "i1"), ("p2", "i1"), ("p4", "i2")}
    assert pulled(2) == seed | {("p3", "i1"), ("p4", "i2")}
    assert pulled(1) == seed
    assert pulled(0) == seed
    # new_since None: every item of the seed's is new (i3 brings `far`)
    assert pulled(2, new_since=None) == seed | {("p3", "i1"), ("p4", "i2"), ("far", "i3")}
    # since: only interactions last touched at or after 25 count, for the seed and its peers
    assert pulled(5, since=25) == {("s", "i1"), ("s", "i2"), ("p3", "i1"), ("p4", "i2")}
    # items with a vector are not new: no peers for them
    store.write_node_properties("Item", [{"id": "i1", "props": {"embedding": [1.0, 0.0], "model_version": "v"}}])
    assert pulled(3) == seed | {("p4", "i2")}
    assert len(store.pull_neighbourhood([], 5).interactions) == 0


def test_publish_carries_what_an_incremental_run_did_not_restage(store: GraphStore) -> None:
    store.upsert_items([CatalogueItem("i1", interests=("a",)), CatalogueItem("i2", interests=("a",))])
    store.apply_interactions([ev("u1", "i1", 1, 100), ev("u2", "i2", 1, 100)], TAU)

    def stage(version: str, users: list[str], items: list[str], value: float) -> None:
        store.stage_interest_strengths(
            [{"user_id": u, "interest_id": "a", "strength": value, "updated_at": 5, "model_version": version}
             for u in users]
        )  # fmt: skip
        for label, ids in (("User", users), ("Item", items)):
            rows = [{"id": i, "props": {"embedding": [value] * 2, "model_version": version}} for i in ids]
            store.stage_node_properties(label, rows)

    stage("v1", ["u1", "u2"], ["i1", "i2"], 0.5)
    store.publish_model("v1")
    stage("v2", ["u1"], ["i1"], 0.9)  # an incremental run re-fitted u1 and i1 only
    store.publish_model("v2", carry_from="v1")
    users = "MATCH (u:User) RETURN u.id, u.embedding, u.model_version ORDER BY u.id"
    items = "MATCH (i:Item) RETURN i.id, i.embedding, i.model_version ORDER BY i.id"
    strengths = "MATCH (u:User)-[r:INTERESTED_IN]->() RETURN u.id, r.strength, r.model_version ORDER BY u.id"
    assert ro(store, users) == [["u1", [0.9, 0.9], "v2"], ["u2", [0.5, 0.5], "v2"]]
    assert ro(store, items) == [["i1", [0.9, 0.9], "v2"], ["i2", [0.5, 0.5], "v2"]]
    assert ro(store, strengths) == [["u1", 0.9, "v2"], ["u2", 0.5, "v2"]]
    store.cleanup_versions("v2")  # nothing of the published version is removed
    assert ro(store, strengths) == [["u1", 0.9, "v2"], ["u2", 0.5, "v2"]]
    # a full run (no carry_from) leaves what it did not stage at the old version
    stage("v3", ["u1"], ["i1"], 0.7)
    store.publish_model("v3")
    assert ro(store, users) == [["u1", [0.7, 0.7], "v3"], ["u2", [0.5, 0.5], "v2"]]


def _publish_scenario(store: GraphStore, batch: int | None) -> list[list]:
    """A full publish of 5 users, then an incremental one that re-fitted u1 and i1; the
    graph's model state after them (every vector, version, ranking and strength)."""
    store._write("MATCH (n) DETACH DELETE n", {})
    users, items = [f"u{n}" for n in range(1, 6)], ["i1", "i2", "i3"]
    store.upsert_items([CatalogueItem(i, interests=("a", "b")) for i in items])
    store.apply_interactions([ev(u, i, 1, 100) for u in users for i in items[: 1 + int(u[1]) % 3]], TAU)

    def stage(
        version: str, staged_users: list[str], staged_items: list[str], value: float, interests: tuple = ("a", "b")
    ) -> None:
        store.stage_interest_strengths(
            [{"user_id": u, "interest_id": t, "strength": value, "updated_at": 5, "model_version": version}
             for u in staged_users for t in interests]
        )  # fmt: skip
        store.stage_node_properties(
            "User",
            [{"id": u, "props": {"embedding": [value, float(u[1])], "model_version": version,
                                 "recs_items": items, "recs_scores": [value] * 3}} for u in staged_users],
        )  # fmt: skip
        store.stage_node_properties(
            "Item", [{"id": i, "props": {"embedding": [value], "model_version": version}} for i in staged_items]
        )
        store.stage_node_properties("Interest", [{"id": "a", "props": {"strength": value, "model_version": version}}])

    stage("v1", users, items, 0.5)
    full = store.publish_model("v1", {"ndcg@20": 0.1}, batch=batch)
    assert full == {"users": 5, "items": 3, "interests": 1, "strengths": 10}
    stage("v2", ["u1"], ["i1"], 0.9, interests=("a",))  # u1's new top list dropped b
    incremental = store.publish_model("v2", {"ndcg@20": 0.2}, carry_from="v1", batch=batch)
    assert incremental == {"users": 1, "items": 1, "interests": 1, "strengths": 1}
    assert store.current_model_version() == "v2" and store.current_model()["metrics"] == {"ndcg@20": 0.2}
    return _state(store)


def _state(store: GraphStore) -> list[list]:
    return ro(store, """
        MATCH (n) WHERE n:User OR n:Item OR n:Interest
        OPTIONAL MATCH (n)-[r:INTERESTED_IN]->(t)
        RETURN n.id, n.embedding, n.model_version, n.next_model_version, n.recs_items, n.recs_scores,
               n.strength, t.id, r.strength, r.model_version, r.next_model_version
        ORDER BY n.id, t.id""")  # fmt: skip


def test_a_batched_publish_leaves_the_graph_a_single_transaction_does(store: GraphStore) -> None:
    """More users than `batch`: promoted and carried in transactions of `batch` users; the
    same graph, counts and pointer as the one-transaction publish, whatever the batch."""
    whole = _publish_scenario(store, None)
    # by hand: u1 re-fitted at 0.9, u2-u5 and their strengths carried from v1 at 0.5; u1's
    # strength of b, which its new list dropped, is not carried (cleanup clears it)
    assert [r[:3] + r[7:10] for r in whole if r[0] == "u1"] == [
        ["u1", [0.9, 1.0], "v2", "a", 0.9, "v2"],
        ["u1", [0.9, 1.0], "v2", "b", 0.5, "v1"],
    ]
    assert {(r[0], r[2], r[9]) for r in whole if r[0] in ("u2", "u5")} == {("u2", "v2", "v2"), ("u5", "v2", "v2")}
    finals: list[dict] = []
    named_write = store._named_write

    def observed(name: str, /, **params: object) -> list[dict]:
        rows = named_write(name, **params)
        if name == "publish_model":
            finals.append(rows[0])
        return rows

    store._named_write = observed  # type: ignore[method-assign]
    for batch in (1, 2, 3, 4, 100):
        finals.clear()
        assert _publish_scenario(store, batch) == whole, batch
        if batch < 5:  # the batches moved every row: the last transaction only moves the pointer
            assert [r["users"] + r["items"] + r["interests"] + r["strengths"] for r in finals] == [0, 0]
            assert [r["carried_users"] + r["carried_strengths"] + r["carried_items"] for r in finals] == [0, 0]
        else:
            assert finals[0]["users"] == 5 and finals[1]["carried_users"] == 4
    store._named_write = named_write  # type: ignore[method-assign]

    # the incremental publish stopped at any point after its intent (each batch its own
    # transaction) and finished by finish_publish leaves the same graph: it only rolls forward
    calls = 0

    def stops_after(n: int) -> Callable[..., list[dict]]:
        def write(name: str, /, **params: object) -> list[dict]:
            nonlocal calls
            if params.get("model_version") == "v2" and (name == "publish_model" or name.endswith("_batch")):
                calls += 1
                if calls > n:
                    raise ConnectionError("the process stopped")
            return named_write(name, **params)

        return write

    for n in itertools.count():
        calls = 0
        store._named_write = stops_after(n)  # type: ignore[method-assign]
        try:
            state = _publish_scenario(store, 2)
        except ConnectionError:
            state = None
        finally:
            store._named_write = named_write  # type: ignore[method-assign]
        if state is not None:  # n passed the last transaction: nothing stopped it
            assert state == whole and n >= 9  # promote 3, carry users 3, items 2, interests 1, the pointer
            break
        assert store.current_model_version() == "v1", n  # the pointer moves last
        assert store.finish_publish(batch=2)[0] == "v2", n
        assert ro(store, "MATCH (m:ModelRegistry) RETURN m.publishing") == [[None]]
        assert _state(store) == whole, n


def test_a_batched_publish_stopped_half_way_only_rolls_forward(store: GraphStore) -> None:
    _publish_scenario(store, None)  # v2 published
    users = [f"u{n}" for n in range(1, 6)]
    staged = [{"id": u, "props": {"embedding": [0.1], "model_version": "v3"}} for u in users]
    store.stage_node_properties("User", staged)
    # the process stops after its intent and one batch of two users
    store._named_write(
        "publish_intent", model_version="v3", carry_from=None, similar_version=None, metrics="{}", published_at=7
    )
    store._named_write("publish_users_batch", model_version="v3", limit=2)
    versions = "MATCH (u:User) RETURN u.model_version, count(u) ORDER BY u.model_version"
    assert ro(store, versions) == [["v2", 3], ["v3", 2]]
    assert store.current_model_version() == "v2"  # the pointer has not moved
    with pytest.raises(RuntimeError, match="v3 is being published"):
        store.cleanup_versions("v2")  # it would take v3's staged rows for a dead run's
    assert store.finish_publish(batch=2)[0] == "v3"
    assert ro(store, versions) == [["v3", 5]] and store.current_model_version() == "v3"
    assert store.finish_publish(batch=2) == (None, {})  # nothing under way any more
    with pytest.raises(RuntimeError, match="v3 is being published"):  # one publish at a time
        store._named_write("publish_intent", model_version="v3", carry_from=None, similar_version=None,
                           metrics="{}", published_at=1)  # fmt: skip
        store.publish_model("v4", batch=2)
    store.cleanup_versions("v3")


def test_an_incremental_cleanup_clears_its_refitted_users_strengths_only(store: GraphStore) -> None:
    """After an incremental publish the strengths to clear are the re-fitted users' (the
    interests their new top lists dropped): cleanup_versions(users=..., base=...) clears
    exactly those and leaves other users' edges alone, when the base version's own cleanup
    completed; after a cleanup that did not (a failure), it passes over every edge."""
    store.upsert_items([CatalogueItem("i1", interests=("a", "b")), CatalogueItem("i2", interests=("a", "b"))])
    store.apply_interactions([ev(u, "i1", 1, 100) for u in ("u1", "u2", "u3")], TAU)

    def publish(version: str, rows: list[tuple[str, str]], carry_from: str | None = None) -> None:
        store.stage_interest_strengths(
            [{"user_id": u, "interest_id": t, "strength": 0.5, "updated_at": 5, "model_version": version}
             for u, t in rows]
        )  # fmt: skip
        users = sorted({u for u, _ in rows})
        store.stage_node_properties("User", [{"id": u, "props": {"model_version": version}} for u in users])
        store.publish_model(version, carry_from=carry_from)

    edges = (
        "MATCH (u:User)-[r:INTERESTED_IN]->(t:Interest) "
        "RETURN u.id, t.id, r.model_version, r.next_model_version ORDER BY u.id, t.id"
    )
    publish("v1", [("u1", "a"), ("u1", "b"), ("u2", "a"), ("u2", "b")])
    assert store.cleanup_versions("v1") == {"similar_deleted": 0, "strengths_cleared": 0, "staged_cleared": 0}
    store.stage_interest_strengths(  # a run that never published left this on u3
        [{"user_id": "u3", "interest_id": "a", "strength": 0.1, "updated_at": 5, "model_version": "v0-failed"}]
    )
    publish("v2", [("u1", "a")], carry_from="v1")  # re-fitted u1, whose top list dropped b
    assert ["u1", "b", "v1", None] in ro(store, edges)
    counts = store.cleanup_versions("v2", users=["u1"], base="v1")
    assert counts == {"similar_deleted": 0, "strengths_cleared": 1, "staged_cleared": 0}
    assert ro(store, edges) == [
        ["u1", "a", "v2", None], ["u1", "b", None, None], ["u2", "a", "v2", None], ["u2", "b", "v2", None],
        ["u3", "a", None, "v0-failed"], ["u3", "b", None, None],  # (evidence edges)
    ]  # fmt: skip
    publish("v3", [("u2", "a")], carry_from="v2")  # its cleanup fails: u2's b stays at v2
    publish("v4", [("u1", "a")], carry_from="v3")
    counts = store.cleanup_versions("v4", users=["u1"], base="v3")  # v3 was never cleaned: every edge
    assert counts == {"similar_deleted": 0, "strengths_cleared": 1, "staged_cleared": 1}
    assert ["u2", "b", None, None] in ro(store, edges) and ["u3", "a", None, None] in ro(store, edges)


def test_a_ranking_without_reasons_is_written_as_an_empty_list(store: GraphStore) -> None:
    """The refresh writes recs_because = [] when no entry has a reason (training.user_lists):
    both reads (the profile, the serving snapshot's users) give one empty reason per item,
    and a publish replaces an older list's reasons instead of keeping them."""
    store.upsert_items([CatalogueItem(f"i{n}", interests=("a",)) for n in range(1, 4)])
    store.apply_interactions([ev("u1", "i1", 1, 100)], TAU)

    def publish(version: str, items: list[str], because: list[str]) -> None:
        props = {"embedding": [0.1] * 4, "model_version": version, "refreshed_at": 5, "recs_items": items,
                 "recs_scores": [1.0 - n / 10 for n in range(len(items))], "recs_because": because,
                 "recs_at": 100}  # fmt: skip
        store.stage_node_properties("User", [{"id": "u1", "props": props}])
        store.publish_model(version)

    def served() -> list[tuple[str, str | None]]:
        prof = store.profile("u1", anchors=5, seen_limit=10)
        assert prof is not None
        snap = store.snapshot_users_of(prof.published or "", ["u1"])
        assert [list(zip(u.items, u.because, strict=True)) for u in snap] == [
            [(r.item_id, r.because or "") for r in prof.ranking]
        ]
        return [(r.item_id, r.because) for r in prof.ranking]

    publish("v1", ["i2", "i3"], ["i1", "i1"])
    assert served() == [("i2", "i1"), ("i3", "i1")]
    publish("v2", ["i3", "i2"], [])
    assert served() == [("i3", None), ("i2", None)]


def test_precomputed_lists_are_replaced_atomically_at_publish(store: GraphStore) -> None:
    """A user's precomputed top-N list (recs_*, what serving reads in its one profile
    query) stays the published model's until the next publish swaps it, with the
    version, in the same transaction; an incremental run that stages none keeps it."""
    store.upsert_items([CatalogueItem(f"i{n}", interests=("a",)) for n in range(1, 5)])
    store.apply_interactions([ev("u1", "i1", 1, 100)], TAU)

    def stage(version: str, items: list[str]) -> None:
        props = {"embedding": [0.1] * 4, "model_version": version, "refreshed_at": 5, "recs_items": items,
                 "recs_scores": [1.0 - n / 10 for n in range(len(items))], "recs_because": ["i1"] * len(items),
                 "recs_at": 100}  # fmt: skip
        store.stage_node_properties("User", [{"id": "u1", "props": props}])

    def served() -> tuple[list[str], str | None, str | None]:
        prof = store.profile("u1", anchors=5, seen_limit=10)
        assert prof is not None
        return [r.item_id for r in prof.ranking], prof.model_version, prof.published

    stage("v1", ["i2", "i3"])
    assert served() == ([], None, None)  # staged: invisible
    store.publish_model("v1")
    assert served() == (["i2", "i3"], "v1", "v1")
    stage("v2", ["i4", "i3", "i2"])
    assert served() == (["i2", "i3"], "v1", "v1")  # v2 staged, v1's list still served
    store.publish_model("v2")
    assert served() == (["i4", "i3", "i2"], "v2", "v2")
    # an incremental run stages no list: the user keeps v2's (and the API adds what came after recs_at)
    store.stage_node_properties("User", [{"id": "u1", "props": {"embedding": [0.2] * 4, "model_version": "v3"}}])
    store.publish_model("v3", carry_from="v2")
    assert served() == (["i4", "i3", "i2"], "v3", "v3")
