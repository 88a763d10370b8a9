"""Offline quality benchmark on MovieLens-100K (issue 4 protocol).

    .venv/bin/python bench/quality.py [--dim 64 --layers 2 --lr 0.005 ...]

All 100,000 ratings are implicit positives; per-user temporal split 80/10/10; full
ranking over all items excluding the user's train+valid items. Prints our model and the
popularity baseline side by side, plus the training time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.benchmark import movielens_data, run_benchmark
from training.config import GraphConfig, TrainConfig
from training.metrics import REPORTED

TARGET_NDCG20 = 0.150


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    t, g = TrainConfig(), GraphConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in dataclasses.fields(TrainConfig):
        if f.name in {"graph", "progress"}:
            continue
        p.add_argument(f"--{f.name.replace('_', '-')}", type=type(getattr(t, f.name)), default=getattr(t, f.name))
    for f in dataclasses.fields(GraphConfig):
        if f.name == "use_interests":
            continue
        p.add_argument(f"--{f.name.replace('_', '-')}", type=float, default=getattr(g, f.name))
    p.add_argument("--no-genres", action="store_true", help="train without genre interest nodes")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="also print the result as one JSON line")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    a = parse_args(argv)
    graph = GraphConfig(
        tau_days=a.tau_days,
        decay_floor=a.decay_floor,
        interest_weight=a.interest_weight,
        use_interests=not a.no_genres,
    )
    skip = {"graph", "progress"}
    kwargs = {f.name: getattr(a, f.name) for f in dataclasses.fields(TrainConfig) if f.name not in skip}
    cfg = TrainConfig(**kwargs, graph=graph, progress=not a.quiet)
    data = movielens_data(use_genres=not a.no_genres)
    res = run_benchmark(data, cfg)

    print(f"MovieLens-100K  {res.counts}")
    print(f"config: {dataclasses.asdict(cfg)}")
    print(f"{'metric':<10} {'ours':>8} {'pop':>8}")
    for m in REPORTED:
        print(f"{m:<10} {res.ours[m]:>8.4f} {res.popularity[m]:>8.4f}")
    print(
        f"train time {res.train_seconds:.1f} s on {res.device} ({res.epochs_run} epochs, best {res.best_epoch}); "
        f"valid ndcg@20 {res.valid.get('ndcg@20', float('nan')):.4f}; "
        f"target test ndcg@20 >= {TARGET_NDCG20}: {'met' if res.ours['ndcg@20'] >= TARGET_NDCG20 else 'NOT met'}"
    )
    if a.json:
        print(
            json.dumps(
                {
                    "ours": res.ours,
                    "pop": res.popularity,
                    "train_s": res.train_seconds,
                    "best_epoch": res.best_epoch,
                    "valid": res.valid,
                }
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
