"""Similar items, exact against approximate (issue 15, item 3): for growing catalogues of
seeded clustered vectors (the shape trained item vectors have: items of one interest near
each other), the time of exact top-k (training.similar.exact_similar, blocked float32
products) and of the faiss HNSW path (training.similar.approximate_similar: build on one
thread, search on all), and the approximate lists' recall@k against the exact ones (on a
sample of items beyond --recall-items, exact is then computed for the sample only).

    .venv/bin/python bench/similar.py [--items 2000 10000 20000 50000 100000] [--dim 64] [--k 20]
"""

from __future__ import annotations

import argparse
import time

import graph_schema  # noqa: F401  first: numpy's BLAS kernels (graph_schema.blas)

# isort: split
import numpy as np

from training.similar import EXACT_BLOCK_SCORES, approximate_similar, exact_similar


def clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(n // 100, 10), dim))
    # diffuse clusters: the noise is 1.5x the spread of the centres (tight ones gave recall 1.0)
    return (centres[rng.integers(0, len(centres), n)] + 1.5 * rng.normal(size=(n, dim))).astype(np.float32)


def exact_rows(emb: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Exact neighbours of `rows` only (ties by index, as exact_similar)."""
    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    out = np.zeros((len(rows), k), dtype=np.int64)
    block = max(1, EXACT_BLOCK_SCORES // len(emb))
    for lo in range(0, len(rows), block):
        part = rows[lo : lo + block]
        sim = unit[part] @ unit.T
        sim[np.arange(len(part)), part] = -np.inf
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        out[lo : lo + len(part)] = top
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, nargs="+", default=[2_000, 10_000, 20_000, 50_000, 100_000])
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--exact-up-to", type=int, default=50_000, help="time exact only up to this size")
    p.add_argument("--recall-items", type=int, default=5_000, help="recall measured on this many items at most")
    args = p.parse_args()
    print(f"{'items':>8} | {'exact s':>8} | {'approx s':>8} | recall@{args.k}")
    for n in args.items:
        emb = clustered(n, args.dim)
        exact_s = float("nan")
        if n <= args.exact_up_to:
            t = time.perf_counter()
            exact, _ = exact_similar(emb, args.k)
            exact_s = time.perf_counter() - t
        t = time.perf_counter()
        approx, _ = approximate_similar(emb, args.k)
        approx_s = time.perf_counter() - t
        rows = np.arange(n) if n <= args.recall_items else np.random.default_rng(1).choice(n, args.recall_items, False)
        truth = exact[rows] if n <= args.exact_up_to else exact_rows(emb, rows, args.k)
        found = approx[rows]
        rec = float(np.mean([len(set(f) & set(t)) / args.k for f, t in zip(found, truth, strict=True)]))
        print(f"{n:>8,} | {exact_s:>8.2f} | {approx_s:>8.2f} | {rec:.4f}", flush=True)


if __name__ == "__main__":
    main()
