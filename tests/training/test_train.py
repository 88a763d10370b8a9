"""Real DGL on small planted graphs: learning, determinism, warm start, device choice."""

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("dgl")

from training.config import GraphConfig, TrainConfig
from training.data import TrainingData
from training.graph import INTERACTED, TAGS, build_graph
from training.metrics import group_by_user
from training.train import resolve_device, train

DAY = 86_400_000
NOW = 100 * DAY


def planted(seed: int = 0, users_per_group: int = 20, items_per_group: int = 20, seen: int = 10):
    """Two user groups with disjoint item sets; each user sees `seen` of its group's items."""
    rng = np.random.default_rng(seed)
    inter, held_out = [], {}
    for grp in (0, 1):
        for k in range(users_per_group):
            uid = f"g{grp}u{k}"
            items = rng.permutation(items_per_group)
            for it in items[:seen]:
                inter.append(
                    {
                        "user_id": uid,
                        "item_id": f"g{grp}i{it}",
                        "weight": float(rng.integers(1, 6)),
                        "count": 1,
                        "first_ts": NOW - int(rng.integers(0, 30)) * DAY,
                        "last_ts": NOW - int(rng.integers(0, 30)) * DAY,
                    }
                )
            held_out[uid] = [f"g{grp}i{it}" for it in items[seen:]]
    tags = [
        {"item_id": f"g{grp}i{it}", "interest_id": f"topic{grp}", "weight": 1.0}
        for grp in (0, 1)
        for it in range(items_per_group)
    ]
    return TrainingData.from_rows(inter, tags), held_out


FAST = TrainConfig(
    dim=16, layers=2, lr=0.05, epochs=15, batch_size=128, negatives=2, progress=False, device="cpu", seed=7
)


def test_graph_has_both_directions_and_normalised_weights():
    d, _ = planted()
    g = build_graph(d, NOW, GraphConfig(tau_days=30))
    assert g.num_edges(INTERACTED) == d.n_interactions == g.num_edges("interacted_by")
    assert g.num_edges(TAGS) == g.num_edges("tagged") == 40
    w = g.edges[INTERACTED].data["w"]
    assert (w > 0).all() and (w <= 1).all()


def test_learns_planted_groups():
    d, held_out = planted()
    res = train(d, NOW, FAST)
    emb = res.embeddings
    wins = total = 0
    for uid, items in held_out.items():
        u = d.users.pos[uid]
        grp = uid[1]
        scores = emb["item"] @ emb["user"][u]
        own = [scores[d.items.pos[i]] for i in items]
        other = [scores[d.items.pos[i]] for i in d.items.ids if i[1] != grp]
        wins += sum(o > x for o in own for x in other)
        total += len(own) * len(other)
    assert wins / total > 0.95  # held-out own-group items rank above the other group's (AUC)


def test_early_stopping_keeps_best_epoch():
    d, held_out = planted()
    truth = group_by_user(
        np.array([d.users.pos[u] for u, its in held_out.items() for _ in its]),
        np.array([d.items.pos[i] for its in held_out.values() for i in its]),
        d.n_users,
    )
    res = train(d, NOW, TrainConfig(**{**FAST.__dict__, "epochs": 12, "patience": 2}), valid_truth=truth)
    assert 1 <= res.best_epoch <= res.epochs_run <= 12
    assert res.best_valid["ndcg@20"] == max(h["valid_ndcg@20"] for h in res.history)


def test_early_stopping_measures_a_bounded_sample_of_users():
    """At most valid_users users, and at most valid_scores / items of them: an epoch's
    evaluation does not grow with the catalogue; but at least valid_min_users, so that a
    large catalogue is not measured on a handful of users."""
    d, held_out = planted()
    truth = group_by_user(
        np.array([d.users.pos[u] for u, its in held_out.items() for _ in its]),
        np.array([d.items.pos[i] for its in held_out.values() for i in its]),
        d.n_users,
    )
    with_truth = sum(1 for t in truth if len(t))
    assert with_truth > 7
    for cfg, expected in (
        ({}, with_truth),
        ({"valid_users": 7}, 7),
        ({"valid_scores": 5 * d.n_items + 3, "valid_min_users": 1}, 5),
        ({"valid_scores": 5 * d.n_items + 3, "valid_min_users": 6}, 6),
        ({"valid_scores": 5 * d.n_items + 3, "valid_min_users": 6, "valid_users": 4}, 4),
    ):
        res = train(d, NOW, TrainConfig(**{**FAST.__dict__, "epochs": 1, **cfg}), valid_truth=truth)
        assert res.history[0]["valid_users"] == expected


def test_same_seed_same_embeddings():
    d, _ = planted()
    cfg = TrainConfig(**{**FAST.__dict__, "epochs": 3})
    a, b = train(d, NOW, cfg), train(d, NOW, cfg)
    for label in ("user", "item", "interest"):
        np.testing.assert_array_equal(a.embeddings[label], b.embeddings[label])


def test_warm_start_copies_matching_ids_only():
    d, _ = planted()
    prev_vec = [0.5] * 16
    previous = {
        "user": {"g0u0": prev_vec, "ghost": prev_vec},  # unknown id ignored
        "item": {"g1i3": prev_vec, "g1i4": [1.0] * 8},  # wrong dim ignored
    }
    warm = TrainingData(**{**d.__dict__, "previous": previous})
    cfg = TrainConfig(**{**FAST.__dict__, "epochs": 0})
    res = train(warm, NOW, cfg)
    assert res.warm_started == {"user": 1, "item": 1, "interest": 0}
    base = {k: v.detach().numpy() for k, v in res.model.emb.items()}
    np.testing.assert_allclose(base["user"][d.users.pos["g0u0"]], prev_vec)
    np.testing.assert_allclose(base["item"][d.items.pos["g1i3"]], prev_vec)
    # rows without a previous vector start exactly as in a cold run
    cold = train(d, NOW, cfg)
    cold_base = {k: v.detach().numpy() for k, v in cold.model.emb.items()}
    other = d.users.pos["g0u1"]
    np.testing.assert_array_equal(base["user"][other], cold_base["user"][other])
    np.testing.assert_array_equal(base["interest"], cold_base["interest"])


def test_warm_start_from_float32_vector_tables_as_from_lists():
    """The paged pull's previous vectors (graph_schema.columns.VectorTable, float32, mixed
    sizes kept apart) warm-start what the row pull's lists do."""
    from graph_schema.columns import VectorTable

    d, _ = planted()
    vec = [0.25, -0.5] * 8
    users = {"g0u0": vec, "g0u2": [-x for x in vec], "ghost": vec}
    items = {"g1i3": vec, "g1i4": [1.0] * 8}  # wrong dim ignored
    cfg = TrainConfig(**{**FAST.__dict__, "epochs": 0})
    lists = train(TrainingData(**{**d.__dict__, "previous": {"user": users, "item": items}}), NOW, cfg)
    tables = {
        "user": VectorTable.of(list(users), list(users.values())),
        "item": VectorTable.of(list(items), list(items.values())),
    }
    assert isinstance(tables["user"].vectors, np.ndarray) and tables["user"].vectors.dtype == np.float32
    res = train(TrainingData(**{**d.__dict__, "previous": tables}), NOW, cfg)
    assert res.warm_started == lists.warm_started == {"user": 2, "item": 1, "interest": 0}
    for label in ("user", "item", "interest"):
        np.testing.assert_array_equal(res.model.emb[label].detach().numpy(), lists.model.emb[label].detach().numpy())


def test_warm_start_from_own_output_keeps_quality():
    d, _ = planted()
    first = train(d, NOW, FAST)
    prev = {
        label: dict(zip(ids.ids, first.embeddings[label].tolist(), strict=True))
        for label, ids in (("user", d.users), ("item", d.items), ("interest", d.interests))
    }
    second = train(TrainingData(**{**d.__dict__, "previous": prev}), NOW, TrainConfig(**{**FAST.__dict__, "epochs": 2}))
    assert second.warm_started == {"user": d.n_users, "item": d.n_items, "interest": d.n_interests}
    # two epochs from a warm start already separate the groups
    e = second.embeddings
    u0, u1 = d.users.pos["g0u0"], d.users.pos["g1u0"]
    g0 = [d.items.pos[f"g0i{k}"] for k in range(20)]
    g1 = [d.items.pos[f"g1i{k}"] for k in range(20)]
    assert (e["item"][g0] @ e["user"][u0]).mean() > (e["item"][g1] @ e["user"][u0]).mean()
    assert (e["item"][g1] @ e["user"][u1]).mean() > (e["item"][g0] @ e["user"][u1]).mean()


def test_device_resolution():
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError):
        resolve_device("tpu")
    import torch

    if not torch.cuda.is_available():
        assert resolve_device("auto") == "cpu"
        with pytest.raises(RuntimeError, match="cuda"):
            resolve_device("cuda")


def test_hardest_picks_highest_scoring_candidates():
    import torch

    from training.train import hardest

    users, items = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.1, 0], [0.9, 0], [0.5, 0], [0.7, 0]])
    picked = hardest(users, items, torch.tensor([0]), torch.tensor([[3, 2, 1, 0]]), k=2)
    assert sorted(picked[0].tolist()) == [0, 2]  # positions of candidates 3 and 1


def _step_gradients(data: TrainingData, cfg: TrainConfig, u, i, j) -> tuple[float, dict[str, np.ndarray]]:
    import torch

    from training.graph import homogeneous_view
    from training.model import LightGCN
    from training.train import _Step, seed_everything

    seed_everything(cfg.seed)
    g = homogeneous_view(build_graph(data, NOW, cfg.graph))
    model = LightGCN({"user": data.n_users, "item": data.n_items, "interest": data.n_interests}, cfg.dim, cfg.layers)
    model.emb["item"].data += 0.01 * torch.arange(data.n_items, dtype=torch.float32)[:, None]  # distinct rows
    loss = _Step(model, g, cfg, "cpu").backward(u, i, j)
    return loss, {
        name: p.grad.numpy().copy() if p.grad is not None else np.zeros(tuple(p.shape), dtype=np.float32)
        for name, p in model.named_parameters()
    }


def test_a_full_step_in_chunks_gives_the_gradients_of_one_batch():
    """The loss of a full-propagation step is computed `loss_chunk` positives at a time (memory
    flat in the batch), and its gradients equal those of the whole batch at once."""
    d, _ = planted(users_per_group=30, items_per_group=25)
    rng = np.random.default_rng(3)
    rows = rng.permutation(d.n_interactions)[:250]
    u, i = d.user[rows], d.item[rows]
    j = rng.integers(0, d.n_items, size=(len(rows), 8))
    whole, g_whole = _step_gradients(d, replace(FAST, loss_chunk=10_000, reg=1e-2), u, i, j)
    chunked, g_chunked = _step_gradients(d, replace(FAST, loss_chunk=64, reg=1e-2), u, i, j)
    assert chunked == pytest.approx(whole, rel=1e-5)
    assert set(g_whole) == set(g_chunked) == {"emb.user", "emb.item", "emb.interest"}
    for name in g_whole:
        assert np.abs(g_whole[name]).max() > 0, name  # every table takes part (interests by propagation)
        np.testing.assert_allclose(g_chunked[name], g_whole[name], rtol=1e-4, atol=1e-7)


def test_a_full_step_takes_its_l2_term_once_whatever_its_chunks(monkeypatch):
    """The L2 term reads and writes the whole user and item tables: taken per chunk, a step
    cost chunks x table rows, which both grow with the graph (at 10M events three quarters of
    an epoch). It is taken once per step, with the same gradients (the test above)."""
    import training.train as train

    calls: list[int] = []
    penalty = train.l2_penalty
    monkeypatch.setattr(train, "l2_penalty", lambda *a: calls.append(1) or penalty(*a))
    d, _ = planted(users_per_group=30, items_per_group=25)
    rng = np.random.default_rng(3)
    rows = rng.permutation(d.n_interactions)[:250]
    j = rng.integers(0, d.n_items, size=(len(rows), 8))
    _step_gradients(d, replace(FAST, loss_chunk=16, reg=1e-2), d.user[rows], d.item[rows], j)  # 16 chunks
    assert len(calls) == 1
    calls.clear()
    _step_gradients(d, replace(FAST, loss_chunk=16, reg=0.0), d.user[rows], d.item[rows], j)
    assert calls == []  # no L2 term, no pass over the tables


def test_a_batch_grown_with_the_graph_takes_a_square_root_scaled_learning_rate():
    from training.train import _Step

    d, _ = planted()
    cfg = replace(FAST, lr=0.02, batch_size=100, steps_per_epoch=1, lr_scale_max=3.0)
    step = _Step.__new__(_Step)
    step.cfg, step.blocks = cfg, None
    assert step.batch_size(d.n_interactions) == d.n_interactions == 400  # one step an epoch
    assert step.learning_rate(100) == 0.02  # a batch of batch_size: the configured rate
    assert step.learning_rate(400) == pytest.approx(0.04)  # 4x the positives: 2x the rate
    assert step.learning_rate(10_000) == pytest.approx(0.06)  # capped at lr_scale_max
    step.cfg = replace(cfg, lr_scale_max=FAST.lr_scale_max)  # the default: off
    assert FAST.lr_scale_max == 1.0 and step.learning_rate(10_000) == 0.02
    step.cfg, step.blocks = cfg, object()  # sampled steps keep their fixed batch and rate
    assert step.learning_rate(400) == 0.02


def test_an_empty_full_step_changes_nothing():
    empty = np.zeros(0, dtype=np.int64)
    d, _ = planted()
    loss, grads = _step_gradients(d, replace(FAST, loss_chunk=0), empty, empty, np.zeros((0, 8), dtype=np.int64))
    assert loss == 0.0
    assert all(not np.any(g) for g in grads.values())


def test_base_tables_with_item_bias_warm_start_a_model_to_the_same_base_rows_and_bias():
    """What a full run saves (training.base_vectors) is laid out as the published vectors
    are, bias column included, so warm_start takes it: a model started from it has the
    trained model's base rows and item bias exactly."""
    from training.train import base_tables

    d, _ = planted()
    cfg = TrainConfig(**{**FAST.__dict__, "epochs": 2, "item_bias": True})
    trained = train(d, NOW, cfg)
    tables = base_tables(trained.model, d)
    assert tables["item"].vectors.shape == (d.n_items, cfg.dim + 1)
    np.testing.assert_array_equal(tables["user"].vectors[:, -1], 1.0)
    start = TrainingData(**{**d.__dict__, "previous": tables})
    started = train(start, NOW, TrainConfig(**{**cfg.__dict__, "epochs": 0}))
    assert started.warm_started == {"user": d.n_users, "item": d.n_items, "interest": d.n_interests}
    for label in ("user", "item", "interest"):
        np.testing.assert_array_equal(
            started.model.emb[label].detach().numpy(), trained.model.emb[label].detach().numpy()
        )
    assert trained.model.item_bias.abs().sum() > 0  # trained, not its zero start
    np.testing.assert_array_equal(started.model.item_bias.detach().numpy(), trained.model.item_bias.detach().numpy())
