"""Incremental refresh on the embedded store: the neighbourhood pull, the joint fold-in,
partial write-back with carry-forward, and the gate, on a small planted graph."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import numpy as np
import pytest
import torch

pytest.importorskip("dgl")

from graph_schema.rows import CatalogueItem, Interaction
from tests.training.test_refresh import OPTS as REFRESH_OPTS
from training.data import TrainingData
from training.foldin import bpr_grads, fold_in
from training.holdout import holdout_after
from training.refresh import run_refresh

DAY = 86_400_000
T0 = 1_700_000_000_000
PER_ITEM = 1
OPTS = replace(REFRESH_OPTS, neighbours_per_item=PER_ITEM)  # the refresh tests' small, fast settings
GROUPS, USERS, ITEMS, PER_USER = (0, 1), 12, 20, 10

# the incremental refresh on FalkorDB and on Neo4j
pytestmark = pytest.mark.graph_engines


def events(seed: int = 0) -> list[Interaction]:
    """Two groups of 12 users; each sees 10 of its group's 20 items, one a day, so every
    user's k-th item has ts T0 + k days (recency ties broken by user id)."""
    rng = np.random.default_rng(seed)
    out = []
    for grp in GROUPS:
        for u in range(USERS):
            for k, it in enumerate(rng.permutation(ITEMS)[:PER_USER]):
                out.append(Interaction(f"g{grp}u{u}", f"g{grp}i{it}", float(rng.integers(1, 6)), T0 + k * DAY))
    return out


def expected_neighbourhood(
    evs: list[Interaction], seeds: set[str], per_item: int, new_since: int = 0
) -> tuple[set[str], set[str], set[tuple[str, str]]]:
    """(I1, U2, the pulled (user, item) pairs) by hand: the items of the seeds' interactions
    last touched at or after `new_since`; per item its `per_item` most recent users (seeds
    count; ties by user id), of whom the others are U2; pulled are every interaction of the
    seeds and U2's edges to I1 only."""
    last: dict[tuple[str, str], int] = {}
    for e in evs:
        last[(e.user_id, e.item_id)] = max(e.ts, last.get((e.user_id, e.item_id), 0))
    items = {i for (u, i), ts in last.items() if u in seeds and ts >= new_since}
    neighbours: set[str] = set()
    pulled = {(u, i) for (u, i) in last if u in seeds}
    for item in items:
        recent = sorted((-ts, u) for (u, i), ts in last.items() if i == item)[:per_item]
        peers = {u for _, u in recent if u not in seeds}
        neighbours |= peers
        pulled |= {(u, item) for u in peers}
    return items, neighbours, pulled


@pytest.fixture
def loaded(graph_store, training_settings):
    graph_store.upsert_items(
        [CatalogueItem(f"g{g}i{i}", f"item {g}/{i}", (f"topic{g}",)) for g in GROUPS for i in range(ITEMS)]
    )
    graph_store.apply_interactions(events(), training_settings.evidence_tau_ms)
    return graph_store


def ro(store, query):
    return store.read_only_query(query, {}, 10_000, 100_000).rows


def vectors(store) -> dict[str, dict[str, tuple]]:
    """label -> id -> (embedding, model_version, refreshed_at), as stored."""
    out: dict[str, dict[str, tuple]] = {}
    for label in ("User", "Item", "Interest"):
        rows = ro(store, f"MATCH (n:{label}) RETURN n.id, n.embedding, n.model_version, n.refreshed_at")
        out[label] = {r[0]: (r[1], r[2], r[3]) for r in rows}
    return out


def strengths(store) -> dict[tuple[str, str], tuple]:
    rows = ro(
        store,
        "MATCH (u:User)-[r:INTERESTED_IN]->(t:Interest) WHERE r.strength IS NOT NULL "
        "RETURN u.id, t.id, r.strength, r.model_version",
    )
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def changed(before: dict[str, tuple], after: dict[str, tuple]) -> set[str]:
    assert set(before) == set(after)
    return {k for k in before if before[k][0] != after[k][0]}


def test_incremental_refits_the_users_who_acted_and_the_items_they_moved(loaded, training_settings):
    store = loaded
    first = run_refresh(store, training_settings, "full", options=OPTS)
    assert first.status == "published"
    before, before_strengths = vectors(store), strengths(store)
    assert {v[1] for label in before.values() for v in label.values()} == {first.model_version}
    similar_before = ro(store, "MATCH (a:Item)-[r:SIMILAR_TO]->(b:Item) RETURN a.id, b.id, r.score, r.model_version")

    # two users of group 1 act again after the publish, one of them twice, and a new item
    # (no vector yet) reaches a seed and a user who is not one
    store.upsert_items([CatalogueItem("g1new", "new item", ("topic1",))])
    new = [
        Interaction("g1u3", "g1i0", 5.0, T0 + 40 * DAY),
        Interaction("g1u5", "g1i4", 4.0, T0 + 41 * DAY),
        Interaction("g1u5", "g1i2", 2.0, T0 + 42 * DAY),
        Interaction("g1u8", "g1new", 3.0, T0 + 39 * DAY),
        Interaction("g1u3", "g1new", 4.0, T0 + 40 * DAY),
    ]
    store.apply_interactions(new, training_settings.evidence_tau_ms)
    before["Item"]["g1new"] = (None, None, None)
    seeds = {"g1u3", "g1u5"}
    per_item = 3
    reached, _, _ = expected_neighbourhood([*events(), *new], seeds, per_item, T0 + 9 * DAY + 1)
    assert reached == {"g1i0", "g1i2", "g1i4", "g1new"}
    # only the new item's users are pulled as context, and only their edge to it
    items, neighbours = {"g1new"}, {"g1u8"}
    pulled = {(e.user_id, e.item_id) for e in [*events(), *new] if e.user_id in seeds} | {("g1u8", "g1new")}

    # the gate's numbers on two users' new items are noise here: its own test checks it
    lenient = replace(OPTS, gate_margin=1.0, neighbours_per_item=per_item)
    res = run_refresh(store, training_settings, "incremental", options=lenient, touched_users=sorted(seeds))
    assert res.mode == "incremental" and res.status == "published", res.reason
    assert res.counts["touched_users"] == 2
    assert res.counts["neighbour_users"] == len(neighbours)
    assert res.counts["refit_items"] == len(items)
    assert res.counts["interactions"] == len(pulled)
    assert res.counts["user_nodes"] == len(seeds) and res.counts["item_nodes"] == len(items) == 1
    assert res.counts["interest_nodes"] == 0 and res.counts["similar"] == 0
    assert store.current_model_version() == res.model_version != first.model_version

    after = vectors(store)
    # exactly the seeds and the new item moved; every other vector is byte-identical (the
    # context user's too), interests too
    assert changed(before["User"], after["User"]) == seeds
    assert changed(before["Item"], after["Item"]) == items
    assert changed(before["Interest"], after["Interest"]) == set()
    # ... and every vector, moved or carried, belongs to the published version now
    for label in after.values():
        assert {v[1] for v in label.values()} == {res.model_version}
    for u, (_, _, refreshed) in after["User"].items():
        assert (refreshed != before["User"][u][2]) == (u in seeds)

    # strengths: the re-fitted users' are new, everybody else's carried unchanged
    after_strengths = strengths(store)
    assert {v[1] for v in after_strengths.values()} == {res.model_version}
    assert {u for u, _ in after_strengths} == {u for u, _ in before_strengths}
    for (u, t), (value, _) in before_strengths.items():
        if u not in seeds:
            assert after_strengths[(u, t)][0] == value
    profile = store.user_interests("g0u0")  # a carried user's strengths are readable
    assert any(r["model_version"] == res.model_version and r["strength"] for r in profile)

    # SIMILAR_TO: the full run's lists stay, untouched, and readers of the new version
    # find them (the new item gets its list from the next full run)
    assert store.current_model()["similar_version"] == first.model_version
    edges = ro(store, "MATCH (a:Item)-[r:SIMILAR_TO]->(b:Item) RETURN a.id, b.id, r.score, r.model_version")
    assert sorted(edges) == sorted(similar_before)
    untouched = sorted(set(before["Item"]) - items - reached)[0]
    for item in (untouched, "g1i0"):
        assert len(store.read_named("item_similar", item_id=item, model_version=res.model_version, k=3)) == 3
        assert len(store.similar_lists(res.model_version, [item], 3)[item]) == 3
    emb = store.read_named("recs_embeddings", item_ids=[untouched, *items], model_version=res.model_version)
    found = emb[0]["embeddings"]
    found = json.loads(found) if isinstance(found, str) else found  # the FalkorDB variant's toJSON()
    assert {row[0] for row in found} == {untouched, *items}

    # the full run's numbers stay the gate's reference for full runs; the incremental ones ride along
    published = store.current_model()["metrics"]
    assert published["ndcg@20"] == pytest.approx(first.metrics["ndcg@20"])
    assert published["mode"] == "incremental"
    inc = published["incremental"]
    assert inc["counts"]["neighbour_users"] == len(neighbours)
    # the hold-out: each seed's newest new item (g1u5's older one, g1i4, is trained on; so
    # is g1u3's g1i0, first seen at the same time as g1new), and the context user's
    assert inc["users"] == inc["reference"]["users"] == 2 and res.counts["test"] == 3
    assert published["t_ref"] == T0 + 42 * DAY

    # a second incremental run chains from the first: carried rows move along again, the
    # lists stay the full run's
    store.apply_interactions([Interaction("g0u1", "g0i2", 3.0, T0 + 43 * DAY)], training_settings.evidence_tau_ms)
    again = run_refresh(store, training_settings, "incremental", options=lenient, touched_users=["g0u1"])
    assert again.status == "published"
    final = vectors(store)
    for label in final.values():
        assert {v[1] for v in label.values()} == {again.model_version}
    assert changed(after["Interest"], final["Interest"]) == set()
    assert {v[1] for v in strengths(store).values()} == {again.model_version}
    assert store.current_model()["similar_version"] == first.model_version
    assert len(store.similar_lists(again.model_version, [untouched], 3)[untouched]) == 3

    # a full run writes its own lists, and the cleanup after it removes the old ones
    full = run_refresh(store, training_settings, "full", options=OPTS, force=True)
    assert full.status == "published" and store.current_model()["similar_version"] == full.model_version
    versions = {r[0] for r in ro(store, "MATCH ()-[r:SIMILAR_TO]->() RETURN DISTINCT r.model_version")}
    assert versions == {full.model_version}


def test_incremental_evaluation_measures_at_most_eval_users(loaded, training_settings):
    """As a full run, an incremental run measures a fixed sample of REFRESH_EVAL_USERS of
    its re-fitted users (each a users x items block, twice: the re-fit and the reference)."""
    store = loaded
    assert run_refresh(store, training_settings, "full", options=OPTS).status == "published"
    users = ["g1u3", "g1u5"]
    group = {f"g1i{i}" for i in range(ITEMS)}
    unseen = {u: sorted(group - {e.item_id for e in events() if e.user_id == u}) for u in users}
    # each round, each user takes an item it never had: a hold-out the published vectors never saw
    new = [Interaction(u, unseen[u][0], 5.0, T0 + 40 * DAY) for u in users]
    store.apply_interactions(new, training_settings.evidence_tau_ms)
    lenient = replace(OPTS, gate_margin=1.0)
    every = run_refresh(store, training_settings, "incremental", options=lenient, touched_users=users)
    assert every.status == "published"
    inc = store.current_model()["metrics"]["incremental"]
    assert inc["users"] == inc["reference"]["users"] == 2
    new = [Interaction(u, unseen[u][1], 5.0, T0 + 50 * DAY) for u in users]
    store.apply_interactions(new, training_settings.evidence_tau_ms)
    one = replace(lenient, eval_users=1)
    capped = run_refresh(store, training_settings, "incremental", options=one, touched_users=users)
    assert capped.status == "published" and capped.counts["touched_users"] == 2
    inc = store.current_model()["metrics"]["incremental"]
    assert inc["users"] == inc["reference"]["users"] == 1


def test_incremental_gate_compares_with_the_published_vectors_on_new_items(loaded, training_settings):
    store = loaded
    first = run_refresh(store, training_settings, "full", options=OPTS)
    assert store.current_model()["metrics"]["t_ref"] == T0 + 9 * DAY  # the newest interaction it saw
    before = vectors(store)
    # g1u3's new item is the hold-out (the published vectors never saw it); g1u4 only
    # re-visits an item it knew: nothing new to test on
    revisit = Interaction("g1u4", "g1i0", 1.0, T0 + 40 * DAY)
    assert (revisit.user_id, revisit.item_id) in {(e.user_id, e.item_id) for e in events()}
    store.apply_interactions(
        [Interaction("g1u3", "g1i0", 5.0, T0 + 40 * DAY), revisit], training_settings.evidence_tau_ms
    )
    touched = ["g1u3", "g1u4"]
    # demand far more than the published vectors reach on the same hold-out: rejected
    strict = replace(OPTS, gate_margin=-10.0)
    res = run_refresh(store, training_settings, "incremental", options=strict, touched_users=touched)
    assert res.mode == "incremental" and res.status == "rejected" and "ndcg@20" in res.reason
    assert res.metrics["users"] == 1 and res.counts["test"] == 1
    assert res.published_metric is not None and 0 < res.published_metric <= 1
    assert store.current_model_version() == first.model_version
    assert vectors(store) == before  # nothing promoted, nothing carried
    # a margin the re-fit meets: published without --force
    lenient = replace(OPTS, gate_margin=1.0)
    ok = run_refresh(store, training_settings, "incremental", options=lenient, touched_users=touched)
    assert ok.status == "published" and store.current_model_version() == ok.model_version
    # nothing new to hold out: no gate (a re-visit teaches the published vectors nothing new)
    store.apply_interactions([Interaction("g1u3", "g1i0", 1.0, T0 + 50 * DAY)], training_settings.evidence_tau_ms)
    again = run_refresh(store, training_settings, "incremental", options=strict, touched_users=["g1u3"])
    assert again.status == "published" and again.metrics["users"] == 0 and again.published_metric is None


def test_incremental_gate_on_a_model_published_without_t_ref_uses_the_temporal_split(loaded, training_settings):
    store = loaded
    first = run_refresh(store, training_settings, "full", options=OPTS)
    legacy = {k: v for k, v in store.current_model()["metrics"].items() if k != "t_ref"}
    store.publish_model(first.model_version, legacy)  # as published before t_ref was recorded
    store.apply_interactions([Interaction("g1u3", "g1i0", 5.0, T0 + 40 * DAY)], training_settings.evidence_tau_ms)
    lenient = replace(OPTS, gate_margin=1.0)
    res = run_refresh(store, training_settings, "incremental", options=lenient, touched_users=["g1u3"])
    # the re-fitted user's newest 10 % (one of its 11 interactions) is held out and measured
    assert res.status == "published" and res.metrics["users"] == res.counts["touched_users"] == 1
    assert res.published_metric is not None
    assert store.current_model()["metrics"]["t_ref"] == T0 + 40 * DAY  # recorded from now on


def test_incremental_without_touched_users_uses_recent_interactions(loaded, training_settings):
    store = loaded
    first = run_refresh(store, training_settings, "full", options=OPTS)
    # nothing new: nothing to re-fit, nothing published
    idle = run_refresh(store, training_settings, "incremental", options=OPTS)
    assert idle.status == "skipped" and idle.counts["touched_users"] == 0
    assert store.current_model_version() == first.model_version
    # an event dated after the publish makes its user the seed
    now = int(time.time() * 1000) + 1000
    store.apply_interactions([Interaction("g0u2", "g0i1", 2.0, now)], training_settings.evidence_tau_ms)
    # one user's one new item says little about the re-fit: the gate has its own tests
    res = run_refresh(store, training_settings, "incremental", options=replace(OPTS, gate_margin=1.0))
    assert res.status == "published" and res.counts["touched_users"] == 1


def test_incremental_without_published_model_runs_full(loaded, training_settings):
    res = run_refresh(loaded, training_settings, "incremental", options=OPTS)
    assert res.mode == "full" and res.status == "published"


@pytest.mark.parametrize("scan_share", [0.0, 1e9], ids=["full-scan", "per-user"])
def test_pull_neighbourhood_pulls_the_seeds_and_the_recent_users_of_their_new_items(loaded, monkeypatch, scan_share):
    store = loaded
    monkeypatch.setattr(store, "NEIGHBOURHOOD_SCAN_SHARE", scan_share)
    evs = events()
    for per_item, new_since in ((0, None), (1, None), (3, None), (100, None), (3, T0 + 8 * DAY), (3, T0 + 99 * DAY)):
        sg = store.pull_neighbourhood(["g1u3", "nobody"], per_item, new_since=new_since)
        _, neighbours, pulled = expected_neighbourhood(evs, {"g1u3"}, per_item, new_since or 0)
        assert sorted((r["user_id"], r["item_id"]) for r in sg.interactions.rows()) == sorted(pulled)
        assert {r["user_id"] for r in sg.interactions.rows()} == {"g1u3"} | neighbours
        assert all(isinstance(r["weight"], float) for r in sg.interactions.rows())
        assert {r["user_id"] for r in sg.evidence.rows()} == {"g1u3"}  # the seeds' evidence only
    assert len(sg.tags) == len(GROUPS) * ITEMS
    # only interactions touched since `since_ts` count, for the sampling too
    since = T0 + 7 * DAY
    recent = [e for e in evs if e.ts >= since]
    _, _, pulled = expected_neighbourhood(recent, {"g1u3"}, 3)
    sg = store.pull_neighbourhood(["g1u3"], 3, since_ts=since)
    assert {(r["user_id"], r["item_id"]) for r in sg.interactions.rows()} == pulled
    assert len(sg.interactions) == len(pulled) and min(r["last_ts"] for r in sg.interactions.rows()) >= since
    assert len(store.pull_neighbourhood([], 3).interactions) == 0


def test_fold_in_moves_only_the_trainable_rows_and_is_deterministic():
    rng = np.random.default_rng(0)
    rows = [
        {"user_id": f"u{u}", "item_id": f"i{i}", "weight": 1.0, "last_ts": 1}
        for u in range(6)
        for i in rng.permutation(8)[:4]
    ]
    data = TrainingData.from_rows(rows)
    users0 = rng.normal(size=(data.n_users, 4)).astype(np.float32)
    items0 = rng.normal(size=(data.n_items, 4)).astype(np.float32)
    users, items = np.array([0, 2]), np.array([1, 5])
    u1, i1 = fold_in(data, users, items, users0, items0, steps=15, lr=0.05, negatives=2, seed=1)
    u2, i2 = fold_in(data, users, items, users0, items0, steps=15, lr=0.05, negatives=2, seed=1)
    assert u1.tobytes() == u2.tobytes() and i1.tobytes() == i2.tobytes()
    frozen_u, frozen_i = np.setdiff1d(np.arange(data.n_users), users), np.setdiff1d(np.arange(data.n_items), items)
    assert u1[frozen_u].tobytes() == users0[frozen_u].tobytes()
    assert i1[frozen_i].tobytes() == items0[frozen_i].tobytes()
    assert not np.allclose(u1[users], users0[users]) and not np.allclose(i1[items], items0[items])
    # nothing trainable: everything comes back as given
    u3, i3 = fold_in(data, np.zeros(0), np.zeros(0), users0, items0, steps=5)
    assert u3.tobytes() == users0.tobytes() and i3.tobytes() == items0.tobytes()


def test_bpr_grads_match_autograd():
    torch.manual_seed(0)
    eu, ep, en = torch.randn(7, 5), torch.randn(7, 5), torch.randn(7, 3, 5)
    leaves = [t.clone().requires_grad_() for t in (eu, ep, en)]
    a, b, c = leaves
    x = (a * b).sum(-1, keepdim=True) - torch.einsum("bd,bkd->bk", a, c)
    loss = -torch.nn.functional.logsigmoid(x).mean() + 0.1 * (a.pow(2).sum() + b.pow(2).sum() + c.pow(2).sum() / 3) / 7
    loss.backward()
    for mine, leaf in zip(bpr_grads(eu, ep, en, 0.1), leaves, strict=True):
        assert torch.allclose(mine, leaf.grad, atol=1e-6)


def test_holdout_is_the_newest_half_of_each_users_new_interactions():
    rows = [
        {"user_id": u, "item_id": i, "first_ts": t, "last_ts": t}
        for u, i, t in [("a", "x", 1), ("a", "y", 5), ("a", "z", 6), ("a", "w", 7), ("b", "x", 2), ("b", "y", 9)]
    ]
    data = TrainingData.from_rows([*rows, {"user_id": "c", "item_id": "x", "first_ts": 1, "last_ts": 8}])
    split = holdout_after(data, 4)
    # a: y (5) is trained on, z and w held out; b: its one new item held out; c: a re-visit, not new
    assert split.test.tolist() == [2, 3, 5] and split.train.tolist() == [0, 1, 4, 6] and len(split.valid) == 0
    assert len(holdout_after(data, 100).test) == 0
