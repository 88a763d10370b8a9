"""Full mode: train on every pulled interaction's user and item from scratch.

The model trains on each user's older interactions (the temporal split's train part),
early-stops on the next 10 % (valid), and is measured, with the popularity baseline, on
the newest 10 % (test). The trained base vectors are then propagated over the graph of
*all* interactions, so the published vectors reflect the newest events without a second
training run.
"""

from __future__ import annotations

from training.config import TrainConfig
from training.data import Split, TrainingData
from training.metrics import evaluate, evaluate_popularity, holdout_truth, items_by_user
from training.run import Fit, Phases


def fit_full(data: TrainingData, split: Split, t_ref: int, cfg: TrainConfig, phases: Phases) -> Fit:
    from training.train import embed_graph, train  # torch/dgl only when a refresh trains

    train_data = data.subset(split.train)
    valid_truth = items_by_user(data, split.valid)
    has_valid = any(len(v) for v in valid_truth)
    res = phases.run("train", lambda: train(train_data, t_ref, cfg, valid_truth if has_valid else None))

    def evaluate_both() -> tuple[dict[str, float], dict[str, float]]:
        h = holdout_truth(data, split)
        ours = evaluate(res.scores, h.seen, h.truth)
        return ours, evaluate_popularity(train_data.item, data.n_items, h.seen, h.truth)

    metrics, baseline = phases.run("evaluate", evaluate_both)
    # publish vectors propagated over every interaction (hold-outs included)
    embeddings = phases.run("train", lambda: embed_graph(res.model, data, t_ref, cfg.graph, res.device))
    return Fit(embeddings, metrics, baseline, res.device, res.best_epoch)
