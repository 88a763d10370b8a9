"""The social source in the learned blend: NDCG@20 with and without it, at the fixed
RECS_SOCIAL_WEIGHT and at the weight the combiner learns (issue 17, item 3).

    .venv/bin/python bench/social_blend.py [--users 3000] [--seeds 2] [--homophily 0.8] [--json]

SYNTHETIC data: bench/social.py's homophily generator (no installable package ships real
social ties). Protocol: per user the last interaction is the test item; of the rest, the
last is the combiner's own hold-out (it chooses EASE's λ, the sequence decay and the
weights there, fitted on the others, as a refresh does), and the GNN trains on the others
(no social relation type: TRAIN_SOCIAL_WEIGHT 0, the default). Everything is then
refitted on all but the test item and ranks every unseen item. Columns:

- without social: the learned blend of ease, embedding, sequence, popularity;
- fixed (served): what the API served before: that blend's ranking (its head rescaled to
  0.5..1, service/recs/sources/learned.py) plus the live social source (normalised to 1
  per user) at RECS_SOCIAL_WEIGHT = 0.3;
- learned (blend): the blend with the social component, at the weight it learned;
- learned (served): that ranking plus the live social source at the learned weight, what
  the API serves now (the ranking's social part and the live source count the same people
  twice);
- ranking only (served): that ranking as the API serves it, without the live source (0).

A user with no interactions of their own gets no learned ranking: the API answers them
with the social source alone when they follow someone, else popular items, so the
"served" columns do that for them; the blend columns rank them by the blend as is.
NDCG@20 over every user with a test item, and over those with fewer than 3 known
interactions (0, 1 or 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import graph_schema  # noqa: F401  before numpy: its BLAS kernels (graph_schema.blas)

# isort: split
import numpy as np

from bench.social import add_generator_arguments, generate, leave_last_out
from training.combiner import BlendChoice, choose_blend, source_inputs
from training.config import GraphConfig, TrainConfig
from training.data import TrainingData
from training.metrics import evaluate, group_by_user, top_k
from training.social_source import followee_taste
from training.train import train

FIXED_WEIGHT = 0.3  # RECS_SOCIAL_WEIGHT's default
TAU_DAYS = 14.0  # RECS_SOCIAL_TAU_DAYS's default
LEARNED_HEAD = 60  # items of the learned ranking the API reads for k=20 (max(3k, 50))


def served(ranking: np.ndarray, social: np.ndarray, weight: float, own: np.ndarray, seen: list) -> np.ndarray:
    """The API's learned blend for a block of users: the ranking's head rescaled to 0.5..1,
    plus `weight` × the social score over its maximum; a user without interactions of their
    own gets the social source alone (popularity breaks ties as the trending fill would)."""
    out = np.zeros_like(ranking)
    head = top_k(ranking, LEARNED_HEAD, seen)
    for r in range(len(ranking)):
        scores = ranking[r, head[r]]
        span = (scores[0] - scores[-1]) or 1.0
        out[r, head[r]] = 0.5 + 0.5 * (scores - scores[-1]) / span
    top = social.max(axis=1, keepdims=True)
    live = np.divide(social, top, out=np.zeros_like(social), where=top > 0)
    cold = own == 0
    out[cold] = live[cold]
    out[~cold] += np.float32(weight) * live[~cold]
    return out


def run(a: argparse.Namespace, seed: int) -> dict:
    data, now, _ = generate(a.users, a.items, a.clusters, a.purity, a.homophily, a.ties, seed)
    known, test = leave_last_out(data)
    inner_fit, inner_valid = leave_last_out(data.subset(known))
    fit, valid = known[inner_fit], known[inner_valid]
    no_ties = replace(data, social_src=data.social_src[:0], social_dst=data.social_dst[:0])
    cfg = TrainConfig(epochs=a.epochs, seed=seed, progress=False, graph=GraphConfig())
    gnn = train(no_ties.subset(fit), now, cfg)
    vectors = (gnn.embeddings["user"], gnn.embeddings["item"])
    valid_truth = group_by_user(data.user[valid], data.item[valid], data.n_users)
    without = choose_blend(no_ties, fit, valid_truth, vectors, 10_000)
    learned = choose_blend(data, fit, valid_truth, vectors, 10_000, social_tau_days=TAU_DAYS)

    known_data = data.subset(known)
    seen = group_by_user(known_data.user, known_data.item, data.n_users)
    truth = group_by_user(data.user[test], data.item[test], data.n_users)
    own = np.bincount(known_data.user, minlength=data.n_users)
    sparse = [t if own[u] < 3 else np.zeros(0, dtype=np.int64) for u, t in enumerate(truth)]
    live = followee_taste(data, known, TAU_DAYS, now)
    assert live is not None

    def blended(choice: BlendChoice, d: TrainingData):  # type: ignore[no-untyped-def]
        sources = source_inputs(
            d, known, choice.ease_lambda, choice.sequence_decay, vectors, vectors[1], choice.social_tau_days
        )
        return lambda users: sources.blend(users, choice.weights)

    blend_without, blend_learned = blended(without, no_ties), blended(learned, data)
    weight = learned.weights.get("social", 0.0)
    columns = {
        "without": blend_without,
        "fixed_served": lambda users: served(
            blend_without(users), live.scores(users), FIXED_WEIGHT, own[users], [seen[u] for u in users]
        ),
        "learned_blend": blend_learned,
        "learned_served": lambda users: served(
            blend_learned(users), live.scores(users), weight, own[users], [seen[u] for u in users]
        ),
        "ranking_served": lambda users: served(
            blend_learned(users), live.scores(users), 0.0, own[users], [seen[u] for u in users]
        ),
    }
    out: dict = {"seed": seed, "sparse_users": int(sum(1 for t in sparse if len(t))), "social_weight": weight}
    out["weights"] = learned.weights
    for name, scores in columns.items():
        out[name] = evaluate(scores, seen, truth)["ndcg@20"]
        out[f"{name}_sparse"] = evaluate(scores, seen, sparse)["ndcg@20"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_generator_arguments(p)
    a = p.parse_args(argv)
    runs = [run(a, seed) for seed in range(a.seeds)]
    names = ("without", "fixed_served", "learned_blend", "learned_served", "ranking_served")
    print(
        f"synthetic homophily graph (not real ties): {a.users} users, {a.items} items, {a.clusters} clusters, "
        f"purity {a.purity}, homophily {a.homophily}, ~{a.ties + 1:.0f} follows per user"
    )
    print(f"{'seed':>4} {'<3 users':>8} {'social w':>8} | " + " ".join(f"{n:>14}" for n in names) + " | (<3) same")
    for r in runs:
        print(
            f"{r['seed']:>4} {r['sparse_users']:>8} {r['social_weight']:>8.1f} | "
            + " ".join(f"{r[n]:>14.4f}" for n in names)
            + " | "
            + " ".join(f"{r[n + '_sparse']:>8.4f}" for n in names)
        )
        print(f"     learned weights: {r['weights']}")
    if len(runs) > 1:
        mean = {k: float(np.mean([r[k] for r in runs])) for n in names for k in (n, n + "_sparse")}
        print(
            f"{'mean':>4} {'':>8} {'':>8} | "
            + " ".join(f"{mean[n]:>14.4f}" for n in names)
            + " | "
            + " ".join(f"{mean[n + '_sparse']:>8.4f}" for n in names)
        )
    if a.json:
        print(json.dumps(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
