"""Negative sampling on graphs too large for the dense "seen" table: the hashed bit filter
(training.sampling.SeenFilter) against searching every draw in the sorted seen keys.

One training step's draws as the full-propagation trainer makes them (an epoch is 10 steps:
a tenth of the positives, 2 negatives x 4 candidates each), on synthetic power-law
interactions of the scale benchmark's sizes (users 5 % and items 2 % of the events; ~70 % of
the events are distinct training pairs). Both ways draw the same negatives; the bench checks it.

    .venv/bin/python bench/sampler.py [--events 1000000 10000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.sampling import NegativeSampler, SeenFilter


def synthetic(events: int, seed: int = 0) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    n_users, n_items = int(events * 0.05), int(events * 0.02)
    pairs = int(events * 0.7)

    def power_law(n: int, size: int) -> np.ndarray:
        w = 1.0 / np.arange(1, n + 1) ** 0.8
        return rng.permutation(n)[np.searchsorted(np.cumsum(w / w.sum()), rng.random(size))].clip(0, n - 1)

    keys = np.unique(power_law(n_users, pairs).astype(np.int64) * n_items + power_law(n_items, pairs))
    empty = np.zeros(0, dtype=np.int64)
    return SimpleNamespace(
        n_users=n_users,
        n_items=n_items,
        n_interests=0,
        user=keys // n_items,
        item=keys % n_items,
        tag_item=empty,
        tag_interest=empty,
    )


def best_of(repeat: int, fn) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    columns = ("events", "seen pairs", "draws a step", "filter build ms", "filter MiB", "flagged")
    columns += ("search all ms", "filter + search ms")
    print("| " + " | ".join(columns) + " |")
    print("|" + " --- |" * len(columns))
    for events in a.events:
        measure(events, a.repeat)
    return 0


def measure(events: int, repeat: int) -> None:
    """One size: the filter's build, and one step's lookups both ways (the same answers)."""
    data = synthetic(events)
    sampler = NegativeSampler(data, np.random.default_rng(0))
    assert sampler.seen_filter is not None, "small enough for the dense table: nothing to compare"
    t = time.perf_counter()
    SeenFilter(sampler.seen_keys)
    build_ms = (time.perf_counter() - t) * 1000
    rng = np.random.default_rng(1)
    batch = len(data.user) // 10
    rows = rng.integers(0, len(data.user), batch)
    users = np.repeat(data.user[rows], 8)
    items = rng.integers(0, data.n_items, len(users))
    flagged = len(sampler.seen_filter.may_contain(users * data.n_items + items))
    filtered_s, with_filter = best_of(repeat, lambda: sampler._seen(users, items))
    kept, sampler.seen_filter = sampler.seen_filter, None
    search_s, without = best_of(repeat, lambda: sampler._seen(users, items))
    sampler.seen_filter = kept
    assert (with_filter == without).all()
    print(
        f"| {events:,} | {len(sampler.seen_keys):,} | {len(users):,} | {build_ms:.0f} | "
        f"{kept.table.nbytes / 2**20:.0f} | {flagged / len(users):.1%} | {search_s * 1000:.0f} | "
        f"{filtered_s * 1000:.0f} |",
        flush=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())
