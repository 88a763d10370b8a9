"""Training cost that grows linearly with the graph: the messages an epoch computes are
counted (not timed); sampled blocks propagate exactly where nothing is dropped and
without bias where something is; sampled and full training learn the same thing."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("dgl")

import torch

from tests.training.test_train import FAST, NOW, planted
from training.blocks import WeightedBlockSampler
from training.config import GraphConfig, TrainConfig
from training.data import TrainingData
from training.graph import build_graph, homogeneous_view, symmetric_spmm
from training.model import LightGCN
from training.train import train

DAY = 86_400_000


def synthetic(users: int, items: int, per_user: int, seed: int = 0) -> TrainingData:
    """`users` users with `per_user` distinct items each, popularity skewed (Zipf-like),
    items tagged with one of items/20 interests: the same shape at any size."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, items + 1) ** 0.8
    p /= p.sum()
    user = np.repeat(np.arange(users), per_user)
    item = np.concatenate([rng.choice(items, per_user, replace=False, p=p) for _ in range(users)])
    ts = NOW - rng.integers(0, 60, len(user)) * DAY
    rows = [
        {"user_id": f"u{u}", "item_id": f"i{i}", "weight": 1.0, "count": 1, "first_ts": int(t), "last_ts": int(t)}
        for u, i, t in zip(user.tolist(), item.tolist(), ts.tolist(), strict=True)
    ]
    tags = [{"item_id": f"i{i}", "interest_id": f"t{i % max(items // 20, 1)}", "weight": 1.0} for i in range(items)]
    return TrainingData.from_rows(rows, tags)


def epoch_edges(data: TrainingData, cfg: TrainConfig) -> float:
    res = train(data, NOW, cfg)
    return res.history[0]["edges"]


@pytest.mark.parametrize(
    "cfg",
    [
        TrainConfig(dim=4, epochs=1, batch_size=64, steps_per_epoch=10, progress=False, device="cpu"),
        # small batches and fan-outs against the graph: a batch's blocks rarely share nodes,
        # as in a real graph (on a toy graph every batch reaches most of it)
        TrainConfig(
            dim=4,
            epochs=1,
            propagation="sampled",
            sampled_batch_size=16,
            fanouts=(3, 3),
            negatives=1,
            negative_candidates=1,
            progress=False,
            device="cpu",
        ),
    ],
    ids=["full", "sampled"],
)
def test_epoch_work_is_linear_in_edges(cfg: TrainConfig):
    small = synthetic(1000, 1000, 6)
    large = synthetic(2000, 2000, 6)
    assert large.n_interactions == 2 * small.n_interactions
    ratio = epoch_edges(large, cfg) / epoch_edges(small, cfg)
    assert 1.8 <= ratio <= 2.2, ratio  # twice the graph, twice the work (within 10 %)


def test_full_epoch_takes_at_most_steps_per_epoch_propagations():
    data = synthetic(400, 300, 10)
    cfg = TrainConfig(dim=8, epochs=1, batch_size=16, steps_per_epoch=5, progress=False, device="cpu")
    pg = homogeneous_view(build_graph(data, NOW, cfg.graph))
    # 4,000 positives in batches of 16 would be 250 whole-graph propagations; 5 remain
    assert epoch_edges(data, cfg) == 5 * cfg.layers * pg.graph.num_edges()


def _model_and_graph(data: TrainingData) -> tuple[LightGCN, object]:
    torch.manual_seed(0)
    pg = homogeneous_view(build_graph(data, NOW, GraphConfig()))
    model = LightGCN({"user": data.n_users, "item": data.n_items, "interest": data.n_interests}, 8, 2)
    return model, pg


@torch.no_grad()
def test_blocks_propagate_exactly_when_fanout_covers_every_neighbour():
    data, _ = planted()
    model, pg = _model_and_graph(data)
    full = torch.cat([model(pg)[nt] for nt in pg.ntypes])
    max_in = int(pg.graph.in_degrees().max())
    seeds = torch.tensor([0, 3, 17, data.n_users + 2, data.n_users + 30])
    blocks = WeightedBlockSampler(pg, (max_in, max_in)).sample(seeds)
    torch.testing.assert_close(model.forward_blocks(pg, blocks), full[seeds], rtol=1e-5, atol=1e-6)


@torch.no_grad()
def test_sampled_propagation_is_unbiased_where_neighbours_are_dropped():
    data = synthetic(300, 60, 12)  # items have dozens of users; a fan-out of 3 drops most
    model, pg = _model_and_graph(data)
    full = torch.cat([model(pg)[nt] for nt in pg.ntypes])
    seeds = torch.arange(data.n_users, data.n_users + 10)  # ten items
    sampler = WeightedBlockSampler(pg, (3, 3))
    draws = torch.stack([model.forward_blocks(pg, sampler.sample(seeds)) for _ in range(400)])
    err = (draws.mean(0) - full[seeds]).norm(dim=1) / full[seeds].norm(dim=1)
    one = (draws[0] - full[seeds]).norm(dim=1) / full[seeds].norm(dim=1)
    assert err.max() < 0.1, err  # the average of many draws converges on the full value
    assert one.mean() > err.mean()  # while a single draw is noisy


def test_sampled_and_full_training_agree_on_a_small_graph():
    data, held_out = planted()
    full = train(data, NOW, FAST)
    sampled = train(data, NOW, TrainConfig(**{**FAST.__dict__, "propagation": "sampled", "sampled_batch_size": 64}))

    def auc(res) -> float:
        emb, wins, total = res.embeddings, 0, 0
        for uid, items in held_out.items():
            scores = emb["item"] @ emb["user"][data.users.pos[uid]]
            own = [scores[data.items.pos[i]] for i in items]
            other = [scores[data.items.pos[i]] for i in data.items.ids if i[1] != uid[1]]
            wins += sum(o > x for o in own for x in other)
            total += len(own) * len(other)
        return wins / total

    a, b = auc(full), auc(sampled)
    assert a > 0.95 and b > 0.95 and abs(a - b) < 0.03, (a, b)
    # and they agree on which items are alike: each item's nearest item is in its own group
    for res in (full, sampled):
        v = res.embeddings["item"] / np.linalg.norm(res.embeddings["item"], axis=1, keepdims=True)
        sim = v @ v.T
        np.fill_diagonal(sim, -np.inf)
        nearest = sim.argmax(1)
        same = [data.items.ids[i][1] == data.items.ids[j][1] for i, j in enumerate(nearest.tolist())]
        assert np.mean(same) > 0.9


def test_sampled_needs_a_fanout_per_layer():
    data, _ = planted()
    with pytest.raises(ValueError, match="fan-outs"):
        train(data, NOW, TrainConfig(**{**FAST.__dict__, "propagation": "sampled", "fanouts": (5,)}))
    with pytest.raises(ValueError, match="propagation"):
        train(data, NOW, TrainConfig(**{**FAST.__dict__, "propagation": "dense"}))


def test_full_propagation_matches_dgl_message_passing_with_its_gradient():
    import dgl.function as fn

    data, _ = planted()
    pg = homogeneous_view(build_graph(data, NOW, GraphConfig()))
    assert pg.adjacency.col_indices().dtype == torch.int32  # 32-bit indices (see homogeneous_view)
    dense = pg.adjacency.to_dense()
    torch.testing.assert_close(dense, dense.T)  # both directions, the same weight: backward reuses it
    h = torch.randn(pg.graph.num_nodes(), 4, requires_grad=True)
    g = pg.graph
    with g.local_scope():
        g.ndata["h"] = h
        g.update_all(fn.u_mul_e("h", "w", "m"), fn.sum("m", "out"))
        reference = g.ndata["out"]
    (ref_grad,) = torch.autograd.grad((reference**2).sum(), h)
    ours = symmetric_spmm(pg.adjacency, h)
    (grad,) = torch.autograd.grad((ours**2).sum(), h)
    torch.testing.assert_close(ours, reference)
    torch.testing.assert_close(grad, ref_grad)
