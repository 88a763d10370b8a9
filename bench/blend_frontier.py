"""Is there one blend that does well under every protocol? MovieLens-100K, offline.

For each protocol of service/evaluation.py (temporal, deployed, random; seed 0) the four
sources of training/combiner.py are fitted on that protocol's known history (EASE λ 300,
sequence decay 0.9, the GNN trained 18 epochs without early stopping), and every weight
vector on a 0.1-step simplex (popularity ≤ 0.2) is scored on the test part (NDCG@20,
known and excluded items never ranked). Prints each source alone, then the vectors
closest to all three issue-14 targets at once (the smallest of score / target first).

    .venv/bin/python bench/blend_frontier.py [--top 10] [--decay 0.9] [--length 20] [--ease-lambda 300]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import graph_schema  # noqa: F401  before numpy: its BLAS kernels (graph_schema.blas)

# isort: split
import numpy as np

from service.evaluation import random_split
from training import combiner
from training.benchmark import movielens_data
from training.config import TrainConfig
from training.data import temporal_split
from training.metrics import items_by_user, rank_metrics, top_k
from training.train import train

TARGETS = {"temporal": 0.156, "deployed": 0.201, "random": 0.347}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--decay", type=float, default=0.9, help="sequence position decay")
    p.add_argument("--length", type=int, default=combiner.SEQUENCE_LENGTH, help="sequence length")
    p.add_argument("--ease-lambda", type=float, default=300.0)
    a = p.parse_args()
    data = movielens_data()
    ts = temporal_split(data)
    none = np.zeros(0, dtype=np.int64)
    protocols = {
        "temporal": (ts.train, ts.valid, ts.test),
        "deployed": (np.concatenate([ts.train, ts.valid]), none, ts.test),
        "random": random_split(data, 0),
    }
    blocks = {}
    for name, (known, excluded, test) in protocols.items():
        known_data = data.subset(known)
        model = train(known_data, int(known_data.last_ts.max()), TrainConfig(progress=False, epochs=18), None)
        sources = combiner.source_inputs(
            data, known, a.ease_lambda, a.decay, (model.embeddings["user"], model.embeddings["item"])
        )
        sources.recent = combiner.recent_items(data, known, a.decay, a.length)
        truth = items_by_user(data, test)
        hidden = items_by_user(data, excluded) if len(excluded) else [none] * data.n_users
        users = np.array([u for u, t in enumerate(truth) if len(t)])
        seen = [np.union1d(sources.history[u].indices, hidden[u]) for u in users]
        z = sources.scores(users, dict.fromkeys(combiner.SOURCES, 1.0))
        blocks[name] = (z, seen, [truth[u] for u in users])
        alone = {k: round(rank_metrics(top_k(v, 20, seen), blocks[name][2], (20,))["ndcg@20"], 4) for k, v in z.items()}
        print(f"{name:9s} alone: {alone}", flush=True)
    names = sorted(blocks["temporal"][0])
    rows = []
    for g in itertools.product(range(11), repeat=len(names)):
        if sum(g) != 10 or g[names.index("popularity")] > 2:
            continue
        scores = {}
        for proto, (z, seen, truth) in blocks.items():
            total = sum(np.float32(t / 10) * z[n] for n, t in zip(names, g, strict=True) if t)
            scores[proto] = rank_metrics(top_k(total, 20, seen), truth, (20,))["ndcg@20"]  # type: ignore[arg-type]
        rows.append((min(scores[k] / TARGETS[k] for k in TARGETS), g, scores))
    print("weights (" + ", ".join(names) + ")  " + "  ".join(TARGETS) + "  min(score/target)")
    for worst, g, scores in sorted(rows, key=lambda r: -r[0])[: a.top]:
        print(f"{g!s:22s} " + "  ".join(f"{scores[k]:.4f}" for k in TARGETS) + f"  {worst:.3f}")


if __name__ == "__main__":
    main()
