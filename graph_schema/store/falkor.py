"""FalkorDB backend (the embedded default), spoken to over the Redis protocol."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import orjson
import redis
from falkordb import Edge, FalkorDB, Node, Path
from redis.exceptions import NoPermissionError

from graph_schema import cypher
from graph_schema.columns import VectorTable
from graph_schema.migrations import Migration
from graph_schema.rows import QueryResult
from graph_schema.store.base import (
    InvalidQuery,
    QueryTimeout,
    ReadOnlyViolation,
    StoreError,
    StoreUnavailable,
    _VectorPages,
    analyst_value,
    to_jsonable,
)
from graph_schema.store.embedded import ANALYST_USER, EmbeddedServer, Endpoint
from graph_schema.store.explore import user_strengths
from graph_schema.store.falkor_params import params_header
from graph_schema.store.graph_store import GraphStore

log = logging.getLogger(__name__)

_DISCONNECTED = (redis.ConnectionError, redis.TimeoutError, ConnectionError, OSError)


_SCALARS = (str, int, bool, type(None))


def _node_id(node: Any) -> str | None:
    raw = node if isinstance(node, int) else getattr(node, "id", None)
    return None if raw is None else str(raw)


def plain(value: Any) -> Any:
    """FalkorDB result values as JSON-able values (nodes/relationships as dicts)."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, Node):
        return {
            "kind": "node",
            "id": str(value.id),  # engine-internal ids are strings on both engines
            "labels": sorted(value.labels or []),
            "properties": plain(value.properties),
        }
    if isinstance(value, Edge):
        return {
            "kind": "relationship",
            "id": str(value.id),
            "type": value.relation,
            "start": _node_id(value.src_node),
            "end": _node_id(value.dest_node),
            "properties": plain(value.properties),
        }
    if isinstance(value, Path):
        return {
            "kind": "path",
            "nodes": [plain(n) for n in value.nodes()],
            "relationships": [plain(e) for e in value.edges()],
        }
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return to_jsonable(value)


# FalkorDB variants that return one toJSON() string (the client decodes JSON far
# faster than the driver parses nested lists), and that column. toJSON() writes
# strings as they are, without escaping `"` or `\`: text holding a backslash, or
# not parsing, cannot be trusted, and the shared query (plain lists) answers instead.
JSON_COLUMNS = {
    "community_user_interests": "rows_json",
    "pull_embeddings": "rows_json",
    "pull_embeddings_interest": "rows_json",
    "pull_embeddings_item": "rows_json",
    "pull_embeddings_user": "rows_json",
    "pull_embeddings_user_of": "rows_json",
    "pull_evidence": "rows_json",
    "pull_evidence_page": "rows_json",
    "pull_evidence_window": "rows_json",
    "pull_embeddings_interest_window": "rows_json",
    "pull_embeddings_item_window": "rows_json",
    "pull_embeddings_user_window": "rows_json",
    "pull_interactions_window": "rows_json",
    "pull_interactions": "rows_json",
    "pull_interactions_page": "rows_json",
    "pull_neighbourhood": "rows_json",
    "pull_neighbourhood_peers": "rows_json",
    "pull_text_vectors_interest": "rows_json",
    "pull_text_vectors_item": "rows_json",
    "pull_user_evidence": "rows_json",
    "snapshot_items": "rows_json",
    "published_user_strengths": "rows_json",
    "published_user_strengths_window": "rows_json",
    "snapshot_items_plain": "rows_json",
    "snapshot_user_ids": "rows_json",
    "snapshot_users": "rows_json",
    "snapshot_users_of": "rows_json",
    "recs_co_interaction": "items",
    "recs_embeddings": "embeddings",
    "recs_profile": "profile",
    "recs_similar": "similar",
}


def _loads(text: str) -> Any:
    """JSON text as Python values: orjson (5x the standard library on a page of vectors),
    the standard library for what orjson refuses (NaN and infinities)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _decoded(rows: list[dict[str, Any]], column: str) -> list[dict[str, Any]] | None:
    """The rows with `column` parsed; None if any of its texts cannot be trusted."""
    out = []
    for row in rows:
        text = row.get(column)
        if isinstance(text, str):
            if "\\" in text:
                return None
            try:
                row = {**row, column: _loads(text)}
            except ValueError:
                return None
        out.append(row)
    return out


# Paged pulls that FalkorDB reads in windows of internal node ids instead of keyset pages:
# for `WHERE n.id > $after ... ORDER BY n.id LIMIT $page` it scans and sorts every node
# after $after, so a pull of N nodes cost N^2 / page (at 10M events, 500k users: minutes
# per pull); a window [$lo, $hi) is an id range seek of `page` ids. Rows come in internal id
# order, not id order: pull_columns' consumers sort (TrainingData.from_columns) or look up.
WINDOWED = {
    "pull_interactions_page": "pull_interactions_window",
    "pull_evidence_page": "pull_evidence_window",
    "pull_embeddings_user": "pull_embeddings_user_window",
    "pull_embeddings_item": "pull_embeddings_item_window",
    "pull_embeddings_interest": "pull_embeddings_interest_window",
}


class FalkorDBStore(GraphStore):
    backend = "falkordb"

    def _pages(self, query_name: str, page: int, **params: Any) -> Iterator[list[list[Any]]]:
        window = WINDOWED.get(query_name)
        if window is None:
            yield from super()._pages(query_name, page, **params)
            return
        yield from self._windows(window, page, **params)

    def _windows(self, query_name: str, page: int, **params: Any) -> Iterator[list[list[Any]]]:
        """The rows (rows_json) of `query_name` over windows [$lo, $hi) of `page` internal
        node ids, from 0 past the highest id; empty windows skipped."""
        top = (self._named_read("max_node_id") or [{}])[0].get("top")
        for lo in range(0, -1 if top is None else int(top) + 1, max(1, page)):
            res = self._named_read(query_name, lo=lo, hi=lo + page, **params)
            rows = (res[0]["rows_json"] if res else None) or []
            if rows:
                yield rows

    def published_user_strengths(
        self, model_version: str, refreshed_since: int, page: int = 5_000
    ) -> Iterator[tuple[str, dict[str, float]]]:
        """As ExploreReads', in windows of internal ids (not in id order): a keyset page
        sorted every user after it (~100 s of pages at 500k users)."""
        params = {"model_version": model_version, "refreshed_since": refreshed_since}
        for rows in self._windows("published_user_strengths_window", page, **params):
            for user_id, interests, strengths in rows:
                yield user_strengths(user_id, interests, strengths)

    def _pull_vectors(self, query_name: str, page: int) -> VectorTable:
        if query_name not in WINDOWED:
            return super()._pull_vectors(query_name, page)
        table = _VectorPages()
        for rows in self._pages(query_name, page):
            table.add(rows)
        return table.done()

    def _named_read(self, query_name: str, /, **params: Any) -> list[dict[str, Any]]:
        rows = self._read(cypher.query(query_name, self.backend), params)
        column = JSON_COLUMNS.get(query_name)
        if column is None or not rows:
            return rows
        decoded = _decoded(rows, column)
        if decoded is None:  # a `"` or `\` in some id or title: the list-returning query
            return self._read(cypher.query(query_name, self.backend, variant=False), params)
        return decoded

    def __init__(self, server: EmbeddedServer, graph_name: str = "interest", batch_size: int = 5000) -> None:
        super().__init__(batch_size)
        self.server = server
        self.graph_name = graph_name
        self._lock = threading.Lock()
        self._connect(server.ensure_running())

    def _connect(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._db = FalkorDB(unix_socket_path=endpoint.socket_path, password=endpoint.password)
        self._graph = self._db.select_graph(self.graph_name)
        self._ro_db: Any = None  # the analyst connection is opened on first use
        self._ro_graph: Any = None
        try:
            # GRAPH.RO_QUERY fails on a missing key; any GRAPH.QUERY creates it.
            if not self._db.connection.exists(self.graph_name):
                self._graph.query("RETURN 1")
        except _DISCONNECTED as exc:
            raise StoreUnavailable(f"cannot reach the embedded graph store at {endpoint.socket_path}: {exc}") from exc

    def _analyst_graph(self) -> Any:
        if self._ro_graph is None:
            db = FalkorDB(
                unix_socket_path=self._endpoint.socket_path,
                username=ANALYST_USER,
                password=self._endpoint.analyst_password,
            )
            self._ro_db, self._ro_graph = db, db.select_graph(self.graph_name)
        return self._ro_graph

    def _recover(self, exc: BaseException) -> StoreUnavailable:
        """The server vanished: restart it (its AOF has every completed write)
        and report the call as failed; the caller retries it."""
        with self._lock:
            restarted = not self.server.is_running()
            try:
                self._connect(self.server.ensure_running())
            except Exception as start_exc:
                return StoreUnavailable(f"the embedded graph store is down and could not be restarted: {start_exc}")
        what = "died and was restarted" if restarted else "dropped the connection"
        log.warning("embedded FalkorDB %s (%s)", what, exc)
        return StoreUnavailable(f"the embedded graph store {what}; the call was not applied, retry it ({exc})")

    def _rows(self, result: Any) -> list[dict[str, Any]]:
        columns = [h[1] for h in result.header]
        return [dict(zip(columns, [plain(v) for v in row], strict=True)) for row in result.result_set]

    def _write(self, text: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self._write_encoded(params_header(params) + text)

    def _encode(self, query_name: str, /, **params: Any) -> str:
        return params_header(params) + cypher.query(query_name, self.backend)

    def _write_encoded(self, statement: Any) -> list[dict[str, Any]]:
        try:
            return self._rows(self._graph.query(statement))
        except _DISCONNECTED as exc:
            raise self._recover(exc) from exc
        except redis.ResponseError as exc:
            raise StoreError(f"FalkorDB refused a write: {exc}") from exc

    def _read(self, text: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            return self._rows(self._graph.ro_query(params_header(params) + text))
        except _DISCONNECTED as exc:
            raise self._recover(exc) from exc
        except redis.ResponseError as exc:
            raise StoreError(f"FalkorDB refused a read: {exc}") from exc

    def read_only_query(
        self, query: str, params: dict[str, Any] | None, timeout_ms: int, row_limit: int
    ) -> QueryResult:
        try:
            result = self._analyst_graph().ro_query(params_header(params) + query, timeout=int(timeout_ms))
        except _DISCONNECTED as exc:
            raise self._recover(exc) from exc
        except (NoPermissionError, redis.ResponseError) as exc:
            msg = str(exc)
            if isinstance(exc, NoPermissionError) or "read-only" in msg:
                raise ReadOnlyViolation("the query writes to the graph; analyst queries are read-only") from exc
            if "timed out" in msg.lower():
                raise QueryTimeout(f"the query ran longer than {timeout_ms} ms and was stopped") from exc
            raise InvalidQuery(msg) from exc
        columns = [h[1] for h in result.header]
        rows = [[analyst_value(plain(v)) for v in row] for row in result.result_set[:row_limit]]
        return QueryResult(columns=columns, rows=rows, truncated=len(result.result_set) > row_limit)

    def _apply_migration(self, migration: Migration) -> None:
        for step in migration.falkordb:
            try:
                if isinstance(step, tuple):
                    _, label, prop = step
                    self._db.connection.execute_command(
                        "GRAPH.CONSTRAINT", "CREATE", self.graph_name, "UNIQUE", "NODE", label, "PROPERTIES", "1", prop
                    )
                else:
                    self._graph.query(step)
            except redis.ResponseError as exc:
                msg = str(exc).lower()
                # re-running a half-applied migration: what it creates exists, what it drops is gone
                dropped = isinstance(step, str) and step.startswith("DROP") and "no such" in msg
                if "already" not in msg and not dropped:
                    raise StoreError(f"migration {migration.version} failed at {step!r}: {exc}") from exc

    def ping(self) -> None:
        try:
            self._db.connection.ping()
        except _DISCONNECTED as exc:
            raise self._recover(exc) from exc

    def close(self) -> None:
        for db in (self._db, self._ro_db):
            if db is not None:
                with contextlib.suppress(Exception):
                    db.connection.close()
