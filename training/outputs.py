"""Turn trained arrays into the GraphStore's write-back rows (numpy only), streamed.

Row shapes follow graph_schema.store.base.GraphStore.write_* docstrings. The rows of each
kind are generated lazily, a node (or item) at a time, as the store's batched writes
consume them: a run never holds one full list of row dicts per kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from training.data import TrainingData
from training.strengths import UserStrengths

if TYPE_CHECKING:
    from training.user_lists import RankedUsers

STORE_LABEL = {"user": "User", "item": "Item", "interest": "Interest"}

Row = dict[str, Any]


class Counted:
    """A single-pass stream of rows that counts what was consumed."""

    def __init__(self, rows: Iterable[Row]) -> None:
        self._rows = iter(rows)
        self.n = 0

    def __iter__(self) -> Iterator[Row]:
        for row in self._rows:
            self.n += 1
            yield row


@dataclass
class Outputs:
    """Everything one run writes, keyed by store label / relationship: streams, each
    consumed once (by the store's writes); counts() is what they produced so far."""

    nodes: dict[str, Counted]  # store label -> {id, props}
    strengths: Counted  # INTERESTED_IN rows
    similar: Counted  # SIMILAR_TO rows
    # a full run's: the users' written vectors and rankings as arrays, once the user rows
    # have been consumed (training.publish sets it), and the SIMILAR_TO lists written
    ranked: RankedUsers | None = None
    similar_lists: SimilarLists | None = None

    def counts(self) -> dict[str, int]:
        out = {f"{label.lower()}_nodes": rows.n for label, rows in self.nodes.items()}
        out.update(strengths=self.strengths.n, similar=self.similar.n)
        return out


CHUNK = 1024  # node rows whose vectors are rounded at once


def _vec(x: np.ndarray) -> list[float]:
    # 6 significant digits: the stored vectors are ~2x smaller and rankings do not change
    return [float(f"{v:.6g}") for v in x.tolist()]


def written_vectors(x: np.ndarray) -> np.ndarray:
    """The vectors as a run writes them (float64): _vec of every row, in numpy (7x faster):
    an integer over a power of ten is the double nearest that decimal, so each value is the
    one `f"{v:.6g}"` parses to."""
    a = np.asarray(x, dtype=np.float64)
    mag = np.floor(np.log10(np.abs(np.where(a == 0, 1.0, a))))
    scale = 10.0 ** (5 - mag)
    return np.round(a * scale) / scale


def _vecs(x: np.ndarray) -> list[list[float]]:
    return written_vectors(x).tolist()


@dataclass(frozen=True)
class SimilarLists:
    """Each item's SIMILAR_TO list as a run writes it, best first: `neighbours` item rows
    (-1 past the end), `scores` rounded to 6 decimals, `by_text` via 'text'."""

    item_ids: list[str]
    neighbours: np.ndarray  # int32 [items, k]
    scores: np.ndarray  # float64 [items, k]
    by_text: np.ndarray  # bool [items, k]


def similar_lists(data: TrainingData, similar: tuple[np.ndarray, np.ndarray]) -> SimilarLists:
    """training.similar's (indices, scores) as written: only finite, positive similarities
    (an isolated item, without edges, has no meaningful neighbours), kept in their order."""
    idx, score = similar
    score = np.asarray(score, dtype=np.float64)
    keep = np.isfinite(score) & (score > 0)
    order = np.argsort(~keep, axis=1, kind="stable")  # the kept first, in their order
    keep = np.take_along_axis(keep, order, axis=1)
    neighbours = np.where(keep, np.take_along_axis(np.asarray(idx, dtype=np.int64), order, axis=1), -1)
    ordered = np.where(keep, np.take_along_axis(score, order, axis=1), 0.0)
    # Python's round (correctly rounded), as the rows were always written; np.round can differ in the last bit
    scores = np.array([round(v, 6) for v in ordered.ravel().tolist()], dtype=np.float64).reshape(ordered.shape)
    text = text_only_items(data)
    by_text = keep & (text[:, None] | text[np.maximum(neighbours, 0)])
    return SimilarLists(list(data.items.ids), neighbours.astype(np.int32), scores, by_text)


def text_only_items(data: TrainingData) -> np.ndarray:
    """Items whose vector comes from their text alone: a text, and no interaction."""
    if data.item_text is None:
        return np.zeros(data.n_items, dtype=bool)
    has_text = np.abs(data.item_text).sum(axis=1) > 0
    return has_text & (np.bincount(data.item, minlength=data.n_items) == 0)


def build_outputs(
    data: TrainingData,
    embeddings: Mapping[str, np.ndarray],
    user_strengths: UserStrengths,
    population: list[dict[str, Any]],
    similar: tuple[np.ndarray, np.ndarray] | None,
    model_version: str,
    refreshed_at: int,
    only: Mapping[str, np.ndarray] | None = None,
    user_props: Iterable[tuple[int, dict[str, Any]]] | None = None,
) -> Outputs:
    """Node properties, strengths and SIMILAR_TO edges of one version, as streams.

    `only` limits the node rows of a label (indices; strengths follow the user rows) to
    what a run re-fitted, e.g. an incremental run; a label it leaves out gets every row.
    SIMILAR_TO rows are complete for every item (`similar` None: none, the run keeps the
    published lists). `user_props`: (user index, extra User properties) in ascending user
    order (training.user_lists), merged into those users' rows as they are generated.
    """
    stamp = {"model_version": model_version, "refreshed_at": refreshed_at}
    index = {"user": data.users, "item": data.items, "interest": data.interests}
    selected = {label: np.arange(len(ids)) for label, ids in index.items()}
    selected.update({label: np.asarray(rows, dtype=np.int64) for label, rows in (only or {}).items()})
    if user_props is not None:  # the merge below walks both in ascending order
        selected["user"] = np.sort(selected["user"])
    pop = {r["interest_id"]: r for r in population}

    def node_rows(label: str) -> Iterator[Row]:
        ids, emb, rows = index[label], embeddings[label], selected[label]
        extra = iter(user_props) if label == "user" and user_props is not None else iter(())
        pending = next(extra, None)
        for start in range(0, len(rows), CHUNK):
            block = rows[start : start + CHUNK]
            for k, vec in zip(block.tolist(), _vecs(emb[block]), strict=True):
                props: dict[str, Any] = {"embedding": vec, **stamp}
                if label == "user":
                    keep = user_strengths.interest[k] >= 0
                    props["top_interests"] = [data.interests.ids[i] for i in user_strengths.interest[k][keep]]
                    props["interest_strengths"] = [round(float(s), 6) for s in user_strengths.strength[k][keep]]
                    while pending is not None and pending[0] < k:
                        pending = next(extra, None)
                    if pending is not None and pending[0] == k:
                        props.update(pending[1])
                elif label == "interest":
                    p = pop.get(ids.ids[k], {})
                    props["strength"] = float(p.get("strength", 0.0))
                    props["trend"] = float(p.get("trend", 0.0))
                yield {"id": ids.ids[k], "props": props}

    def strength_rows() -> Iterator[Row]:
        for u in selected["user"].tolist():
            for i, s in zip(user_strengths.interest[u].tolist(), user_strengths.strength[u].tolist(), strict=True):
                if i >= 0:
                    yield {
                        "user_id": data.users.ids[u],
                        "interest_id": data.interests.ids[i],
                        "strength": round(float(s), 6),
                        "updated_at": refreshed_at,
                        "model_version": model_version,
                    }

    lists = similar_lists(data, similar) if similar is not None else None

    def similar_rows() -> Iterator[Row]:
        if lists is None:  # an incremental run: the published lists stay
            return
        ids = data.items.ids
        for a in range(lists.neighbours.shape[0]):
            for b, s, t in zip(lists.neighbours[a].tolist(), lists.scores[a].tolist(), lists.by_text[a].tolist(),
                               strict=True):  # fmt: skip
                if b < 0:
                    break
                row = {"item_id": ids[a], "other_id": ids[b], "score": s, "model_version": model_version}
                if t:  # explained as "similar in description"
                    row["via"] = "text"
                yield row

    return Outputs(
        nodes={STORE_LABEL[label]: Counted(node_rows(label)) for label in index},
        strengths=Counted(strength_rows()),
        similar=Counted(similar_rows()),
        similar_lists=lists,
    )
