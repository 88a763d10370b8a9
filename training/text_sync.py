"""Bring the stored text vectors up to date: the refresh's text phase.

Every Item's text (title, description, string attributes) and every Interest's (name and
description) is read from the graph with the hash and vector the last run stored beside
it; only the texts whose hash changed are embedded (in batches, with a progress bar on a
terminal), and written back at once as `text_embedding` / `text_hash`. They are not
versioned with the model: a vector depends on the text and the encoder only, and the hash
covers both, so a rejected run still leaves a valid cache for the next.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from training import text
from training.text_cache import TextVectorCache

if TYPE_CHECKING:
    from training.store_protocol import RefreshStore

log = logging.getLogger(__name__)

# properties of an Item that are the system's bookkeeping, not the catalogue's words
_NOT_TEXT = frozenset({"id", "title", "description", "text_hash", "model_version"})
_NOT_TEXT_PREFIXES = ("next_", "recs_")


@dataclass(frozen=True)
class TextVectors:
    """Nodes with a text, and their unit-length text vectors (rows in `ids` order)."""

    ids: list[str]
    vectors: np.ndarray  # (len(ids), text.DIMENSIONS), float32

    def by_id(self) -> dict[str, np.ndarray]:
        return dict(zip(self.ids, self.vectors, strict=True))


@dataclass(frozen=True)
class TextSync:
    items: TextVectors
    interests: TextVectors
    counts: dict[str, int]  # texts embedded this run and left unchanged, per label
    # the catalogue revision read before the texts (the text tags chosen from them record it)
    catalogue_rev: int = 0


def item_node_text(props: Mapping[str, Any]) -> str:
    """An Item node's text, as training.text.item_text joins a catalogue record's."""
    attributes = {k: v for k, v in props.items() if k not in _NOT_TEXT and not k.startswith(_NOT_TEXT_PREFIXES)}
    return text.item_text(props.get("title"), props.get("description"), attributes)


def interest_node_text(props: Mapping[str, Any]) -> str:
    """An Interest node's text: its name (its id when it has none) and description."""
    return text.item_text(str(props.get("name") or props.get("id") or ""), props.get("description"))


NODE_TEXT = {"Item": item_node_text, "Interest": interest_node_text}


def sync_texts(
    store: RefreshStore,
    device: str = "cpu",
    batch_size: int = 64,
    cache: TextVectorCache | None = None,
    *,
    precision: str = "auto",
) -> TextSync:
    """Embed the changed texts of every Item and Interest, write them, and return all text
    vectors: an unchanged text's from `cache` when it holds its hash, else the graph's."""
    cache = cache or TextVectorCache(None)
    # read first: an upsert after this is newer than the texts and catalogue tags this run uses
    catalogue_rev = store.catalogue_items_rev()
    saved = cache.texts_at(catalogue_rev, text.MODEL_VERSION, list(NODE_TEXT))
    counts: dict[str, int] = {}
    if saved:  # no item or interest upserted since the last run read every text: its answer stands
        for label, (ids, _) in saved.items():
            counts[f"{label.lower()}_texts_embedded"] = 0
            counts[f"{label.lower()}_texts_unchanged"] = len(ids)
        log.info("text: the catalogue is unchanged since the cached texts were read: none read")
        return TextSync(TextVectors(*saved["Item"]), TextVectors(*saved["Interest"]), counts, catalogue_rev)
    cache.forget_manifest()
    complete = True  # every label's file saved: only then is the revision recorded
    out: dict[str, TextVectors] = {}
    for label, node_text in NODE_TEXT.items():
        texts: dict[str, str] = {}
        graph_hashes: dict[str, str | None] = {}
        for row in store.pull_texts(label):
            words = node_text(row["props"])
            if words:
                texts[row["id"]] = words
                graph_hashes[row["id"]] = row["props"].get("text_hash")
        digests = {key: text.text_hash(words) for key, words in texts.items()}
        cached = cache.load(label)
        known = {key: cached[d] for key, d in digests.items() if d in cached and len(cached[d]) == text.DIMENSIONS}
        # the graph's stored vectors are needed only for unchanged texts the cache lacks
        unknown_unchanged = any(graph_hashes[k] == digests[k] for k in texts if k not in known)
        stored = store.pull_text_vectors(label) if unknown_unchanged else {}
        hashes: dict[str, str | None] = {}
        for key in texts:
            if key in known:
                hashes[key] = digests[key]
                continue
            vector = stored.get(key)
            # a hash without its vector (never expected): embed it again
            ok = vector is not None and len(vector) == text.DIMENSIONS
            hashes[key] = graph_hashes[key] if ok else None
        update = text.embed_changed(
            texts, hashes, device=device, batch_size=batch_size, progress=sys.stderr.isatty(), precision=precision
        )
        # texts the cache knows but the graph holds another hash for (e.g. the text changed
        # back to an earlier one): written from the cache, not embedded again
        restored = [k for k in known if graph_hashes[k] != digests[k]]
        rewrite = text.EmbeddingUpdate(
            [*update.ids, *restored],
            [*update.hashes, *(digests[k] for k in restored)],
            np.concatenate(
                [
                    update.vectors.reshape(-1, text.DIMENSIONS),
                    np.asarray([known[k] for k in restored], dtype=np.float32).reshape(-1, text.DIMENSIONS),
                ]
            ),
            unchanged=update.unchanged,
        )
        store.write_text_embeddings(label, text.as_rows(rewrite))
        fresh = dict(zip(update.ids, update.vectors, strict=True))
        ids = list(texts)
        matrix = np.zeros((len(ids), text.DIMENSIONS), dtype=np.float32)
        for row, key in enumerate(ids):
            matrix[row] = fresh[key] if key in fresh else known[key] if key in known else stored[key]
        complete = cache.save(label, [digests[k] for k in ids], matrix, ids) and complete
        out[label] = TextVectors(ids, matrix)
        counts[f"{label.lower()}_texts_embedded"] = len(update.ids)
        counts[f"{label.lower()}_texts_unchanged"] = update.unchanged
        log.info("text: %s embedded %d texts, %d unchanged", label, len(update.ids), update.unchanged)
    if complete:
        cache.save_manifest(catalogue_rev, text.MODEL_VERSION)
    if any(counts[f"{label.lower()}_texts_embedded"] for label in NODE_TEXT):
        text.release_encoder()  # out of the way of the training that follows
    return TextSync(out["Item"], out["Interest"], counts, catalogue_rev)
