"""What a full refresh pulls, as compact columns: string ids coded once per table, the
values in numpy arrays (no Python object per row), filled page by page from the store."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
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
    """A full pull: interactions, tags (small: one row per item tag), evidence, and the
    previous vectors per store label."""

    interactions: InteractionTable
    tags: list[dict[str, Any]]
    evidence: EvidenceTable
    embeddings: dict[str, VectorTable] = field(default_factory=dict)


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
