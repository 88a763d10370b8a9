"""EASE (Steck, 2019): a closed-form item-item model, B = I - P·diag(1/diag(P)) with
P = (XᵀX + λI)⁻¹ and a zero diagonal. A user's score for item j is Σ_{i ∈ history} B[i, j].

Exact and dense: an items × items inverse, so it runs for catalogues up to
`max_items` (a 10,000-item catalogue needs ~0.8 GB and a few seconds); above that the
refresh leaves this source out and says so in the run's metrics.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def interaction_matrix(user: np.ndarray, item: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    """Binary users × items matrix of the given interactions (duplicates count once)."""
    x = sp.csr_matrix((np.ones(len(user), dtype=np.float32), (user, item)), shape=(n_users, n_items))
    x.sum_duplicates()
    x.data[:] = 1.0
    return x


def fit_ease(x: sp.csr_matrix, lam: float) -> np.ndarray:
    """The item-item weights B (float32, items × items) of interactions `x`."""
    gram = (x.T @ x).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += lam
    p = np.linalg.inv(gram)
    b = -p / np.diag(p)[None, :]
    b[np.diag_indices_from(b)] = 0.0
    return b.astype(np.float32)
