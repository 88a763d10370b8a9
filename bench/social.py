"""Social ties in training: NDCG@20 with and without the FOLLOWS relation type (issue 17).

    .venv/bin/python bench/social.py [--users 3000] [--seeds 2] [--social-weight 1.0] [--json]

No PyPI package ships a recommendation data set with real social ties that installs
here (the loaders we know of download their data at run time), so this measures on a
SYNTHETIC homophily graph: users and items fall into taste clusters; a user takes
items of their own cluster with probability --purity (popular ones more often, Zipf);
each user follows ~Poisson(--ties)+1 others, of their own cluster with probability
--homophily; interaction counts are geometric (a third of the users have <= 3). Items
are tagged with their cluster's interest, as a catalogue would.

Protocol: per user, the last interaction is held out (test), the rest is training; the
model (training.train, LightGCN over user-item-interest, plus user-user ties when on)
ranks every unseen item; NDCG@20 over every user with a test item, and over the users
with fewer than 3 training interactions of their own (0, 1 or 2), next to popularity.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import graph_schema  # noqa: F401  before numpy: its BLAS kernels (graph_schema.blas)

# isort: split
import numpy as np

from training.config import GraphConfig, TrainConfig
from training.data import TrainingData
from training.metrics import evaluate, evaluate_popularity, group_by_user
from training.train import train

DAY_MS = 86_400_000


def generate(users: int, items: int, clusters: int, purity: float, homophily: float, ties: float, seed: int):
    rng = np.random.default_rng(seed)
    u_cluster = rng.integers(0, clusters, users)
    i_cluster = np.arange(items) % clusters
    members = [np.flatnonzero(i_cluster == c) for c in range(clusters)]
    zipf = [1.0 / np.arange(1, len(m) + 1) for m in members]
    zipf = [z / z.sum() for z in zipf]
    now = 1_767_225_600_000
    rows = []
    for u in range(users):
        n = min(int(rng.geometric(0.12)), 60)
        taken: set[int] = set()
        for _ in range(n):
            c = u_cluster[u] if rng.random() < purity else rng.integers(0, clusters)
            taken.add(int(rng.choice(members[c], p=zipf[c])))
        stamps = np.sort(rng.integers(now - 90 * DAY_MS, now, len(taken)))
        for item, ts in zip(rng.permutation(sorted(taken)), stamps, strict=True):
            rows.append({"user_id": f"u{u}", "item_id": f"i{item}", "weight": 1.0, "last_ts": int(ts)})
    by_cluster = [np.flatnonzero(u_cluster == c) for c in range(clusters)]
    follows = []
    for u in range(users):
        for _ in range(int(rng.poisson(ties)) + 1):
            pool = by_cluster[u_cluster[u]] if rng.random() < homophily else np.arange(users)
            v = int(rng.choice(pool))
            if v != u:
                follows.append((f"u{u}", f"u{v}", 1.0, int(now - rng.integers(1, 180) * DAY_MS)))
    tags = [{"item_id": f"i{i}", "interest_id": f"taste:{i_cluster[i]}", "weight": 1.0} for i in range(items)]
    extra = {"user": [f"u{u}" for u in range(users)], "item": [f"i{i}" for i in range(items)]}
    data = TrainingData.from_rows(rows, tags, extra_ids=extra).with_social(follows)
    return data, now, len(follows)


def communities(data: TrainingData, resolution: float, seed: int) -> dict:
    """training.communities on the generated graph (follows + shared strong interests, the
    interest weight of a user = how many of their items carry it): sizes, and purity (the
    share of members from each community's dominant planted cluster)."""
    from training.communities import louvain, user_graph

    names = data.users.ids
    ties = [
        (names[a], names[b], float(w))
        for a, b, w in zip(data.social_src, data.social_dst, data.social_weight, strict=True)
    ]
    tag_of = dict(zip(data.tag_item.tolist(), data.tag_interest.tolist(), strict=True))
    counts: dict[tuple[str, str], float] = {}
    for u, i in zip(data.user.tolist(), data.item.tolist(), strict=True):
        key = (names[u], data.interests.ids[tag_of[i]])
        counts[key] = counts.get(key, 0.0) + 1.0
    interests = [(u, t, t, w) for (u, t), w in counts.items()]
    groups = [g for g in louvain(user_graph(ties, interests, 0.5), resolution, seed) if len(g) >= 3]
    cluster = {u: max((w, t) for (v, t), w in counts.items() if v == u)[1] for u in {u for u, _ in counts}}
    pure = sum(max(sum(1 for u in g if cluster.get(u) == c) for c in set(cluster.values())) for g in groups)
    return {"sizes": sorted((len(g) for g in groups), reverse=True), "purity": pure / max(1, sum(map(len, groups)))}


def leave_last_out(data: TrainingData) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((data.last_ts, data.user))
    last = np.zeros(data.n_interactions, dtype=bool)
    users = data.user[order]
    ends = np.r_[users[1:] != users[:-1], True]
    last[order[ends]] = True
    return np.flatnonzero(~last), np.flatnonzero(last)


def run(a: argparse.Namespace, seed: int) -> dict:
    data, now, n_ties = generate(a.users, a.items, a.clusters, a.purity, a.homophily, a.ties, seed)
    train_rows, test_rows = leave_last_out(data)
    train_data = data.subset(train_rows)
    seen = group_by_user(train_data.user, train_data.item, data.n_users)
    truth = group_by_user(data.user[test_rows], data.item[test_rows], data.n_users)
    n_own = np.bincount(train_data.user, minlength=data.n_users)
    sparse = [t if n_own[u] < 3 else np.zeros(0, dtype=np.int64) for u, t in enumerate(truth)]
    out: dict = {
        "seed": seed,
        "users": data.n_users,
        "items": data.n_items,
        "interactions": data.n_interactions,
        "ties": n_ties,
        "sparse_users": int(sum(1 for t in sparse if len(t))),
        "popularity": evaluate_popularity(train_data.item, data.n_items, seen, truth)["ndcg@20"],
        "popularity_sparse": evaluate_popularity(train_data.item, data.n_items, seen, sparse)["ndcg@20"],
    }
    for name, weight in (("without", 0.0), ("with", a.social_weight)):
        cfg = TrainConfig(
            epochs=a.epochs, seed=seed, progress=False, graph=replace(GraphConfig(), social_weight=weight)
        )
        t0 = time.perf_counter()
        result = train(train_data, now, cfg)
        out[f"{name}_s"] = round(time.perf_counter() - t0, 1)
        out[name] = evaluate(result.scores, seen, truth)["ndcg@20"]
        out[f"{name}_sparse"] = evaluate(result.scores, seen, sparse)["ndcg@20"]
    return out


def add_generator_arguments(p: argparse.ArgumentParser) -> None:
    """The synthetic homophily population's options (and the runs'), shared by bench/social_blend.py."""
    p.add_argument("--users", type=int, default=3000)
    p.add_argument("--items", type=int, default=1500)
    p.add_argument("--clusters", type=int, default=12)
    p.add_argument("--purity", type=float, default=0.8)
    p.add_argument("--homophily", type=float, default=0.8)
    p.add_argument("--ties", type=float, default=6.0)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--json", action="store_true")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_generator_arguments(p)
    p.add_argument("--social-weight", type=float, default=1.0)
    a = p.parse_args(argv)
    runs = [run(a, seed) for seed in range(a.seeds)]
    print(
        f"synthetic homophily graph (not real ties): {a.users} users, {a.items} items, {a.clusters} clusters, "
        f"purity {a.purity}, homophily {a.homophily}, ~{a.ties + 1:.0f} follows per user, "
        f"social weight {a.social_weight}"
    )
    print(
        f"{'seed':>4} {'inter.':>7} {'ties':>6} {'<3 users':>8} | {'NDCG@20 all':>30} | {'NDCG@20 users with <3':>30}"
    )
    cols = f"{'popular':>8} {'without':>10} {'with':>10}"
    print(f"{'':>4} {'':>7} {'':>6} {'':>8} | {cols} | {cols}")
    for r in runs:
        print(
            f"{r['seed']:>4} {r['interactions']:>7} {r['ties']:>6} {r['sparse_users']:>8} | "
            f"{r['popularity']:>8.4f} {r['without']:>10.4f} {r['with']:>10.4f} | "
            f"{r['popularity_sparse']:>8.4f} {r['without_sparse']:>10.4f} {r['with_sparse']:>10.4f}"
        )
    if len(runs) > 1:
        mean = {
            k: float(np.mean([r[k] for r in runs]))
            for k in ("popularity", "without", "with", "popularity_sparse", "without_sparse", "with_sparse")
        }
        print(
            f"{'mean':>4} {'':>7} {'':>6} {'':>8} | "
            f"{mean['popularity']:>8.4f} {mean['without']:>10.4f} {mean['with']:>10.4f} | "
            f"{mean['popularity_sparse']:>8.4f} {mean['without_sparse']:>10.4f} {mean['with_sparse']:>10.4f}"
        )
    print("train seconds per run (without / with):", [(r["without_s"], r["with_s"]) for r in runs])
    data = generate(a.users, a.items, a.clusters, a.purity, a.homophily, a.ties, 0)[0]
    found = communities(data, 1.0, 42)
    print(
        f"communities (seed 0, Louvain resolution 1, min size 3): {len(found['sizes'])}, sizes {found['sizes']}, "
        f"purity vs the planted clusters (each user's majority taste) {found['purity']:.3f}"
    )
    if a.json:
        print(json.dumps(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
