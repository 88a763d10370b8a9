"""Incremental update: re-fit only the touched users' vectors against frozen item vectors.

A full retrain moves every vector; after a few new events only the users who acted need
new vectors. Each touched user's vector is fitted with BPR (sampled negatives, L2) with the
published item vectors held fixed, starting from the user's previous vector, so untouched
users and items keep exactly what was published. Items without a vector (new since the
last full run) start from the mean of their interests' vectors: interest nodes carry
signal to items no user has reached yet.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from training.data import TrainingData
from training.sampling import NegativeSampler


def fill_missing_items(
    item_emb: np.ndarray, has_vec: np.ndarray, interest_emb: np.ndarray, data: TrainingData
) -> np.ndarray:
    """Rows without a previous vector: mean of their interests' vectors (zeros if none)."""
    out = item_emb.copy()
    tags = data.item_interests()
    for i in np.flatnonzero(~has_vec).tolist():
        if len(tags[i]) and interest_emb.shape[0]:
            out[i] = interest_emb[tags[i]].mean(0)
    return out


def fold_in_users(
    data: TrainingData,
    users: np.ndarray,
    user_init: np.ndarray,
    item_emb: np.ndarray,
    steps: int = 100,
    lr: float = 0.05,
    reg: float = 1e-4,
    negatives: int = 4,
    seed: int = 0,
) -> np.ndarray:
    """New vectors for `users` (rows of user_init, same order) from their interactions in `data`."""
    if len(users) == 0 or data.n_interactions == 0:
        return user_init.copy()
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    local = np.full(data.n_users, -1, dtype=np.int64)
    local[users] = np.arange(len(users))
    mask = local[data.user] >= 0
    u_glob, it = data.user[mask], data.item[mask]
    u_loc = torch.as_tensor(local[u_glob])
    items = torch.as_tensor(item_emb, dtype=torch.float32)
    vec = torch.nn.Parameter(torch.as_tensor(user_init, dtype=torch.float32).clone())
    opt = torch.optim.Adam([vec], lr=lr)
    sampler = NegativeSampler(data, rng)
    pos_items = torch.as_tensor(it)
    for _ in range(steps):
        neg = torch.as_tensor(sampler.sample(u_glob, it, negatives))
        eu = vec.index_select(0, u_loc)
        pos = (eu * items.index_select(0, pos_items)).sum(-1, keepdim=True)
        neg_s = torch.einsum("bd,bkd->bk", eu, items.index_select(0, neg.reshape(-1)).view(len(it), negatives, -1))
        loss = -F.logsigmoid(pos - neg_s).mean() + reg * eu.pow(2).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return vec.detach().numpy()
