"""Learned lists from approximate candidates (training/list_candidates.py, user_lists'
exact_max_items): exactly scored, the user's own items never ranked, close to the exact
lists, and exact wherever the index cannot serve (long histories, full-rank blends)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("faiss")

from training.combiner import BlendChoice
from training.data import TrainingData
from training.list_candidates import ListCandidates
from training.metrics import top_k
from training.user_lists import list_candidates, user_lists

T0 = 1_700_000_000_000


def clustered(n_items: int, n_users: int, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Items and users around 40 shared centres (the structure a trained blend has)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim)).astype(np.float32)
    items = centres[rng.integers(0, 40, n_items)] + 0.7 * rng.standard_normal((n_items, dim)).astype(np.float32)
    users = centres[rng.integers(0, 40, n_users)] + 0.7 * rng.standard_normal((n_users, dim)).astype(np.float32)
    return items, users


def exact_lists(items: np.ndarray, users: np.ndarray, known: list[np.ndarray], size: int) -> np.ndarray:
    return top_k(users @ items.T, size, known)


def test_candidates_recall_the_exact_lists_and_score_them_exactly() -> None:
    items, users = clustered(6000, 300)
    rng = np.random.default_rng(1)
    known = [rng.choice(len(items), rng.integers(1, 30), replace=False) for _ in range(len(users))]
    ranked, values = ListCandidates(items).rank(users, known, 50)
    want = exact_lists(items, users, known, 50)
    recall = np.mean([len(set(a) & set(b)) / 50 for a, b in zip(ranked.tolist(), want.tolist(), strict=True)])
    assert recall >= 0.95, recall
    for r in range(len(users)):
        assert not set(ranked[r].tolist()) & set(known[r].tolist())
        assert len(set(ranked[r].tolist())) == 50
        np.testing.assert_allclose(values[r], users[r] @ items[ranked[r]].T, rtol=1e-5, atol=1e-5)
        assert np.all(np.diff(values[r]) <= 1e-6)  # best first


class SpyIndex:
    """Wraps the faiss index: counts the queries, and can hide all but `keep` results."""

    def __init__(self, index: object, keep: int | None = None) -> None:
        self.index, self.keep, self.queries = index, keep, 0
        self.nprobe = index.nprobe  # type: ignore[attr-defined]

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        self.queries += len(query)
        dist, found = self.index.search(query, k)  # type: ignore[attr-defined]
        if self.keep is not None:
            found[:, self.keep :] = -1
        return dist, found


def test_a_history_longer_than_the_list_is_ranked_over_every_item() -> None:
    items, users = clustered(3000, 4)
    rng = np.random.default_rng(2)
    known = [rng.choice(len(items), 500, replace=False) for _ in range(len(users))]
    known[0] = known[0][:10]  # one short history: the only one searched
    candidates = ListCandidates(items)
    spy = candidates.index = SpyIndex(candidates.index)
    ranked, _ = candidates.rank(users, known, 20)
    assert spy.queries == 1
    np.testing.assert_array_equal(ranked[1:], exact_lists(items, users[1:], known[1:], 20))


def test_mixed_histories_exclude_each_searched_users_own_items() -> None:
    """Users with no history, long ones (ranked exactly) and short ones (searched)
    side by side: each searched user's own items are excluded by its own row, whatever
    its position among the searched ones."""
    items, users = clustered(3000, 7)
    rng = np.random.default_rng(3)
    lengths = [0, 5, 400, 0, 12, 300, 1]
    known = [rng.choice(len(items), n, replace=False) for n in lengths]
    # each searched user also "knows" its own best items, which must then never appear
    best = exact_lists(items, users, [np.array([], dtype=np.int64)] * len(users), 8)
    for u, n in enumerate(lengths):
        if 0 < n < 100:
            known[u] = np.union1d(known[u], best[u])
    ranked, _ = ListCandidates(items).rank(users, known, 20)
    for u, n in enumerate(lengths):
        if n == 0:
            assert np.all(ranked[u] == -1)
            continue
        assert not set(ranked[u].tolist()) & set(known[u].tolist()), u
    searched = [u for u, n in enumerate(lengths) if 0 < n < 100]
    recall = np.mean(
        [
            len(set(ranked[u].tolist()) & set(exact_lists(items, users[u : u + 1], [known[u]], 20)[0].tolist())) / 20
            for u in searched
        ]
    )
    assert recall >= 0.9, recall


def test_too_few_candidates_fall_back_to_every_item() -> None:
    items, users = clustered(3000, 8)
    known = [np.arange(5 * u, 5 * u + 5) for u in range(len(users))]
    candidates = ListCandidates(items)
    candidates.index = SpyIndex(candidates.index, keep=10)  # 10 candidates for lists of 20
    ranked, values = candidates.rank(users, known, 20)
    np.testing.assert_array_equal(ranked, exact_lists(items, users, known, 20))
    np.testing.assert_allclose(values, np.take_along_axis(users @ items.T, ranked, axis=1), rtol=1e-6)


def test_equal_scores_go_to_the_lower_item_as_on_the_exact_path() -> None:
    rng = np.random.default_rng(5)
    base = rng.standard_normal((1500, 8)).astype(np.float32)
    items = np.repeat(base, 2, axis=0)  # every item has a twin one index up: tied scores
    users = rng.standard_normal((20, 8)).astype(np.float32)
    known = [np.array([u]) for u in range(len(users))]
    ranked, _ = ListCandidates(items).rank(users, known, 11)
    want = exact_lists(items, users, known, 11)
    agree = [np.array_equal(a, b) for a, b in zip(ranked, want, strict=True)]
    assert np.mean(agree) >= 0.9, agree  # the index may miss a candidate, never reorder a tie
    for a, b in zip(ranked, want, strict=True):
        if set(a.tolist()) == set(b.tolist()):
            np.testing.assert_array_equal(a, b)


@settings(max_examples=40, deadline=None)
@given(
    n_items=st.integers(1, 90),
    n_users=st.integers(1, 6),
    size=st.integers(1, 12),
    seed=st.integers(0, 10_000),
)
def test_small_catalogues_rank_exactly(n_items: int, n_users: int, size: int, seed: int) -> None:
    """Up to 90 items the index has one cell, which every query scans: the lists are the
    exact ones, order and ties included, however many items a user knows (positions past
    what is left hold -1)."""
    rng = np.random.default_rng(seed)
    items = rng.standard_normal((n_items, 5)).astype(np.float32)
    users = rng.standard_normal((n_users, 5)).astype(np.float32)
    known = [rng.choice(n_items, rng.integers(0, n_items + 1), replace=False) for _ in range(n_users)]
    ranked, values = ListCandidates(items).rank(users, known, size)
    want = exact_lists(items, users, known, size)
    for r in range(n_users):
        left = min(size, n_items, n_items - len(known[r]))
        assert not set(ranked[r, :left].tolist()) & set(known[r].tolist())
        assert np.all(ranked[r, left:] == -1) and np.all(values[r, left:] == -np.inf)
        if len(known[r]):  # one cell below 39 x 17 items, scanned by every query: the exact lists
            np.testing.assert_array_equal(ranked[r, :left], want[r, :left])
        else:  # a user with no history is not ranked (user_lists writes it no list)
            assert np.all(ranked[r] == -1)


def population(n_users: int = 400, n_items: int = 3000, seed: int = 0) -> TrainingData:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        for k, i in enumerate(rng.choice(n_items, rng.integers(1, 15), replace=False).tolist()):
            rows.append({"user_id": f"u{u}", "item_id": f"i{i}", "weight": 1.0, "last_ts": T0 + k})
    return TrainingData.from_rows(rows)


def test_user_lists_from_candidates_match_the_exact_ones_beyond_the_threshold() -> None:
    data = population()
    items, users = clustered(data.n_items, data.n_users, seed=3)
    vectors = {"user": users, "item": items}
    blend = BlendChoice({"embedding": 0.7, "sequence": 0.2, "popularity": 0.1}, None, 0.9)
    from training.combiner import source_inputs

    sources = source_inputs(data, np.arange(data.n_interactions), None, 0.9, (users, items), item_vectors=items)
    assert isinstance(list_candidates(data, sources, blend, 1000), ListCandidates)  # the index serves
    assert list_candidates(data, sources, blend, data.n_items) is None  # at the threshold: exact
    exact = dict(user_lists(data, blend, vectors, 30, T0))
    approx = dict(user_lists(data, blend, vectors, 30, T0, exact_max_items=1000))
    assert exact.keys() == approx.keys()
    recall = np.mean([len(set(exact[u]["recs_items"]) & set(approx[u]["recs_items"])) / 30 for u in exact])
    assert recall >= 0.95, recall
    for u, props in approx.items():
        own = {data.items.ids[i] for i in data.item[data.user == u].tolist()}
        assert not own & set(props["recs_items"])
        assert len(set(props["recs_items"])) == len(props["recs_items"]) == min(30, data.n_items - len(own))
        assert props["recs_scores"] == sorted(props["recs_scores"], reverse=True)


def test_a_full_rank_blend_is_ranked_exactly_whatever_the_catalogue() -> None:
    data = population(n_users=60, n_items=400)
    from training.combiner import source_inputs

    blend = BlendChoice({"ease": 0.5, "popularity": 0.5}, 100.0, 0.9)
    vectors = {"user": np.zeros((data.n_users, 2)), "item": np.zeros((data.n_items, 2))}
    sources = source_inputs(data, np.arange(data.n_interactions), 100.0, 0.9, (vectors["user"], vectors["item"]))
    assert sources.low_rank(np.arange(3), blend.weights) is None
    assert list_candidates(data, sources, blend, 10) is None
    assert dict(user_lists(data, blend, vectors, 10, T0, exact_max_items=10)) == dict(
        user_lists(data, blend, vectors, 10, T0)
    )


def test_low_rank_factors_reproduce_the_blend() -> None:
    data = population(n_users=50, n_items=300)
    from training.combiner import source_inputs

    items, users = clustered(data.n_items, data.n_users, seed=4)
    sources = source_inputs(data, np.arange(data.n_interactions), None, 0.9, (users, items), item_vectors=items)
    weights = {"embedding": 0.5, "sequence": 0.3, "popularity": 0.2}
    rows = np.arange(20)
    factors = sources.low_rank(rows, weights)
    assert factors is not None
    np.testing.assert_allclose(factors[0] @ factors[1].T, sources.blend(rows, weights), rtol=1e-4, atol=1e-4)
    # both sides float32: a float64 side made numpy cast the whole item side per block of users
    assert factors[0].dtype == factors[1].dtype == np.float32
    assert sources.blend(rows, weights).dtype == np.float32


def test_a_nan_score_never_lists_an_own_item_or_a_placeholder() -> None:
    data = population(n_users=40, n_items=120, seed=6)
    items, users = clustered(data.n_items, data.n_users, seed=6)
    items[[3, 50, 77]] = np.nan  # a broken model's rows
    blend = BlendChoice({"embedding": 1.0}, None, 0.9)
    for threshold in (None, 10):
        for u, props in user_lists(data, blend, {"user": users, "item": items}, 200, T0, exact_max_items=threshold):
            own = {data.items.ids[i] for i in data.item[data.user == u].tolist()}
            assert not own & set(props["recs_items"]), (threshold, u)
            assert len(set(props["recs_items"])) == len(props["recs_items"])
            assert len(props["recs_scores"]) == len(props["recs_items"])
