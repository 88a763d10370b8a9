"""The model I/O role: what a training run pulls, stages and publishes, and the
cleanup of other versions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from graph_schema.clock import now_ms
from graph_schema.rows import Subgraph
from graph_schema.store.base import StoreBase, chunks

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

    def users_active_since(self, since_ts: int) -> list[str]:
        """Users with an interaction last touched at or after `since_ts` (epoch ms)."""
        rows = self._pull("pull_interactions", _INTERACTION_COLUMNS, since=int(since_ts), user_ids=None)
        return list(dict.fromkeys(str(r["user_id"]) for r in rows))

    def pull_neighbourhood(
        self, user_ids: Sequence[str], per_item: int, since_ts: int | None = None, new_since: int | None = None
    ) -> Subgraph:
        """What an incremental refresh re-fits, and the context it fits new items against:

        - every interaction (last touched at or after `since_ts`) of the seed users, and
          their interest evidence;
        - for the items the seeds' new interactions reached (last touched at or after
          `new_since`; any of theirs when None) that have no vector yet, the INTERACTED
          edges of their `per_item` most recent users (queries/pull_neighbourhood_peers.cypher):
          only those edges, not those users' other interactions;
        - as in pull_subgraph, every tag and every previous embedding.

        The pull grows with the seeds and the new items, not with the graph.
        """
        seeds = list(dict.fromkeys(str(u) for u in user_ids))
        since = int(since_ts or 0)
        tags = self._named_read("pull_tags")
        embeddings = self._pull_embeddings()
        if not seeds:
            return Subgraph(interactions=[], tags=tags, embeddings=embeddings, evidence=[])
        if len(seeds) > self.NEIGHBOURHOOD_SCAN_SHARE * len(embeddings["User"]):
            wanted = set(seeds)
            everything = self._pull("pull_interactions", _INTERACTION_COLUMNS, since=since, user_ids=None)
            own = [r for r in everything if str(r["user_id"]) in wanted]
        else:
            own = self._pull("pull_neighbourhood", _INTERACTION_COLUMNS, user_ids=seeds, since=since)
        fresh = int(new_since) if new_since is not None else since
        known = embeddings["Item"]
        moved = sorted({str(r["item_id"]) for r in own if int(r["last_ts"]) >= fresh} - known.keys())
        peers = []
        if moved and per_item > 0:
            seed_set = set(seeds)
            found = self._pull(
                "pull_neighbourhood_peers", _INTERACTION_COLUMNS, item_ids=moved, per_item=int(per_item), since=since
            )
            peers = [r for r in found if str(r["user_id"]) not in seed_set]
        interactions = [*own, *peers]
        for r in interactions:  # JSON writes 3.0 as 3
            r["weight"] = float(r["weight"])
        evidence = self._pull("pull_user_evidence", _EVIDENCE_COLUMNS, user_ids=seeds)
        return _in_order(Subgraph(interactions=interactions, tags=tags, embeddings=embeddings, evidence=evidence))

    def pull_interest_strengths(self) -> dict[str, float]:
        """Interest id -> the published population-level Interest.strength (for the
        next run's Interest.trend); {} before any model. Interests without one are left out."""
        return {
            str(r["interest_id"]): float(r["strength"])
            for r in self._named_read("pull_interest_strengths")
            if r["strength"] is not None
        }

    def _pull(self, query_name: str, columns: tuple[str, ...], **params: Any) -> list[dict[str, Any]]:
        """Rows of a pull query. A backend variant may return them as one value
        (`rows_json`: a list of value lists in `columns` order, decoded from JSON by
        the backend), which is much cheaper than per-value result parsing."""
        rows = self._named_read(query_name, **params)
        if rows and "rows_json" in rows[0]:
            return [dict(zip(columns, r, strict=True)) for r in rows[0]["rows_json"] or []]
        return rows

    def _pull_embeddings(self) -> dict[str, dict[str, list[float]]]:
        embeddings: dict[str, dict[str, list[float]]] = {label: {} for label in NODE_LABELS}
        for r in self._pull("pull_embeddings", ("label", "id", "embedding")):
            if r["label"] in embeddings:
                embeddings[r["label"]][r["id"]] = [float(x) for x in r["embedding"]]
        return embeddings

    # --- stage and publish -------------------------------------------------------------
    def stage_node_properties(self, label: str, rows: Sequence[dict[str, Any]]) -> int:
        """rows: {id, props: {embedding: [float], model_version, ...}}, written as next_*
        properties that stay invisible until publish_model promotes them (all at once,
        with the pointer)."""
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
        return self._set_node_properties(label, staged)

    def stage_interest_strengths(self, rows: Sequence[dict[str, Any]]) -> int:
        """rows: {user_id, interest_id, strength, updated_at, model_version}, staged
        until publish_model."""
        return self._write_unique("stage_interest_strengths", rows, ("user_id", "interest_id"))

    def write_similar_items(self, rows: Sequence[dict[str, Any]]) -> int:
        """rows: {item_id, other_id, score, model_version}. Visible at once, but only to
        readers asking for that model_version (so a run writes them before publishing)."""
        return self._write_unique("set_similar_items", rows, ("item_id", "other_id", "model_version"))

    def publish_model(
        self,
        model_version: str,
        metrics: dict[str, Any] | None = None,
        carry_from: str | None = None,
        similar_version: str | None = None,
    ) -> dict[str, int]:
        """Promote what the run staged and move the pointer, in one transaction.

        `carry_from` (an incremental run: the version it started from): node vectors and
        strengths of that version that this run did not stage are carried into the new
        version unchanged, so readers asking for the published model_version still find them.
        `similar_version`: the version whose SIMILAR_TO lists the new one serves, when the
        run wrote none (an incremental run keeps its predecessor's); None: its own.
        """
        res = self._named_write(
            "publish_model",
            model_version=model_version,
            published_at=now_ms(),
            metrics=json.dumps(metrics or {}, sort_keys=True),
            carry_from=carry_from,
            similar_version=similar_version,
        )
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

    def cleanup_versions(self, keep: str, batch: int = 10_000) -> dict[str, int]:
        """Remove other versions' SIMILAR_TO edges (but the lists `keep` serves, when it is
        the published version) and strengths, and what runs that never published staged,
        in bounded batches."""
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
        drain("cleanup_strengths", "strengths_cleared", "cleared")
        drain("cleanup_staged_strengths", "staged_cleared", "cleared")
        for label, props in STAGED_PROPS.items():
            cleared = {f"next_{p}": None for p in props}
            drain(f"cleanup_staged_{label.lower()}", "staged_cleared", "cleared", cleared=cleared)
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

    def _set_node_properties(self, label: str, rows: Sequence[dict[str, Any]]) -> int:
        if label not in NODE_LABELS:
            raise ValueError(f"label must be one of {NODE_LABELS}")
        name = f"set_{label.lower()}_props"
        written = 0
        for batch in chunks(list(rows), self.batch_size):
            written += int(self._named_write(name, rows=list(batch))[0]["n"])
        return written

    def _write_unique(self, query_name: str, rows: Sequence[dict[str, Any]], key: tuple[str, ...]) -> int:
        """Write rows in batches, the last row per `key` winning; returns the count the query reports."""
        unique = list({tuple(r[k] for k in key): r for r in rows}.values())
        written = 0
        for batch in chunks(unique, self.batch_size):
            written += int(self._named_write(query_name, rows=list(batch))[0]["n"])
        return written


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
