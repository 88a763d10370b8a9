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
    """The cosine threshold with the best F1 against known tags (scores and known: items x interests)."""
    if candidates is None:
        candidates = np.round(np.arange(0.05, 0.80, 0.01), 2)
    best, best_f1 = 0.5, -1.0
    for threshold in candidates:
        predicted = scores >= threshold
        hits = float((predicted & known).sum())
        precision = hits / max(float(predicted.sum()), 1.0)
        recall = hits / max(float(known.sum()), 1.0)
        f1 = 2 * precision * recall / max(precision + recall, 1e-12)
        if f1 > best_f1:
            best, best_f1 = float(threshold), f1
    return best


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
