"""The base (layer-0) vectors of the last published full run, kept on local disk: the next
full run's warm start.

Not the published vectors: those are propagated over every interaction, the temporal
hold-out's included (training.full publishes them so that serving sees the newest events).
A full run warm-started from them started from vectors that had seen its own valid and test
events, so its early stopping and its hold-out metric (the quality gate's input, the run's
record) were inflated: at 1M events, with no new event between two full runs, NDCG@20 read
0.0775 on the first and 0.0860 on the second. The base vectors are the trained embeddings
before any propagation, fitted on that run's train part only; the split is temporal and
events are only added, so the next run's train part holds those events too and its
hold-out stays unseen.

A cache, like the text vectors' (training.text_cache): one file per graph, replaced
atomically; without it (a new job host, a wiped DATA_DIR, an unreadable file) a full run
trains from scratch, which is correct, only slower.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from graph_schema.columns import VectorTable

log = logging.getLogger(__name__)

LABELS = ("user", "item", "interest")
FILE = "base.npz"


class BaseVectors:
    def __init__(self, root: Path | None) -> None:
        self.root = root

    @property
    def path(self) -> Path | None:
        return None if self.root is None else self.root / FILE

    def load(self) -> dict[str, VectorTable]:
        """label -> the saved vectors by node id ({} without a file, or when it cannot be read)."""
        path = self.path
        if path is None or not path.exists():
            return {}
        try:
            with np.load(path, allow_pickle=False) as saved:
                return {
                    label: VectorTable(saved[f"{label}_ids"].tolist(), saved[f"{label}_vectors"]) for label in LABELS
                }
        except Exception as exc:  # a damaged file is only a miss: the run trains from scratch
            log.warning("base vectors %s unreadable (%s): the full run trains from scratch", path, exc)
            return {}

    def save(self, tables: dict[str, VectorTable]) -> bool:
        """Replace the saved vectors with `tables`; a failure is logged and returns False (the
        run is published either way)."""
        path = self.path
        if path is None:
            return False
        arrays: dict[str, np.ndarray] = {}
        for label in LABELS:
            table = tables[label]
            arrays[f"{label}_ids"] = np.array(table.ids, dtype=str)
            arrays[f"{label}_vectors"] = np.asarray(table.vectors, dtype=np.float32)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as out:
                    np.savez(out, **arrays)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            return True
        except Exception as exc:
            log.warning("base vectors not saved to %s: %s", path, exc)
            return False

    def forget(self) -> None:
        """Remove the saved vectors (the next full run trains from scratch)."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)
