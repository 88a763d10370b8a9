"""Automatic interest tagging from text: an item is proposed for an interest when the cosine of
their text embeddings clears a threshold chosen on the items whose catalogue tags are known.

Proposals are `TAGGED {source: 'text'}` edges, never confused with `source: 'catalogue'` ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from training.text import MODEL_VERSION


@dataclass(frozen=True)
class TextTag:
    item: str
    interest: str
    weight: float
    source: str = "text"
    model_version: str = MODEL_VERSION


def choose_threshold(scores: np.ndarray, known: np.ndarray, candidates: Sequence[float] | None = None) -> float:
    """The cosine threshold with the best F1 against known tags (scores and known: items x interests).

    Of several thresholds with the best F1 (few known items: a wide gap between the tags
    and the rest), the middle one: the lowest would sit right at the known negatives."""
    if candidates is None:
        candidates = np.round(np.arange(0.05, 0.80, 0.01), 2)
    f1s = []
    for threshold in candidates:
        predicted = scores >= threshold
        hits = float((predicted & known).sum())
        precision = hits / max(float(predicted.sum()), 1.0)
        recall = hits / max(float(known.sum()), 1.0)
        f1s.append(2 * precision * recall / max(precision + recall, 1e-12))
    if not f1s:
        return FALLBACK_THRESHOLD
    best = [float(t) for t, f1 in zip(candidates, f1s, strict=True) if f1 >= max(f1s) - 1e-9]
    return best[len(best) // 2]


def propose(
    item_ids: Sequence[str],
    item_vectors: np.ndarray,
    interest_ids: Sequence[str],
    interest_vectors: np.ndarray,
    threshold: float,
    catalogue: Mapping[str, set[str]] | None = None,
) -> list[TextTag]:
    """Text tags above the threshold, skipping pairs the catalogue already tags."""
    catalogue = catalogue or {}
    scores = item_vectors @ interest_vectors.T
    tags = []
    for row, item in enumerate(item_ids):
        for column in np.flatnonzero(scores[row] >= threshold):
            interest = interest_ids[column]
            if interest not in catalogue.get(item, set()):
                tags.append(TextTag(item, interest, round(float(scores[row, column]), 4)))
    return tags


def precision_recall(predicted: Mapping[str, set[str]], truth: Mapping[str, set[str]]) -> tuple[float, float]:
    """Micro precision and recall of predicted item -> interests against the true ones."""
    hits = sum(len(predicted.get(k, set()) & truth[k]) for k in truth)
    n_predicted = sum(len(predicted.get(k, set())) for k in truth)
    n_true = sum(len(v) for v in truth.values())
    return hits / max(n_predicted, 1), hits / max(n_true, 1)


# Proposals per item, strongest first: a text of generic words can clear the threshold for
# many interests, and each tag adds live evidence to every user who touches the item.
MAX_TAGS_PER_ITEM = 5
# Items with known tags the threshold is chosen on (a fixed sample beyond): items x interests scores.
THRESHOLD_ITEMS = 5000
# The threshold when no item has a catalogue tag to choose it on (cosine; all-MiniLM-L6-v2's
# matches of a short text with an interest's name sit around 0.3-0.6).
FALLBACK_THRESHOLD = 0.5
_CHUNK = 4096  # items scored at once


def threshold_on_known(
    item_ids: Sequence[str],
    item_vectors: np.ndarray,
    interest_ids: Sequence[str],
    interest_vectors: np.ndarray,
    catalogue: Mapping[str, set[str]],
) -> float:
    """choose_threshold on (a sample of) the items whose catalogue tags are known."""
    column = {interest: k for k, interest in enumerate(interest_ids)}
    known_rows = [row for row, item in enumerate(item_ids) if catalogue.get(item, set()) & column.keys()]
    if not known_rows or not len(interest_ids):
        return FALLBACK_THRESHOLD
    if len(known_rows) > THRESHOLD_ITEMS:
        known_rows = sorted(np.random.default_rng(0).choice(known_rows, THRESHOLD_ITEMS, replace=False).tolist())
    scores = item_vectors[known_rows] @ interest_vectors.T
    known = np.zeros(scores.shape, dtype=bool)
    for k, row in enumerate(known_rows):
        for interest in catalogue[item_ids[row]] & column.keys():
            known[k, column[interest]] = True
    return choose_threshold(scores, known)


def tag_rows(
    item_ids: Sequence[str],
    item_vectors: np.ndarray,
    interest_ids: Sequence[str],
    interest_vectors: np.ndarray,
    threshold: float,
    catalogue: Mapping[str, set[str]],
) -> list[dict[str, object]]:
    """Every item's text tags as store rows {item_id, tags: [{id, weight}]} (an item with
    none gets an empty list, which removes the text tags it had): the strongest
    MAX_TAGS_PER_ITEM interests at or above the threshold that the catalogue does not tag
    the item with already. Chosen per chunk with numpy (a Python loop over every item x
    interest score took 6.6 s for 20,000 items and 300 interests)."""
    column = {interest: k for k, interest in enumerate(interest_ids)}
    keep = min(MAX_TAGS_PER_ITEM, len(interest_ids))
    rows: list[dict[str, object]] = []
    for start in range(0, len(item_ids), _CHUNK):
        chunk = item_ids[start : start + _CHUNK]
        scores = item_vectors[start : start + _CHUNK] @ interest_vectors.T
        eligible = np.where(scores >= threshold, scores, -np.inf)
        for offset, item in enumerate(chunk):  # the catalogue's own tags are never proposed
            own = [column[i] for i in catalogue.get(item, ()) if i in column]
            eligible[offset, own] = -np.inf
        if keep == 0:
            rows.extend({"item_id": item, "tags": []} for item in chunk)
            continue
        top = np.argpartition(-eligible, keep - 1, axis=1)[:, :keep]
        values = np.take_along_axis(eligible, top, axis=1)
        order = np.argsort(-values, axis=1, kind="stable")
        top, values = np.take_along_axis(top, order, axis=1), np.take_along_axis(values, order, axis=1)
        for item, columns, weights in zip(chunk, top.tolist(), values.tolist(), strict=True):
            tags = [
                {"id": interest_ids[k], "weight": round(w, 4)}
                for k, w in zip(columns, weights, strict=True)
                if w != -np.inf
            ]
            rows.append({"item_id": item, "tags": tags})
    return rows
