"""Top-K ranking metrics, defined once (numpy only).

Protocol: full ranking over all items, each user's already-seen items excluded,
ground truth = the user's held-out items, averaged over users that have any.
- Recall@K = hits in top K / |truth|
- NDCG@K   = DCG / IDCG with binary gains 1/log2(rank+1); IDCG over min(|truth|, K) hits
- Hit@K    = 1 if any hit in top K
- MRR@K    = 1 / rank of the first hit in top K, else 0
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from training.data import Split, TrainingData

DEFAULT_KS: tuple[int, ...] = (10, 20)
# evaluate's users per block: this many scores at most (at 20k items 256 users, ~20 MB of
# float32 and what ranking it makes; a 1,024-user block at 20k items added ~190 MiB to the
# GNN's validation step on the 1M-event graph)
EVAL_CHUNK_SCORES = 5_242_880
# The set every run reports (issue 4): Recall@10/20, NDCG@10/20, Hit@10, MRR@10.
REPORTED = ("recall@10", "recall@20", "ndcg@10", "ndcg@20", "hit@10", "mrr@10")


def top_k(
    scores: np.ndarray,
    k: int,
    exclude: Sequence[np.ndarray] | None = None,
    overwrite: bool = False,
    use_torch: bool | None = None,
) -> np.ndarray:
    """Indices of the k best columns per row, best first; `exclude[r]` columns never appear
    (unless a row has fewer than k others). Equal scores: the lowest column first, so the
    result is reproducible whatever the partition picks among ties. `overwrite`: a
    float32 or float64 `scores` the caller no longer needs at the excluded columns is
    written in place (-inf there, and at NaN scores, which rank as -inf) instead of copied.
    `use_torch` (default: when the process has already imported torch, as training always
    has and the API never does): select with torch.topk, the same result in a third of
    np.partition's time, reading the block once."""
    raw = np.asarray(scores)
    dtype = np.float32 if raw.dtype == np.float32 else np.float64
    scores = raw if overwrite and raw.dtype == dtype else np.array(raw, dtype=dtype, copy=True)
    if exclude is not None:
        rows = np.repeat(np.arange(len(exclude)), [len(cols) for cols in exclude])
        if len(rows):
            scores[rows, np.concatenate(exclude).astype(np.int64)] = -np.inf
    n, m = scores.shape
    k = min(k, m)
    if k == 0:
        return np.zeros((n, 0), dtype=np.int64)
    torch = sys.modules.get("torch") if use_torch is None else _torch() if use_torch else None
    if torch is None:
        nan = np.isnan(scores)
        if nan.any():  # a NaN score ranks as -inf: last, with the excluded columns
            scores[nan] = -np.inf
        return _top_k_by_partition(scores, k)
    return _top_k_by_torch(torch, scores, k)


def _top_k_by_torch(torch: Any, scores: np.ndarray, k: int) -> np.ndarray:
    """top_k with torch.topk, reading the block once: k + 1 values per row tell both what
    no pass over the block is then needed for. A NaN, which torch ranks above everything,
    shows among a row's values if the row has one; and the set of the k best is ours (not
    torch's pick among ties) unless the (k+1)-th value equals the k-th. Such rows (rare
    with float scores) go the exact way."""
    m = scores.shape[1]
    kk = min(k + 1, m)
    values_t, cols_t = torch.topk(torch.from_numpy(np.ascontiguousarray(scores)), kk, dim=1, sorted=True)
    values, cols = values_t.numpy(), cols_t.numpy().astype(np.int64, copy=False)
    redo = np.isnan(values).any(axis=1)
    if kk > k:
        redo |= values[:, k] == values[:, k - 1]
    values, cols = values[:, :k], cols[:, :k]
    out = np.take_along_axis(cols, np.lexsort((cols, -values), axis=-1), axis=1)
    rows = np.flatnonzero(redo)
    if len(rows):
        part = scores[rows]
        part[np.isnan(part)] = -np.inf  # ranks as -inf: last, with the excluded columns
        scores[rows] = part  # as the partition path leaves them (`overwrite`: the caller's)
        out[rows] = _top_k_by_partition(part, k)
    return out


def _torch() -> Any:
    import torch  # only when asked for: the API must not load it

    return torch


def _top_k_by_partition(scores: np.ndarray, k: int) -> np.ndarray:
    n, m = scores.shape
    # one partition pass for each row's k-th best value; only the few entries at or above
    # it are sorted (the whole block is never sorted or cumulated: ~4x faster at 20k items)
    thr = np.partition(scores, m - k, axis=1)[:, m - k : m - k + 1]
    r, c = np.nonzero(scores >= thr)
    order = np.lexsort((c, -scores[r, c], r))
    r, c = r[order], c[order]
    pos = np.arange(len(r)) - np.searchsorted(r, np.arange(n))[r]
    keep = pos < k
    out = np.empty((n, k), dtype=np.int64)
    out[r[keep], pos[keep]] = c[keep]
    return out


def rank_metrics(ranked: np.ndarray, truth: Sequence[np.ndarray], ks: Sequence[int] = DEFAULT_KS) -> dict[str, float]:
    """Average metrics over rows of `ranked` (top items, best first) whose truth is non-empty."""
    kmax = max(ks)
    if ranked.shape[1] < kmax:
        raise ValueError(f"ranked lists have {ranked.shape[1]} columns, need {kmax}")
    return hits_metrics(_list_hits(ranked[:, :kmax], truth), truth, ks)


def _list_hits(ranked: np.ndarray, truth: Sequence[np.ndarray]) -> np.ndarray:
    """(rows, width) bool: whether each ranked item is one of its row's truth items."""
    n = len(truth)
    lens = np.array([len(t) for t in truth], dtype=np.int64)
    if not lens.any():
        return np.zeros(ranked.shape, dtype=bool)
    # one vectorised membership test: (row, item) keys of the ranked lists vs of the truth
    items = np.concatenate([np.asarray(t, dtype=np.int64) for t in truth])
    width = int(max(ranked.max(initial=0), items.max(initial=0))) + 1
    truth_keys = np.repeat(np.arange(n, dtype=np.int64), lens) * width + items
    ranked_keys = np.arange(n, dtype=np.int64)[:, None] * width + ranked
    return np.isin(ranked_keys, truth_keys)


def hits_metrics(hits: np.ndarray, truth: Sequence[np.ndarray], ks: Sequence[int] = DEFAULT_KS) -> dict[str, float]:
    """The metrics of rows whose truth is non-empty, from `hits` (rows, >= max(ks)): whether
    the item at each position of a row's ranking is one of its truth items."""
    kmax = max(ks)
    lens = np.array([len(t) for t in truth], dtype=np.int64)
    keep = lens > 0
    out: dict[str, float] = {"users": float(keep.sum())}
    if not keep.any():
        return {**{f"{m}@{k}": 0.0 for k in ks for m in ("recall", "ndcg", "hit", "mrr")}, **out}
    h_all = np.zeros((len(truth), kmax), dtype=np.float64)
    width = min(kmax, hits.shape[1])
    h_all[:, :width] = hits[:, :width]
    h_all = h_all[keep]
    lens = lens[keep]
    discount = 1.0 / np.log2(np.arange(2, kmax + 2))
    ideal = np.cumsum(discount)
    for k in ks:
        h = h_all[:, :k]
        n_hit = h.sum(1)
        out[f"recall@{k}"] = float((n_hit / lens).mean())
        out[f"ndcg@{k}"] = float(((h @ discount[:k]) / ideal[np.minimum(lens, k) - 1]).mean())
        out[f"hit@{k}"] = float((n_hit > 0).mean())
        first = h.argmax(1)
        out[f"mrr@{k}"] = float(np.where(n_hit > 0, 1.0 / (first + 1), 0.0).mean())
    return out


_RANK_ROWS = 512  # truth items whose score rows are compared at once (bounded memory)


def ranked_hits(
    scores: np.ndarray, truth: Sequence[np.ndarray], exclude: Sequence[np.ndarray] | None, width: int
) -> np.ndarray:
    """What `_list_hits(top_k(scores, width, exclude), truth)` gives, without ranking the
    block: each truth item's position is the count of items before it (higher score, or the
    same score and a lower column), less the excluded ones among them. Two comparisons per
    score instead of a partition and a sort (~10x less at 20k items); the rows it cannot
    place this way (a truth item excluded, or scored -inf or NaN) go through top_k."""
    raw = np.asarray(scores)
    dtype = np.float32 if raw.dtype == np.float32 else np.float64
    block = raw.astype(dtype, copy=False)
    n, m = block.shape
    hits = np.zeros((n, width), dtype=bool)
    lens = np.array([len(t) for t in truth], dtype=np.int64)
    if not lens.any() or m == 0:
        return hits
    row = np.repeat(np.arange(n, dtype=np.int64), lens)
    col = np.concatenate([np.asarray(t, dtype=np.int64) for t in truth])
    ex_keys = np.zeros(0, dtype=np.int64)
    if exclude is not None and len(exclude):
        ex_lens = [len(e) for e in exclude]
        if sum(ex_lens):
            ex_row = np.repeat(np.arange(len(exclude), dtype=np.int64), ex_lens)
            ex_keys = np.unique(ex_row * m + np.concatenate([np.asarray(e, dtype=np.int64) for e in exclude]))
    value = block[row, col]
    odd = np.isin(row * m + col, ex_keys) | ~np.isfinite(value)
    if odd.any():
        slow = np.unique(row[odd])
        ranked = top_k(block[slow], width, [exclude[r] for r in slow] if exclude is not None else None)
        hits[slow, : ranked.shape[1]] = _list_hits(ranked, [truth[r] for r in slow])
        fast = ~np.isin(row, slow)
        row, col, value = row[fast], col[fast], value[fast]
    if not len(row):
        return hits
    position = np.zeros(len(row), dtype=np.int64)
    columns = np.arange(m, dtype=np.int64)
    for start in range(0, len(row), _RANK_ROWS):
        part = slice(start, start + _RANK_ROWS)
        rows, v, c = block[row[part]], value[part, None], col[part, None]
        greater, equal = _count(rows > v), _count(rows == v)
        # another column with the same score (equal counts the truth item too) ranks first
        # when its column is lower: looked at only in the rows that have one (rare)
        tied = np.flatnonzero(equal > 1)
        if len(tied):
            greater[tied] += _count((rows[tied] == v[tied]) & (columns < c[tied]))
        position[part] = greater
    if len(ex_keys):  # the excluded items counted above: pair each truth item with its row's
        ex_row, ex_col = ex_keys // m, ex_keys % m
        ex_value = block[ex_row, ex_col]
        first = np.searchsorted(ex_row, row)
        count = np.searchsorted(ex_row, row, side="right") - first
        pair = np.repeat(np.arange(len(row)), count)
        at = np.arange(len(pair)) - np.repeat(np.cumsum(count) - count, count) + np.repeat(first, count)
        before = (ex_value[at] > value[pair]) | ((ex_value[at] == value[pair]) & (ex_col[at] < col[pair]))
        position -= np.bincount(pair, weights=before, minlength=len(row)).astype(np.int64)
    shown = position < min(width, m)
    hits[row[shown], position[shown]] = True
    return hits


def _count(flags: np.ndarray) -> np.ndarray:
    """True entries per row of a bool matrix: summed as bytes (half the time of a bool sum)."""
    return flags.view(np.uint8).sum(1, dtype=np.int64)


def evaluate(
    score_rows: Callable[[np.ndarray], np.ndarray],
    seen: Sequence[np.ndarray],
    truth: Sequence[np.ndarray],
    ks: Sequence[int] = DEFAULT_KS,
    chunk: int | None = None,
) -> dict[str, float]:
    """Full-ranking evaluation; `score_rows(users)` returns a (len(users), n_items) score block.

    Users are scored in chunks (default: EVAL_CHUNK_SCORES scores, at most 1,024 users) so
    memory stays bounded for large catalogues; each truth item's position is counted
    (ranked_hits), the block never sorted.
    """
    users = np.array([u for u, t in enumerate(truth) if len(t)], dtype=np.int64)
    kmax = max(ks)
    hits = np.zeros((len(truth), kmax), dtype=bool)
    size, start = chunk or 64, 0  # by default the first block's width sizes the rest
    while start < len(users):
        batch = users[start : start + size]
        block = score_rows(batch)
        hits[batch] = ranked_hits(block, [truth[u] for u in batch], [seen[u] for u in batch], kmax)
        start += len(batch)
        if chunk is None:
            size = max(64, min(1024, EVAL_CHUNK_SCORES // max(block.shape[1], 1)))
    return hits_metrics(hits, truth, ks)


def popularity_scores(item: np.ndarray, n_items: int, weight: np.ndarray | None = None) -> np.ndarray:
    """Baseline score per item: how many training interactions it has (optionally weighted)."""
    return np.bincount(item, weights=weight, minlength=n_items).astype(np.float64)


def evaluate_popularity(
    train_item: np.ndarray,
    n_items: int,
    seen: Sequence[np.ndarray],
    truth: Sequence[np.ndarray],
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, float]:
    """The popularity baseline under the same protocol."""
    pop = popularity_scores(train_item, n_items)
    return hits_metrics(shared_score_hits(pop, truth, seen, max(ks)), truth, ks)


def shared_score_hits(
    scores: np.ndarray, truth: Sequence[np.ndarray], exclude: Sequence[np.ndarray], width: int
) -> np.ndarray:
    """`ranked_hits` for one score vector every user shares (popularity): each truth item's
    position is its place in the one global order less the user's excluded items before it,
    so no (users x items) block is built (1.1 s of a 1M-event incremental run's evaluation).
    Users with a truth item excluded or not finite go through ranked_hits."""
    scores = np.asarray(scores, dtype=np.float64)
    m, n = len(scores), len(truth)
    hits = np.zeros((n, width), dtype=bool)
    lens = np.array([len(t) for t in truth], dtype=np.int64)
    if not lens.any() or m == 0:
        return hits
    rank = np.empty(m, dtype=np.int64)  # place in the order: higher score first, then lower column
    rank[np.lexsort((np.arange(m), -scores))] = np.arange(m)
    row = np.repeat(np.arange(n, dtype=np.int64), lens)
    col = np.concatenate([np.asarray(t, dtype=np.int64) for t in truth])
    ex_lens = np.array([len(e) for e in exclude], dtype=np.int64)
    ex_row = np.repeat(np.arange(n, dtype=np.int64), ex_lens)
    ex_col = np.concatenate([np.asarray(e, dtype=np.int64) for e in exclude]) if ex_lens.any() else ex_row
    ex_keys = np.unique(ex_row * m + ex_col)
    odd = np.isin(row * m + col, ex_keys) | ~np.isfinite(scores[col])
    if not np.isfinite(scores).all():  # a non-finite score elsewhere: -inf/NaN rules are ranked_hits'
        odd[:] = True
    if odd.any():
        slow = np.unique(row[odd])
        hits[slow] = ranked_hits(
            np.broadcast_to(scores, (len(slow), m)), [truth[r] for r in slow], [exclude[r] for r in slow], width
        )
        fast = ~np.isin(row, slow)
        row, col = row[fast], col[fast]
    # each excluded item as (its row, its place), sorted: how many of a row's come before a place
    placed = np.sort((ex_keys // m) * m + rank[ex_keys % m])
    at = row * m + rank[col]
    position = rank[col] - (np.searchsorted(placed, at) - np.searchsorted(placed, row * m))
    shown = position < min(width, m)
    hits[row[shown], position[shown]] = True
    return hits


def group_by_user(user: np.ndarray, item: np.ndarray, n_users: int) -> list[np.ndarray]:
    """Per user, its unique item indices (ground truth / exclusion lists)."""
    buckets: list[list[int]] = [[] for _ in range(n_users)]
    for u, i in zip(user.tolist(), item.tolist(), strict=True):
        buckets[u].append(i)
    return [np.unique(np.array(b, dtype=np.int64)) for b in buckets]


def items_by_user(data: TrainingData, rows: np.ndarray) -> list[np.ndarray]:
    """Per user, the unique items of the interactions `rows` of `data`."""
    return group_by_user(data.user[rows], data.item[rows], data.n_users)


@dataclass(frozen=True)
class HoldoutTruth:
    """What a split is scored on: per user, the items to find and the items never ranked."""

    seen: list[np.ndarray]  # train and valid items: already known, excluded from the ranking
    truth: list[np.ndarray]  # test items: the ground truth


def holdout_truth(data: TrainingData, split: Split, test_users: np.ndarray | None = None) -> HoldoutTruth:
    """The test part of `split` as ground truth, everything before it as seen.

    `test_users` (a boolean mask over users) keeps only those users' test items, e.g. the
    users a reference model has a vector for.
    """
    test = split.test if test_users is None else split.test[test_users[data.user[split.test]]]
    known = np.concatenate([split.train, split.valid])
    return HoldoutTruth(seen=items_by_user(data, known), truth=items_by_user(data, test))


def sample_users(data: TrainingData, rows: np.ndarray, limit: int) -> np.ndarray | None:
    """A mask of at most `limit` of the users `rows` belong to (a fixed sample); None: all of them."""
    users = np.unique(data.user[rows])
    if len(users) <= limit:
        return None
    mask = np.zeros(data.n_users, dtype=bool)
    mask[np.random.default_rng(0).choice(users, limit, replace=False)] = True
    return mask
