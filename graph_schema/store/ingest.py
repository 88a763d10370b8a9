"""The ingest role: behaviour events into the graph, at most once per batch, and the
privacy delete."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from graph_schema.rows import Interaction
from graph_schema.store.base import PreparedBatch, StoreBase, StoreError, StoreUnavailable, chunks
from graph_schema.store.batch import Tags, aggregate_interactions


class IngestWrites(StoreBase):
    # A new store reads a catalogue of up to this many items' tags whole, in one query.
    TAG_PRELOAD_ITEMS = 20_000

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

    def batch_applied(self, batch_id: str) -> bool:
        return bool(self._named_read("batch_applied", batch_id=batch_id)[0]["n"])

    def delete_user(self, user_id: str) -> int | None:
        """Remove a user and its relationships; None if there was no such user."""
        res = self._named_write("delete_user", user_id=user_id)
        return int(res[0]["relationships"]) if res else None

    # --- a batch's state and its items' tags --------------------------------------
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
