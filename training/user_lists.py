"""Each user's learned ranking, written back with the model (User.recs_items,
recs_scores, recs_because, recs_at): the blend of training.combiner over everything the
user is known to have done, their own items excluded, best first. `because` (the
explanation, graph_schema.because) names the people the user follows who took the item
when the social component gives at least half of its blended score (SOCIAL_SHARE), else
the known item that contributes most through the item-item weights; the API serves the
list and adds what the user did after `recs_at` (service/recs).

Users are scored in chunks, so memory stays bounded by chunk × items.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from graph_schema.because import followed_because
from training.combiner import BlendChoice, SourceInputs, source_inputs, standardise
from training.data import TrainingData
from training.metrics import top_k

CHUNK = 512
# "liked by N people you follow" only for an item there mostly because of them: its
# social part is at least this share of its blended score
SOCIAL_SHARE = 0.5


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
        social_tau_days=blend.social_tau_days,
    )
    history, item_item = sources.history, sources.item_item
    size = min(size, data.n_items)
    item_ids = np.array(data.items.ids, dtype=object)  # ids of many rows at once
    indptr, indices = history.indptr, history.indices
    for start in range(0, data.n_users, CHUNK):
        users = np.arange(start, min(start + CHUNK, data.n_users))
        scores = sources.blend(users, blend.weights)
        # a row's columns straight from the CSR arrays (history[u] builds a matrix per user)
        known = [indices[indptr[u] : indptr[u + 1]] for u in users.tolist()]
        ranked = top_k(scores, size, known, overwrite=True)  # -inf at a user's own items, never ranked
        # rounded once per chunk (what a user's list stores: 4 decimals)
        rounded = np.round(np.take_along_axis(scores, ranked, axis=1).astype(np.float64), 4)
        social = _social_part(sources, users, blend.weights.get("social", 0.0))
        for row, u in enumerate(users.tolist()):
            if len(known[row]) == 0:
                continue
            n_top = min(ranked.shape[1], max(0, data.n_items - len(known[row])))
            top = ranked[row][:n_top]
            because = [""] * len(top)
            if item_item is not None and len(top):
                contribution = item_item[np.ix_(known[row], top)]
                best = contribution.argmax(0)
                because = [
                    data.items.ids[known[row][b]] if contribution[b, k] > 0 else "" for k, b in enumerate(best.tolist())
                ]
            if social is not None and sources.social is not None and len(top):
                total, part = scores[row, top], social[row, top]
                mostly = np.flatnonzero((total > 0) & (part >= SOCIAL_SHARE * total))
                for k, (count, people) in zip(mostly.tolist(), sources.social.people(u, top[mostly]), strict=True):
                    if count:
                        because[k] = followed_because(count, [data.users.ids[p] for p in people])
            yield (
                u,
                {
                    "recs_items": item_ids[top].tolist(),
                    "recs_scores": rounded[row, :n_top].tolist(),
                    "recs_because": because,
                    "recs_at": t_ref,
                },
            )


def _social_part(sources: SourceInputs, users: np.ndarray, weight: float) -> np.ndarray | None:
    """weight × the standardised social score (its share of the blend), for `users` × items."""
    if weight <= 0 or sources.social is None:
        return None
    return np.float32(weight) * standardise(sources.social.scores(users))
