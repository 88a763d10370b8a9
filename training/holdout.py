"""The hold-out a run is measured on, and the gate compares.

Full: the temporal split (training.data.temporal_split): per user, the newest 10 % of its
interactions are the test part, the 10 % before them the validation part.

Incremental: the newest half of each user's interactions first seen after the published
model's t_ref (the newest interaction it was fitted on, kept in the published metrics), see
holdout_after. A model published before t_ref was recorded falls back to the temporal
split, on which the published vectors have an unfair edge (they were propagated over it).
"""

from __future__ import annotations

import numpy as np

from training.data import Split, TrainingData, temporal_split
from training.run import Mode, PublishedModel


def holdout_split(data: TrainingData, mode: Mode, published: PublishedModel | None) -> Split:
    horizon = published.t_ref if published is not None else None
    if mode == "incremental" and horizon is not None:
        return holdout_after(data, horizon)
    return temporal_split(data)


def holdout_after(data: TrainingData, horizon: int) -> Split:
    """The incremental hold-out: of each user's interactions first seen after `horizon`
    (the newest interaction the published model was fitted on), the newest half (at least
    one) is the test part; everything else, the older new ones included, is train.

    The published vectors never saw the test part, so comparing them with the re-fit on it
    is fair, and the re-fit has seen what the published vectors have not: the user's
    first new interactions. A temporal split of the pulled data would not be fair: a full
    run propagates its published vectors over every interaction, its own hold-out
    included, so on an older hold-out the published vectors look better than anything
    fitted without it (MovieLens: they score NDCG@20 0.19 on their users' newest 10 %; the
    full run measured 0.16 there, before propagating over it).
    """
    new = np.flatnonzero(data.first_ts > horizon)
    order = new[np.lexsort((new, data.first_ts[new], data.user[new]))]
    users = data.user[order]
    bounds = np.flatnonzero(np.diff(users)) + 1
    test = [rows[len(rows) // 2 :] for rows in np.split(order, bounds)] if len(order) else []
    test_rows = np.sort(np.concatenate(test)) if test else np.zeros(0, dtype=np.int64)
    train = np.ones(data.n_interactions, dtype=bool)
    train[test_rows] = False
    return Split(np.flatnonzero(train), np.zeros(0, dtype=np.int64), test_rows)


def split_counts(data: TrainingData, split: Split) -> dict[str, int]:
    """What the run trained and measured on (RefreshResult.counts and the published metrics)."""
    return {
        "users": data.n_users,
        "items": data.n_items,
        "interests": data.n_interests,
        "interactions": data.n_interactions,
        "train": len(split.train),
        "valid": len(split.valid),
        "test": len(split.test),
    }
