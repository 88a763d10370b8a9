"""Negative sampling: unseen items, interest-sharing hard negatives, dynamic hardest pick."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from training.data import TrainingData
from training.sampling import NegativeSampler, SeenFilter


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
    shuffled = np.random.default_rng(1).permutation(len(users))  # the sorted lookup puts them back
    users, items = np.concatenate([users, users[shuffled]]), np.concatenate([items, items[shuffled]])
    dense = s._seen(users, items)
    s.seen_dense = None
    assert (s._seen(users, items) == dense).all() and dense.sum() == 2 * d.n_interactions
    s.seen_filter = SeenFilter(s.seen_keys)  # what a graph too large for the dense table gets
    assert (s._seen(users, items) == dense).all()


def test_large_graphs_filter_the_draws_before_searching():
    # 2,000 users x 30,000 items: past the dense table's 50M pairs
    rng = np.random.default_rng(3)
    inter = [
        {"user_id": f"u{u}", "item_id": f"i{i}", "last_ts": 0}
        for u in range(2000)
        for i in rng.choice(30_000, 5, replace=False).tolist()
    ]
    inter += [{"user_id": "u0", "item_id": f"i{i}", "last_ts": 0} for i in range(30_000)]  # every item known
    d = TrainingData.from_rows(inter, [])
    s = NegativeSampler(d, np.random.default_rng(0))
    assert s.seen_dense is None and s.seen_filter is not None
    users = rng.integers(1, d.n_users, 200_000)
    items = rng.integers(0, d.n_items, 200_000)
    users[:5000], items[:5000] = d.user[-5000:], d.item[-5000:]  # seen pairs among the draws
    flagged = s.seen_filter.may_contain(users * d.n_items + items)
    assert set(range(5000)) <= set(flagged.tolist())  # every seen pair is flagged ...
    assert len(flagged) < 5000 + 0.1 * 195_000  # ... and few of the others
    seen = s._seen(users, items)
    s.seen_filter = None
    assert (seen == s._seen(users, items)).all() and seen[:5000].all()
    rows = np.flatnonzero(d.user != d.users.pos["u0"])[:1000]  # u0 has no unseen item to draw
    neg = NegativeSampler(d, np.random.default_rng(0)).sample(d.user[rows], d.item[rows], k=4)
    known = set(zip(d.user.tolist(), d.item.tolist(), strict=True))
    assert not any((u, j) in known for u, row in zip(d.user[rows].tolist(), neg.tolist(), strict=True) for j in row)


@settings(max_examples=60, deadline=None)
@given(
    keys=st.lists(st.integers(0, 2**40), min_size=1, max_size=300, unique=True),
    others=st.lists(st.integers(0, 2**40), max_size=300),
)
def test_seen_filter_has_no_false_negatives(keys, others):
    f = SeenFilter(np.array(sorted(keys), dtype=np.int64))
    probe = np.array(keys + others, dtype=np.int64)
    assert set(range(len(keys))) <= set(f.may_contain(probe).tolist())


def test_exposed_negatives_are_the_users_ignored_items_at_the_given_share():
    d = data()
    pos = d.items.pos
    # user u0 was shown i30 and i31 and ignored them; u1 disliked i32; the others have none
    exposures = (
        np.array([d.users.pos["u0"], d.users.pos["u0"], d.users.pos["u1"]]),
        np.array([pos["i30"], pos["i31"], pos["i32"]]),
    )
    s = NegativeSampler(d, np.random.default_rng(0), exposures=exposures, exposed_frac=0.5)
    users = np.repeat(np.array([d.users.pos[u] for u in ("u0", "u1", "u2")]), 2000)
    neg = s.sample(users, np.zeros(len(users), dtype=np.int64), k=1)[:, 0]
    share = {u: np.isin(neg[users == d.users.pos[u]], exposures[1]).mean() for u in ("u0", "u1", "u2")}
    # half of the draws are exposures (plus the uniform draws that hit them by chance: 3/40)
    assert 0.45 < share["u0"] < 0.6 and 0.45 < share["u1"] < 0.6
    assert share["u2"] < 0.15  # only chance hits: u2 has no exposures
    # the exposed draws are the user's own: u1's share of i32 alone is ~half
    assert 0.45 < (neg[users == d.users.pos["u1"]] == pos["i32"]).mean() < 0.55
