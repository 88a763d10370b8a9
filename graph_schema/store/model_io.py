"""The model I/O role: what a training run pulls, stages and publishes, and the
cleanup of other versions."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from graph_schema.clock import now_ms
from graph_schema.columns import GraphColumns, VectorTable, evidence_table, interaction_table
from graph_schema.rows import Subgraph
from graph_schema.store.base import StoreBase, batches
from graph_schema.store.overlap import write_behind

NODE_LABELS = ("User", "Item", "Interest")
# Node properties a refresh run stages (as next_<name>) and publish_model promotes;
# must match queries/publish_model.cypher.
STAGED_PROPS: dict[str, tuple[str, ...]] = {
    "User": (
        "embedding",
        "model_version",
        "refreshed_at",
        "top_interests",
        "interest_strengths",
        "recs_items",
        "recs_scores",
        "recs_because",
        "recs_at",
    ),
    "Item": ("embedding", "model_version", "refreshed_at"),
    "Interest": ("embedding", "model_version", "refreshed_at", "strength", "trend"),
}
_INTERACTION_COLUMNS = ("user_id", "item_id", "weight", "count", "first_ts", "last_ts")
_EVIDENCE_COLUMNS = ("user_id", "interest_id", "evidence", "evidence_ts")


class ModelIO(StoreBase):
    # Seeds that are more than this share of the users with a vector are pulled with the
    # one full scan of pull_interactions and filtered here: on MovieLens-100K that scan
    # beats the per-user index lookups of pull_neighbourhood from about half the users.
    NEIGHBOURHOOD_SCAN_SHARE = 0.5
    # Users (or vectors) per page of pull_columns when the caller names none (a refresh
    # passes REFRESH_PULL_PAGE): a page's rows are the only Python objects a full pull
    # holds at once (~20 interactions per user at 1M events).
    PULL_PAGE = 2000

    # --- pull ------------------------------------------------------------------------
    def pull_subgraph(self, since_ts: int | None = None, user_ids: Sequence[str] | None = None) -> Subgraph:
        ids = list(user_ids) if user_ids is not None else None
        interactions = self._pull("pull_interactions", _INTERACTION_COLUMNS, since=int(since_ts or 0), user_ids=ids)
        for r in interactions:  # JSON writes 3.0 as 3
            r["weight"] = float(r["weight"])
        tags = self._named_read("pull_tags")
        evidence = self._pull("pull_evidence", _EVIDENCE_COLUMNS, user_ids=ids)
        embeddings = self._pull_embeddings()
        return _in_order(Subgraph(interactions=interactions, tags=tags, embeddings=embeddings, evidence=evidence))

    def pull_columns(self, since_ts: int | None = None, page: int | None = None, vectors: bool = True) -> GraphColumns:
        """What pull_subgraph pulls for everyone, as compact columns, in keyset-paginated
        pages (`page` users, or vectors, per query; PULL_PAGE by default): the rows of one
        page at a time are Python objects, never the whole graph's. `vectors=False`: without
        the published vectors (a full refresh does not start from them)."""
        size = int(page or self.PULL_PAGE)
        since = int(since_ts or 0)
        return GraphColumns(
            interactions=interaction_table(self._pages("pull_interactions_page", size, since=since)),
            tags=self._tags(),
            evidence=evidence_table(self._pages("pull_evidence_page", size)),
            embeddings={label: self._pull_vectors(f"pull_embeddings_{label.lower()}", size) for label in NODE_LABELS}
            if vectors
            else {},
        )

    def _tags(self) -> list[dict[str, Any]]:
        tags = self._named_read("pull_tags")
        tags.sort(key=lambda r: (str(r["item_id"]), str(r["interest_id"])))
        return tags

    def _pages(self, query_name: str, page: int, **params: Any) -> Iterator[list[list[Any]]]:
        """The rows of a keyset-paginated pull, a page at a time (each page's `last` is the
        next one's `$after`)."""
        after = ""
        while True:
            res = self._named_read(query_name, after=after, page=page, **params)
            if not res or res[0].get("last") is None:
                return
            rows = res[0]["rows_json"] or []
            if rows:
                yield rows
            after = str(res[0]["last"])

    def users_active_since(self, since_ts: int) -> list[str]:
        """Users with an interaction last touched at or after `since_ts` (epoch ms)."""
        rows = self._pull("pull_interactions", _INTERACTION_COLUMNS, since=int(since_ts), user_ids=None)
        return list(dict.fromkeys(str(r["user_id"]) for r in rows))

    def pull_neighbourhood(
        self, user_ids: Sequence[str], per_item: int, since_ts: int | None = None, new_since: int | None = None
    ) -> GraphColumns:
        """What an incremental refresh re-fits, and the context it fits new items against:

        - every interaction (last touched at or after `since_ts`) of the seed users, and
          their interest evidence;
        - for the items the seeds' new interactions reached (last touched at or after
          `new_since`; any of theirs when None) that have no vector yet, the INTERACTED
          edges of their `per_item` most recent users (queries/pull_neighbourhood_peers.cypher):
          only those edges, not those users' other interactions;
        - as in pull_columns, every tag and every item's and interest's previous embedding;
          the users' of the users pulled (seeds and peers) only.

        The pull grows with the seeds and the new items, not with the graph. As columns,
        like a full run's (rows of dicts cost ~2 s more at 1M events, 250k interactions),
        interactions sorted by (user, item) and evidence by (user, interest).
        """
        seeds = list(dict.fromkeys(str(u) for u in user_ids))
        since, per_item = int(since_ts or 0), int(per_item)
        tags = self._tags()
        # every item's and interest's previous vector, paged straight into float32 arrays
        # (as lists of Python floats, 70k vectors took 9 s of a 1M-event graph's incremental
        # run); the users' only for the users pulled, below
        embeddings: dict[str, VectorTable] = {
            label: _by_id(self._pull_vectors(f"pull_embeddings_{label.lower()}", self.PULL_PAGE))
            for label in ("Item", "Interest")
        }
        own: list[list[Any]] = []
        peers: list[list[Any]] = []
        if seeds:
            with_vector = int(self._named_read("count_users_with_vector")[0]["n"])
            if len(seeds) > self.NEIGHBOURHOOD_SCAN_SHARE * with_vector:
                wanted = set(seeds)
                everything = self._pull_lists("pull_interactions", _INTERACTION_COLUMNS, since=since, user_ids=None)
                own = [r for r in everything if str(r[0]) in wanted]
            else:
                own = self._pull_lists("pull_neighbourhood", _INTERACTION_COLUMNS, user_ids=seeds, since=since)
            fresh = int(new_since) if new_since is not None else since
            known = embeddings["Item"]
            moved = sorted({str(r[1]) for r in own if int(r[5]) >= fresh} - known.keys())
            if moved and per_item > 0:
                seed_set = set(seeds)
                found = self._pull_lists(
                    "pull_neighbourhood_peers", _INTERACTION_COLUMNS, item_ids=moved, per_item=per_item, since=since
                )
                peers = [r for r in found if str(r[0]) not in seed_set]
        # the vectors of the users pulled (seeds and peers): 8k of 50k users after 1 % new
        # events at 1M, where pulling every user's took 3 s
        pulled_users = [*seeds, *(str(r[0]) for r in peers)]
        embeddings["User"] = _by_id(self._pull_vectors_of("pull_embeddings_user_of", pulled_users, self.PULL_PAGE))
        evidence = self._pull_lists("pull_user_evidence", _EVIDENCE_COLUMNS, user_ids=seeds) if seeds else []
        return GraphColumns(
            interactions=interaction_table([own, peers]).sorted(),
            tags=tags,
            evidence=evidence_table([evidence]).sorted(),
            embeddings=embeddings,
        )

    def pull_interest_strengths(self) -> dict[str, float]:
        """Interest id -> the published population-level Interest.strength (for the
        next run's Interest.trend); {} before any model. Interests without one are left out."""
        return {
            str(r["interest_id"]): float(r["strength"])
            for r in self._named_read("pull_interest_strengths")
            if r["strength"] is not None
        }

    def _pull_embeddings(self) -> dict[str, dict[str, list[float]]]:
        embeddings: dict[str, dict[str, list[float]]] = {label: {} for label in NODE_LABELS}
        for r in self._pull("pull_embeddings", ("label", "id", "embedding")):
            if r["label"] in embeddings:
                embeddings[r["label"]][r["id"]] = [float(x) for x in r["embedding"]]
        return embeddings

    # --- stage and publish -------------------------------------------------------------
    def stage_node_properties(self, label: str, rows: Iterable[dict[str, Any]]) -> int:
        """rows: {id, props: {embedding: [float], model_version, ...}}, written as next_*
        properties that stay invisible until publish_model promotes them (all at once,
        with the pointer). `rows` may be a stream: it is written batch by batch."""
        allowed = STAGED_PROPS.get(label)
        if allowed is None:
            raise ValueError(f"label must be one of {NODE_LABELS}")
        known = set(allowed)

        def staged() -> Iterator[dict[str, Any]]:
            for row in rows:
                unknown = row["props"].keys() - known
                if unknown:
                    raise ValueError(f"{label} properties {sorted(unknown)} cannot be staged (known: {allowed})")
                if "model_version" not in row["props"]:
                    raise ValueError("staged properties need the run's model_version")
                yield {"id": row["id"], "props": {f"next_{k}": v for k, v in row["props"].items()}}

        return self._set_node_properties(label, staged())

    def stage_interest_strengths(self, rows: Iterable[dict[str, Any]]) -> int:
        """rows: {user_id, interest_id, strength, updated_at, model_version}, staged
        until publish_model; unique per (user, interest) (within a batch the last wins)."""
        return self._write_unique("stage_interest_strengths", rows, ("user_id", "interest_id"))

    def write_similar_items(self, rows: Iterable[dict[str, Any]]) -> int:
        """rows: {item_id, other_id, score, model_version, via?}, unique per key (within a
        batch the last wins); via 'text': the similarity comes from an item's text alone.
        Visible at once, but only to readers asking for that model_version (so a run
        writes them before publishing). Sent grouped by item and version
        (queries/set_similar_lists.cypher), about batch_size edges per query."""

        def statements() -> Iterator[Any]:
            for batch in batches(rows, self.batch_size):
                lists: dict[tuple[str, str], dict[str, list[Any]]] = {}
                for r in batch:
                    edge = [r["score"], r["via"]] if r.get("via") else [r["score"]]
                    lists.setdefault((r["model_version"], r["item_id"]), {})[r["other_id"]] = edge
                by_version: dict[str, list[list[Any]]] = {}
                for (version, item_id), others in lists.items():
                    by_version.setdefault(version, []).append([item_id, [[o, *e] for o, e in others.items()]])
                for version, grouped in by_version.items():
                    yield self._encode("set_similar_lists", rows=grouped, model_version=version)

        return self._write_stream(statements())

    def publish_model(
        self,
        model_version: str,
        metrics: dict[str, Any] | None = None,
        carry_from: str | None = None,
        similar_version: str | None = None,
        batch: int | None = None,
    ) -> dict[str, int]:
        """Promote what the run staged and move the pointer, in one transaction.

        `carry_from` (an incremental run: the version it started from): node vectors and
        strengths of that version that this run did not stage are carried into the new
        version unchanged, so readers asking for the published model_version still find them.
        `similar_version`: the version whose SIMILAR_TO lists the new one serves, when the
        run wrote none (an incremental run keeps its predecessor's); None: its own.
        `batch` (REFRESH_PUBLISH_BATCH): a graph of more users or items publishes in
        transactions of at most this many nodes (one transaction held every staged row: at
        500k users FalkorDB's write set outgrew the machine's memory). Its pointer still
        moves last and at once, stamped with the time the publish began; until then a user
        already promoted reads as the new version's, which the API's version checks skip,
        and the publish only rolls forward (finish_publish). Raises RuntimeError while
        another version's publish is under way.
        """
        pending = self._pending_publish().get("model_version")
        if pending and pending != model_version:
            raise RuntimeError(f"model {pending} is being published; finish_publish first")
        # the parameters of publish_intent and publish_model, and the columns of `publishing`
        publish = {
            "model_version": model_version,
            "carry_from": carry_from,
            "similar_version": similar_version,
            "metrics": json.dumps(metrics or {}, sort_keys=True),
            "published_at": now_ms(),
        }
        if batch is None or self._largest_label() <= batch:
            return self._publish_rest(publish)
        if not self._named_write("publish_intent", **publish):  # another publish began since the check
            raise RuntimeError(f"another model is being published than {model_version}")
        return self.finish_publish(batch)[1]

    def finish_publish(self, batch: int) -> tuple[str | None, dict[str, int]]:
        """Finish the batched publish recorded on the pointer (publish_intent.cypher), if
        any, also one whose process stopped half-way: (its version, or None when no publish
        was under way; the rows this call promoted)."""
        pending = self._pending_publish()
        if not pending:
            return None, {}
        publish = {
            **pending,
            "metrics": pending.get("metrics") or "{}",
            "published_at": pending.get("published_at") or now_ms(),
        }
        return str(publish["model_version"]), self._publish_batched(publish, batch)

    def _largest_label(self) -> int:
        counts = (self._named_read("count_users_items") or [{}])[0]
        return max(int(counts.get("users") or 0), int(counts.get("items") or 0))

    def _pending_publish(self) -> dict[str, Any]:
        """The publish under way (publishing.cypher's row), or {} when none is."""
        rows = self._named_read("publishing")
        return dict(rows[0]) if rows and rows[0].get("model_version") else {}

    def _publish_batched(self, publish: dict[str, Any], batch: int) -> dict[str, int]:
        """Promote (then carry) in transactions of `batch` nodes; each step drains before the
        next starts, so a resumed publish repeats none: a promoted row no longer matches."""
        version, carry_from = publish["model_version"], publish["carry_from"]

        def drain(name: str, **params: Any) -> tuple[int, int]:
            nodes = strengths = 0
            while True:
                row = self._named_write(name, model_version=version, limit=batch, **params)[0]
                n = int(row["n"] or 0)
                nodes, strengths = nodes + n, strengths + int(row.get("strengths") or 0)
                if n < batch:
                    return nodes, strengths

        labels = ("users", "items", "interests")
        promoted = {label: drain(f"publish_{label}_batch") for label in labels}
        if carry_from is not None:  # counted apart, as publish_model.cypher's carried_*
            for label in labels:
                drain(f"carry_{label}_batch", carry_from=carry_from)
        last = self._publish_rest(publish)
        out = {label: promoted[label][0] + last[label] for label in labels}
        out["strengths"] = promoted["users"][1] + last["strengths"]
        return out

    def _publish_rest(self, publish: dict[str, Any]) -> dict[str, int]:
        """publish_model.cypher: promote (and carry) whatever is staged, move the pointer."""
        res = self._named_write("publish_model", **publish)
        row = res[0] if res else {}
        return {k: int(row.get(k) or 0) for k in ("users", "items", "interests", "strengths")}

    def current_model(self) -> dict[str, Any] | None:
        """The published model's pointer: model_version, published_at, metrics (decoded)."""
        rows = self._named_read("current_model")
        if not rows:
            return None
        row = dict(rows[0])
        row["metrics"] = json.loads(row["metrics"]) if row.get("metrics") else {}
        return row

    def cleanup_versions(
        self, keep: str, batch: int = 10_000, users: Sequence[str] | None = None, base: str | None = None
    ) -> dict[str, int]:
        """Remove other versions' SIMILAR_TO edges (but the lists `keep` serves, when it is
        the published version) and strengths, and what runs that never published staged,
        in bounded batches. `users` (after an incremental publish from `base`: the users it
        re-fitted): only their strengths are looked at, not every user's, when `base`'s own
        cleanup completed (ModelRegistry.cleaned_version; else every edge is, so that what a
        failed cleanup left is not left for good). Marks `keep` cleaned when done."""
        pending = self._pending_publish().get("model_version")
        if pending and pending != keep:  # its staged rows are the model being published
            raise RuntimeError(f"model {pending} is being published; finish_publish first")
        out = {"similar_deleted": 0, "strengths_cleared": 0, "staged_cleared": 0}

        def drain(name: str, key: str, col: str, **params: Any) -> None:
            while True:
                n = int(self._named_write(name, model_version=keep, limit=batch, **params)[0][col])
                out[key] += n
                if n < batch:
                    return

        # the lists the kept version serves may be an earlier version's (publish_model)
        current = self.current_model() or {}
        similar = current.get("similar_version") if current.get("model_version") == keep else None
        drain("cleanup_similar", "similar_deleted", "deleted", similar_version=similar or keep)

        def strengths(row: dict[str, Any]) -> int:
            out["strengths_cleared"] += int(row["cleared"] or 0)
            out["staged_cleared"] += int(row["staged"] or 0)
            return int(row["n"])

        if users is not None and base is not None and current.get("cleaned_version") == base:
            for chunk in batches(users, batch):
                strengths(self._named_write("cleanup_strength_edges_of", model_version=keep, user_ids=chunk)[0])
        else:  # both kinds of strength in one pass over the edges
            while strengths(self._named_write("cleanup_strength_edges", model_version=keep, limit=batch)[0]) >= batch:
                pass
        for label, props in STAGED_PROPS.items():
            cleared = {f"next_{p}": None for p in props}
            drain(f"cleanup_staged_{label.lower()}", "staged_cleared", "cleared", cleared=cleared)
        self._named_write("mark_cleaned", model_version=keep)
        return out

    # --- direct writes: tests and benchmarks only ------------------------------------------
    def write_node_properties(self, label: str, rows: Sequence[dict[str, Any]]) -> int:
        """Test/bench-only: set node properties at once, unstaged (a refresh run stages
        them with stage_node_properties). rows: {id, props: {embedding, model_version, ...}}."""
        return self._set_node_properties(label, rows)

    def write_interest_strengths(self, rows: Sequence[dict[str, Any]]) -> int:
        """Test/bench-only: set INTERESTED_IN strengths at once, unstaged (a refresh run
        uses stage_interest_strengths). rows: {user_id, interest_id, strength, updated_at,
        model_version}."""
        return self._write_unique("set_interest_strengths", rows, ("user_id", "interest_id"))

    def _set_node_properties(self, label: str, rows: Iterable[dict[str, Any]]) -> int:
        if label not in NODE_LABELS:
            raise ValueError(f"label must be one of {NODE_LABELS}")
        name = f"set_{label.lower()}_props"
        return self._write_stream(self._encode(name, rows=batch) for batch in batches(rows, self.batch_size))

    def _write_unique(self, query_name: str, rows: Iterable[dict[str, Any]], key: tuple[str, ...]) -> int:
        """Write rows in batches as they come, the last row per `key` of a batch winning;
        returns the count the query reports."""

        def statements() -> Iterator[Any]:
            for batch in batches(rows, self.batch_size):
                unique = list({tuple(r[k] for k in key): r for r in batch}.values())
                yield self._encode(query_name, rows=unique)

        return self._write_stream(statements())

    def _write_stream(self, statements: Iterable[Any]) -> int:
        """Send encoded batch writes (each reporting its row count as `n`) on a writer
        thread while this one makes the next batch (write_behind); the rows written."""
        return sum(int(res[0]["n"]) for res in write_behind(statements, self._write_encoded))


def _in_order(sub: Subgraph) -> Subgraph:
    """The pulled rows in one order whatever the engine returned: node indexes, and so
    the initialisation and the data split of a training run, follow row order, so the
    same graph trains the same model on FalkorDB and on Neo4j."""
    sub.interactions.sort(key=lambda r: (str(r["user_id"]), str(r["item_id"])))
    sub.tags.sort(key=lambda r: (str(r["item_id"]), str(r["interest_id"])))
    sub.evidence.sort(key=lambda r: (str(r["user_id"]), str(r["interest_id"])))
    for label, vectors in sub.embeddings.items():
        if isinstance(vectors, VectorTable):
            sub.embeddings[label] = _by_id(vectors)
        else:
            sub.embeddings[label] = dict(sorted(vectors.items()))
    return sub


def _by_id(vectors: VectorTable) -> VectorTable:
    """The table in id order (the engine's id order may not be Python's)."""
    order = sorted(range(len(vectors.ids)), key=vectors.ids.__getitem__)
    if order == list(range(len(order))):
        return vectors
    rows = vectors.vectors
    picked = rows[order] if isinstance(rows, np.ndarray) else [rows[k] for k in order]
    return VectorTable([vectors.ids[k] for k in order], picked)
