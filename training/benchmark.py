"""Offline quality benchmark (issue 4 protocol): temporal per-user split, train on train,
select on valid, report test for our model and the popularity baseline."""

from __future__ import annotations

import time
from dataclasses import dataclass

from training.config import TrainConfig
from training.data import TrainingData, temporal_split
from training.metrics import evaluate, evaluate_popularity, holdout_truth, items_by_user
from training.movielens import load_ml100k
from training.train import train


@dataclass
class BenchmarkResult:
    ours: dict[str, float]
    popularity: dict[str, float]
    valid: dict[str, float]
    train_seconds: float
    best_epoch: int
    epochs_run: int
    device: str
    counts: dict[str, int]


def run_benchmark(data: TrainingData, cfg: TrainConfig | None = None) -> BenchmarkResult:
    cfg = cfg or TrainConfig()
    split = temporal_split(data)
    train_data = data.subset(split.train)
    valid_truth = items_by_user(data, split.valid)
    test = holdout_truth(data, split)  # at test time the user's train and valid items are both excluded
    now_ms = int(train_data.last_ts.max()) if train_data.n_interactions else 0

    start = time.perf_counter()
    result = train(train_data, now_ms, cfg, valid_truth)
    seconds = time.perf_counter() - start
    ours = evaluate(result.scores, test.seen, test.truth)
    pop = evaluate_popularity(train_data.item, data.n_items, test.seen, test.truth)
    return BenchmarkResult(
        ours=ours,
        popularity=pop,
        valid=result.best_valid,
        train_seconds=seconds,
        best_epoch=result.best_epoch,
        epochs_run=result.epochs_run,
        device=result.device,
        counts={
            "users": data.n_users,
            "items": data.n_items,
            "interests": data.n_interests,
            "train": len(split.train),
            "valid": len(split.valid),
            "test": len(split.test),
        },
    )


def movielens_data(use_genres: bool = True) -> TrainingData:
    interactions, tags, items = load_ml100k()
    return TrainingData.from_rows(
        interactions, tags if use_genres else [], extra_ids={"item": [r["id"] for r in items]}
    )
