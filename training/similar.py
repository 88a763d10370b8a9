"""Item neighbourhoods: each item's top-k other items by cosine similarity of its vector.

Exact (blocked matrix products) up to REFRESH_SIMILAR_EXACT_MAX_ITEMS items; beyond, an
approximate nearest-neighbour index (faiss HNSW over the unit vectors, inner product),
whose cost grows as n log n where exact grows as n² (bench/similar.py: times and the
approximate lists' recall@20 against exact). Both return the same shape: (n, k) indices
and cosine scores, best first, never the item itself; an item with fewer neighbours (a
tiny catalogue, or the index found fewer) is padded with index 0 and score -inf, which
the write-back skips.
"""

from __future__ import annotations

import numpy as np

from training.metrics import top_k

# scores held at once while ranking exact neighbours (float32: 64 MB), whatever the catalogue
EXACT_BLOCK_SCORES = 16_000_000
# HNSW: links per node, and the candidate lists of construction and search. Recall@20
# against exact on diffuse clusters (bench/similar.py) at 100k items: efSearch 96 0.934,
# 160 0.964, 256 0.984 (search time ~1 : 1.7 : 2.6); M 16 / efSearch 64 gave 0.91 at 20k.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 160


def similar_items(item_emb: np.ndarray, k: int = 20, exact_max_items: int = 50_000) -> tuple[np.ndarray, np.ndarray]:
    """Exact neighbours for catalogues up to `exact_max_items`, approximate beyond."""
    if item_emb.shape[0] <= exact_max_items:
        return exact_similar(item_emb, k)
    return approximate_similar(item_emb, k)


def _unit(item_emb: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(item_emb, axis=1, keepdims=True).astype(np.float32)
    return np.divide(item_emb, norm, out=np.zeros(item_emb.shape, dtype=np.float32), where=norm > 0)


def exact_similar(item_emb: np.ndarray, k: int = 20, chunk: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact, in blocks of `chunk` rows (by default as many as EXACT_BLOCK_SCORES allows), in
    float32, so memory stays bounded as the catalogue grows (float64 blocks of 2,048 rows
    took ~800 MB at 20k items). Ties: the lower index first."""
    n = item_emb.shape[0]
    k = min(k, max(n - 1, 0))
    unit = _unit(item_emb)
    idx = np.zeros((n, k), dtype=np.int64)
    score = np.zeros((n, k), dtype=np.float32)
    if k == 0:
        return idx, score
    chunk = chunk or max(1, EXACT_BLOCK_SCORES // max(n, 1))
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        sim = unit[lo:hi] @ unit.T
        sim[np.arange(hi - lo), np.arange(lo, hi)] = -np.inf
        # top_k selects without argpartition's block-sized int64 index array (twice the
        # block), and keeps the lower index among ties at the k-th place too
        top = top_k(sim, k, overwrite=True)
        idx[lo:hi] = top
        score[lo:hi] = np.take_along_axis(sim, top, axis=1)
    return idx, score


def approximate_similar(item_emb: np.ndarray, k: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """faiss HNSW over the unit vectors (inner product = cosine). The index is built on one
    thread, so the same vectors give the same lists; the search uses every core."""
    import faiss  # training-only dependency (requirements-train.txt)

    n, dim = item_emb.shape
    k = min(k, max(n - 1, 0))
    idx = np.zeros((n, k), dtype=np.int64)
    score = np.full((n, k), -np.inf, dtype=np.float32)
    if k == 0:
        return idx, np.zeros((n, 0), dtype=np.float32)
    unit = np.ascontiguousarray(_unit(item_emb))
    threads = faiss.omp_get_max_threads()
    index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    try:
        faiss.omp_set_num_threads(1)  # HNSW insertion order (hence the graph) depends on threads
        index.add(unit)
    finally:
        faiss.omp_set_num_threads(threads)
    index.hnsw.efSearch = max(HNSW_EF_SEARCH, k + 1)
    scores, found = index.search(unit, k + 1)
    for row in range(n):  # drop the item itself (and the -1 the index pads with)
        keep = (found[row] != row) & (found[row] >= 0)
        ids, vals = found[row][keep][:k], scores[row][keep][:k]
        idx[row, : len(ids)] = ids
        score[row, : len(ids)] = vals
    return idx, score
