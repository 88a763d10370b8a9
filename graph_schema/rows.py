"""Domain records exchanged with the GraphStore (plain, framework-free)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Interaction:
    """One behavioural event as applied to the graph (weight already resolved)."""

    user_id: str
    item_id: str
    weight: float
    ts: int  # epoch ms


@dataclass(frozen=True, slots=True)
class CatalogueItem:
    item_id: str
    title: str | None = None
    interests: tuple[str, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Subgraph:
    """What training pulls: interactions, tags, and the previous embeddings."""

    interactions: list[dict[str, Any]]  # user_id, item_id, weight, count, first_ts, last_ts
    tags: list[dict[str, Any]]  # item_id, interest_id, weight
    embeddings: dict[str, Mapping[str, Sequence[float]]]  # label -> id -> vector (pull_neighbourhood: VectorTable)
    evidence: list[dict[str, Any]] = field(default_factory=list)  # user_id, interest_id, evidence, evidence_ts


@dataclass(slots=True)
class QueryResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = False
