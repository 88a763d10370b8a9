"""Interest strengths and population interest trends (numpy only).

Per (user u, interest i):

    aff(u, i) = (s(u,i) - min_j s(u,j)) / (max_j s(u,j) - min_j s(u,j)),   s(u,i) = e_u . e_i
    ev(u, i)  = E(u,i) / max_j E(u,j),   E = evidence decayed to now: E0 * exp(-(now - E_ts)/tau)
    b(u, i)   = alpha * aff(u, i) + (1 - alpha) * ev(u, i)
    strength(u, i) = b(u, i) / max_j b(u, j)                                  in [0, 1]

min-max and max scaling are per user, so a strength says "how strong for this user"
(the strongest interest is 1) independently of embedding scale or activity level. A user
with no evidence gets affinity only (ev = 0); all-equal scores give aff = 0. alpha
(default 0.5) trades what the model generalises against what the user actually did.

Population level, per interest: strength = decayed activity share
    A(i) = sum over interactions (u, t) of w(u,t) * exp(-(now - last_ts)/tau) * tag_weight(t, i)
    Interest.strength = A(i) / sum_j A(j),  Interest.trend = strength - previous strength (0 if none).

Item neighbourhoods (each item's top-K other items by cosine similarity): training.similar.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from training.data import TrainingData

MS_PER_DAY = 86_400_000.0


@dataclass(frozen=True)
class Evidence:
    """Sparse decayed evidence: parallel arrays of user index, interest index, value."""

    user: np.ndarray
    interest: np.ndarray
    value: np.ndarray


def _decay(age_ms: np.ndarray, tau_days: float) -> np.ndarray:
    return np.exp(-np.maximum(age_ms, 0).astype(np.float64) / (tau_days * MS_PER_DAY))


def evidence_from_rows(rows: list[Mapping[str, object]], data: TrainingData, now_ms: int, tau_days: float) -> Evidence:
    """Store rows {user_id, interest_id, evidence, evidence_ts} decayed to now; unknown ids skipped."""
    u, i, v = [], [], []
    for r in rows:
        pu, pi = data.users.pos.get(str(r["user_id"])), data.interests.pos.get(str(r["interest_id"]))
        if pu is None or pi is None:
            continue
        u.append(pu)
        i.append(pi)
        ts = r.get("evidence_ts")
        age = max(0, now_ms - int(ts)) if ts is not None else 0
        v.append(float(r.get("evidence") or 0.0) * math.exp(-age / (tau_days * MS_PER_DAY)))
    return Evidence(np.array(u, dtype=np.int64), np.array(i, dtype=np.int64), np.array(v, dtype=np.float64))


def evidence_from_interactions(data: TrainingData, now_ms: int, tau_days: float) -> Evidence:
    """Derive evidence from interactions x tags when the store has none (e.g. a fresh import)."""
    w = np.maximum(data.weight, 0.0) * _decay(now_ms - data.last_ts, tau_days)
    # join interactions to the item's tags via CSR over items
    order = np.argsort(data.tag_item, kind="stable")
    ptr = np.searchsorted(data.tag_item[order], np.arange(data.n_items + 1))
    n_tags = ptr[data.item + 1] - ptr[data.item]
    rep = np.repeat(np.arange(data.n_interactions), n_tags)
    offs = np.arange(len(rep)) - np.repeat(np.cumsum(n_tags) - n_tags, n_tags)
    tag_rows = order[ptr[data.item[rep]] + offs]
    users, interests = data.user[rep], data.tag_interest[tag_rows]
    vals = w[rep] * data.tag_weight[tag_rows]
    key = users * max(data.n_interests, 1) + interests
    uniq, inv = np.unique(key, return_inverse=True)
    total = np.bincount(inv, weights=vals, minlength=len(uniq))
    n_int = max(data.n_interests, 1)
    return Evidence(uniq // n_int, uniq % n_int, total)


@dataclass(frozen=True)
class UserStrengths:
    """Top-N interests per user, strongest first: (n_users, N) indices and strengths (-1 / 0 pad)."""

    interest: np.ndarray
    strength: np.ndarray


def user_strengths(
    user_emb: np.ndarray,
    interest_emb: np.ndarray,
    evidence: Evidence,
    top_n: int = 10,
    alpha: float = 0.5,
    chunk: int = 4096,
) -> UserStrengths:
    """Blend learned affinity with decayed evidence (see module docstring); keep the top N > 0."""
    n_users, n_int = user_emb.shape[0], interest_emb.shape[0]
    n = min(top_n, n_int)
    out_i = np.full((n_users, n), -1, dtype=np.int64)
    out_s = np.zeros((n_users, n), dtype=np.float64)
    if n_int == 0 or n == 0:
        return UserStrengths(out_i, out_s)
    order = np.argsort(evidence.user, kind="stable")
    ev_u, ev_i, ev_v = evidence.user[order], evidence.interest[order], evidence.value[order]
    for lo in range(0, n_users, chunk):
        hi = min(lo + chunk, n_users)
        s = user_emb[lo:hi].astype(np.float64) @ interest_emb.T.astype(np.float64)
        smin, smax = s.min(1, keepdims=True), s.max(1, keepdims=True)
        span = smax - smin
        aff = np.divide(s - smin, span, out=np.zeros_like(s), where=span > 0)
        ev = np.zeros_like(s)
        a, b = np.searchsorted(ev_u, [lo, hi])
        np.add.at(ev, (ev_u[a:b] - lo, ev_i[a:b]), np.maximum(ev_v[a:b], 0.0))
        emax = ev.max(1, keepdims=True)
        ev = np.divide(ev, emax, out=np.zeros_like(ev), where=emax > 0)
        blend = alpha * aff + (1.0 - alpha) * ev
        bmax = blend.max(1, keepdims=True)
        strength = np.divide(blend, bmax, out=np.zeros_like(blend), where=bmax > 0)
        top = np.argsort(-strength, axis=1, kind="stable")[:, :n]
        top_s = np.take_along_axis(strength, top, axis=1)
        out_i[lo:hi] = np.where(top_s > 0, top, -1)
        out_s[lo:hi] = np.where(top_s > 0, top_s, 0.0)
    return UserStrengths(out_i, np.clip(out_s, 0.0, 1.0))


def strength_rows(data: TrainingData, us: UserStrengths) -> list[dict[str, object]]:
    """One row per user with aligned `top_interests` / `interest_strengths`, strongest first."""
    rows = []
    for u in range(us.interest.shape[0]):
        keep = us.interest[u] >= 0
        rows.append(
            {
                "user_id": data.users.ids[u],
                "top_interests": [data.interests.ids[i] for i in us.interest[u][keep]],
                "interest_strengths": [float(x) for x in us.strength[u][keep]],
            }
        )
    return rows


def interest_population(
    data: TrainingData, now_ms: int, tau_days: float, previous: Mapping[str, float] | None = None
) -> list[dict[str, object]]:
    """Per interest: decayed activity share (sums to 1 over interests with activity) and trend."""
    ev = evidence_from_interactions(data, now_ms, tau_days)
    act = np.bincount(ev.interest, weights=ev.value, minlength=data.n_interests)
    total = act.sum()
    share = act / total if total > 0 else np.zeros_like(act)
    prev = previous or {}
    return [
        {
            "interest_id": iid,
            "strength": float(share[k]),
            "trend": float(share[k] - prev[iid]) if prev.get(iid) is not None else 0.0,
        }
        for k, iid in enumerate(data.interests.ids)
    ]
