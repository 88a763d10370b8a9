"""Neo4j 5 backend through the official driver.

One pooled driver per store (one store per process); writes in explicit
transactions and reads as auto-commit queries (one round trip), both retried on
transient failures like the driver's managed transactions; parameters always,
results consumed inside the transaction function. Analyst queries run in a
READ-mode session: the server refuses writes there.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import Any

import neo4j
from neo4j import GraphDatabase
from neo4j import exceptions as neo_exc
from neo4j.graph import Node, Path, Relationship

from graph_schema.migrations import Migration
from graph_schema.rows import QueryResult
from graph_schema.store.base import (
    InvalidQuery,
    QueryTimeout,
    ReadOnlyViolation,
    StoreError,
    StoreUnavailable,
    analyst_value,
    to_jsonable,
)
from graph_schema.store.graph_store import GraphStore

# Unreachable or lost connection: the call was not (known to be) applied -> retry.
_UNAVAILABLE = (neo_exc.ServiceUnavailable, neo_exc.SessionExpired, neo_exc.ConnectionAcquisitionTimeoutError)


_SCALARS = frozenset({str, int, bool, type(None)})


def plain(value: Any) -> Any:
    """Neo4j values as the same JSON-able shapes the FalkorDB backend returns."""
    kind = type(value)
    if kind in _SCALARS:  # most values: no further checks (a pull holds ~600k of them)
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is list:
        return [plain(v) for v in value]
    if isinstance(value, Node):
        return {
            "kind": "node",
            "id": value.element_id,
            "labels": sorted(value.labels),
            "properties": plain(dict(value)),
        }
    if isinstance(value, Relationship):
        return {
            "kind": "relationship",
            "id": value.element_id,
            "type": value.type,
            "start": value.start_node.element_id if value.start_node else None,
            "end": value.end_node.element_id if value.end_node else None,
            "properties": plain(dict(value)),
        }
    if isinstance(value, Path):
        return {
            "kind": "path",
            "nodes": [plain(n) for n in value.nodes],
            "relationships": [plain(r) for r in value.relationships],
        }
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "iso_format"):  # temporal types
        return value.iso_format()
    return to_jsonable(value)


class TransactionTooLarge(StoreError):
    """One transaction needed more memory than Neo4j allows one (not retried)."""


class Neo4jStore(GraphStore):
    backend = "neo4j"

    def __init__(self, uri: str, user: str, password: str, database: str, batch_size: int = 5000) -> None:
        super().__init__(batch_size)
        self.uri, self.database = uri, database
        self._auth = (user, password)
        # notifications off: the server would send (and the driver log as warnings) e.g.
        # "property key does not exist" for every query on a graph without a model yet
        self._driver = GraphDatabase.driver(uri, auth=self._auth, notifications_min_severity="OFF")

    def _session(self, mode: str) -> neo4j.Session:
        return self._driver.session(database=self.database, default_access_mode=mode)

    # How long a call is retried after transient failures (deadlock, leader switch,
    # connection loss), as the driver's execute_read/execute_write would.
    RETRY_S = 30.0

    def _run(self, mode: str, text: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        def rows(result: neo4j.Result) -> list[dict[str, Any]]:
            return [{k: plain(v) for k, v in record.items()} for record in result]

        def write(session: neo4j.Session) -> list[dict[str, Any]]:
            with session.begin_transaction() as tx:
                out = rows(tx.run(text, params))
                tx.commit()
                return out

        def read(session: neo4j.Session) -> list[dict[str, Any]]:
            # an auto-commit read: RUN+PULL in one round trip, where a managed transaction
            # adds BEGIN and a COMMIT round trip (~0.5 ms of the ~2 ms a small read costs)
            return rows(session.run(text, params))

        try:
            return self._retrying(mode, write if mode == neo4j.WRITE_ACCESS else read)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"Neo4j is unreachable: {exc}") from exc
        except neo_exc.Neo4jError as exc:
            raise StoreError(f"Neo4j refused the query: {exc.message or exc}") from exc
        except neo_exc.DriverError as exc:
            raise StoreError(f"Neo4j driver error: {exc}") from exc

    def _retrying(self, mode: str, call: Callable[[neo4j.Session], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """The driver's managed-transaction retry loop (transient errors and lost
        connections, for RETRY_S from the first failure; a commit whose outcome is unknown
        is never re-sent), minus one case: a transaction over Neo4j's per-transaction
        memory limit fails (at commit) as a TransientError, which the driver would retry
        for 30 s although it can never fit."""
        deadline: float | None = None  # like the driver's: the budget starts at the first failure
        delay = 0.1
        while True:
            try:
                with self._session(mode) as session:
                    return call(session)
            except neo_exc.IncompleteCommit:
                # the commit's outcome is unknown: never re-sent here (the driver does not
                # either); the caller gets StoreUnavailable and decides (ingest re-checks its
                # batch marker)
                raise
            except neo_exc.TransientError as exc:
                if "db.memory.transaction.max" in (exc.message or ""):
                    raise TransactionTooLarge(
                        "Neo4j refused a transaction larger than one may be (db.memory.transaction.max): "
                        f"{exc.message}. Nothing of it was applied. Raise db.memory.transaction.max (and "
                        "the heap); docs/deploy.md (Sizing) gives the memory each operation needs."
                    ) from exc
                deadline = deadline or time.monotonic() + self.RETRY_S
                if time.monotonic() + delay > deadline:
                    raise
            except _UNAVAILABLE:
                deadline = deadline or time.monotonic() + self.RETRY_S
                if time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, 5.0)

    def _write(self, text: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self._run(neo4j.WRITE_ACCESS, text, params)

    def _read(self, text: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self._run(neo4j.READ_ACCESS, text, params)

    def read_only_query(
        self, query: str, params: dict[str, Any] | None, timeout_ms: int, row_limit: int
    ) -> QueryResult:
        """Two layers: EXPLAIN must classify the query as read-only ("r"), and it
        runs in a READ-mode transaction, which the server refuses to write in.
        An explicit transaction (not execute_read) so a failing analyst query is
        not retried."""
        try:
            with self._session(neo4j.READ_ACCESS) as session:
                kind = session.run(f"EXPLAIN {query}", params or {}).consume().query_type
                if kind != "r":
                    raise ReadOnlyViolation("the query writes to the graph; analyst queries are read-only")
                with session.begin_transaction(timeout=timeout_ms / 1000.0) as tx:
                    result = tx.run(query, params or {})
                    columns = list(result.keys())
                    records = result.fetch(row_limit + 1)
                    rows = [[analyst_value(plain(v)) for v in rec.values()] for rec in records[:row_limit]]
                    tx.rollback()  # read-only: nothing to commit
                return QueryResult(columns=columns, rows=rows, truncated=len(records) > row_limit)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"Neo4j is unreachable: {exc}") from exc
        except neo_exc.Neo4jError as exc:
            code = exc.code or ""
            if "AccessMode" in code or "WriteOnReadOnly" in code:
                raise ReadOnlyViolation("the query writes to the graph; analyst queries are read-only") from exc
            if "TransactionTimedOut" in code or "Timeout" in code:
                raise QueryTimeout(f"the query ran longer than {timeout_ms} ms and was stopped") from exc
            raise InvalidQuery(exc.message or str(exc)) from exc
        except neo_exc.DriverError as exc:
            raise StoreError(f"Neo4j driver error: {exc}") from exc

    def _apply_migration(self, migration: Migration) -> None:
        # DDL cannot share a transaction with data writes; each runs in its own.
        for statement in migration.neo4j:
            try:
                with self._session(neo4j.WRITE_ACCESS) as session:
                    session.run(statement).consume()
            except _UNAVAILABLE as exc:
                raise StoreUnavailable(f"Neo4j is unreachable: {exc}") from exc
            except neo_exc.Neo4jError as exc:
                raise StoreError(f"migration {migration.version} failed at {statement!r}: {exc.message}") from exc

    def ping(self) -> None:
        try:
            self._driver.verify_connectivity()
        except (neo_exc.ServiceUnavailable, neo_exc.AuthError, OSError) as exc:
            raise StoreUnavailable(f"Neo4j is unreachable: {exc}") from exc

    def close(self) -> None:
        self._driver.close()
