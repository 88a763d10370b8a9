"""tag_rows (numpy, per chunk) against the rule written out item by item."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from training.text_tags import _CHUNK, MAX_TAGS_PER_ITEM, tag_rows


def by_hand(item_ids, item_vectors, interest_ids, interest_vectors, threshold, catalogue):
    rows = []
    # the scores as tag_rows computes them (one product per chunk): a row's product alone can
    # round its last float32 bit differently (BLAS kernels), and 4-decimal weights with it
    products = [item_vectors[s : s + _CHUNK] @ interest_vectors.T for s in range(0, len(item_ids), _CHUNK)]
    for row, item in enumerate(item_ids):
        scores = [float(x) for x in products[row // _CHUNK][row % _CHUNK]]
        candidates = [
            (score, k)
            for k, score in enumerate(scores)
            if score >= threshold and interest_ids[k] not in catalogue.get(item, set())
        ]
        candidates.sort(key=lambda c: -c[0])  # stable: ties keep the interests' order
        tags = [{"id": interest_ids[k], "weight": round(s, 4)} for s, k in candidates[:MAX_TAGS_PER_ITEM]]
        rows.append({"item_id": item, "tags": tags})
    return rows


@settings(max_examples=60, deadline=None)
@given(
    n_items=st.integers(0, 40),
    n_interests=st.integers(0, 12),
    threshold=st.floats(-1.0, 1.0),
    seed=st.integers(0, 2**16),
    grid=st.booleans(),
)
def test_tag_rows_follow_the_rule(n_items: int, n_interests: int, threshold: float, seed: int, grid: bool) -> None:
    rng = np.random.default_rng(seed)
    if grid:  # few distinct scores: ties everywhere, and scores exactly at the threshold
        items = rng.integers(-2, 3, size=(n_items, 3)).astype(np.float32) / 2
        interests = rng.integers(-2, 3, size=(n_interests, 3)).astype(np.float32) / 2
        threshold = float(np.round(threshold * 4) / 4)
    else:
        items = rng.normal(size=(n_items, 4)).astype(np.float32)
        interests = rng.normal(size=(n_interests, 4)).astype(np.float32)
    item_ids = [f"i{k}" for k in range(n_items)]
    interest_ids = [f"t{k}" for k in range(n_interests)]
    catalogue = {
        f"i{k}": {f"t{j}" for j in rng.integers(0, n_interests + 2, size=rng.integers(0, 4))}
        for k in range(0, n_items, 2)
    }
    got = tag_rows(item_ids, items, interest_ids, interests, threshold, catalogue)
    want = by_hand(item_ids, items, interest_ids, interests, threshold, catalogue)
    if grid:  # among tied scores any may be chosen: compare the weights, and the ids per weight
        assert [[t["weight"] for t in r["tags"]] for r in got] == [[t["weight"] for t in r["tags"]] for r in want]
        for g, w, row in zip(got, want, range(n_items), strict=True):
            scores = items[row] @ interests.T
            for tag in g["tags"]:
                k = interest_ids.index(tag["id"])
                assert round(float(scores[k]), 4) == tag["weight"] and scores[k] >= threshold
                assert tag["id"] not in catalogue.get(g["item_id"], set())
            assert len({t["id"] for t in g["tags"]}) == len(g["tags"]) == len(w["tags"])
    else:
        assert got == want
