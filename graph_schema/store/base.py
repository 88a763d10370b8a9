"""What every GraphStore role builds on: the backend contract and shared helpers.

A backend (falkor.py, neo4j_store.py) only knows how to run a named query's text
for writing or reading, how to run an analyst's query read-only, and how to apply
its own DDL. The roles (ingest, catalogue, model I/O, serving reads, admin) are
written once against this contract and combined into the one GraphStore facade
(graph_store.py).
"""

from __future__ import annotations

import itertools
import math
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np

from graph_schema import cypher
from graph_schema.columns import VectorTable
from graph_schema.migrations import Migration
from graph_schema.rows import Interaction, QueryResult
from graph_schema.store.batch import TagCache


@dataclass
class PreparedBatch:
    """An ingest batch ready to send: `statement` is the backend's encoded
    apply_interactions call, for the catalogue revision its tags were read at
    (None: not encoded yet)."""

    batch_id: str
    events: Sequence[Interaction]
    tau_ms: float
    statement: Any = None
    # marks the graph's IngestBatch node: tells "applied by this prepared batch" from
    # "by another one before" (each prepare_interactions call makes a new one)
    attempt: str = field(default_factory=lambda: uuid.uuid4().hex[:16])


class StoreError(RuntimeError):
    """The graph store failed; the message says what and what to do."""


class StoreUnavailable(StoreError):
    """The store could not be reached (or died and was restarted); nothing of the
    failed call may be assumed applied — retry it."""


class ReadOnlyViolation(StoreError):
    """An analyst query tried to write."""


class QueryTimeout(StoreError):
    pass


class InvalidQuery(StoreError):
    """The analyst's Cypher did not parse or failed to run."""


def chunks(rows: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def batches(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Lists of up to `size` rows of a stream, taken as they come (the stream is never
    held whole)."""
    it = iter(rows)
    while batch := list(itertools.islice(it, size)):
        yield batch


class StoreBase(ABC):
    """The backend contract, and the named-query helpers every role uses."""

    backend: str = ""

    def __init__(self, batch_size: int = 5000) -> None:
        self.batch_size = batch_size
        # items' tags, for the evidence of ingest batches: filled by the ingest role,
        # dropped by wipe (so it lives with the store, not with one role)
        self.tag_cache = TagCache()
        self._tags_preloaded = False  # once per store: after a catalogue change, lazily

    # --- what a backend provides ----------------------------------------------
    @abstractmethod
    def _write(self, text: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Run a (trusted, named) query in a write transaction; rows as dicts."""

    @abstractmethod
    def _read(self, text: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Run a (trusted, named) query read-only; rows as dicts."""

    @abstractmethod
    def read_only_query(
        self, query: str, params: dict[str, Any] | None, timeout_ms: int, row_limit: int
    ) -> QueryResult:
        """Run an analyst's query with writes refused by the engine itself."""

    @abstractmethod
    def _apply_migration(self, migration: Migration) -> None: ...

    @abstractmethod
    def ping(self) -> None:
        """Raise StoreUnavailable if the store cannot answer."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- named queries -----------------------------------------------------------
    def _named_write(self, query_name: str, /, **params: Any) -> list[dict[str, Any]]:
        return self._write(cypher.query(query_name, self.backend), params)

    def _encode(self, query_name: str, /, **params: Any) -> Any:
        """A named write, encoded for _write_encoded (a backend may do the costly part
        of sending it here, e.g. FalkorDB's parameter text)."""
        return (cypher.query(query_name, self.backend), params)

    def _write_encoded(self, statement: Any) -> list[dict[str, Any]]:
        text, params = statement
        return self._write(text, params)

    def _named_read(self, query_name: str, /, **params: Any) -> list[dict[str, Any]]:
        return self._read(cypher.query(query_name, self.backend), params)

    def _pull(self, query_name: str, columns: tuple[str, ...], **params: Any) -> list[dict[str, Any]]:
        """Rows of a pull query. A backend variant may return them as one value
        (`rows_json`: a list of value lists in `columns` order, decoded from JSON by
        the backend), which is much cheaper than per-value result parsing."""
        rows = self._named_read(query_name, **params)
        if rows and "rows_json" in rows[0]:
            return [dict(zip(columns, r, strict=True)) for r in rows[0]["rows_json"] or []]
        return rows

    def _pull_lists(self, query_name: str, columns: tuple[str, ...], **params: Any) -> list[list[Any]]:
        """_pull's rows as value lists in `columns` order (no dict per row)."""
        rows = self._named_read(query_name, **params)
        if rows and "rows_json" in rows[0]:
            return list(rows[0]["rows_json"] or [])
        return [[r[c] for c in columns] for r in rows]

    def _pull_vectors(self, query_name: str, page: int) -> VectorTable:
        """A keyset-paged vector pull (`query_name`: rows_json of [id, vector], the page
        after $after in id order) as float32 arrays: no Python float per value kept."""
        table = _VectorPages()
        after = ""
        while True:
            res = self._named_read(query_name, after=after, page=page)
            rows = (res[0]["rows_json"] if res else None) or []
            if not rows:
                break
            table.add(rows)
            after = str(rows[-1][0])
            if len(rows) < page:
                break
        return table.done()

    def _pull_vectors_of(self, query_name: str, ids: Sequence[str], page: int) -> VectorTable:
        """The vectors of `ids` (`query_name`: rows_json of [id, vector] for the $ids that
        have one), `page` ids per query, as float32 arrays."""
        table = _VectorPages()
        wanted = sorted(set(ids))
        for start in range(0, len(wanted), page):
            res = self._named_read(query_name, ids=wanted[start : start + page])
            rows = (res[0]["rows_json"] if res else None) or []
            if rows:
                table.add(rows)
        return table.done()


class _VectorPages:
    """Pages of [id, vector] rows gathered into one VectorTable (float32 arrays; a list of
    arrays when the vectors' sizes differ, e.g. after a dimension change between runs)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.parts: list[np.ndarray] = []
        self.ragged: list[np.ndarray] = []

    def add(self, rows: list[Any]) -> None:
        self.ids.extend(str(r[0]) for r in rows)
        if len({len(r[1]) for r in rows}) == 1 and not self.ragged:
            self.parts.append(np.asarray([r[1] for r in rows], dtype=np.float32))
        else:
            self.ragged.extend(row for part in self.parts for row in part)
            self.parts = []
            self.ragged.extend(np.asarray(r[1], dtype=np.float32) for r in rows)

    def done(self) -> VectorTable:
        if self.ragged:
            return VectorTable(self.ids, self.ragged)
        if len({p.shape[1] for p in self.parts}) > 1:
            return VectorTable(self.ids, [row for part in self.parts for row in part])
        return VectorTable(self.ids, np.concatenate(self.parts) if self.parts else np.zeros((0, 0), dtype=np.float32))


def to_jsonable(value: Any) -> Any:
    """Plain JSON values for query results (NaN/inf become null)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def analyst_value(value: Any) -> Any:
    """One JSON answer for an analyst query on both engines: a whole-number float is
    written as an integer (FalkorDB's sum() of integers returns 15.0 where Neo4j returns
    15; a Neo4j 2.0 becomes 2 likewise). docs/analyst-guide.md lists what still differs."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: analyst_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [analyst_value(v) for v in value]
    return value
