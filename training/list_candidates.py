"""Approximate candidates for the learned lists of a large catalogue (training.user_lists).

Scoring every user against every item costs users × items: at 10M events (500k users,
200k items) the exact lists took 929 s of a 3,398 s refresh. When every source of the
blend is low-rank, a user's blended scores are one inner product, the user's factors · the
stacked item side (training.combiner.SourceInputs.low_rank), so a user's best items are a
maximum-inner-product search. Each item row x is extended by sqrt(R² - |x|²) (R the
largest norm) and each query by 0: the inner products stay the same and every item has
norm R, so the search is a nearest-neighbour one an inverted-file index answers well
(faiss IndexIVFFlat: k-means cells, the query's `nprobe` nearest cells scanned exactly).

Each user is given its size + |history| best candidates, which are then scored exactly
(the blend's own factors, not the index's numbers) and ranked the way the exact path
ranks (the user's own items excluded, ties to the lower item index). Users whose history
is longer than the candidate margin, and users for whom the index found too few
candidates, are ranked exactly. `bench/user_lists.py` measures the time and the recall of
the approximate lists against exact ones.
"""

from __future__ import annotations

import math

import numpy as np

from training.metrics import top_k

# a user with more known items than this many × the list size is ranked exactly: their
# candidates would have to cover the history they exclude
HISTORY_MARGIN = 1
# the index's cells (k-means on the items) and the cells a query scans: recall@100 against
# exact at 20k and 200k items in bench/user_lists.py
CELLS_PER_SQRT_ITEM = 4
MIN_CELLS, MAX_CELLS = 64, 4096
PROBE_SHARE = 0.04  # of the cells, at least MIN_PROBE
MIN_PROBE = 16
KMEANS_ITERATIONS = 10
KMEANS_SEED = 1234


class ListCandidates:
    """An inverted-file index over the stacked item side `items` (items × factors), searched
    for users' factor rows (training.combiner.SourceInputs.low_rank)."""

    def __init__(self, items: np.ndarray) -> None:
        import faiss  # training-only dependency (requirements-train.txt)

        items = np.ascontiguousarray(items, dtype=np.float32)
        self.items = items
        n, dim = items.shape
        norms = np.einsum("ij,ij->i", items, items)
        lift = np.sqrt(np.maximum(norms.max(initial=0.0) - norms, 0.0)).astype(np.float32)
        lifted = np.ascontiguousarray(np.hstack([items, lift[:, None]]))
        cells = int(min(MAX_CELLS, max(MIN_CELLS, CELLS_PER_SQRT_ITEM * math.sqrt(n)), max(1, n // 39)))
        quantizer = faiss.IndexFlatIP(dim + 1)
        index = faiss.IndexIVFFlat(quantizer, dim + 1, cells, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = KMEANS_ITERATIONS
        index.cp.seed = KMEANS_SEED
        index.train(lifted)
        index.add(lifted)
        index.nprobe = min(cells, max(MIN_PROBE, math.ceil(PROBE_SHARE * cells)))
        self.index, self.cells = index, cells

    def rank(self, users: np.ndarray, known: list[np.ndarray], size: int) -> tuple[np.ndarray, np.ndarray]:
        """(ranked item indices, their exact scores), (len(users), size) each, best first, a
        user's `known` items never ranked; positions past what a user can get (size, or the
        items it does not know) hold -1 / -inf. A user with no known item is not ranked
        (user_lists writes no list for it): its row is all -1. `users`: the factor rows."""
        n_items = self.items.shape[0]
        size = min(size, n_items)
        ranked = np.full((len(users), size), -1, dtype=np.int64)
        values = np.full((len(users), size), -np.inf, dtype=np.result_type(users.dtype, self.items.dtype))
        if len(users) == 0 or size == 0:
            return ranked, values
        lengths = np.fromiter((len(k) for k in known), dtype=np.int64, count=len(known))
        searched = np.flatnonzero((lengths > 0) & (lengths <= HISTORY_MARGIN * size))
        exact = np.flatnonzero(lengths > HISTORY_MARGIN * size)
        if len(searched):
            want = int(min(n_items, size + lengths[searched].max()))
            query = np.ascontiguousarray(np.hstack([users[searched], np.zeros((len(searched), 1), np.float32)]))
            _, found = self.index.search(query, want)
            found = np.sort(found, axis=1)  # item order: top_k's ties then go to the lower item
            valid = found >= 0
            rows = self.items[np.where(valid, found, 0)]
            scores = np.einsum("nd,nkd->nk", users[searched], rows)
            scores[~valid] = -np.inf
            # a user's own items, all users at once: (row, item) pairs as one key each
            own = np.concatenate([r * n_items + known[k].astype(np.int64) for r, k in enumerate(searched.tolist())])
            scores[np.isin(np.arange(len(searched))[:, None] * n_items + found, own)] = -np.inf
            need = np.minimum(size, n_items - lengths[searched])
            enough = (scores > -np.inf).sum(axis=1) >= need
            positions = top_k(scores, size, overwrite=False)
            ranked[searched] = np.take_along_axis(found, positions, axis=1)
            values[searched] = np.take_along_axis(scores, positions, axis=1)
            exact = np.concatenate([exact, searched[~enough]])
        if len(exact):
            scores = users[exact] @ self.items.T
            top = top_k(scores, size, [known[k] for k in exact.tolist()], overwrite=True)
            ranked[exact] = top
            values[exact] = np.take_along_axis(scores, top, axis=1)
        # past what each user can get: padding (a NaN score inside it stays: the exact path
        # ranks such an item last among the others, and so does top_k here)
        left = np.minimum(size, n_items - lengths)
        past = np.arange(size)[None, :] >= left[:, None]
        ranked[past], values[past] = -1, -np.inf
        return ranked, values
