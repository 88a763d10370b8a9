"""The graph source's neighbour sums from the snapshot's arrays (ModelSnapshot.neighbour_sums)
are the loop's over neighbours(): the same sums to the last bit, the same best anchor
(first on ties) and the same "similar in description" flag."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.recs import model_snapshot
from service.recs.model_snapshot import ModelSnapshot


def _snapshot(rows: np.ndarray, scores: np.ndarray, by_text: np.ndarray) -> ModelSnapshot:
    n = len(rows)
    ids = [f"i{k}" for k in range(n)]
    return ModelSnapshot(
        version="v",
        published_at=None,
        similar_version="v",
        path=Path("."),
        ids=ids,
        index={item: k for k, item in enumerate(ids)},
        titles=[None] * n,
        interests=[()] * n,
        vectors=np.zeros((n, 2)),
        has_vector=np.zeros(n, dtype=bool),
        neighbour_rows=rows,
        neighbour_scores=scores,
        neighbour_by_text=by_text,
    )


def _loop(snap: ModelSnapshot, weights: dict[str, float], k: int) -> dict[str, tuple[float, str | None, bool]]:
    """The per-tuple loop of service/recs/sources/graph.py."""
    sums: dict[str, float] = {}
    best: dict[str, float] = {}
    because: dict[str, tuple[str, bool]] = {}
    for anchor in weights:
        for nb in snap.neighbours(anchor, k):
            contribution = weights[anchor] * nb.score
            sums[nb.item_id] = sums.get(nb.item_id, 0.0) + contribution
            if contribution > best.get(nb.item_id, -1.0):
                best[nb.item_id] = contribution
                because[nb.item_id] = (anchor, nb.via == "text")
    return {i: (s, *because.get(i, (None, False))) for i, s in sums.items()}


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 12),
    per_item=st.integers(1, 6),
    k=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
    anchors=st.lists(st.integers(0, 14), max_size=8, unique=True),  # 12-14: unknown items
    ties=st.booleans(),
)
def test_neighbour_sums_are_the_loops(n: int, per_item: int, k: int, seed: int, anchors: list[int], ties: bool) -> None:
    rng = np.random.default_rng(seed)
    rows = rng.integers(-1, n, size=(n, per_item)).astype(np.int32)  # -1: padding
    scores = rng.choice([0.5, 1.0, -1.5], size=(n, per_item)) if ties else rng.uniform(-1.5, 1.5, (n, per_item))
    snap = _snapshot(rows, scores, rng.random((n, per_item)) < 0.3)
    weights = {f"i{a}": float(w) for a, w in zip(anchors, rng.choice([1.0, 2.0, 0.25], len(anchors)), strict=True)}
    found = snap.neighbour_sums(weights, k)
    got = {
        item: (total, found.anchors[b] if b >= 0 else None, bool(t) if b >= 0 else False)
        for item, total, b, t in found.rows()
    }
    assert got == _loop(snap, weights, k)


def test_sums_are_kept_per_anchors_and_weights_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user's anchors and weights stay the same until the user acts: the sums are kept
    (the same read-only object), recomputed for other weights, an order or k, and the
    least recently used go past SUMS_KEPT."""
    monkeypatch.setattr(model_snapshot, "SUMS_KEPT", 2)
    rows = np.array([[1, 2], [0, 2], [0, 1]], dtype=np.int32)
    snap = _snapshot(rows, np.array([[0.9, 0.5], [0.9, 0.4], [0.5, 0.4]]), np.zeros((3, 2), dtype=bool))
    a = snap.neighbour_sums({"i0": 1.0, "i1": 0.5}, 2)
    assert snap.neighbour_sums({"i0": 1.0, "i1": 0.5}, 2) is a
    assert not a.sums.flags.writeable and not a.best_anchor.flags.writeable
    with pytest.raises(ValueError):
        a.sums[0] = 0.0
    other = [
        snap.neighbour_sums({"i0": 1.0, "i1": 0.25}, 2),  # another weight
        snap.neighbour_sums({"i1": 0.5, "i0": 1.0}, 2),  # another order: the first anchor wins ties
        snap.neighbour_sums({"i0": 1.0, "i1": 0.5}, 1),  # another k
    ]
    assert all(o is not a for o in other)
    assert other[1].anchors == ["i1", "i0"] and other[2].sums.tolist() != a.sums.tolist()
    assert len(snap._sums) == 2  # bounded: `a` went first
    assert snap.neighbour_sums({"i0": 1.0, "i1": 0.5}, 2) is not a
