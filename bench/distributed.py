"""Distributed (DistDGL) against single-process sampled training on MovieLens-100K (issue 15).

    .venv/bin/python bench/distributed.py [--seeds 0 1 2] [--partitions 2] [--epochs N]

The raw model's scores under the temporal protocol (training.benchmark: train on each
user's older ratings, early-stop on the next 10 %, test on the newest 10 %), once trained in
this process with sampled propagation and once by `--partitions` DistGraph servers and
trainers on this host (training.distributed), same config and seed. Prints NDCG@20 and
recall@20 of both per seed, their difference, and the wall time of each training.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.benchmark import movielens_data, run_benchmark
from training.config import TrainConfig


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--partitions", type=int, default=2)
    p.add_argument("--epochs", type=int, default=None, help="most epochs (default: TrainConfig's)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    data = movielens_data()
    base = TrainConfig(propagation="sampled", progress=False, device="cpu")
    if a.epochs:
        base = replace(base, epochs=a.epochs)
    print(f"{'seed':>4} {'mode':<12} {'ndcg@20':>8} {'recall@20':>9} {'best/run':>9} {'train s':>8}")
    for seed in a.seeds:
        rows = {}
        for mode, cfg in (("single", base), (f"dist {a.partitions}", replace(base, distributed=a.partitions))):
            res = run_benchmark(data, replace(cfg, seed=seed))
            rows[mode] = res
            print(
                f"{seed:>4} {mode:<12} {res.ours['ndcg@20']:>8.4f} {res.ours['recall@20']:>9.4f} "
                f"{res.best_epoch:>4}/{res.epochs_run:<4} {res.train_seconds:>8.1f}",
                flush=True,
            )
        single, dist = rows.values()
        print(
            f"{seed:>4} {'difference':<12} {dist.ours['ndcg@20'] - single.ours['ndcg@20']:>+8.4f} "
            f"{dist.ours['recall@20'] - single.ours['recall@20']:>+9.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
