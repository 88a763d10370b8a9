"""evaluate's counted positions (ranked_hits) against ranking the block with top_k."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from training.metrics import _list_hits, evaluate, hits_metrics, rank_metrics, ranked_hits, top_k


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 12),
    m=st.integers(1, 30),
    width=st.integers(1, 12),
    levels=st.sampled_from([2, 3, 1000]),  # few distinct scores: ties everywhere
    seed=st.integers(0, 2**16),
    dtype=st.sampled_from([np.float32, np.float64, np.int64]),
    with_exclude=st.booleans(),
    odd=st.sampled_from(["none", "inf", "seen-truth"]),  # NaN: top_k itself has no order for it
)
def test_counted_positions_are_the_ranked_lists_hits(n, m, width, levels, seed, dtype, with_exclude, odd) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, levels, size=(n, m)).astype(dtype)
    truth = [np.unique(rng.integers(0, m, size=rng.integers(0, 4))) for _ in range(n)]
    exclude = [np.unique(rng.integers(0, m, size=rng.integers(0, m + 1))) for _ in range(n)] if with_exclude else None
    if exclude is not None and odd != "seen-truth":  # a held-out item is normally unseen
        exclude = [np.setdiff1d(e, t) for e, t in zip(exclude, truth, strict=True)]
    if odd == "inf" and dtype != np.int64 and truth[0].size:
        scores[0, truth[0][0]] = -np.inf
    got = ranked_hits(scores, truth, exclude, width)
    want = _list_hits(top_k(scores, width, exclude), truth)
    assert got.shape == (n, width)
    assert (got[:, : want.shape[1]] == want).all() and not got[:, want.shape[1] :].any()


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**16), n_items=st.integers(20, 60))
def test_evaluate_gives_the_metrics_of_the_ranked_lists(seed: int, n_items: int) -> None:
    rng = np.random.default_rng(seed)
    scores = np.round(rng.normal(size=(30, n_items)), 1)  # rounded: ties
    seen = [np.unique(rng.integers(0, n_items, size=rng.integers(0, 15))) for _ in range(30)]
    truth = [np.setdiff1d(np.unique(rng.integers(0, n_items, size=rng.integers(0, 4))), s) for s in seen]
    got = evaluate(lambda users: scores[users], seen, truth, ks=(5, 20), chunk=7)
    want = rank_metrics(top_k(scores, 20, seen), truth, ks=(5, 20))
    assert got == want


def test_hits_metrics_by_hand() -> None:
    hits = np.array([[False, True, False], [True, False, False], [False, False, False]])
    truth = [np.array([4, 9]), np.array([1]), np.array([], dtype=np.int64)]
    m = hits_metrics(hits, truth, ks=(1, 3))
    assert m["users"] == 2
    assert m["hit@1"] == 0.5 and m["recall@3"] == (0.5 + 1.0) / 2
    assert m["mrr@3"] == (0.5 + 1.0) / 2
    assert np.isclose(m["ndcg@3"], ((1 / np.log2(3)) / (1 + 1 / np.log2(3)) + 1.0) / 2)
