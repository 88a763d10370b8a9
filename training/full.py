"""Full mode: train on every pulled interaction's user and item, from scratch or from the last
full run's base vectors (training.base_vectors; never from the published vectors, which have
seen this run's hold-out).

The GNN trains on each user's older interactions (the temporal split's train part) and
early-stops on the next 10 % (valid). The learned blend of the candidate sources
(training.combiner) is chosen on the same parts, and measured, with the popularity
baseline, on the newest 10 % (test), everything before it known. The trained base vectors
are then propagated over the graph of *all* interactions, so the published vectors
reflect the newest events without a second training run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from training.combiner import choose_blend, source_inputs
from training.data import Split, TrainingData
from training.metrics import evaluate, evaluate_popularity, holdout_truth, items_by_user, sample_users
from training.options import RefreshOptions
from training.run import Fit, Phases


def fit_full(
    data: TrainingData,
    split: Split,
    t_ref: int,
    opts: RefreshOptions,
    phases: Phases,
    exposures: Sequence[tuple[str, str]] = (),
) -> Fit:
    """`exposures`: (user id, item id) pairs shown and ignored or disliked (the event log's),
    drawn as that user's harder negatives (TrainConfig.exposed_negative_frac)."""
    from training.train import base_tables, embed_graph, train  # torch/dgl only when a refresh trains

    train_data = data.subset(split.train)
    valid_truth = items_by_user(data, split.valid)
    # half the users' valid items stop the GNN's training, the other half choose the blend:
    # a GNN early-stopped on the blend's own hold-out looks better there than it is
    stop_truth, blend_truth = _halves(valid_truth)
    has_valid = any(len(v) for v in stop_truth)
    cfg = opts.train
    exposed = _exposure_index(data, exposures)
    res = phases.run("train", lambda: train(train_data, t_ref, cfg, stop_truth if has_valid else None, exposed))
    vectors = (res.embeddings["user"], res.embeddings["item"])
    blend = phases.run(
        "train",
        lambda: choose_blend(data, split.train, blend_truth, vectors, opts.ease_max_items, opts.social_tau_days),
    )

    def evaluate_both() -> tuple[dict[str, float], dict[str, float]]:
        h = holdout_truth(data, split, sample_users(data, split.test, opts.eval_users))
        known = np.concatenate([split.train, split.valid])
        sources = source_inputs(
            data, known, blend.ease_lambda, blend.sequence_decay, vectors, vectors[1], blend.social_tau_days
        )
        ours: dict = evaluate(lambda users: sources.blend(users, blend.weights), h.seen, h.truth)
        ours["gnn"] = evaluate(res.scores, h.seen, h.truth)["ndcg@20"]  # the GNN alone, for the record
        ours["blend"] = blend.record()
        return ours, evaluate_popularity(train_data.item, data.n_items, h.seen, h.truth)

    metrics, baseline = phases.run("evaluate", evaluate_both)
    # publish vectors propagated over every interaction (hold-outs included)
    embeddings = phases.run("train", lambda: embed_graph(res.model, data, t_ref, cfg.graph, res.device))
    # how many rows started from the last full run's base vectors (training.base_vectors)
    warm = {f"warm_started_{label}s": n for label, n in res.warm_started.items()}
    return Fit(
        embeddings, metrics, baseline, res.device, res.best_epoch, counts=warm, blend=blend,
        history=tuple(res.history), base=base_tables(res.model, data), trained=(train_data.user, train_data.item),
    )  # fmt: skip


def _exposure_index(data: TrainingData, exposures: Sequence[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray] | None:
    """The pairs whose user and item are in the training data, as node indexes."""
    pairs = [
        (data.users.pos[u], data.items.pos[i]) for u, i in exposures if u in data.users.pos and i in data.items.pos
    ]
    if not pairs:
        return None
    users, items = zip(*pairs, strict=True)
    return np.array(users, dtype=np.int64), np.array(items, dtype=np.int64)


def _halves(truth: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The per-user truth of even users, and of odd users (the others' left empty)."""
    empty = np.zeros(0, dtype=np.int64)
    return (
        [t if u % 2 == 0 else empty for u, t in enumerate(truth)],
        [t if u % 2 == 1 else empty for u, t in enumerate(truth)],
    )
