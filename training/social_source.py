"""The social component of the learned blend: what the people a user follows took, decayed by age.

The same rule as the API's social source (service/recs/sources/social.py): an item scores,
for user u, the sum over the users v that u follows who took it of
tie(u, v) × weight(v, item) × exp(-age / tau), where tie is the strongest FOLLOWS edge from
u to v (a follow and a friendship: the larger weight), the age is counted from `t_ref` and
tau is RECS_SOCIAL_TAU_DAYS. The combiner standardises it per user like every other source,
so the choice of `t_ref` does not change a user's ranking (it scales a row by a constant).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from training.data import TrainingData

MS_PER_DAY = 86_400_000.0
NAMED_PEOPLE = 10  # people named per item in an explanation (the API's evidence names as many)


@dataclass(frozen=True)
class FolloweeTaste:
    """Who each user follows, and what each user took (decayed): scores = follows @ took."""

    follows: sp.csr_matrix  # users × users: the strongest tie from row to column
    took: sp.csr_matrix  # users × items: weight × exp(-age / tau) of the rows it was built from

    def scores(self, users: np.ndarray) -> np.ndarray:
        """users × items: the social score of every item for `users`."""
        return np.asarray((self.follows[users] @ self.took).todense(), dtype=np.float32)

    def people(self, user: int, items: np.ndarray) -> list[tuple[int, list[int]]]:
        """Per item of `items`: how many of the people `user` follows took it, and (up to
        NAMED_PEOPLE of) them, the largest contribution first (ties by index)."""
        row = self.follows[user]
        followed, ties = row.indices, row.data
        theirs = (self.took[followed][:, items]).toarray() * ties[:, None]  # followed × items
        out = []
        for k in range(len(items)):
            contribution = theirs[:, k]
            took = np.flatnonzero(contribution != 0)
            order = np.lexsort((followed[took], -contribution[took]))
            out.append((len(took), followed[took][order][:NAMED_PEOPLE].tolist()))
        return out


def followee_taste(data: TrainingData, rows: np.ndarray, tau_days: float, t_ref: int) -> FolloweeTaste | None:
    """The social component fitted on interactions `rows` of `data`; None without ties."""
    if len(data.social_src) == 0:
        return None
    n = data.n_users
    follows = sp.coo_matrix((data.social_weight, (data.social_src, data.social_dst)), shape=(n, n))
    follows = _strongest(follows)
    age = np.maximum(t_ref - data.last_ts[rows], 0).astype(np.float64)
    decayed = data.weight[rows] * np.exp(-age / (tau_days * MS_PER_DAY))
    took = sp.csr_matrix((decayed, (data.user[rows], data.item[rows])), shape=(n, data.n_items))
    took.sum_duplicates()
    return FolloweeTaste(follows, took)


def _strongest(pairs: sp.coo_matrix) -> sp.csr_matrix:
    """One entry per (row, column): the largest of the duplicates (a user both followed and
    befriended counts once, at the stronger tie, as the API's query takes max(weight))."""
    if pairs.nnz == 0:
        return pairs.tocsr()
    order = np.lexsort((-pairs.data, pairs.col, pairs.row))
    row, col, val = pairs.row[order], pairs.col[order], pairs.data[order]
    first = np.r_[True, (row[1:] != row[:-1]) | (col[1:] != col[:-1])]
    return sp.csr_matrix((val[first], (row[first], col[first])), shape=pairs.shape)
