"""Learned lists, exact against approximate candidates (training.list_candidates).

On bench/scale.py's seeded synthetic data (--events, --users-per-event, --items-per-event:
power-law users and items, interests, timestamps), with no store: the events are read
into training data, a GNN is trained for --epochs epochs (full propagation, the refresh's
configuration otherwise), and each user's list of --size items is made from a blend of
the low-rank sources (embedding, sequence, popularity; --weights), twice: exactly, and
from the candidate index. It prints both times, the index's build time and cells, and
the approximate lists' recall@20 and recall@size against the exact lists (the share of
each exact list's items the approximate one has, averaged over users), and the share of
users whose list is identical.

    .venv/bin/python bench/user_lists.py [--events 1000000] [--items-per-event 0.02]
        [--size 100] [--epochs 5] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load(events_path: Path) -> object:
    from training.data import TrainingData

    rows: dict[tuple[str, str], dict[str, object]] = {}
    with events_path.open(encoding="utf-8") as fh:
        for line in fh:
            e = json.loads(line)
            key = (e["user_id"], e["item_id"])
            ts = int(e["ts"]) if isinstance(e.get("ts"), int | float) else 0
            row = rows.get(key)
            if row is None:
                rows[key] = {"user_id": key[0], "item_id": key[1], "weight": 1.0, "last_ts": ts}
            else:
                row["weight"] = float(row["weight"]) + 1.0  # type: ignore[arg-type]
                row["last_ts"] = max(int(row["last_ts"]), ts)  # type: ignore[call-overload]
    return TrainingData.from_rows(list(rows.values()))


def recall(exact: dict[int, list[str]], approx: dict[int, list[str]], k: int) -> float:
    shares = [len(set(items[:k]) & set(approx[u][:k])) / len(items[:k]) for u, items in exact.items() if items]
    return float(np.mean(shares)) if shares else 1.0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--users-per-event", type=float, default=0.05)
    p.add_argument("--items-per-event", type=float, default=0.02)
    p.add_argument("--size", type=int, default=100, help="items per list (REFRESH_LIST_SIZE)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--weights", default="embedding=0.6,sequence=0.3,popularity=0.1")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    import torch  # noqa: F401  (top_k's torch path, as in a refresh)

    from bench.scale import Spec, write_dataset
    from training.combiner import BlendChoice
    from training.config import TrainConfig
    from training.list_candidates import ListCandidates
    from training.train import train
    from training.user_lists import list_candidates, user_lists

    spec = Spec.of(a.events, a.users_per_event, a.items_per_event, seed=a.seed)
    with tempfile.TemporaryDirectory(prefix="bench-lists-") as tmp:
        t0 = time.perf_counter()
        write_dataset(spec, Path(tmp))
        data = load(Path(tmp) / "events.jsonl")
    print(
        f"{a.events:,} events: {data.n_users:,} users, {data.n_items:,} items, {data.n_interactions:,} "  # type: ignore[attr-defined]
        f"interactions (generated and read in {time.perf_counter() - t0:.1f} s)",
        flush=True,
    )
    t_ref = int(data.last_ts.max())  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    res = train(data, t_ref, TrainConfig(epochs=a.epochs, progress=False, device="cpu", seed=a.seed))  # type: ignore[arg-type]
    print(f"GNN: {a.epochs} epochs in {time.perf_counter() - t0:.1f} s", flush=True)

    weights = {k: float(v) for k, v in (w.split("=") for w in a.weights.split(","))}
    blend = BlendChoice(weights, None, 0.9)
    sample = data

    def lists(exact_max_items: int | None) -> tuple[dict[int, list[str]], float]:
        t = time.perf_counter()
        out = {u: list(props["recs_items"]) for u, props in user_lists(sample, blend, res.embeddings, a.size, t_ref,
                                                                        exact_max_items=exact_max_items)}  # fmt: skip
        return out, time.perf_counter() - t

    exact, t_exact = lists(None)
    approx, t_approx = lists(0)
    from training.combiner import source_inputs

    sources = source_inputs(
        sample, np.arange(sample.n_interactions), None, 0.9, (res.embeddings["user"], res.embeddings["item"]),
        item_vectors=res.embeddings["item"],
    )  # fmt: skip
    t = time.perf_counter()
    index = list_candidates(sample, sources, blend, 0)
    t_build = time.perf_counter() - t
    assert isinstance(index, ListCandidates)
    same = np.mean([exact[u] == approx[u] for u in exact])
    print(
        f"lists of {a.size} for {len(exact):,} users over {data.n_items:,} items: exact {t_exact:.1f} s, "  # type: ignore[attr-defined]
        f"approximate {t_approx:.1f} s (index build {t_build:.1f} s of it; {index.cells} cells, "
        f"nprobe {index.index.nprobe}); recall@20 {recall(exact, approx, 20):.4f}, "
        f"recall@{a.size} {recall(exact, approx, a.size):.4f}, identical lists {same:.1%}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
