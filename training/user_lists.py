"""Each user's learned ranking, written back with the model (User.recs_items,
recs_scores, recs_because, recs_at): the blend of training.combiner over everything the
user is known to have done, their own items excluded, best first. `because` (the
explanation, graph_schema.because) names the people the user follows who took the item
when the social component gives at least half of its blended score (SOCIAL_SHARE), else
the known item that contributes most through the item-item weights; the API serves the
list and adds what the user did after `recs_at` (service/recs).

Users are scored in chunks, so memory stays bounded by chunk × items. A RankedUsers
passed in keeps what is written as arrays (the serving snapshot's user side is then built
from the run's own lists instead of reading ~50k rankings back from the graph).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from graph_schema.because import followed_because
from training.combiner import BlendChoice, SourceInputs, source_inputs, standardise
from training.data import TrainingData
from training.list_candidates import ListCandidates
from training.metrics import top_k

# users scored at a time: 256 x 20k items is a 20 MB block (512 added ~50 MiB to the 1M refresh's peak)
CHUNK = 256
# "liked by N people you follow" only for an item there mostly because of them: its
# social part is at least this share of its blended score
SOCIAL_SHARE = 0.5


@dataclass
class RankedUsers:
    """A full run's staged user vectors and learned rankings as the graph holds them once
    published, in the run's user order: `vectors` as written (training.outputs.written_vectors),
    `items` rows into `item_ids` (-1 past the end), `scores` the written 4-decimal ones,
    `because_rows` indices into `because` (-1: none), `at` the ranking's recs_at. A user
    with `at` -1 got no ranking from the run (the graph keeps what it had: not this row's).
    Filled by user_lists as the rows stream to the store."""

    ids: list[str]
    item_ids: list[str]
    vectors: np.ndarray  # float64 [users, dim]
    items: np.ndarray  # int32 [users, size]
    scores: np.ndarray  # float64 [users, size]
    because_rows: np.ndarray  # int32 [users, size]
    at: np.ndarray  # int64 [users]
    _strings: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def because(self) -> list[str]:
        """The explanations' strings, in the order of their indices."""
        return list(self._strings)

    @classmethod
    def empty(cls, data: TrainingData, vectors: np.ndarray, size: int) -> RankedUsers:
        n, size = data.n_users, min(size, data.n_items)
        return cls(
            list(data.users.ids),
            list(data.items.ids),
            vectors,
            np.full((n, size), -1, dtype=np.int32),
            np.zeros((n, size), dtype=np.float64),
            np.full((n, size), -1, dtype=np.int32),
            np.full(n, -1, dtype=np.int64),
        )

    def add(self, user: int, top: np.ndarray, scores: np.ndarray, because: list[str], at: int) -> None:
        n = len(top)
        self.items[user, :n] = top
        self.scores[user, :n] = scores
        strings = self._strings
        self.because_rows[user, :n] = [strings.setdefault(b, len(strings)) if b else -1 for b in because]
        self.at[user] = at


def user_lists(
    data: TrainingData,
    blend: BlendChoice,
    embeddings: Mapping[str, np.ndarray],
    size: int,
    t_ref: int,
    record: RankedUsers | None = None,
    exact_max_items: int | None = None,
) -> Iterator[tuple[int, dict[str, object]]]:
    """(user index, the User properties of its list) for every user with a history; each
    also kept in `record` when given. Beyond `exact_max_items` items (None: never), a
    blend of low-rank sources only ranks each user's approximate candidates
    (training.list_candidates), exactly scored."""
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
    candidates = list_candidates(data, sources, blend, exact_max_items)
    for start in range(0, data.n_users, CHUNK):
        users = np.arange(start, min(start + CHUNK, data.n_users))
        # a row's columns straight from the CSR arrays (history[u] builds a matrix per user)
        known = [indices[indptr[u] : indptr[u + 1]] for u in users.tolist()]
        factors = sources.low_rank(users, blend.weights) if candidates is not None else None
        social = None
        if candidates is not None and factors is not None:
            ranked, values = candidates.rank(factors[0], known, size)
        else:
            scores = sources.blend(users, blend.weights)
            ranked = top_k(scores, size, known, overwrite=True)  # -inf at a user's own items, never ranked
            values = np.take_along_axis(scores, ranked, axis=1)
            social = _social_part(sources, users, blend.weights.get("social", 0.0))
        # rounded once per chunk (what a user's list stores: 4 decimals)
        rounded = np.round(values.astype(np.float64), 4)
        for row, u in enumerate(users.tolist()):
            if len(known[row]) == 0:
                continue
            n_top = min(ranked.shape[1], max(0, data.n_items - len(known[row])))
            top, top_scores = ranked[row][:n_top], rounded[row, :n_top]
            if not np.isfinite(values[row, :n_top]).all():
                # a NaN score ranks as -inf, among the user's own (excluded) items: keep
                # only real items the user does not know (never the last item's id for a -1)
                keep = (top >= 0) & ~np.isin(top, known[row])
                top, top_scores = top[keep], top_scores[keep]
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
            if record is not None:
                record.add(u, top, top_scores, because, t_ref)
            yield (
                u,
                {
                    "recs_items": item_ids[top].tolist(),
                    "recs_scores": top_scores.tolist(),
                    "recs_because": because if any(because) else [],  # (graph_schema.store.serving.reasons)
                    "recs_at": t_ref,
                },
            )


def list_candidates(
    data: TrainingData, sources: SourceInputs, blend: BlendChoice, exact_max_items: int | None
) -> ListCandidates | None:
    """The candidate index of a catalogue beyond `exact_max_items` items whose blend is
    low-rank (None: every user is ranked exactly)."""
    if exact_max_items is None or data.n_items <= exact_max_items or data.n_users == 0:
        return None
    low_rank = sources.low_rank(np.arange(1), blend.weights)
    if low_rank is None or not np.isfinite(low_rank[1]).all():  # faiss refuses NaN: rank exactly
        return None
    return ListCandidates(low_rank[1])


def _social_part(sources: SourceInputs, users: np.ndarray, weight: float) -> np.ndarray | None:
    """weight × the standardised social score (its share of the blend), for `users` × items."""
    if weight <= 0 or sources.social is None:
        return None
    return np.float32(weight) * standardise(sources.social.scores(users))
