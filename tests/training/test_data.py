"""TrainingData indexing and the per-user temporal split."""

import numpy as np

from training.data import TrainingData, temporal_split


def rows(user, items_ts):
    return [
        {"user_id": user, "item_id": it, "weight": 1.0, "count": 1, "first_ts": ts, "last_ts": ts}
        for it, ts in items_ts
    ]


def test_index_maps_round_trip_and_extra_ids():
    d = TrainingData.from_rows(
        rows("u1", [("a", 1), ("b", 2)]) + rows("u2", [("a", 3)]),
        tags=[{"item_id": "b", "interest_id": "x", "weight": 2.0}],
        extra_ids={"item": ["z"]},
    )
    assert d.users.ids == ("u1", "u2")
    assert d.items.ids == ("a", "b", "z")
    assert d.interests.ids == ("x",)
    assert [d.items.ids[i] for i in d.item] == ["a", "b", "a"]
    assert d.tag_weight.tolist() == [2.0]
    assert [x.tolist() for x in d.user_items()] == [[0, 1], [0]]
    assert [x.tolist() for x in d.item_interests()] == [[], [0], []]


def test_missing_first_ts_falls_back_to_last_ts():
    d = TrainingData.from_rows([{"user_id": "u", "item_id": "i", "weight": 2, "last_ts": 7}])
    assert d.first_ts.tolist() == [7] and d.count.tolist() == [1]


def test_temporal_split_sizes_order_and_ties():
    # u1 has 20 interactions, shuffled in input; u2 has 9 (floor(0.9) = 0 -> all train)
    ts = list(range(20))
    rng = np.random.default_rng(0)
    rng.shuffle(ts)
    inter = rows("u1", [(f"i{t}", t) for t in ts]) + rows("u2", [(f"j{k}", 5) for k in range(9)])
    d = TrainingData.from_rows(inter)
    s = temporal_split(d)
    u1 = d.users.pos["u1"]

    def items(part):
        return sorted(d.items.ids[i] for i in d.item[part][d.user[part] == u1])

    assert items(s.valid) == ["i16", "i17"]
    assert items(s.test) == ["i18", "i19"]
    assert len(items(s.train)) == 16
    assert (d.user[s.valid] == u1).all() and (d.user[s.test] == u1).all()
    assert len(s.train) + len(s.valid) + len(s.test) == d.n_interactions


def test_temporal_split_ties_keep_input_order():
    # all 10 at the same time: file order decides -> last one is test, the one before valid
    d = TrainingData.from_rows(rows("u", [(f"i{k}", 100) for k in range(10)]))
    s = temporal_split(d)
    assert [d.items.ids[i] for i in d.item[s.valid]] == ["i8"]
    assert [d.items.ids[i] for i in d.item[s.test]] == ["i9"]


def test_subset_keeps_node_indexes():
    d = TrainingData.from_rows(rows("u", [("a", 1), ("b", 2), ("c", 3)]))
    sub = d.subset(np.array([2]))
    assert sub.items is d.items and sub.n_items == 3 and sub.n_interactions == 1
