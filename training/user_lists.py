"""Each user's learned ranking, written back with the model (User.recs_items,
recs_scores, recs_because, recs_at): the blend of training.combiner over everything the
user is known to have done, their own items excluded, best first. `because` names the
known item that contributes most through the item-item weights (the explanation); the
API serves the list and adds what the user did after `recs_at` (service/recs).

Users are scored in chunks, so memory stays bounded by chunk × items.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from training.combiner import BlendChoice, source_inputs
from training.data import TrainingData
from training.metrics import top_k

CHUNK = 512


def user_lists(
    data: TrainingData, blend: BlendChoice, embeddings: Mapping[str, np.ndarray], size: int, t_ref: int
) -> Iterator[tuple[int, dict[str, object]]]:
    """(user index, the User properties of its list) for every user with a history."""
    users_vec, items_vec = embeddings["user"], embeddings["item"]
    sources = source_inputs(
        data,
        np.arange(data.n_interactions),
        blend.ease_lambda,
        blend.sequence_decay,
        (users_vec, items_vec),
        item_vectors=items_vec,
    )
    history, item_item = sources.history, sources.item_item
    size = min(size, data.n_items)
    for start in range(0, data.n_users, CHUNK):
        users = np.arange(start, min(start + CHUNK, data.n_users))
        scores = sources.blend(users, blend.weights)
        known = [history[u].indices for u in users]
        ranked = top_k(scores, size, known)
        for row, u in enumerate(users.tolist()):
            if len(known[row]) == 0:
                continue
            top = ranked[row][: max(0, data.n_items - len(known[row]))]
            because = [""] * len(top)
            if item_item is not None and len(top):
                contribution = item_item[np.ix_(known[row], top)]
                best = contribution.argmax(0)
                because = [
                    data.items.ids[known[row][b]] if contribution[b, k] > 0 else "" for k, b in enumerate(best.tolist())
                ]
            yield (
                u,
                {
                    "recs_items": [data.items.ids[i] for i in top.tolist()],
                    "recs_scores": [round(float(s), 4) for s in scores[row, top].tolist()],
                    "recs_because": because,
                    "recs_at": t_ref,
                },
            )
