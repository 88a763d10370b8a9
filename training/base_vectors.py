"""The base (layer-0) vectors of the last published full run, kept on local disk: the next
full run's warm start.

Not the published vectors: those are propagated over every interaction, the temporal
hold-out's included (training.full publishes them so that serving sees the newest events).
A full run warm-started from them started from vectors that had seen its own valid and test
events, so its early stopping and its hold-out metric (the quality gate's input, the run's
record) were inflated: at 1M events, with no new event between two full runs, NDCG@20 read
0.0775 on the first and 0.0860 on the second. The base vectors are the trained embeddings
before any propagation, fitted on that run's train part only. The split is temporal per
user, but its boundary can still move back over a trained event: a user's hold-out grows by
one each 10 interactions (9 -> 10: the 9th, trained before, is now in valid), and deletions or
a graph restored from an older dump move it too. So the (user, item) pairs each run trained on
are kept beside the vectors, and a user with any of them in the next run's hold-out starts
from scratch (`Saved.without_seen`): 648 of 49,998 users (1.3 %) in a full run at 1M events after
1 % new events.

A cache, like the text vectors' (training.text_cache): one file per graph, replaced
atomically; without it (a new job host, a wiped DATA_DIR, an unreadable file) a full run
trains from scratch, which is correct, only slower.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from graph_schema.columns import VectorTable
from training.data import LABELS, TrainingData
from training.local_files import replace_atomically

log = logging.getLogger(__name__)

FILE = "base.npz"


def _no_pairs() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class Saved:
    """What a published full run kept: its base vectors per label, and the (user, item)
    pairs it trained on, as rows of the user and item tables."""

    tables: dict[str, VectorTable] = field(default_factory=dict)
    trained: tuple[np.ndarray, np.ndarray] = field(default_factory=_no_pairs)

    def without_seen(self, data: TrainingData, held_out: np.ndarray) -> tuple[dict[str, VectorTable], int]:
        """The tables to warm-start `data` from, without the users whose pairs at `held_out`
        (rows of `data`: this run's valid and test parts) the saved run trained on; and how
        many users that dropped."""
        if not self.tables or not len(held_out):
            return dict(self.tables), 0
        users, items = self.tables["user"], self.tables["item"]
        # the trained pairs in this run's indexes (pairs of nodes it no longer has: gone)
        u = np.array([data.users.pos.get(x, -1) for x in users.ids], dtype=np.int64)[self.trained[0]]
        i = np.array([data.items.pos.get(x, -1) for x in items.ids], dtype=np.int64)[self.trained[1]]
        known = (u >= 0) & (i >= 0)
        trained_keys = u[known] * data.n_items + i[known]
        held_users, held_items = data.user[held_out], data.item[held_out]
        seen = np.isin(held_users * data.n_items + held_items, trained_keys)
        dropped = {data.users.ids[k] for k in np.unique(held_users[seen]).tolist()}
        if not dropped:
            return dict(self.tables), 0
        keep = [k for k, node in enumerate(users.ids) if node not in dropped]
        vectors = np.asarray(users.vectors)[keep]
        tables = {**self.tables, "user": VectorTable([users.ids[k] for k in keep], vectors)}
        return tables, len(dropped)


class BaseVectors:
    def __init__(self, root: Path | None) -> None:
        self.root = root

    @property
    def path(self) -> Path | None:
        return None if self.root is None else self.root / FILE

    def load(self) -> Saved:
        """The saved vectors and trained pairs (empty without a file, or when it cannot be read)."""
        path = self.path
        if path is None or not path.exists():
            return Saved()
        try:
            with np.load(path, allow_pickle=False) as saved:
                tables = {
                    label: VectorTable(saved[f"{label}_ids"].tolist(), saved[f"{label}_vectors"]) for label in LABELS
                }
                trained = (saved["trained_user"], saved["trained_item"])  # int32 rows: half the memory
            return Saved(tables, trained)
        except Exception as exc:  # a damaged file is only a miss: the run trains from scratch
            log.warning("base vectors %s unreadable (%s): the full run trains from scratch", path, exc)
            return Saved()

    def save(self, tables: dict[str, VectorTable], trained: tuple[np.ndarray, np.ndarray]) -> bool:
        """Replace the saved vectors with `tables` and the pairs the run trained on
        (`trained`: rows of the user and item tables); a failure is logged and returns False
        (the run is published either way)."""
        path = self.path
        if path is None:
            return False
        arrays: dict[str, np.ndarray] = {
            "trained_user": np.asarray(trained[0], dtype=np.int32),
            "trained_item": np.asarray(trained[1], dtype=np.int32),
        }
        for label in LABELS:
            table = tables[label]
            arrays[f"{label}_ids"] = np.array(table.ids, dtype=str)
            arrays[f"{label}_vectors"] = np.asarray(table.vectors, dtype=np.float32)
        try:
            replace_atomically(path, lambda out: np.savez(out, **arrays))
            return True
        except Exception as exc:
            log.warning("base vectors not saved to %s: %s", path, exc)
            return False

    def forget(self) -> None:
        """Remove the saved vectors (the next full run trains from scratch)."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)
