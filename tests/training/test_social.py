"""User-user ties as their own relation type in the training graph (issue 17)."""

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("dgl")

from training.config import GraphConfig, TrainConfig
from training.data import TrainingData
from training.graph import SOCIAL, build_graph, social_edges
from training.train import train

DAY = 86_400_000
NOW = 100 * DAY
FAST = TrainConfig(dim=16, layers=2, lr=0.05, epochs=15, batch_size=128, progress=False, device="cpu", seed=7)


def two_tribes() -> TrainingData:
    """Two groups of 10 users on disjoint items (no tags); `new0` and `new1` have one
    interaction each, on an item both groups took, and follow three members of one group."""
    inter = []
    for grp in (0, 1):
        for k in range(10):
            for it in range(6):
                if (k + it) % 3:
                    inter.append({"user_id": f"g{grp}u{k}", "item_id": f"g{grp}i{it}", "last_ts": NOW - it * DAY})
            inter.append({"user_id": f"g{grp}u{k}", "item_id": "shared", "last_ts": NOW - 9 * DAY})
    for n in (0, 1):
        inter.append({"user_id": f"new{n}", "item_id": "shared", "last_ts": NOW})
    ties = [(f"new{n}", f"g{n}u{k}", 1.0, NOW - 5 * DAY) for n in (0, 1) for k in range(3)]
    ties.append(("new0", "stranger", 1.0, NOW))  # not in the index: dropped
    return TrainingData.from_rows(inter).with_social(ties)


def test_ties_are_symmetric_summed_and_decayed():
    data = two_tribes()
    assert len(data.social_src) == 6
    src, dst, w = social_edges(data, NOW, replace(GraphConfig(), social_weight=2.0, social_tau_days=5.0))
    pairs = dict(zip(zip(src.tolist(), dst.tolist(), strict=True), w.tolist(), strict=True))
    a, b = data.users.pos["new0"], data.users.pos["g0u1"]
    assert pairs[(a, b)] == pytest.approx(2.0 * np.exp(-1.0)) == pytest.approx(pairs[(b, a)])
    assert len(pairs) == 12
    off = social_edges(data, NOW, GraphConfig())
    assert len(off[0]) == 0
    g = build_graph(data, NOW, replace(GraphConfig(), social_weight=1.0))
    assert SOCIAL in g.canonical_etypes and g.num_edges(SOCIAL) == 12
    assert SOCIAL not in build_graph(data, NOW, GraphConfig()).canonical_etypes


def test_ties_carry_taste_to_a_user_with_almost_no_history():
    data = two_tribes()
    items = data.items.pos
    tribe = [np.array([items[f"g{grp}i{it}"] for it in range(6)]) for grp in (0, 1)]

    def preference(cfg: TrainConfig) -> list[float]:
        """Per new user: mean score of its tribe's items minus the other tribe's."""
        emb = train(data, NOW, cfg).embeddings
        out = []
        for n in (0, 1):
            s = emb["user"][data.users.pos[f"new{n}"]] @ emb["item"].T
            out.append(float(s[tribe[n]].mean() - s[tribe[1 - n]].mean()))
        return out

    without = preference(FAST)
    with_ties = preference(replace(FAST, graph=replace(FAST.graph, social_weight=1.0)))
    assert all(p > 0 for p in with_ties), with_ties
    assert all(w > o for w, o in zip(with_ties, without, strict=True)), (with_ties, without)


def test_the_setting_turns_the_relation_type_on_for_refreshes():
    from graph_schema.settings import Settings
    from training.options import RefreshOptions

    assert RefreshOptions.from_settings(Settings()).train.graph.social_weight == 0.0
    assert RefreshOptions.from_settings(Settings(train_social_weight=0.5)).train.graph.social_weight == 0.5
