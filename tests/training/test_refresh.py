"""The refresh job end to end on the embedded store, with a planted two-group graph."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("dgl")

from graph_schema.rows import CatalogueItem, Interaction
from graph_schema.store.social import RelationState
from training.base_vectors import BaseVectors
from training.config import TrainConfig
from training.gate import HOLDOUT_VERSION
from training.refresh import RefreshOptions, run_refresh

DAY = 86_400_000
T0 = 1_700_000_000_000
OPTS = RefreshOptions(
    top_n_interests=2,
    similar_k=3,
    foldin_steps=20,
    train=TrainConfig(
        dim=8,
        layers=2,
        lr=0.05,
        epochs=8,
        batch_size=256,
        negatives=2,
        patience=3,
        progress=False,
        device="cpu",
        seed=3,
    ),
)

# the refresh (publish, gate, rollback) on FalkorDB and on Neo4j
pytestmark = pytest.mark.graph_engines


def events(seed: int = 0, users: int = 12, items: int = 10, per_user: int = 10, t0: int = T0) -> list[Interaction]:
    rng = np.random.default_rng(seed)
    out = []
    for grp in (0, 1):
        for u in range(users):
            for k, it in enumerate(rng.permutation(items)[:per_user]):
                out.append(Interaction(f"g{grp}u{u}", f"g{grp}i{it}", float(rng.integers(1, 6)), t0 + k * DAY))
    return out


@pytest.fixture
def loaded(graph_store, training_settings):
    graph_store.upsert_items(
        [CatalogueItem(f"g{grp}i{i}", f"item {grp}/{i}", (f"topic{grp}",)) for grp in (0, 1) for i in range(10)]
    )
    graph_store.apply_interactions(events(), training_settings.evidence_tau_ms)
    return graph_store


def test_full_refresh_publishes_everything(loaded, training_settings):
    store = loaded
    phases = []
    res = run_refresh(store, training_settings, "full", options=OPTS, on_phase=phases.append)
    assert res.status == "published"
    assert set(res.phases) == {"text", "pull", "build", "train", "evaluate", "write"}
    assert phases[:3] == ["text", "pull", "build"]
    assert store.current_model_version() == res.model_version
    published = store.current_model()["metrics"]
    assert published["ndcg@20"] == pytest.approx(res.metrics["ndcg@20"])
    assert set(res.baseline) >= {"recall@10", "ndcg@20", "hit@10", "mrr@10"}

    interests = store.user_interests("g0u0")
    strengths = [r["strength"] for r in interests if r["model_version"] == res.model_version]
    assert strengths and all(0.0 <= s <= 1.0 for s in strengths) and max(strengths) == pytest.approx(1.0)
    top = store.read_only_query(
        "MATCH (u:User {id: 'g0u0'}) RETURN u.top_interests, u.interest_strengths, u.model_version", None, 5000, 10
    ).rows[0]
    assert top[0][0] == "topic0" and top[1][0] == pytest.approx(1.0) and top[2] == res.model_version
    similar = store.read_named("item_similar", item_id="g0i0", model_version=res.model_version, k=3)
    assert len(similar) == 3 and all(r["item_id"].startswith("g0") for r in similar)
    emb = store.read_only_query(
        "MATCH (t:Interest) RETURN t.id, size(t.embedding), t.strength, t.trend ORDER BY t.id", None, 5000, 10
    ).rows
    assert [r[1] for r in emb] == [8, 8]
    assert sum(r[2] for r in emb) == pytest.approx(1.0)


def test_a_full_refresh_starts_from_the_last_full_runs_base_vectors_never_from_the_published(loaded, training_settings):
    """The published vectors are propagated over the hold-out's events too: a full run that
    started from them was measured on events it had seen. It starts from the base vectors
    of the last published full run (kept on local disk), or from scratch without them."""
    store = loaded
    first = run_refresh(store, training_settings, "full", options=OPTS)
    assert first.status == "published" and first.counts["warm_started_users"] == 0
    saved = BaseVectors(training_settings.base_vectors_dir).load()
    assert (len(saved.tables["user"]), len(saved.tables["item"]), len(saved.tables["interest"])) == (24, 20, 2)
    assert saved.tables["user"].vectors.shape == (24, OPTS.train.dim)
    assert len(saved.trained[0]) == first.counts["train"]
    second = run_refresh(store, training_settings, "full", options=OPTS, force=True)
    assert second.status == "published"
    assert (second.counts["warm_started_users"], second.counts["warm_started_items"]) == (24, 20)
    assert second.counts["warm_start_held_out_users"] == 0  # no new event: the same hold-out
    # the saved vectors gone: the run starts from scratch, and is the first run again,
    # whatever vectors the graph publishes now
    BaseVectors(training_settings.base_vectors_dir).forget()
    third = run_refresh(store, training_settings, "full", options=OPTS, force=True)
    assert third.counts["warm_started_users"] == 0
    assert third.metrics == first.metrics and third.best_epoch == first.best_epoch

    def curve(res):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in res.history]

    assert curve(third) == curve(first) != curve(second)


def test_gate_rejects_worse_run_and_keeps_pointer(loaded, training_settings):
    store = loaded
    first = run_refresh(store, training_settings, "full", options=OPTS)
    # pretend the published run was far better: the next run must be rejected
    store.publish_model(first.model_version, {**store.current_model()["metrics"], "ndcg@20": 2.0})
    second = run_refresh(store, training_settings, "full", options=OPTS)
    assert second.status == "rejected" and "ndcg@20" in second.reason
    assert store.current_model_version() == first.model_version
    forced = run_refresh(store, training_settings, "full", options=OPTS, force=True)
    assert forced.status == "published" and store.current_model_version() == forced.model_version
    # old versions' neighbourhoods are gone after publishing
    rows = store.read_only_query("MATCH ()-[r:SIMILAR_TO]->() RETURN DISTINCT r.model_version", None, 5000, 10).rows
    assert rows == [[forced.model_version]]


def test_gate_compares_only_runs_on_the_same_holdout(loaded, training_settings):
    """A published run whose metrics came from another hold-out definition (before the
    pulls were sorted) is no reference: the next full run is not rejected against it."""
    store = loaded
    first = run_refresh(store, training_settings, "full", options=OPTS)
    metrics = store.current_model()["metrics"]
    assert metrics["holdout"] == HOLDOUT_VERSION
    old = {k: v for k, v in metrics.items() if k != "holdout"}
    store.publish_model(first.model_version, {**old, "ndcg@20": 2.0})
    second = run_refresh(store, training_settings, "full", options=OPTS)
    assert second.status == "published" and second.published_metric is None
    # and the run it published is the reference from now on
    store.publish_model(second.model_version, {**store.current_model()["metrics"], "ndcg@20": 2.0})
    assert run_refresh(store, training_settings, "full", options=OPTS).status == "rejected"


def test_failed_write_leaves_previous_version(loaded, training_settings, monkeypatch):
    store = loaded
    first = run_refresh(store, training_settings, "full", options=OPTS)

    def boom(rows):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "write_similar_items", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        run_refresh(store, training_settings, "full", options=OPTS, force=True)
    assert store.current_model_version() == first.model_version
    assert len(store.read_named("item_similar", item_id="g0i0", model_version=first.model_version, k=3)) == 3
    emb = store.read_named("recs_embeddings", item_ids=["g0i0", "g1i1"], model_version=first.model_version)
    assert emb and emb[0]["embeddings"]


def _user_state(store):
    nodes = store.read_only_query(
        "MATCH (u:User) RETURN u.id, u.embedding, u.model_version, u.top_interests ORDER BY u.id", {}, 10_000, 10_000
    ).rows
    edges = store.read_only_query(
        "MATCH (u:User)-[r:INTERESTED_IN]->(t:Interest) RETURN u.id, t.id, r.strength, r.model_version "
        "ORDER BY u.id, t.id",
        {},
        10_000,
        10_000,
    ).rows
    return nodes, edges


def test_a_run_failing_half_way_through_its_writes_leaves_the_previous_version_fully_readable(
    loaded, training_settings, monkeypatch
):
    store = loaded
    first = run_refresh(store, training_settings, "full", options=OPTS)
    before = _user_state(store)
    assert all(row[2] == first.model_version for row in before[0])
    real = store.stage_node_properties

    def fail_on_items(label, rows):
        if label == "Item":  # users (and strengths) are already written by now
            raise RuntimeError("store went away")
        return real(label, rows)

    monkeypatch.setattr(store, "stage_node_properties", fail_on_items)
    with pytest.raises(RuntimeError, match="went away"):
        run_refresh(store, training_settings, "full", options=OPTS, force=True)
    assert store.current_model_version() == first.model_version
    assert _user_state(store) == before  # every user vector, top list and strength: still the first run's


def test_full_refresh_writes_each_users_learned_ranking_and_an_incremental_run_keeps_it(loaded, training_settings):
    store = loaded
    res = run_refresh(store, training_settings, "full", options=OPTS)
    blend = res.metrics["blend"]
    assert sum(blend["weights"].values()) == pytest.approx(1.0) and "blend" in blend["validation"]
    assert store.current_model()["metrics"]["blend"] == blend  # recorded with the model
    # nobody follows anybody: no social component (the API keeps RECS_SOCIAL_WEIGHT)
    assert "social" not in blend["candidates"] and blend["social_tau_days"] is None
    seen = {e.item_id for e in events() if e.user_id == "g0u0"}
    prof = store.profile("g0u0", anchors=5, seen_limit=100)
    ranked = [r.item_id for r in prof.ranking]
    assert ranked and not set(ranked) & seen and len(ranked) == len(set(ranked))
    assert len(ranked) == 10  # every item the user has not taken (its group has 10, all taken)
    assert all(r.because is None or r.because in seen for r in prof.ranking)
    assert prof.ranking_at == max(e.ts for e in events())

    lenient = replace(OPTS, gate_margin=1.0)
    store.apply_interactions([Interaction("g0u0", "g0i9", 5.0, T0 + 90 * DAY)], training_settings.evidence_tau_ms)
    again = run_refresh(store, training_settings, "incremental", options=lenient, touched_users=["g0u0"])
    assert again.mode == "incremental" and again.status == "published"
    kept = store.profile("g0u0", anchors=5, seen_limit=100)
    assert [r.item_id for r in kept.ranking] == ranked and kept.ranking_at == prof.ranking_at


def test_a_full_refresh_takes_the_event_logs_exposures_as_negatives(loaded, training_settings):
    # pairs the training data knows, and some it does not (a user or item not in the graph)
    exposures = [("g0u0", "g1i0"), ("g0u1", "g1i1"), ("nobody", "g0i0"), ("g0u0", "no-item")]
    res = run_refresh(loaded, training_settings, "full", options=OPTS, exposures=exposures)
    assert res.status == "published"


def test_a_full_refresh_lets_the_ties_compete_in_the_blend_and_records_the_outcome(loaded, training_settings):
    # each g0 user follows the next two g0 users (their taste group); a friendship, being
    # two FOLLOWS edges, ties g1u0 and g1u1
    ties = [RelationState(f"g0u{u}", f"g0u{(u + k) % 12}", "follow", True, T0, 1.0) for u in range(12) for k in (1, 2)]
    ties += [RelationState(a, b, "friend", True, T0, 1.0) for a, b in (("g1u0", "g1u1"), ("g1u1", "g1u0"))]
    loaded.apply_relations(ties)
    res = run_refresh(loaded, training_settings, "full", options=OPTS)
    assert res.status == "published"
    blend = res.metrics["blend"]
    assert "social" in blend["candidates"] and "social" in blend["validation"]
    assert blend["social_tau_days"] == OPTS.social_tau_days
    assert 0.0 <= blend["weights"].get("social", 0.0) <= 1.0
    assert loaded.current_model()["metrics"]["blend"] == blend  # what the API reads the weight from
