"""Negative sampling: unseen items, interest-sharing hard negatives, dynamic hardest pick."""

import numpy as np

from training.data import TrainingData
from training.sampling import NegativeSampler


def data():
    inter = [{"user_id": f"u{u}", "item_id": f"i{i}", "last_ts": 0} for u in range(5) for i in range(u, u + 3)]
    tags = [{"item_id": f"i{i}", "interest_id": f"t{i % 2}"} for i in range(40)]
    return TrainingData.from_rows(inter, tags)


def test_uniform_negatives_are_unseen():
    d = data()
    s = NegativeSampler(d, np.random.default_rng(0))
    neg = s.sample(d.user, d.item, k=8)
    assert neg.shape == (d.n_interactions, 8)
    seen = {(u, i) for u, i in zip(d.user.tolist(), d.item.tolist(), strict=True)}
    assert not any((u, j) in seen for u, row in zip(d.user.tolist(), neg.tolist(), strict=True) for j in row)


def test_hard_negatives_share_an_interest():
    d = data()
    s = NegativeSampler(d, np.random.default_rng(0), hard_frac=1.0, retries=0)
    pos = d.item[:5]
    neg = s.sample(d.user[:5], pos, k=20)
    parity = {d.items.pos[f"i{i}"]: i % 2 for i in range(40)}
    assert all(parity[j] == parity[p] for p, row in zip(pos.tolist(), neg.tolist(), strict=True) for j in row)


def test_sparse_seen_lookup_matches_dense():
    d = data()
    s = NegativeSampler(d, np.random.default_rng(0))
    users, items = np.repeat(np.arange(d.n_users), d.n_items), np.tile(np.arange(d.n_items), d.n_users)
    dense = s._seen(users, items)
    s.seen_dense = None
    assert (s._seen(users, items) == dense).all() and dense.sum() == d.n_interactions
