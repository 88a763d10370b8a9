"""Incremental mode: re-fit the users who acted against the published vectors, frozen.

The pull (training.pull): the users with new events (U0) with all their interactions and
evidence, every published vector, and, for the items their new interactions reached that
have no published vector yet (new since the last full run), the edges of up to
`neighbours_per_item` of their most recent other users (U2, frozen context). U0's vectors
are re-fitted (training.foldin) against every item vector frozen, and the new items'
vectors fitted from their users (they start from their interests' mean). Only U0 (with
their strengths) and the new items are staged; publish_model carries every other vector
and strength into the new version unchanged, and the new version keeps serving the
published SIMILAR_TO lists. Items move, and their lists are rebuilt, in full runs.

Why items stay: re-fitting the items the new events reached against a bounded sample of
their users (what a pull that does not grow with the graph can hold) distorted their
popularity and lost quality on MovieLens-100K's newest 3 % of ratings (NDCG@20 0.082
against 0.125 for the published vectors, bench/refresh.py --held-out 0.03); re-fitting
them against all their users pulled the whole graph at 1M events (202 s). Users only:
0.124, in 2.2 s instead of 3.6 s, and the pull, the fit and the writes grow with the
events since the last run, not with the graph. Interests keep their vectors, population
strength and trend (a full run recomputes those).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.data import LABELS, Split, TrainingData
from training.metrics import evaluate, evaluate_popularity, holdout_truth, sample_users
from training.options import RefreshOptions
from training.run import Fit, Phases

# label -> (vectors, has_vector mask), rows in the TrainingData's index order
PreviousVectors = dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Neighbourhood:
    """What an incremental run re-fits (indices into the pulled TrainingData)."""

    touched: np.ndarray  # U0: users with new events, re-fitted and staged
    context: np.ndarray  # U2: the other users pulled (edges to new items only), frozen
    items: np.ndarray  # new items (no published vector) the pull holds edges of: fitted and staged
    staged_items: np.ndarray  # every item without a published vector (filled from its interests)


def neighbourhood(data: TrainingData, seeds: list[str], prev: PreviousVectors) -> Neighbourhood:
    touched = np.unique(np.array([data.users.pos[u] for u in seeds if u in data.users.pos], dtype=np.int64))
    new_items = np.flatnonzero(~prev["item"][1])
    items = np.intersect1d(new_items, data.item)
    context = np.setdiff1d(np.arange(data.n_users), touched)
    return Neighbourhood(touched, context, items, new_items)


def fit_incremental(
    data: TrainingData,
    split: Split,
    prev: PreviousVectors,
    seeds: list[str],
    opts: RefreshOptions,
    phases: Phases,
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
        # a new item is fitted only on interactions it has here: one whose only pulled edge
        # is held out would just be pushed down as a negative
        items = np.intersect1d(hood.items, data.item[rows])
        return fold_in(
            data.subset(rows),
            hood.touched,
            items,
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
        # as the reference the gate compares with. Only the touched users: they come with
        # all their interactions, so what is "seen" is complete (the context users' is
        # not). Users without a published vector have no reference (and their start would
        # be taken from the hold-out): left out.
        known = np.concatenate([split.train, split.valid])
        measured = user_has.copy()
        measured[hood.context] = False
        # at most REFRESH_EVAL_USERS of them, as a full run measures (a fixed sample): at 10M
        # events 70,985 touched users x 200k items took 103 s, twice (re-fit and reference)
        sample = sample_users(data, split.test[measured[data.user[split.test]]], opts.eval_users)
        if sample is not None:
            measured &= sample
        h = holdout_truth(data, split, test_users=measured)
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
        staged={"user": hood.touched, "item": hood.staged_items, "interest": np.zeros(0, dtype=np.int64)},
        counts={
            "touched_users": len(hood.touched),
            "neighbour_users": len(hood.context),
            "refit_items": len(hood.items),
            "new_items": len(hood.staged_items),
        },
    )


def previous_vectors(data: TrainingData) -> PreviousVectors | None:
    """The pulled previous vectors as arrays; None if there are none or their sizes differ."""
    dims = {len(v) for label in LABELS for v in (data.previous.get(label) or {}).values() if len(v)}
    if len(dims) != 1:
        return None
    dim = dims.pop()
    index = {"user": data.users, "item": data.items, "interest": data.interests}
    out = {}
    for label in LABELS:
        arr = np.zeros((len(index[label]), dim), dtype=np.float32)
        has = np.zeros(len(index[label]), dtype=bool)
        prev = data.previous.get(label) or {}
        found = [
            (pos, node_id)
            for node_id, vec in prev.items()
            if len(vec) and (pos := index[label].pos.get(str(node_id))) is not None
        ]
        if found:
            at = np.fromiter((pos for pos, _ in found), np.int64, len(found))
            arr[at] = np.stack([np.asarray(prev[node_id], dtype=np.float32) for _, node_id in found])
            has[at] = True
        out[label] = (arr, has)
    if not out["item"][1].any():
        return None
    return out
