"""The text role: what a refresh's text encoder reads and writes (training/text_sync.py).

Node text (the catalogue's strings, with the hash and vector the last run stored) is
pulled page by page; text vectors are written as they are embedded, unversioned (they
depend on the text and the encoder only); text tags are written after a run published,
under its model_version.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from graph_schema.columns import VectorTable
from graph_schema.store.base import StoreBase, batches

TEXT_LABELS = ("Item", "Interest")


class TextIO(StoreBase):
    TEXT_PAGE = 2000  # nodes per page of pull_texts

    def pull_texts(self, label: str, page: int | None = None) -> Iterator[dict[str, Any]]:
        """Every `label` node as {id, props} (its properties but the vectors), in id order, a page at a time."""
        name = _checked(label)
        size = int(page or self.TEXT_PAGE)
        after = ""
        while True:
            rows = self._named_read(f"pull_texts_{name}", after=after, page=size)
            for row in rows:  # the vectors come back null (pull_text_vectors has them)
                yield {"id": str(row["id"]), "props": {k: v for k, v in (row["props"] or {}).items() if v is not None}}
            if len(rows) < size:
                return
            after = str(rows[-1]["id"])

    def pull_text_vectors(self, label: str, page: int | None = None) -> VectorTable:
        """The text vectors stored on `label` nodes (id -> float32 vector)."""
        return self._pull_vectors(f"pull_text_vectors_{_checked(label)}", int(page or self.TEXT_PAGE))

    def write_text_embeddings(self, label: str, rows: Iterable[dict[str, Any]]) -> int:
        """rows: {id, text_hash, text_embedding: [float]}, written in batches as they come."""
        name = _checked(label)
        written = 0
        for batch in batches(rows, self.batch_size):
            written += int(self._named_write(f"set_text_{name}", rows=batch)[0]["n"])
        return written

    def write_text_tags(self, rows: Iterable[dict[str, Any]], model_version: str, encoder: str) -> int:
        """rows: {item_id, tags: [{id, weight}]}: each item's TAGGED {source: 'text'} edges
        replaced by these, under `model_version` (the published run's); returns edges written."""
        written = 0
        for batch in batches(rows, self.batch_size):
            res = self._named_write("write_text_tags", rows=batch, model_version=model_version, encoder=encoder)
            written += int(res[0]["n"]) if res else 0
        return written

    def catalogue_items_rev(self) -> int:
        """The catalogue's revision: moved by every catalogue upsert (and nothing else)."""
        rows = self._named_read("catalogue_items_rev")
        return int(rows[0]["items_rev"]) if rows else 0

    def mark_text_tags(self, model_version: str, key: str, items_rev: int) -> None:
        """Record that every item's text tags were just written by `model_version` with
        settings `key`, from the catalogue as it was at revision `items_rev`."""
        self._named_write("mark_text_tags", model_version=model_version, key=key, items_rev=items_rev)

    def retag_text_tags(self, from_version: str, model_version: str, key: str, items_rev: int) -> int | None:
        """Move `from_version`'s text tags to `model_version` unchanged, if they are
        `from_version`'s, chosen with settings `key` at catalogue revision `items_rev`
        (checked in the same write); returns the edges moved, None when not carried."""
        res = self._named_write(
            "retag_text_tags", from_version=from_version, model_version=model_version, key=key, items_rev=items_rev
        )
        return int(res[0]["n"]) if res and res[0].get("carried") else None

    def remove_text_tags(self, batch: int = 10_000) -> int:
        """Remove every TAGGED {source: 'text'} edge (the catalogue opted out), in batches."""
        removed = 0
        while True:
            res = self._named_write("remove_text_tags", limit=batch)
            n = int(res[0]["deleted"]) if res else 0
            removed += n
            if n < batch:
                return removed


def _checked(label: str) -> str:
    if label not in TEXT_LABELS:
        raise ValueError(f"label must be one of {TEXT_LABELS}")
    return label.lower()
