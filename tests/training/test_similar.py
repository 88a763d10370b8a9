"""Item neighbourhoods: exact against a brute-force reference, approximate (faiss HNSW)
against exact, the threshold between them, and the edge cases of tiny catalogues."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from training.similar import approximate_similar, exact_similar, similar_items


def brute_force(emb: np.ndarray, k: int) -> list[list[int]]:
    """Each item's k best others by float64 cosine, ties by the lower index."""
    norm = np.linalg.norm(emb, axis=1, keepdims=True)
    unit = np.divide(emb, norm, out=np.zeros_like(emb, dtype=np.float64), where=norm > 0)
    sim = unit @ unit.T
    out = []
    for a in range(len(emb)):
        others = sorted((b for b in range(len(emb)) if b != a), key=lambda b: (-round(sim[a, b], 5), b))
        out.append(others[:k])
    return out


def clustered(n: int, dim: int = 32, clusters: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    return (centres[rng.integers(0, clusters, n)] + 0.4 * rng.normal(size=(n, dim))).astype(np.float32)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


# small integer-valued vectors: many exact ties, the case a rounding-free order must settle
vectors = arrays(np.float32, st.tuples(st.integers(2, 12), st.just(3)), elements=st.integers(-3, 3).map(float))


@settings(max_examples=60, deadline=None)
@given(vectors, st.integers(1, 6), st.integers(1, 5))
def test_exact_matches_brute_force_in_any_block_size(emb: np.ndarray, k: int, chunk: int) -> None:
    idx, score = exact_similar(emb, k, chunk=chunk)
    k = min(k, len(emb) - 1)
    assert idx.shape == (len(emb), k)
    for a in range(len(emb)):
        assert a not in idx[a]
        assert list(score[a]) == sorted(score[a], reverse=True)
    # the same neighbours as the reference, up to scores equal to 5 decimals
    norm = np.linalg.norm(emb, axis=1, keepdims=True)
    unit = np.divide(emb, norm, out=np.zeros_like(emb, dtype=np.float64), where=norm > 0)
    for a, want in enumerate(brute_force(emb, k)):
        got_scores = sorted(np.round(unit[a] @ unit[idx[a]].T, 5), reverse=True)
        assert got_scores == sorted(np.round(unit[a] @ unit[want].T, 5), reverse=True)


def test_approximate_reaches_recall_095_against_exact() -> None:
    emb = clustered(3000)
    exact, _ = exact_similar(emb, 20)
    approx, score = approximate_similar(emb, 20)
    assert approx.shape == (3000, 20) and np.isfinite(score).all()
    assert not (approx == np.arange(3000)[:, None]).any()  # never the item itself
    assert all(list(s) == sorted(s, reverse=True) for s in score)
    assert recall(approx, exact) >= 0.95
    again, _ = approximate_similar(emb, 20)
    assert (again == approx).all()  # the same vectors, the same lists


def test_the_threshold_switches_to_the_index() -> None:
    emb = clustered(500)
    exact = exact_similar(emb, 10)
    assert all((a == b).all() for a, b in zip(similar_items(emb, 10, exact_max_items=500), exact, strict=True))
    approx = similar_items(emb, 10, exact_max_items=499)
    assert (approx[0] == approximate_similar(emb, 10)[0]).all()
    assert recall(approx[0], exact[0]) >= 0.95


@pytest.mark.parametrize("n", [0, 1, 2, 3])
@pytest.mark.parametrize("exact_max_items", [0, 100])
def test_tiny_catalogues(n: int, exact_max_items: int) -> None:
    emb = clustered(max(n, 1))[:n]
    idx, score = similar_items(emb, 5, exact_max_items=exact_max_items)
    assert idx.shape == score.shape == (n, max(min(5, n - 1), 0))
    for a in range(n):
        assert set(idx[a]) == set(range(n)) - {a}


def test_zero_vectors_have_no_meaningful_neighbours() -> None:
    emb = clustered(50)
    emb[7] = 0.0  # an item no edge reached
    for _, score in (exact_similar(emb, 5), approximate_similar(emb, 5)):
        assert not (score[7] > 0).any()  # the write-back keeps only positive scores


def test_exact_lists_break_ties_by_the_lower_index_at_every_place():
    """Vectors with many equal cosines: each list is the k best by score, then by index,
    also where the tied items straddle the k-th place."""
    rng = np.random.default_rng(4)
    vectors = np.round(rng.standard_normal((60, 3))).astype(np.float32)
    vectors[vectors.sum(1) == 0] = 1.0  # no zero vectors
    idx, score = exact_similar(vectors, 7, chunk=13)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sim = unit @ unit.T
    for row in range(len(vectors)):
        others = [j for j in range(len(vectors)) if j != row]
        expected = sorted(others, key=lambda j: (-sim[row, j], j))[:7]
        assert idx[row].tolist() == expected, row
        np.testing.assert_allclose(score[row], sim[row, expected], rtol=1e-6)
