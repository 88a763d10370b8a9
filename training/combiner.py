"""The learned blend: which candidate sources, in what proportion, for this data set.

Five sources score every item for a user, each from what the user is known to have done:

- ease: the closed-form item-item model (training.ease) over the whole history;
- embedding: the GNN's user·item score (training.train);
- sequence: the items the last few items lead to, by position (the most recent counts
  most, each older one `decay` times less), through the same item-item weights;
- popularity: how many users have the item (log), the same for everyone;
- social: what the people the user follows took, decayed by age (training.social_source,
  the API social source's rule); only when the data has FOLLOWS ties.

Each source's scores are standardised per user (z-scores), so a weight means the same
for every source. The refresh chooses, on its own hold-out (fitted on the train part,
scored on the valid part), EASE's λ, the sequence decay and then the weights (a coarse
grid over the simplex, refined around the best), and records every source's validation
NDCG@20 alone and the blend's. A data set where the next item follows the last one gets
weight on `sequence`; one where long-term taste predicts gets it on `ease`/`embedding`;
one where the people a user follows share their taste gets it on `social` (and one where
ties are random leaves it at 0). The weights are recorded with the model, and the API
gives its live social source the learned `social` weight (service/recs/social_weight.py).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import scipy.sparse as sp

from training.data import TrainingData
from training.ease import fit_ease, interaction_matrix
from training.metrics import hits_metrics, ranked_hits
from training.social_source import FolloweeTaste, followee_taste

log = logging.getLogger(__name__)

SOURCES = ("ease", "embedding", "sequence", "popularity", "social")
EASE_LAMBDAS = (30.0, 100.0, 300.0, 1000.0)
SEQUENCE_DECAYS = (0.5, 0.8, 0.9, 0.95)
SEQUENCE_LENGTH = 20  # most recent items a sequence score looks at
VALIDATION_USERS = 3000  # users the choice is measured on (a fixed sample beyond that)
VALIDATION_SCORES = 20_000_000  # and at most this many user × item scores per candidate blend
# a candidate blend is summed and ranked this many users at a time: the sources' blocks are
# held once, not once more per candidate (at 20k items: 20 MB pieces instead of 80 MB sums)
SCORE_CHUNK_USERS = 256
METRIC = "ndcg@20"

Vectors = tuple[np.ndarray, np.ndarray]  # (user vectors, item vectors): score = user · item
ItemSide = tuple[np.ndarray, np.ndarray, np.ndarray]  # item vectors, their mean, their Gram matrix / items


@dataclass(frozen=True)
class BlendChoice:
    weights: dict[str, float]
    ease_lambda: float | None  # None: the catalogue is too large for exact EASE
    sequence_decay: float
    validation: dict[str, float] = field(default_factory=dict)  # METRIC per source alone, and "blend"
    # the sources the weights were chosen among: a source here without a weight was found
    # not to help (social: the API then gives its live source 0, not the configured weight)
    candidates: tuple[str, ...] = ()
    social_tau_days: float | None = None  # the social component's decay; None: no ties, no component

    def record(self) -> dict[str, object]:
        return {**asdict(self), "candidates": list(self.candidates)}  # as JSON reads it back


@dataclass
class SourceInputs:
    """What the sources need for one known history.

    embedding, sequence without EASE, and popularity are low-rank: a user's scores are
    a user vector times the item vectors. Their per-user mean and spread then follow from
    the item side's mean and Gram matrix (mean = u·m, E[x²] = uᵀGu), so the blend of the
    standardised sources is one matrix product, and no users × items block is formed per
    source (at 20k items that is what a refresh spent its evaluation time on). The
    per-user shift only moves a row, not its order, but it is kept so the values are the
    z-score blend's."""

    history: sp.csr_matrix  # users × items, binary
    recent: sp.csr_matrix  # users × items, the last items' position weights
    item_item: np.ndarray | None  # EASE weights (None: no EASE)
    embedding: Vectors | None
    popularity: np.ndarray  # per item
    item_vectors: np.ndarray | None = None  # sequence without EASE: item cosine similarity
    social: FolloweeTaste | None = None
    _item_side: dict[str, ItemSide] = field(default_factory=dict, repr=False)
    _stacked: dict[tuple[str, ...], np.ndarray] = field(default_factory=dict, repr=False)

    def scores(self, users: np.ndarray, weights: dict[str, float]) -> dict[str, np.ndarray]:
        """Standardised scores of the sources with a weight, for `users` (one block each)."""
        out: dict[str, np.ndarray] = {}
        for name in SOURCES:
            if weights.get(name, 0.0) <= 0:
                continue
            block = self._raw(name, users)
            if block is not None:
                out[name] = standardise(block)
        return out

    def blend(self, users: np.ndarray, weights: dict[str, float]) -> np.ndarray:
        """Σ weight × standardised source score, for `users` × every item."""
        total, factors, key = self._parts(users, weights)
        if factors is None:
            return np.zeros((len(users), self.history.shape[1]), dtype=np.float32) if total is None else total
        scores = factors @ self._stacked_side(key)
        return scores if total is None else np.add(total, scores, out=total)

    def low_rank(self, users: np.ndarray, weights: dict[str, float]) -> tuple[np.ndarray, np.ndarray] | None:
        """(user factors, item side), (users × f) and (items × f), whose product is blend()'s
        scores, when every weighted source is low-rank; None when one is not (EASE, social)."""
        total, factors, key = self._parts(users, weights)
        if total is not None or factors is None:
            return None
        return factors, self._stacked_side(key).T

    def _parts(
        self, users: np.ndarray, weights: dict[str, float]
    ) -> tuple[np.ndarray | None, np.ndarray | None, tuple[str, ...]]:
        """(the full-rank sources' weighted sum, the low-rank sources' user factors, their
        names): the blend is the sum plus factors @ _stacked_side(names)."""
        total: np.ndarray | None = None  # the full-rank sources' sum (0 + x is x: allocated at the first)
        user_side, low_rank = [], []
        shift = np.zeros(len(users), dtype=np.float32)
        for name in SOURCES:
            weight = weights.get(name, 0.0)
            if weight <= 0:
                continue
            factors = self._factors(name, users)
            if factors is None:
                block = self._raw(name, users)
                if block is not None:
                    part = np.float32(weight) * standardise(block)
                    total = part if total is None else np.add(total, part, out=total)
                continue
            u, (_, mean_item, gram) = factors
            mean = u @ mean_item
            var = np.einsum("bd,de,be->b", u, gram, u) - mean**2
            std = np.sqrt(np.maximum(var, 0.0))
            # a row whose scores are (numerically) all equal: no spread to standardise by
            scale = np.float32(weight) / np.where(std > 1e-6 * (np.abs(mean) + 1.0), std, 1.0)
            # the factors in float32, as the item side is: a float64 side of the product made
            # numpy cast the whole item side for every block of users (and the product took
            # 2x as long), the largest cost of a 200k-item catalogue's lists
            user_side.append(u * scale.astype(np.float32)[:, None])
            low_rank.append(name)
            shift += scale * mean
        if not user_side:
            return total, None, ()
        # one product for every low-rank source; the shift rides in it as one more column
        # against a row of ones (a pass of its own over the block cost a third of the
        # product at 200k items)
        return total, np.hstack([*user_side, -shift[:, None]]), tuple(low_rank)

    def _stacked_side(self, key: tuple[str, ...]) -> np.ndarray:
        """The item sides of sources `key` and a row of ones, stacked (factors × items), once per source set."""
        if key not in self._stacked:
            sides = [self._item_side[n][0] for n in key]
            ones = np.ones((len(sides[0]), 1), dtype=np.float32)
            self._stacked[key] = np.ascontiguousarray(np.hstack([*sides, ones]).T)
        return self._stacked[key]

    def _factors(
        self, name: str, users: np.ndarray
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]] | None:
        """(user side, (item side, its column means, its Gram matrix / items)) of a low-rank source."""
        if name == "embedding" and self.embedding is not None:
            u = self.embedding[0][users]
            items = self.embedding[1]
        elif name == "sequence" and self.item_item is None and self.item_vectors is not None:
            items = self._item_side["sequence"][0] if "sequence" in self._item_side else _unit_rows(self.item_vectors)
            u = np.asarray(self.recent[users] @ items)
        elif name == "popularity":
            u = np.ones((len(users), 1), dtype=np.float32)
            items = self.popularity[:, None]
        else:
            return None
        if name not in self._item_side:
            items = np.ascontiguousarray(items, dtype=np.float32)
            n = max(len(items), 1)
            self._item_side[name] = (items, items.mean(0), (items.T.astype(np.float64) @ items) / n)
        return np.asarray(u, dtype=np.float32), self._item_side[name]

    def _raw(self, name: str, users: np.ndarray) -> np.ndarray | None:
        if name == "ease":
            return None if self.item_item is None else np.asarray(self.history[users] @ self.item_item)
        if name == "embedding":
            return None if self.embedding is None else np.asarray(self.embedding[0][users] @ self.embedding[1].T)
        if name == "sequence":
            recent = self.recent[users]
            if self.item_item is not None:
                return np.asarray(recent @ self.item_item)
            if self.item_vectors is None:
                return None
            v = _unit_rows(self.item_vectors)
            return np.asarray(recent @ v) @ v.T
        if name == "social":
            return None if self.social is None else self.social.scores(users)
        return np.broadcast_to(self.popularity, (len(users), len(self.popularity))).astype(np.float32)


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    return vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-9)


def source_inputs(
    data: TrainingData,
    rows: np.ndarray,
    ease_lambda: float | None,
    sequence_decay: float,
    embedding: Vectors | None,
    item_vectors: np.ndarray | None = None,
    social_tau_days: float | None = None,
) -> SourceInputs:
    """The sources fitted on interactions `rows` of `data` (social: with a decay, and ties in `data`)."""
    history = interaction_matrix(data.user[rows], data.item[rows], data.n_users, data.n_items)
    item_item = fit_ease(history, ease_lambda) if ease_lambda is not None else None
    popularity = np.log1p(np.asarray(history.sum(0)).ravel()).astype(np.float32)
    return SourceInputs(
        history,
        recent_items(data, rows, sequence_decay),
        item_item,
        embedding,
        popularity,
        item_vectors,
        _social(data, rows, social_tau_days),
    )


def _social(data: TrainingData, rows: np.ndarray, tau_days: float | None) -> FolloweeTaste | None:
    if tau_days is None or len(rows) == 0:
        return None
    return followee_taste(data, rows, tau_days, int(data.last_ts[rows].max()))


def recent_items(data: TrainingData, rows: np.ndarray, decay: float, length: int = SEQUENCE_LENGTH) -> sp.csr_matrix:
    """Per user, the `length` most recent items of `rows` (by when they became known),
    weighted decay**position, the most recent at position 0."""
    order = rows[np.lexsort((rows, -data.first_ts[rows], data.user[rows]))]  # per user, newest first
    users = data.user[order]
    starts = np.r_[0, np.flatnonzero(np.diff(users)) + 1]
    position = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    keep = position < length
    weights = (decay ** position[keep]).astype(np.float32)
    m = sp.csr_matrix((weights, (users[keep], data.item[order][keep])), shape=(data.n_users, data.n_items))
    m.sum_duplicates()
    return m


def choose_blend(
    data: TrainingData,
    train_rows: np.ndarray,
    valid_truth: Sequence[np.ndarray],
    embedding: Vectors | None,
    max_ease_items: int,
    social_tau_days: float | None = None,
) -> BlendChoice:
    """The blend that scores best on the valid part, fitted on the train part; with
    `social_tau_days` and ties in `data`, the social component competes with the others."""
    users = np.array([u for u, t in enumerate(valid_truth) if len(t)], dtype=np.int64)
    limit = max(1, min(VALIDATION_USERS, VALIDATION_SCORES // max(data.n_items, 1)))
    if len(users) > limit:
        users = np.sort(np.random.default_rng(0).choice(users, limit, replace=False))
    default = _default(data.n_items <= max_ease_items, embedding is not None)
    if len(users) == 0:
        return BlendChoice(
            default, EASE_LAMBDAS[1] if "ease" in default else None, SEQUENCE_DECAYS[1], candidates=tuple(default)
        )
    truth = [valid_truth[u] for u in users]
    train_hist = interaction_matrix(data.user[train_rows], data.item[train_rows], data.n_users, data.n_items)
    seen = [train_hist[u].indices for u in users]

    def score_of(rows_of: Callable[[slice], np.ndarray]) -> float:
        return chunked_score(rows_of, truth, seen, data.n_items)

    def score(block: np.ndarray) -> float:
        return score_of(lambda part: block[part])

    validation: dict[str, float] = {}
    best_lambda: float | None = None
    item_item: np.ndarray | None = None
    if data.n_items <= max_ease_items:
        best = -1.0
        for lam in EASE_LAMBDAS:
            b = fit_ease(train_hist, lam)
            value = score(np.asarray(train_hist[users] @ b))
            if value > best:
                best, best_lambda, item_item = value, lam, b
        validation["ease"] = best
    popularity = np.log1p(np.asarray(train_hist.sum(0)).ravel()).astype(np.float32)
    item_vectors = embedding[1] if embedding is not None else None  # sequence without EASE
    social = _social(data, train_rows, social_tau_days)
    base = SourceInputs(
        train_hist, sp.csr_matrix(train_hist.shape), item_item, embedding, popularity, item_vectors, social
    )
    best_decay, best = SEQUENCE_DECAYS[0], -1.0
    for decay in SEQUENCE_DECAYS:
        base.recent = recent_items(data, train_rows, decay)
        block = base._raw("sequence", users)
        value = score(block) if block is not None else -1.0
        if value > best:
            best, best_decay = value, decay
    base.recent = recent_items(data, train_rows, best_decay)
    available = [s for s in SOURCES if base._raw(s, users[:1]) is not None]
    blocks = base.scores(users, dict.fromkeys((s for s in available if s != "popularity"), 1.0))
    if "popularity" in available:  # every user's row is the same: held as one row
        # standardised as a (2, items) block, not (1, items): numpy reduces a single row
        # pairwise and several rows otherwise, and the last digits would differ from the
        # users × items block this row stands for
        blocks["popularity"] = standardise(np.broadcast_to(popularity, (2, len(popularity))))[:1]
    for name in available:
        if name != "ease":
            validation[name] = score_of(lambda part, b=blocks[name]: _rows(b, part))
    weights, validation["blend"] = _search(blocks, score_of)
    log.info("blend chosen on %d validation users: %s (%s)", len(users), weights, validation)
    tau = social_tau_days if social is not None else None
    return BlendChoice(weights, best_lambda, best_decay, validation, tuple(available), tau)


def chunked_score(
    rows_of: Callable[[slice], np.ndarray], truth: Sequence[np.ndarray], seen: Sequence[np.ndarray], n_items: int
) -> float:
    """METRIC of the scores `rows_of(part)` gives for each part of the users in turn (a row
    broadcast to the part's users), so that no users × items block beyond a part's is made."""
    n = len(truth)
    hits = []
    for lo in range(0, n, SCORE_CHUNK_USERS):
        part = slice(lo, min(lo + SCORE_CHUNK_USERS, n))
        block = np.broadcast_to(rows_of(part), (part.stop - part.start, n_items))
        hits.append(ranked_hits(block, truth[part], seen[part], 20))
    if not hits:
        return hits_metrics(np.zeros((0, 20), dtype=bool), truth, (20,))[METRIC]
    return hits_metrics(np.concatenate(hits), truth, (20,))[METRIC]


def _rows(block: np.ndarray, part: slice) -> np.ndarray:
    """The part's rows of a users × items block, or a single shared row as it is."""
    return block if len(block) == 1 else block[part]


def _search(
    blocks: dict[str, np.ndarray], score_of: Callable[[Callable[[slice], np.ndarray]], float]
) -> tuple[dict[str, float], float]:
    """Best weights on a 0.2-step simplex grid, then refined in 0.1 steps around it; among
    equal scores the most concentrated (the simplest explanation of the data) wins."""
    names = sorted(blocks)
    cache: dict[tuple[int, ...], float] = {}

    def value(tenths: tuple[int, ...]) -> float:
        if tenths not in cache:

            def total(part: slice) -> np.ndarray:
                terms = [np.float32(t / 10) * _rows(blocks[n], part) for n, t in zip(names, tenths, strict=True) if t]
                return sum(terms[1:], terms[0])

            cache[tenths] = score_of(total)
        return cache[tenths]

    grid = [g for g in itertools.product(range(0, 11, 2), repeat=len(names)) if sum(g) == 10]
    best = max(grid, key=lambda g: (value(g), max(g), g))
    improved = True
    while improved:
        improved = False
        for i, j in itertools.permutations(range(len(names)), 2):
            step = list(best)
            step[i] += 1
            step[j] -= 1
            if step[j] < 0:
                continue
            candidate = tuple(step)
            if value(candidate) > value(best):
                best, improved = candidate, True
    return {n: t / 10 for n, t in zip(names, best, strict=True) if t}, value(best)


def _default(has_ease: bool, has_embedding: bool) -> dict[str, float]:
    names = [n for n, ok in (("ease", has_ease), ("embedding", has_embedding)) if ok] or ["popularity"]
    return dict.fromkeys(names, 1.0 / len(names))


def standardise(block: np.ndarray) -> np.ndarray:
    """Per row: (score - mean) / spread, the scale every source is blended on."""
    block = np.asarray(block, dtype=np.float32)
    mean = block.mean(axis=1, keepdims=True)
    std = block.std(axis=1, keepdims=True)
    out = block - mean
    out /= np.where(std > 0, std, 1.0)  # in place: one users × items block made, not two
    return out
