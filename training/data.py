"""Framework-free training data: plain rows in, integer-indexed numpy arrays out.

Everything here is numpy only, so the pull, the temporal split and the evaluation
ground truth can be built and tested without torch or dgl.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from graph_schema.columns import InteractionTable, ranks

LABELS = ("user", "item", "interest")


@dataclass(frozen=True)
class IdIndex:
    """Bijection between string ids and dense ints (insertion order)."""

    ids: tuple[str, ...]
    pos: Mapping[str, int]

    @classmethod
    def build(cls, ids: Iterable[str]) -> IdIndex:
        pos: dict[str, int] = {}
        for raw in ids:
            pos.setdefault(str(raw), len(pos))
        return cls(tuple(pos), pos)

    def __len__(self) -> int:
        return len(self.ids)

    def encode(self, ids: Iterable[str]) -> np.ndarray:
        return np.fromiter((self.pos[str(x)] for x in ids), dtype=np.int64)


@dataclass(frozen=True)
class TrainingData:
    """Interactions and tags as parallel arrays over fixed node indexes.

    Node indexes are shared by every subset (train/valid/test) so embeddings of one
    split line up with ids of another.
    """

    users: IdIndex
    items: IdIndex
    interests: IdIndex
    # interactions, one row per (user, item)
    user: np.ndarray
    item: np.ndarray
    weight: np.ndarray
    count: np.ndarray
    first_ts: np.ndarray
    last_ts: np.ndarray
    # item -> interest tags
    tag_item: np.ndarray
    tag_interest: np.ndarray
    tag_weight: np.ndarray
    # previous run's embeddings: label -> {id: vector}
    previous: Mapping[str, Mapping[str, Sequence[float]]] = field(default_factory=dict)
    # user-user ties (FOLLOWS, friends both ways), over the user index: the social relation
    # type of the graph (training/graph.py, GraphConfig.social_weight); none by default
    social_src: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    social_dst: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    social_weight: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    social_ts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # items' text vectors (training.text), rows in the item index's order, zeros where an
    # item has no text: the GNN's input feature of item nodes (with_item_text); None: no text
    item_text: np.ndarray | None = None

    @classmethod
    def from_rows(
        cls,
        interactions: Iterable[Mapping[str, Any]],
        tags: Iterable[Mapping[str, Any]] = (),
        previous: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
        extra_ids: Mapping[str, Iterable[str]] | None = None,
    ) -> TrainingData:
        """Build from store rows; `extra_ids` adds nodes that have no edges (e.g. new items)."""
        inter = list(interactions)
        tag_rows = list(tags)
        extra = extra_ids or {}
        users = IdIndex.build([*(r["user_id"] for r in inter), *extra.get("user", ())])
        items = IdIndex.build(
            [*(r["item_id"] for r in inter), *(r["item_id"] for r in tag_rows), *extra.get("item", ())]
        )
        interests = IdIndex.build([*(r["interest_id"] for r in tag_rows), *extra.get("interest", ())])

        def col(rows: list[Mapping[str, Any]], key: str, dtype: type, default: Any) -> np.ndarray:
            return np.array([r.get(key, default) if r.get(key) is not None else default for r in rows], dtype=dtype)

        last = col(inter, "last_ts", np.int64, 0)
        first = np.array(
            [r.get("first_ts") if r.get("first_ts") is not None else lt for r, lt in zip(inter, last, strict=True)],
            dtype=np.int64,
        )
        return cls(
            users=users,
            items=items,
            interests=interests,
            user=users.encode(r["user_id"] for r in inter),
            item=items.encode(r["item_id"] for r in inter),
            weight=col(inter, "weight", np.float64, 1.0),
            count=col(inter, "count", np.int64, 1),
            first_ts=first,
            last_ts=last,
            tag_item=items.encode(r["item_id"] for r in tag_rows),
            tag_interest=interests.encode(r["interest_id"] for r in tag_rows),
            tag_weight=col(tag_rows, "weight", np.float64, 1.0),
            previous=dict(previous or {}),
        )

    @classmethod
    def from_columns(
        cls,
        interactions: InteractionTable,
        tags: Iterable[Mapping[str, Any]] = (),
        previous: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
        extra_ids: Mapping[str, Iterable[str]] | None = None,
    ) -> TrainingData:
        """What from_rows builds from the same rows sorted by (user_id, item_id), from the
        pull's columns: node indexes in the same order (users sorted; items in order of
        first appearance, then tagged-only items; interests in tag order; then `extra_ids`),
        no row objects."""
        t = interactions
        user_rank = ranks(t.user_ids)
        item_rank = ranks(t.item_ids)
        order = np.lexsort((item_rank[t.item], user_rank[t.user]))
        u_code, i_code = t.user[order], t.item[order]
        # users: sorted ids; items: first appearance in the sorted rows
        user_codes = np.unique(u_code)
        user_codes = user_codes[np.argsort(user_rank[user_codes], kind="stable")]
        item_codes, first = np.unique(i_code, return_index=True)
        item_codes = item_codes[np.argsort(first, kind="stable")]
        tag_rows = list(tags)
        extra = extra_ids or {}
        users = IdIndex.build([*(t.user_ids[c] for c in user_codes.tolist()), *extra.get("user", ())])
        items = IdIndex.build(
            [*(t.item_ids[c] for c in item_codes.tolist()), *(r["item_id"] for r in tag_rows), *extra.get("item", ())]
        )
        interests = IdIndex.build([*(r["interest_id"] for r in tag_rows), *extra.get("interest", ())])
        user_pos = np.full(len(t.user_ids), -1, dtype=np.int64)
        user_pos[user_codes] = np.arange(len(user_codes))
        item_pos = np.full(len(t.item_ids), -1, dtype=np.int64)
        item_pos[item_codes] = np.arange(len(item_codes))
        return cls(
            users=users,
            items=items,
            interests=interests,
            user=user_pos[u_code],
            item=item_pos[i_code],
            weight=t.weight[order].astype(np.float64),
            count=t.count[order].astype(np.int64),
            first_ts=t.first_ts[order].astype(np.int64),
            last_ts=t.last_ts[order].astype(np.int64),
            tag_item=items.encode(r["item_id"] for r in tag_rows),
            tag_interest=interests.encode(r["interest_id"] for r in tag_rows),
            tag_weight=np.array([1.0 if r.get("weight") is None else r["weight"] for r in tag_rows], dtype=np.float64),
            previous=dict(previous or {}),
        )

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_interests(self) -> int:
        return len(self.interests)

    @property
    def n_interactions(self) -> int:
        return int(self.user.shape[0])

    def subset(self, rows: np.ndarray) -> TrainingData:
        """Same nodes and tags, only the interactions at `rows` (indices or bool mask)."""
        return TrainingData(
            users=self.users,
            items=self.items,
            interests=self.interests,
            user=self.user[rows],
            item=self.item[rows],
            weight=self.weight[rows],
            count=self.count[rows],
            first_ts=self.first_ts[rows],
            last_ts=self.last_ts[rows],
            tag_item=self.tag_item,
            tag_interest=self.tag_interest,
            tag_weight=self.tag_weight,
            previous=self.previous,
            social_src=self.social_src,
            social_dst=self.social_dst,
            social_weight=self.social_weight,
            social_ts=self.social_ts,
            item_text=self.item_text,
        )

    def with_item_text(self, vectors: Mapping[str, np.ndarray]) -> TrainingData:
        """The same data with the items' text vectors as a feature; an item with text but
        no interaction or tag joins the item index (after the others, which keep their
        positions), so it gets a vector from its text alone and enters SIMILAR_TO."""
        if not vectors:
            return self
        cold = [item for item in vectors if item not in self.items.pos]
        items = IdIndex.build([*self.items.ids, *cold]) if cold else self.items
        dim = len(next(iter(vectors.values())))
        table = np.zeros((len(items), dim), dtype=np.float32)
        for item, vector in vectors.items():
            table[items.pos[item]] = vector
        return replace(self, items=items, item_text=table)

    def with_social(self, ties: Iterable[tuple[str, str, float, int]]) -> TrainingData:
        """The same data with user-user ties (follower, followed, weight, since ms); ties
        naming a user outside the index are dropped (no interactions: nothing to learn)."""
        pos = self.users.pos
        rows = [(pos[a], pos[b], w, t) for a, b, w, t in ties if a in pos and b in pos and a != b]
        arr = np.array(rows, dtype=np.float64).reshape(-1, 4)
        return replace(
            self,
            social_src=arr[:, 0].astype(np.int64),
            social_dst=arr[:, 1].astype(np.int64),
            social_weight=arr[:, 2],
            social_ts=arr[:, 3].astype(np.int64),
        )

    def user_items(self) -> list[np.ndarray]:
        """Per user, the sorted unique item indices it interacted with."""
        order = np.lexsort((self.item, self.user))
        u, it = self.user[order], self.item[order]
        bounds = np.searchsorted(u, np.arange(self.n_users + 1))
        return [np.unique(it[bounds[k] : bounds[k + 1]]) for k in range(self.n_users)]

    def item_interests(self) -> list[np.ndarray]:
        """Per item, the interest indices it is tagged with."""
        order = np.argsort(self.tag_item, kind="stable")
        ti, tn = self.tag_item[order], self.tag_interest[order]
        bounds = np.searchsorted(ti, np.arange(self.n_items + 1))
        return [tn[bounds[k] : bounds[k + 1]] for k in range(self.n_items)]


@dataclass(frozen=True)
class Split:
    """Row indices of the interactions in each temporal part."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


def temporal_split(data: TrainingData, frac: float = 0.1) -> Split:
    """Per user, in time order: first n-2*floor(frac*n) train, next floor(frac*n) valid, last test.

    Sorted by first_ts (when the item became known to the user: the hold-out asks
    "what comes next", and a re-visit of an old item is not new), ties by input order.
    """
    order = np.lexsort((np.arange(data.n_interactions), data.first_ts, data.user))
    users_sorted = data.user[order]
    bounds = np.searchsorted(users_sorted, np.arange(data.n_users + 1))
    train, valid, test = [], [], []
    for k in range(data.n_users):
        rows = order[bounds[k] : bounds[k + 1]]
        n = rows.shape[0]
        h = int(np.floor(frac * n + 1e-9))  # guard 0.1*n landing just under an integer
        train.append(rows[: n - 2 * h])
        valid.append(rows[n - 2 * h : n - h])
        test.append(rows[n - h :])

    def cat(parts: list[np.ndarray]) -> np.ndarray:
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    return Split(cat(train), cat(valid), cat(test))
