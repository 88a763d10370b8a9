"""The GraphStore: one interface over Neo4j and the embedded FalkorDB.

Everything that is the same for both engines lives here: batching, per-key
aggregation before any MERGE, the named queries, result shaping. A backend only
knows how to run a named query's text for writing or reading, how to run an
analyst's query read-only, and how to apply its own DDL.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from graph_schema import cypher
from graph_schema.migrations import MIGRATIONS, Migration
from graph_schema.rows import CatalogueItem, Interaction, QueryResult, Subgraph
from graph_schema.store.batch import TagCache, Tags, aggregate_interactions

log = logging.getLogger(__name__)

NODE_LABELS = ("User", "Item", "Interest")
# Node properties a refresh run stages (as next_<name>) and publish_model promotes;
# must match queries/publish_model.cypher.
STAGED_PROPS: dict[str, tuple[str, ...]] = {
    "User": ("embedding", "model_version", "refreshed_at", "top_interests", "interest_strengths"),
    "Item": ("embedding", "model_version", "refreshed_at"),
    "Interest": ("embedding", "model_version", "refreshed_at", "strength", "trend"),
}
# Properties a catalogue or user record may not overwrite (ids, training outputs, and
# User.rev, the user's incarnation, which the API's answer cache keys on).
RESERVED_ITEM_PROPS = frozenset({"id", "embedding", "model_version", "refreshed_at", "rev"})


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


_INT64 = (-(2**63), 2**63 - 1)


def _property_value(value: Any) -> Any:
    """A value both engines store as a property: a scalar or a homogeneous list
    (Neo4j refuses mixed-type lists); anything else is stored as JSON text."""
    if isinstance(value, (bool, str, float)):
        return value
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else str(value)
    if isinstance(value, (list, tuple)):
        items = list(value)
        if all(isinstance(v, str) for v in items) or all(isinstance(v, bool) for v in items):
            return items
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
            if all(isinstance(v, int) and _INT64[0] <= v <= _INT64[1] for v in items):
                return items
            return [float(v) for v in items]
    return json.dumps(value, sort_keys=True, default=str)


def _scalar_props(attributes: dict[str, Any]) -> dict[str, Any]:
    """Graph properties must be scalars or homogeneous lists of scalars on both engines."""
    return {
        key: _property_value(value)
        for key, value in attributes.items()
        if key not in RESERVED_ITEM_PROPS and value is not None
    }


class GraphStore(ABC):
    backend: str = ""

    def __init__(self, batch_size: int = 5000) -> None:
        self.batch_size = batch_size
        self.tag_cache = TagCache()  # items' tags, for the evidence of ingest batches
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

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- helpers ---------------------------------------------------------------
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

    # --- schema ----------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Apply pending migrations in order; returns the versions applied now."""
        done = self.schema_versions()
        applied = []
        for migration in MIGRATIONS:
            if migration.version in done:
                continue
            self._apply_migration(migration)
            self._named_write("record_migration", version=migration.version, name=migration.name)
            applied.append(migration.version)
            log.info("applied schema migration %s: %s", migration.version, migration.name)
        return applied

    def schema_versions(self) -> set[int]:
        return {int(r["version"]) for r in self._named_read("schema_versions")}

    # --- ingestion -------------------------------------------------------------
    def apply_interactions(
        self, events: Sequence[Interaction], tau_ms: float, batch_id: str | None = None, *, new_batch: bool = False
    ) -> bool:
        """Apply events as one atomic batch, at most once per batch_id.

        Returns False when a batch with this id was already applied (a retry
        after a lost reply), True when it was applied now. Callers that need
        more than ``batch_size`` rows per batch should split them first with
        distinct batch ids. ``new_batch``: the caller knows this id was never
        sent before, so the already-applied check (a round trip) is skipped;
        the query's own marker check still applies the batch at most once.
        """
        if not events:
            return True
        if batch_id is None:
            batch_id, new_batch = uuid.uuid4().hex, True
        if not new_batch and self.batch_applied(batch_id):
            return False
        return self.apply_prepared(self.prepare_interactions(events, tau_ms, batch_id), new_batch=True)

    def prepare_interactions(self, events: Sequence[Interaction], tau_ms: float, batch_id: str) -> PreparedBatch:
        """The client's share of applying a batch: the items' tags (cached), the rows
        and the encoded query. Separate from apply_prepared so that a pipeline can
        prepare the next batch while the graph writes this one."""
        batch = PreparedBatch(batch_id, events, float(tau_ms))
        if not events:
            return batch
        if not self._tags_preloaded:
            self._tags_preloaded = True
            self._state_read(self._preload_tags)
        item_ids = list(dict.fromkeys(e.item_id for e in events))
        found = self._state_read(self.tag_cache.lookup, item_ids, self._item_tags)
        if found is None:  # the catalogue kept changing: apply_prepared lets the graph read the tags
            return batch
        catalogue_rev, tags = found
        users, interests, t0 = aggregate_interactions(events, tau_ms, tags)
        batch.statement = self._encode(
            "apply_interactions",
            users=users,
            interests=interests,
            catalogue_rev=catalogue_rev,
            t0=t0,
            n_rows=sum(len(u[1]) for u in users),
            batch_id=batch_id,
            attempt=batch.attempt,
            tau_ms=float(tau_ms),
        )
        return batch

    def apply_prepared(self, batch: PreparedBatch, new_batch: bool = False) -> bool:
        """Write a prepared batch (see apply_interactions for the return value).

        If the catalogue changed since the batch's tags were read, the graph refuses
        it; it is then sent as apply_interactions_tagged, which reads the tags in the
        write itself, so a catalogue being synced never holds ingestion up. A read
        of the batch's state failing is StoreUnavailable (the batch stays pending),
        not a refusal of the batch."""
        if not batch.events:
            return True
        if not new_batch and self._state_read(self.batch_applied, batch.batch_id):
            return False
        if batch.statement is not None:
            rows = self._write_encoded(batch.statement)
            if rows and int(rows[0]["evidence_edges"] or 0):
                return True
            # no evidence written: a batch without tagged items, applied before (a
            # concurrent retry), or the catalogue moved on since the tags were read
            applied = self._state_read(self._applied_by, batch)
            if applied is not None:
                return applied
            self.tag_cache.clear()
        users, _, t0 = aggregate_interactions(batch.events, batch.tau_ms, {})
        rows = self._named_write(
            "apply_interactions_tagged",
            users=users,
            t0=t0,
            n_rows=sum(len(u[1]) for u in users),
            batch_id=batch.batch_id,
            attempt=batch.attempt,
            tau_ms=batch.tau_ms,
        )
        if rows and int(rows[0]["evidence_edges"] or 0):
            return True
        applied = self._state_read(self._applied_by, batch)
        if applied is None:  # this query has no revision to miss: cannot happen
            raise StoreError(f"ingest batch {batch.batch_id} was not applied")
        return applied

    @staticmethod
    def _state_read(read: Callable[..., Any], *args: Any) -> Any:
        try:
            return read(*args)
        except StoreUnavailable:
            raise
        except StoreError as exc:
            raise StoreUnavailable(f"could not read an ingest batch's state: {exc}") from exc

    def _applied_by(self, batch: PreparedBatch) -> bool | None:
        """None: the batch is not in the graph; True: this sending applied it; False:
        an earlier one did."""
        state = self._named_read("batch_state", batch_id=batch.batch_id)[0]
        return bool(state["attempt"] == batch.attempt) if state["applied"] else None

    # A new store reads a catalogue of up to this many items' tags whole, in one query.
    TAG_PRELOAD_ITEMS = 20_000

    def _preload_tags(self) -> None:
        rows = self._named_read("catalogue_tags", max_items=self.TAG_PRELOAD_ITEMS)
        if not rows:  # a larger catalogue: items are read as batches need them
            return
        tags: dict[str, list[tuple[str, float]]] = {}
        for item_id, interest_id, weight in rows[0]["tags"]:
            item = tags.setdefault(item_id, [])
            if interest_id is not None:
                item.append((interest_id, float(1.0 if weight is None else weight)))
        self.tag_cache.fill(int(rows[0]["rev"]), {i: tuple(t) for i, t in tags.items()})

    def _item_tags(self, item_ids: list[str]) -> tuple[int, dict[str, Tags]]:
        """Tag cache reads: (catalogue revision, tags of each item; () if none)."""
        tags: dict[str, list[tuple[str, float]]] = {i: [] for i in item_ids}
        revs = []
        for chunk in chunks(item_ids, self.batch_size):
            row = self._named_read("item_tags", item_ids=list(chunk))[0]
            revs.append(int(row["rev"]))
            for item_id, interest_id, weight in row["tags"]:
                tags[item_id].append((interest_id, float(weight)))
        # the first revision read is the oldest: if the catalogue moved on between
        # chunks, the graph refuses the batch as stale and the cache is read again
        return revs[0], {i: tuple(t) for i, t in tags.items()}

    def batch_applied(self, batch_id: str) -> bool:
        return bool(self._named_read("batch_applied", batch_id=batch_id)[0]["n"])

    def upsert_items(self, items: Sequence[CatalogueItem]) -> int:
        """Upsert catalogue records (last record per item wins); returns items written."""
        latest: dict[str, CatalogueItem] = {}
        for item in items:
            latest[item.item_id] = item
        rows = []
        for item in latest.values():
            props = _scalar_props(item.attributes)
            if item.title is not None:
                props["title"] = item.title
            tags = {i: {"id": i, "name": None, "kind": None, "weight": 1.0} for i in dict.fromkeys(item.interests)}
            rows.append({"item_id": item.item_id, "props": props, "interests": list(tags.values())})
        for batch in chunks(rows, self.batch_size):
            self._named_write("upsert_items", rows=list(batch))
        return len(rows)

    def upsert_interests(self, rows: Sequence[dict[str, Any]]) -> int:
        """rows: {interest_id, name, kind}; unique per interest_id (last wins)."""
        unique = list({r["interest_id"]: r for r in rows}.values())
        for batch in chunks(unique, self.batch_size):
            self._named_write("upsert_interests", rows=list(batch))
        return len(unique)

    def upsert_users(self, rows: Sequence[dict[str, Any]]) -> int:
        """rows: {user_id, props}; unique per user_id (last wins)."""
        unique = list(
            {r["user_id"]: {"user_id": r["user_id"], "props": _scalar_props(r.get("props", {}))} for r in rows}.values()
        )
        for batch in chunks(unique, self.batch_size):
            self._named_write("upsert_users", rows=list(batch))
        return len(unique)

    def delete_user(self, user_id: str) -> int | None:
        """Remove a user and its relationships; None if there was no such user."""
        res = self._named_write("delete_user", user_id=user_id)
        return int(res[0]["relationships"]) if res else None

    def wipe(self, batch: int = 1_000) -> int:
        """Delete every node but the schema records, in bounded batches: relationships
        first, then nodes (1,000 nodes with 64-float vectors: ~8 MB of Neo4j transaction
        memory). Returns the nodes deleted."""
        self.tag_cache.clear()
        while int(self._named_write("wipe_relationships_batch", limit=batch * 10)[0]["deleted"]) >= batch * 10:
            pass
        total = 0
        while True:
            n = int(self._named_write("wipe_batch", limit=batch)[0]["deleted"])
            total += n
            if n < batch:
                return total

    # --- reads -----------------------------------------------------------------
    def user_exists(self, user_id: str) -> bool:
        return bool(self._named_read("user_exists", user_id=user_id)[0]["n"])

    def item_exists(self, item_id: str) -> bool:
        return bool(self._named_read("item_exists", item_id=item_id)[0]["n"])

    def user_interactions(self, user_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        return self._named_read("user_interactions", user_id=user_id, limit=limit)

    def user_interests(self, user_id: str) -> list[dict[str, Any]]:
        return self._named_read("user_interests", user_id=user_id)

    def co_interaction(self, user_id: str, k: int = 20, peers: int = 50) -> list[dict[str, Any]]:
        return self._named_read("co_interaction", user_id=user_id, k=k, peers=peers)

    def read_named(self, query_name: str, /, **params: Any) -> list[dict[str, Any]]:
        """Run any named read query from graph_schema/queries (trusted text)."""
        return self._named_read(query_name, **params)

    def counts(self) -> dict[str, dict[str, int]]:
        labels = {r["label"]: int(r["n"]) for r in self._named_read("count_labels") if r["label"]}
        types = {r["type"]: int(r["n"]) for r in self._named_read("count_types")}
        return {"nodes": dict(sorted(labels.items())), "relationships": dict(sorted(types.items()))}

    # --- training pull ---------------------------------------------------------
    def _pull(self, query_name: str, columns: tuple[str, ...], **params: Any) -> list[dict[str, Any]]:
        """Rows of a pull query. A backend variant may return them as one value
        (`rows_json`: a list of value lists in `columns` order, decoded from JSON by
        the backend), which is much cheaper than per-value result parsing."""
        rows = self._named_read(query_name, **params)
        if rows and "rows_json" in rows[0]:
            return [dict(zip(columns, r, strict=True)) for r in rows[0]["rows_json"] or []]
        return rows

    def pull_subgraph(self, since_ts: int | None = None, user_ids: Sequence[str] | None = None) -> Subgraph:
        ids = list(user_ids) if user_ids is not None else None
        interactions = self._pull(
            "pull_interactions",
            ("user_id", "item_id", "weight", "count", "first_ts", "last_ts"),
            since=int(since_ts or 0),
            user_ids=ids,
        )
        for r in interactions:  # JSON writes 3.0 as 3
            r["weight"] = float(r["weight"])
        tags = self._named_read("pull_tags")
        evidence = self._pull("pull_evidence", ("user_id", "interest_id", "evidence", "evidence_ts"), user_ids=ids)
        embeddings = self._pull_embeddings()
        return _in_order(Subgraph(interactions=interactions, tags=tags, embeddings=embeddings, evidence=evidence))

    def _pull_embeddings(self) -> dict[str, dict[str, list[float]]]:
        embeddings: dict[str, dict[str, list[float]]] = {label: {} for label in NODE_LABELS}
        for r in self._pull("pull_embeddings", ("label", "id", "embedding")):
            if r["label"] in embeddings:
                embeddings[r["label"]][r["id"]] = [float(x) for x in r["embedding"]]
        return embeddings

    # A neighbourhood holding more than this share of the users with a vector is pulled
    # with the one full scan of pull_interactions and filtered here: on MovieLens-100K that
    # scan beats the per-user index lookups of pull_neighbourhood from about half the users.
    NEIGHBOURHOOD_SCAN_SHARE = 0.5

    def users_active_since(self, since_ts: int) -> list[str]:
        """Users with an interaction last touched at or after `since_ts` (epoch ms)."""
        rows = self._pull(
            "pull_interactions",
            ("user_id", "item_id", "weight", "count", "first_ts", "last_ts"),
            since=int(since_ts),
            user_ids=None,
        )
        return list(dict.fromkeys(str(r["user_id"]) for r in rows))

    def pull_neighbourhood(self, user_ids: Sequence[str], per_item: int, since_ts: int | None = None) -> Subgraph:
        """What an incremental refresh re-fits: every interaction (last touched at or after
        `since_ts`) of the seed users and of their sampled neighbours — up to `per_item`
        other users of each item a seed interacted with, the most recent ones first (see
        queries/pull_neighbourhood_users.cypher) — those users' interest evidence, and, as
        in pull_subgraph, every tag and every previous embedding (item neighbourhoods are
        recomputed over all items)."""
        seeds = list(dict.fromkeys(str(u) for u in user_ids))
        since = int(since_ts or 0)
        columns = ("user_id", "item_id", "weight", "count", "first_ts", "last_ts")
        tags = self._named_read("pull_tags")
        embeddings = self._pull_embeddings()
        if not seeds:
            return Subgraph(interactions=[], tags=tags, embeddings=embeddings, evidence=[])
        rows = self._named_read("pull_neighbourhood_users", user_ids=seeds, per_item=int(per_item), since=since)
        ids = list(dict.fromkeys([*seeds, *(str(u) for u in (rows[0]["user_ids"] if rows else None) or [])]))
        if len(ids) > self.NEIGHBOURHOOD_SCAN_SHARE * len(embeddings["User"]):
            wanted = set(ids)
            everything = self._pull("pull_interactions", columns, since=since, user_ids=None)
            interactions = [r for r in everything if str(r["user_id"]) in wanted]
        else:
            interactions = self._pull("pull_neighbourhood", columns, user_ids=ids, since=since)
        for r in interactions:  # JSON writes 3.0 as 3
            r["weight"] = float(r["weight"])
        evidence = self._pull("pull_evidence", ("user_id", "interest_id", "evidence", "evidence_ts"), user_ids=ids)
        return _in_order(Subgraph(interactions=interactions, tags=tags, embeddings=embeddings, evidence=evidence))

    # --- training write-back ---------------------------------------------------
    def write_node_properties(self, label: str, rows: Sequence[dict[str, Any]]) -> int:
        """rows: {id, props: {embedding: [float], model_version, ...}}."""
        if label not in NODE_LABELS:
            raise ValueError(f"label must be one of {NODE_LABELS}")
        name = f"set_{label.lower()}_props"
        written = 0
        for batch in chunks(list(rows), self.batch_size):
            written += int(self._named_write(name, rows=list(batch))[0]["n"])
        return written

    def write_interest_strengths(self, rows: Sequence[dict[str, Any]]) -> int:
        """rows: {user_id, interest_id, strength, updated_at, model_version}."""
        unique = list({(r["user_id"], r["interest_id"]): r for r in rows}.values())
        written = 0
        for batch in chunks(unique, self.batch_size):
            written += int(self._named_write("set_interest_strengths", rows=list(batch))[0]["n"])
        return written

    def write_similar_items(self, rows: Sequence[dict[str, Any]]) -> int:
        """rows: {item_id, other_id, score, model_version}."""
        unique = list({(r["item_id"], r["other_id"], r["model_version"]): r for r in rows}.values())
        written = 0
        for batch in chunks(unique, self.batch_size):
            written += int(self._named_write("set_similar_items", rows=list(batch))[0]["n"])
        return written

    def stage_node_properties(self, label: str, rows: Sequence[dict[str, Any]]) -> int:
        """Like write_node_properties, but as next_* properties that stay invisible
        until publish_model promotes them (all at once, with the pointer)."""
        allowed = STAGED_PROPS.get(label)
        if allowed is None:
            raise ValueError(f"label must be one of {NODE_LABELS}")
        staged = []
        for row in rows:
            unknown = set(row["props"]) - set(allowed)
            if unknown:
                raise ValueError(f"{label} properties {sorted(unknown)} cannot be staged (known: {allowed})")
            if "model_version" not in row["props"]:
                raise ValueError("staged properties need the run's model_version")
            staged.append({"id": row["id"], "props": {f"next_{k}": v for k, v in row["props"].items()}})
        return self.write_node_properties(label, staged)

    def stage_interest_strengths(self, rows: Sequence[dict[str, Any]]) -> int:
        """rows: {user_id, interest_id, strength, updated_at, model_version}, staged
        until publish_model."""
        unique = list({(r["user_id"], r["interest_id"]): r for r in rows}.values())
        written = 0
        for batch in chunks(unique, self.batch_size):
            written += int(self._named_write("stage_interest_strengths", rows=list(batch))[0]["n"])
        return written

    def publish_model(
        self, model_version: str, metrics: dict[str, Any] | None = None, carry_from: str | None = None
    ) -> dict[str, int]:
        """Promote what the run staged and move the pointer, in one transaction.

        `carry_from` (an incremental run: the version it started from): node vectors and
        strengths of that version that this run did not stage are carried into the new
        version unchanged, so readers asking for the published model_version still find them.
        """
        res = self._named_write(
            "publish_model",
            model_version=model_version,
            published_at=int(time.time() * 1000),
            metrics=json.dumps(metrics or {}, sort_keys=True),
            carry_from=carry_from,
        )
        row = res[0] if res else {}
        return {k: int(row.get(k) or 0) for k in ("users", "items", "interests", "strengths")}

    def current_model(self) -> dict[str, Any] | None:
        rows = self._named_read("current_model")
        if not rows:
            return None
        row = dict(rows[0])
        row["metrics"] = json.loads(row["metrics"]) if row.get("metrics") else {}
        return row

    def current_model_version(self) -> str | None:
        model = self.current_model()
        return model["model_version"] if model else None

    def cleanup_versions(self, keep: str, batch: int = 10_000) -> dict[str, int]:
        """Remove other versions' SIMILAR_TO edges and strengths, and what runs that
        never published staged, in bounded batches."""
        out = {"similar_deleted": 0, "strengths_cleared": 0, "staged_cleared": 0}

        def drain(name: str, key: str, col: str, **params: Any) -> None:
            while True:
                n = int(self._named_write(name, model_version=keep, limit=batch, **params)[0][col])
                out[key] += n
                if n < batch:
                    return

        drain("cleanup_similar", "similar_deleted", "deleted")
        drain("cleanup_strengths", "strengths_cleared", "cleared")
        drain("cleanup_staged_strengths", "staged_cleared", "cleared")
        for label, props in STAGED_PROPS.items():
            cleared = {f"next_{p}": None for p in props}
            drain(f"cleanup_staged_{label.lower()}", "staged_cleared", "cleared", cleared=cleared)
        return out


def _in_order(sub: Subgraph) -> Subgraph:
    """The pulled rows in one order whatever the engine returned: node indexes, and so
    the initialisation and the data split of a training run, follow row order, so the
    same graph trains the same model on FalkorDB and on Neo4j."""
    sub.interactions.sort(key=lambda r: (str(r["user_id"]), str(r["item_id"])))
    sub.tags.sort(key=lambda r: (str(r["item_id"]), str(r["interest_id"])))
    sub.evidence.sort(key=lambda r: (str(r["user_id"]), str(r["interest_id"])))
    for label, vectors in sub.embeddings.items():
        sub.embeddings[label] = dict(sorted(vectors.items()))
    return sub


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
