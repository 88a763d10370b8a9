"""The learned blend picks what predicts on the data in front of it: recency on data where
only the order of the last items predicts the next, long-term taste where the most recent
items mislead. Small synthetic sets built here, the real combiner (no GNN: ease,
sequence and popularity compete)."""

from __future__ import annotations

import numpy as np

from training.combiner import choose_blend, recent_items, source_inputs
from training.data import TrainingData, temporal_split
from training.metrics import items_by_user

T0 = 1_700_000_000_000
HOUR = 3_600_000


def data_of(histories: list[list[int]]) -> TrainingData:
    """One interaction per (user, item), in the given order (one hour apart)."""
    rows = [
        {"user_id": f"u{u}", "item_id": f"i{item}", "weight": 1.0, "first_ts": T0 + k * HOUR, "last_ts": T0 + k * HOUR}
        for u, items in enumerate(histories)
        for k, item in enumerate(items)
    ]
    return TrainingData.from_rows(rows)


def choose(data: TrainingData):  # type: ignore[no-untyped-def]
    split = temporal_split(data)
    return choose_blend(data, split.train, items_by_user(data, split.valid), None, max_ease_items=10_000)


def test_recency_wins_where_the_next_item_follows_the_last() -> None:
    # a ring of 150 items; every user walks 30 consecutive steps from a random start
    rng = np.random.default_rng(1)
    histories = [[(start + k) % 150 for k in range(30)] for start in rng.integers(0, 150, 300)]
    choice = choose(data_of(histories))
    assert max(choice.weights, key=choice.weights.get) == "sequence", choice
    assert choice.weights["sequence"] >= 0.5 and choice.validation["sequence"] > choice.validation["ease"]


def test_long_term_taste_wins_where_the_latest_items_mislead() -> None:
    # 4 taste groups of 40 items; a user's history is its group's items, except for 5
    # random items from anywhere just before the hold-out (train ends with them)
    rng = np.random.default_rng(2)
    histories = []
    for u in range(300):
        group = rng.permutation(40) + 40 * (u % 4)
        noise = rng.choice(160, 5, replace=False)
        histories.append([*group[:27].tolist(), *noise.tolist(), *group[27:35].tolist()])
    choice = choose(data_of(histories))
    assert choice.weights.get("ease", 0.0) > choice.weights.get("sequence", 0.0), choice
    assert choice.weights.get("sequence", 0.0) <= 0.3 and choice.validation["ease"] > choice.validation["sequence"]


def test_recent_items_weigh_the_newest_most() -> None:
    data = data_of([[5, 3, 9]])  # i9 newest
    m = recent_items(data, np.arange(data.n_interactions), decay=0.5, length=2)
    weights = {data.items.ids[i]: w for i, w in zip(m[0].indices, m[0].data, strict=True)}
    assert weights == {"i9": 1.0, "i3": 0.5}


def test_low_rank_blend_equals_the_sum_of_standardised_blocks() -> None:
    # embedding, sequence without EASE and popularity are blended as one matrix product,
    # their per-user means and spreads taken from the item side: the same numbers as
    # standardising each users × items block
    rng = np.random.default_rng(3)
    histories = [list(rng.choice(40, 8, replace=False)) for _ in range(30)]
    data = data_of([[int(i) for i in h] for h in histories])
    rows = np.arange(data.n_interactions)
    vectors = (rng.standard_normal((data.n_users, 5)), rng.standard_normal((data.n_items, 5)))
    sources = source_inputs(data, rows, None, 0.8, vectors, item_vectors=rng.standard_normal((data.n_items, 5)))
    weights = {"embedding": 0.5, "sequence": 0.3, "popularity": 0.2}
    users = np.arange(data.n_users)
    blocks = sources.scores(users, weights)
    expected = sum(np.float32(w) * blocks[name] for name, w in weights.items())
    np.testing.assert_allclose(sources.blend(users, weights), expected, rtol=1e-4, atol=1e-4)


def test_a_blend_scored_in_parts_of_users_scores_as_the_whole_block(monkeypatch):
    """choose_blend ranks each candidate blend a few users at a time (memory), with exactly
    the metric of the whole block; a source held as one shared row counts as that row for all."""
    import training.combiner as combiner
    from training.metrics import hits_metrics, ranked_hits

    rng = np.random.default_rng(5)
    users, items = 23, 40
    block = rng.standard_normal((users, items)).astype(np.float32)
    block[3, :] = 0.0  # ties throughout a row
    truth = [rng.choice(items, size=int(rng.integers(0, 4)), replace=False) for _ in range(users)]
    seen = [rng.choice(items, size=int(rng.integers(0, 6)), replace=False) for _ in range(users)]
    whole = hits_metrics(ranked_hits(block, truth, seen, 20), truth, (20,))[combiner.METRIC]
    monkeypatch.setattr(combiner, "SCORE_CHUNK_USERS", 5)
    assert combiner.chunked_score(lambda part: block[part], truth, seen, items) == whole
    row = block[:1]
    shared = hits_metrics(ranked_hits(np.repeat(row, users, 0), truth, seen, 20), truth, (20,))[combiner.METRIC]
    assert combiner.chunked_score(lambda part: row, truth, seen, items) == shared
