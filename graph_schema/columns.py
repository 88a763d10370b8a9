"""What a full refresh pulls, as compact columns: string ids coded once per table, the
values in numpy arrays (no Python object per row), filled page by page from the store."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class Coder:
    """Dense int codes of string ids, in order of first appearance."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.pos: dict[str, int] = {}

    def code(self, raw: Any) -> int:
        key = str(raw)
        c = self.pos.get(key)
        if c is None:
            c = self.pos[key] = len(self.ids)
            self.ids.append(key)
        return c


@dataclass
class InteractionTable:
    """INTERACTED edges: user/item codes into user_ids/item_ids, and their values."""

    user_ids: list[str]
    item_ids: list[str]
    user: np.ndarray  # int32 codes
    item: np.ndarray  # int32 codes
    weight: np.ndarray  # float64
    count: np.ndarray  # int64
    first_ts: np.ndarray  # int64 epoch ms
    last_ts: np.ndarray  # int64 epoch ms

    def __len__(self) -> int:
        return int(self.user.shape[0])

    def sorted(self) -> InteractionTable:
        """The rows in (user id, item id) order: node indexes, and so a run's initialisation
        and data split, follow row order, and each engine returns rows in its own."""
        order = np.lexsort((ranks(self.item_ids)[self.item], ranks(self.user_ids)[self.user]))
        return InteractionTable(
            self.user_ids, self.item_ids, *(a[order] for a in (self.user, self.item, self.weight, self.count,
                                                               self.first_ts, self.last_ts))
        )  # fmt: skip

    def rows(self) -> Iterator[dict[str, Any]]:
        """The rows as pull_subgraph's dicts (tests and small graphs only)."""
        for k in range(len(self)):
            yield {
                "user_id": self.user_ids[self.user[k]],
                "item_id": self.item_ids[self.item[k]],
                "weight": float(self.weight[k]),
                "count": int(self.count[k]),
                "first_ts": int(self.first_ts[k]),
                "last_ts": int(self.last_ts[k]),
            }


@dataclass
class EvidenceTable:
    """INTERESTED_IN evidence: user/interest codes and the evidence as of evidence_ts."""

    user_ids: list[str]
    interest_ids: list[str]
    user: np.ndarray  # int32 codes
    interest: np.ndarray  # int32 codes
    evidence: np.ndarray  # float64
    evidence_ts: np.ndarray  # int64 epoch ms (-1: unknown)

    def __len__(self) -> int:
        return int(self.user.shape[0])

    def sorted(self) -> EvidenceTable:
        """The rows in (user id, interest id) order (see InteractionTable.sorted)."""
        order = np.lexsort((ranks(self.interest_ids)[self.interest], ranks(self.user_ids)[self.user]))
        return EvidenceTable(
            self.user_ids, self.interest_ids, *(a[order] for a in (self.user, self.interest, self.evidence,
                                                                   self.evidence_ts))
        )  # fmt: skip

    def rows(self) -> Iterator[dict[str, Any]]:
        """The rows as pull_subgraph's dicts (tests and small graphs only)."""
        for k in range(len(self)):
            yield {
                "user_id": self.user_ids[self.user[k]],
                "interest_id": self.interest_ids[self.interest[k]],
                "evidence": float(self.evidence[k]),
                "evidence_ts": int(self.evidence_ts[k]),
            }


def ranks(ids: Sequence[str]) -> np.ndarray:
    """Each id's position in sorted order (Python string order)."""
    order = sorted(range(len(ids)), key=ids.__getitem__)
    out = np.empty(len(ids), dtype=np.int64)
    out[np.asarray(order, dtype=np.int64)] = np.arange(len(ids))
    return out


class VectorTable(Mapping[str, np.ndarray]):
    """id -> float32 vector, read-only, in id order; one (n, dim) array when every
    vector has the same size (the usual case), else one array per vector."""

    def __init__(self, ids: Sequence[str], vectors: np.ndarray | Sequence[np.ndarray]) -> None:
        self.ids = list(ids)
        self.vectors = vectors
        self.pos = {node_id: k for k, node_id in enumerate(self.ids)}

    @classmethod
    def of(cls, ids: Sequence[str], vectors: Sequence[Sequence[float]]) -> VectorTable:
        rows = [np.asarray(v, dtype=np.float32) for v in vectors]
        if rows and len({r.shape[0] for r in rows}) == 1:
            return cls(ids, np.stack(rows))
        return cls(ids, rows if rows else np.zeros((0, 0), dtype=np.float32))

    def __getitem__(self, key: str) -> np.ndarray:
        return self.vectors[self.pos[key]]

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class GraphColumns:
    """A pull (a full run's, or an incremental run's neighbourhood): interactions, tags
    (small: one row per item tag), evidence, and the previous vectors per store label."""

    interactions: InteractionTable
    tags: list[dict[str, Any]]
    evidence: EvidenceTable
    embeddings: dict[str, VectorTable] = field(default_factory=dict)


def interaction_table(pages: Iterable[Sequence[Sequence[Any]]]) -> InteractionTable:
    """Pages of [user_id, item_id, weight, count, first_ts, last_ts] rows as a table (a
    missing weight is 1, count 1, first_ts the last_ts, last_ts 0)."""
    users, items = Coder(), Coder()
    inter = RowBuffer((np.int32, np.int32, np.float64, np.int64, np.int64, np.int64))
    for rows in pages:
        last = [_int(r[5], 0) for r in rows]
        inter.add(
            (
                [users.code(r[0]) for r in rows],
                [items.code(r[1]) for r in rows],
                [1.0 if r[2] is None else float(r[2]) for r in rows],
                [_int(r[3], 1) for r in rows],
                [_int(r[4], lt) for r, lt in zip(rows, last, strict=True)],
                last,
            )
        )
    return InteractionTable(users.ids, items.ids, *inter.arrays())


def evidence_table(pages: Iterable[Sequence[Sequence[Any]]]) -> EvidenceTable:
    """Pages of [user_id, interest_id, evidence, evidence_ts] rows as a table (a missing
    evidence is 0, evidence_ts -1)."""
    users, interests = Coder(), Coder()
    ev = RowBuffer((np.int32, np.int32, np.float64, np.int64))
    for rows in pages:
        ev.add(
            (
                [users.code(r[0]) for r in rows],
                [interests.code(r[1]) for r in rows],
                [float(r[2] or 0.0) for r in rows],
                [_int(r[3], -1) for r in rows],
            )
        )
    return EvidenceTable(users.ids, interests.ids, *ev.arrays())


def _int(value: Any, default: int) -> int:
    return default if value is None else int(value)


class RowBuffer:
    """Appends decoded page rows into growable typed columns (no per-row Python objects kept)."""

    def __init__(self, dtypes: Sequence[type]) -> None:
        self.dtypes = list(dtypes)
        self.parts: list[list[np.ndarray]] = [[] for _ in self.dtypes]

    def add(self, columns: Sequence[Sequence[Any]]) -> None:
        for part, dtype, values in zip(self.parts, self.dtypes, columns, strict=True):
            part.append(np.asarray(values, dtype=dtype))

    def arrays(self) -> list[np.ndarray]:
        return [
            np.concatenate(part) if part else np.zeros(0, dtype=dtype)
            for part, dtype in zip(self.parts, self.dtypes, strict=True)
        ]
