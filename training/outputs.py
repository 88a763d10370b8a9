"""Turn trained arrays into the GraphStore's write-back rows (numpy only).

Row shapes follow graph_schema.store.base.GraphStore.write_* docstrings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from training.data import TrainingData
from training.strengths import UserStrengths

STORE_LABEL = {"user": "User", "item": "Item", "interest": "Interest"}


@dataclass
class Outputs:
    """Everything one run writes, keyed by store label / relationship."""

    nodes: dict[str, list[dict[str, Any]]]  # store label -> [{id, props}]
    strengths: list[dict[str, Any]]  # INTERESTED_IN rows
    similar: list[dict[str, Any]]  # SIMILAR_TO rows

    def counts(self) -> dict[str, int]:
        out = {f"{label.lower()}_nodes": len(rows) for label, rows in self.nodes.items()}
        out.update(strengths=len(self.strengths), similar=len(self.similar))
        return out


def _vec(x: np.ndarray) -> list[float]:
    # 6 significant digits: the stored vectors are ~2x smaller and rankings do not change
    return [float(f"{v:.6g}") for v in x.tolist()]


def build_outputs(
    data: TrainingData,
    embeddings: Mapping[str, np.ndarray],
    user_strengths: UserStrengths,
    population: list[dict[str, Any]],
    similar: tuple[np.ndarray, np.ndarray] | None,
    model_version: str,
    refreshed_at: int,
    only: Mapping[str, np.ndarray] | None = None,
) -> Outputs:
    """Node properties, strengths and SIMILAR_TO edges of one version.

    `only` limits the node rows of a label (indices; strengths follow the user rows) to
    what a run re-fitted, e.g. an incremental run; a label it leaves out gets every row.
    SIMILAR_TO rows are complete for every item (`similar` None: none, the run keeps the
    published lists).
    """
    stamp = {"model_version": model_version, "refreshed_at": refreshed_at}
    index = {"user": data.users, "item": data.items, "interest": data.interests}
    selected = {label: np.arange(len(ids)) for label, ids in index.items()}
    selected.update({label: np.asarray(rows, dtype=np.int64) for label, rows in (only or {}).items()})
    user_rows = selected["user"]
    pop = {r["interest_id"]: r for r in population}

    nodes: dict[str, list[dict[str, Any]]] = {}
    for label, ids in index.items():
        rows = selected[label]
        emb = embeddings[label]
        out = []
        for k in rows.tolist():
            props: dict[str, Any] = {"embedding": _vec(emb[k]), **stamp}
            if label == "user":
                keep = user_strengths.interest[k] >= 0
                props["top_interests"] = [data.interests.ids[i] for i in user_strengths.interest[k][keep]]
                props["interest_strengths"] = [round(float(s), 6) for s in user_strengths.strength[k][keep]]
            elif label == "interest":
                p = pop.get(ids.ids[k], {})
                props["strength"] = float(p.get("strength", 0.0))
                props["trend"] = float(p.get("trend", 0.0))
            out.append({"id": ids.ids[k], "props": props})
        nodes[STORE_LABEL[label]] = out

    strengths = [
        {
            "user_id": data.users.ids[u],
            "interest_id": data.interests.ids[i],
            "strength": round(float(s), 6),
            "updated_at": refreshed_at,
            "model_version": model_version,
        }
        for u in user_rows.tolist()
        for i, s in zip(user_strengths.interest[u].tolist(), user_strengths.strength[u].tolist(), strict=True)
        if i >= 0
    ]
    if similar is None:  # an incremental run: the published lists stay
        return Outputs(nodes=nodes, strengths=strengths, similar=[])
    idx, score = similar
    similar_rows = [
        {
            "item_id": data.items.ids[a],
            "other_id": data.items.ids[b],
            "score": round(float(s), 6),
            "model_version": model_version,
        }
        for a in range(idx.shape[0])
        for b, s in zip(idx[a].tolist(), score[a].tolist(), strict=True)
        if np.isfinite(s) and s > 0  # an isolated item (no edges) has no meaningful neighbours
    ]
    return Outputs(nodes=nodes, strengths=strengths, similar=similar_rows)
