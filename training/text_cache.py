"""The text vectors of the last refresh, kept on local disk by text hash.

A text vector depends only on the text and the encoder, and `text_hash` covers both, so a
vector found here under a text's hash is the vector the encoder would give it: this is a
content-addressed cache, never stale, whatever graph or run wrote it. It spares the text
phase pulling every stored vector from the graph as JSON numbers (3.9 s of a 38 s
incremental refresh at 1M events, 20,000 items x 384 floats); on a machine without it (a
new job host, a wiped DATA_DIR) the phase pulls them from the graph as before and writes
the cache for the next run. One file per label, replaced atomically.

With each label's node ids in text order and a manifest naming the catalogue revision the
texts were read at (Catalogue.items_rev, moved by every item and interest upsert), the
cache is also the whole text phase's answer while that revision stands: a run then reads
no text from the graph at all (1.7 s of a 1M-event incremental refresh).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from training.local_files import replace_atomically

log = logging.getLogger(__name__)


class TextVectorCache:
    def __init__(self, root: Path | None) -> None:
        self.root = root

    def _path(self, label: str) -> Path | None:
        return None if self.root is None else self.root / f"{label.lower()}.npz"

    def load(self, label: str) -> dict[str, np.ndarray]:
        """hash -> vector ({} without a cache, or when it cannot be read)."""
        path = self._path(label)
        if path is None or not path.exists():
            return {}
        try:
            with np.load(path, allow_pickle=False) as saved:
                hashes, vectors = saved["hashes"], saved["vectors"]
            return dict(zip(hashes.tolist(), vectors, strict=True))
        except Exception as exc:  # a damaged file is only a miss
            log.warning("text vector cache %s unreadable (%s): pulling from the graph", path, exc)
            return {}

    def save(self, label: str, hashes: list[str], vectors: np.ndarray, ids: list[str] | None = None) -> bool:
        """Replace the label's cache with these (the run's current texts, rows in `ids`
        order); a failure is logged and returns False."""
        path = self._path(label)
        if path is None:
            return False
        arrays = {"hashes": np.array(hashes, dtype=str), "vectors": np.asarray(vectors, dtype=np.float32)}
        if ids is not None:
            arrays["ids"] = np.array(ids, dtype=str)
        return self._replace(path, lambda fh: np.savez(fh, **arrays))

    def forget_manifest(self) -> None:
        """Before the labels are saved again: until the new manifest is written (only once
        every label is), no revision is claimed for files that may be half replaced."""
        if self.root is not None:
            try:
                (self.root / "manifest.json").unlink(missing_ok=True)
            except OSError as exc:
                log.warning("text vector cache manifest in %s not removed: %s", self.root, exc)

    def save_manifest(self, catalogue_rev: int, encoder: str) -> None:
        """Record that the saved labels are every node text as of `catalogue_rev`."""
        path = None if self.root is None else self.root / "manifest.json"
        if path is not None:
            body = json.dumps({"catalogue_rev": catalogue_rev, "encoder": encoder}).encode()
            self._replace(path, lambda fh: fh.write(body))

    def texts_at(self, catalogue_rev: int, encoder: str, labels: list[str]) -> dict[str, tuple[list[str], np.ndarray]]:
        """label -> (node ids, their vectors) as saved at `catalogue_rev` with `encoder`;
        {} when the manifest names another revision or a file is missing or unreadable."""
        if self.root is None or not catalogue_rev:
            return {}
        try:
            manifest = json.loads((self.root / "manifest.json").read_bytes())
            if manifest != {"catalogue_rev": catalogue_rev, "encoder": encoder}:
                return {}
            out = {}
            for label in labels:
                path = self._path(label)
                assert path is not None
                with np.load(path, allow_pickle=False) as saved:
                    ids, vectors = saved["ids"].tolist(), saved["vectors"]
                if len(ids) != len(vectors):
                    return {}
                out[label] = (ids, np.asarray(vectors, dtype=np.float32))
            return out
        except FileNotFoundError:
            return {}
        except Exception as exc:  # a damaged file is only a miss
            log.warning("text vector cache %s unreadable (%s): reading the texts from the graph", self.root, exc)
            return {}

    def _replace(self, path: Path, write: Callable[[BinaryIO], object]) -> bool:
        try:
            replace_atomically(path, write)
            return True
        except OSError as exc:
            log.warning("text vector cache %s not written: %s", path, exc)
            return False
