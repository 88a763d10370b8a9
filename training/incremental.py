"""Incremental mode: re-fit a neighbourhood's vectors against the published ones, frozen.

The neighbourhood (training.pull): the users with new events (U0), the items they
interacted with (I1) and a sample of those items' other users (U2). Their vectors are
re-fitted jointly against everything else frozen (training.foldin). Only they are staged
(users with their strengths, items), while every item's SIMILAR_TO neighbours are written
for the new version (any item's list may hold a moved item, and readers read only the
published version's edges); publish_model carries every vector and strength the run did
not stage into the new version unchanged. Interests keep their vectors, population
strength and trend (a full run recomputes those).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.data import LABELS, Split, TrainingData
from training.metrics import evaluate, evaluate_popularity, holdout_truth
from training.options import RefreshOptions
from training.run import Fit, Phases

# label -> (vectors, has_vector mask), rows in the TrainingData's index order
PreviousVectors = dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Neighbourhood:
    """What an incremental run re-fits (indices into the pulled TrainingData)."""

    touched: np.ndarray  # U0: users with new events
    users: np.ndarray  # U0 and U2: every pulled user (the pull holds only the neighbourhood)
    items: np.ndarray  # I1: items the touched users interacted with
    staged_items: np.ndarray  # I1 and items that had no vector (filled from their interests)


def neighbourhood(data: TrainingData, seeds: list[str], prev: PreviousVectors) -> Neighbourhood:
    touched = np.unique(np.array([data.users.pos[u] for u in seeds if u in data.users.pos], dtype=np.int64))
    items = np.unique(data.item[np.isin(data.user, touched)])
    new_items = np.flatnonzero(~prev["item"][1])
    return Neighbourhood(touched, np.arange(data.n_users), items, np.union1d(items, new_items))


def fit_incremental(
    data: TrainingData, split: Split, prev: PreviousVectors, seeds: list[str], opts: RefreshOptions, phases: Phases
) -> Fit:
    from training.foldin import fill_missing_items, fold_in  # torch only when a refresh trains

    hood = neighbourhood(data, seeds, prev)
    user_emb, user_has = prev["user"]
    item_emb, item_has = prev["item"]
    interest_emb, _ = prev["interest"]
    item_emb = fill_missing_items(item_emb, item_has, interest_emb, data)
    # a user without a vector (new) starts from the mean of its items' vectors
    user_init = user_emb.copy()
    for u in np.flatnonzero(~user_has).tolist():
        user_init[u] = item_emb[data.item[data.user == u]].mean(0)
    cfg = opts.train

    def fit(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return fold_in(
            data.subset(rows),
            hood.users,
            hood.items,
            user_init,
            item_emb,
            opts.foldin_steps,
            opts.foldin_lr,
            cfg.reg,
            cfg.negatives,
            cfg.seed,
            opts.foldin_batch,
        )

    def evaluate_all() -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
        # Re-fit without the hold-out (holdout_after: what the published model never saw),
        # score it there, and score the same users' published vectors on the same hold-out
        # as the reference the gate compares with. Every pulled user comes with all its
        # interactions, so what is "seen" is complete. Users without a published vector
        # have no reference (and their start would be taken from the hold-out): left out.
        known = np.concatenate([split.train, split.valid])
        h = holdout_truth(data, split, test_users=user_has)
        pop = evaluate_popularity(data.item[known], data.n_items, h.seen, h.truth)
        reference = evaluate(lambda u: user_emb[u] @ item_emb.T, h.seen, h.truth)
        if not reference["users"]:
            return dict(reference), pop, reference  # nothing to measure: no need to fit
        users, items = fit(known)
        return evaluate(lambda u: users[u] @ items.T, h.seen, h.truth), pop, reference

    metrics, baseline, reference = phases.run("evaluate", evaluate_all)
    users, items = phases.run("train", lambda: fit(np.arange(data.n_interactions)))
    return Fit(
        embeddings={"user": users, "item": items, "interest": interest_emb},
        metrics=metrics,
        baseline=baseline,
        device="cpu",
        reference=reference,
        staged={"user": hood.users, "item": hood.staged_items, "interest": np.zeros(0, dtype=np.int64)},
        counts={
            "touched_users": len(hood.touched),
            "neighbour_users": len(hood.users) - len(hood.touched),
            "refit_items": len(hood.items),
            "new_items": len(hood.staged_items) - len(hood.items),
        },
    )


def previous_vectors(data: TrainingData) -> PreviousVectors | None:
    """The pulled previous vectors as arrays; None if there are none or their sizes differ."""
    dims = {len(v) for label in LABELS for v in (data.previous.get(label) or {}).values() if v}
    if len(dims) != 1:
        return None
    dim = dims.pop()
    index = {"user": data.users, "item": data.items, "interest": data.interests}
    out = {}
    for label in LABELS:
        arr = np.zeros((len(index[label]), dim), dtype=np.float32)
        has = np.zeros(len(index[label]), dtype=bool)
        for node_id, vec in (data.previous.get(label) or {}).items():
            pos = index[label].pos.get(str(node_id))
            if pos is not None and vec:
                arr[pos] = vec
                has[pos] = True
        out[label] = (arr, has)
    if not out["item"][1].any():
        return None
    return out
