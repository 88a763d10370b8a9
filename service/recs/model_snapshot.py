"""One read-only serving snapshot per published model version, shared by every worker.

What a computed answer needs of the model besides the user's own profile — the items'
vectors, their similar-item lists, their titles and interests — is the same for every
request until the next publish. Each worker used to read it from the graph a few
items at a time and keep its own copy. Instead, once per version, one process writes
it to RECS_SNAPSHOT_DIR/<graph>/<version>@<published_at>/ as flat arrays (numpy .npy files) and every
worker memory-maps them: the pages live once in the OS page cache, whatever the
number of workers, and a new version is a new directory (nothing is rebuilt per
request, nothing is mutated under a reader). <graph> tells apart the graphs sharing
a DATA_DIR; the publish time tells apart two publishes that reused a version name
(a graph rebuilt from scratch).

Who writes it: the refresh job right after it publishes (service/jobs/refresh.py),
and otherwise the first worker that meets a version without one (another host, a
version published before this code) — in a background thread, under a file lock so
that one process of the host builds it. Until it exists a worker serves from the
graph, as before (PublishedModel's per-worker caches).

Layout of a version's directory (written under a temporary name, then renamed:
a reader sees a complete snapshot or none):
  meta.json        {version, published_at, similar_version, items, dim, per_item, built_at}
  items.json       {ids, titles, interests}: one entry per item, in id order
  vectors.npy      float64 [items, dim] (as the graph stores them); zeros where the version has none
  has_vector.npy   bool [items]
  neighbours.npy   int32 [items, per_item]: row indices, best first, -1 past the end
  scores.npy       float64 [items, per_item]
  by_text.npy      bool [items, per_item]: the similarity comes from an item's text alone (via 'text')
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from graph_schema.clock import now_ms
from graph_schema.store.serving import ServingReads
from graph_schema.store.serving_rows import Neighbour

log = logging.getLogger(__name__)

PAGE = 2000  # items per snapshot read
RECHECK_S = 1.0  # how often a worker looks again for a snapshot another process builds


@dataclass(frozen=True)
class ModelSnapshot:
    """A published version's item vectors, neighbour lists, titles and interests."""

    version: str
    published_at: int | None
    similar_version: str
    path: Path
    ids: list[str]
    index: dict[str, int]
    titles: list[str | None]
    interests: list[tuple[str, ...]]
    vectors: np.ndarray  # float64 [n, dim], memory-mapped
    has_vector: np.ndarray  # bool [n]
    neighbour_rows: np.ndarray  # int32 [n, per_item]
    neighbour_scores: np.ndarray  # float64 [n, per_item]
    neighbour_by_text: np.ndarray  # bool [n, per_item]

    @classmethod
    def open(cls, path: Path) -> ModelSnapshot:
        meta = orjson.loads((path / "meta.json").read_bytes())
        items = orjson.loads((path / "items.json").read_bytes())
        ids = items["ids"]

        def array(name: str) -> np.ndarray:
            return np.load(path / name, mmap_mode="r")

        return cls(
            version=meta["version"],
            published_at=meta.get("published_at"),
            similar_version=meta["similar_version"],
            path=path,
            ids=ids,
            index={item: n for n, item in enumerate(ids)},
            titles=items["titles"],
            interests=[tuple(t) for t in items["interests"]],
            vectors=array("vectors.npy"),
            has_vector=array("has_vector.npy"),
            neighbour_rows=array("neighbours.npy"),
            neighbour_scores=array("scores.npy"),
            neighbour_by_text=array("by_text.npy"),
        )

    def knows(self, item_id: str) -> bool:
        return item_id in self.index

    def neighbours(self, item_id: str, k: int) -> tuple[Neighbour, ...]:
        """The item's neighbours in this version, best first, at most k (() if none)."""
        row = self.index.get(item_id)
        if row is None:
            return ()
        ids = self.ids
        rows = self.neighbour_rows[row, :k].tolist()
        scores = self.neighbour_scores[row, :k].tolist()
        by_text = self.neighbour_by_text[row, :k].tolist()
        return tuple(
            Neighbour(ids[r], s, "text" if t else None) for r, s, t in zip(rows, scores, by_text, strict=True) if r >= 0
        )

    def vector_rows(self, item_ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """The items with a vector in this version, and those vectors [len, dim]."""
        found = [(i, r) for i in item_ids if (r := self.index.get(i)) is not None]
        rows = [r for _, r in found]
        has = self.has_vector[rows] if rows else np.zeros(0, dtype=bool)
        kept = [i for (i, _), h in zip(found, has.tolist(), strict=True) if h]
        return kept, self.vectors[[r for r, h in zip(rows, has.tolist(), strict=True) if h]]

    def meta(self, item_id: str) -> tuple[str | None, tuple[str, ...]] | None:
        """(title, interest ids) as of the build, or None for an item it does not know."""
        row = self.index.get(item_id)
        return None if row is None else (self.titles[row], self.interests[row])


def dir_name(version: str, published_at: int | None) -> str:
    return f"{version}@{published_at or 0}"


def write(store: ServingReads, root: Path, per_item: int, keep: int = 3) -> Path | None:
    """Build the published model's snapshot from the graph into root/<version>@<published_at>
    (idempotent: an existing one is kept) and remove all but the `keep` newest. None
    before any model. Raises RuntimeError if another model was published meanwhile."""
    published = store.published()
    if published is None:
        return None
    version, similar_version = published.version, published.similar_version
    final = root / dir_name(version, published.published_at)
    if (final / "meta.json").exists():
        return final
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    ids: list[str] = []
    titles: list[str | None] = []
    interests: list[list[str]] = []
    vectors: dict[int, tuple[float, ...]] = {}
    neighbours: list[tuple[tuple[str, float, bool], ...]] = []
    after = ""
    while page := store.snapshot_page(version, similar_version, after, PAGE, per_item):
        for it in page:
            if it.embedding is not None:
                vectors[len(ids)] = it.embedding
            ids.append(it.item_id)
            titles.append(it.title)
            interests.append(list(it.interests))
            neighbours.append(tuple((n.item_id, n.score, n.via == "text") for n in it.neighbours))
        after = page[-1].item_id
    if store.published() != published:
        raise RuntimeError(f"model {version} is no longer the published one: its snapshot is not written")
    index = {item: n for n, item in enumerate(ids)}
    dim = len(next(iter(vectors.values()))) if vectors else 0
    vec = np.zeros((len(ids), dim), dtype=np.float64)
    has = np.zeros(len(ids), dtype=bool)
    for row, v in vectors.items():
        if len(v) == dim:
            vec[row] = v
            has[row] = True
    nb = np.full((len(ids), per_item), -1, dtype=np.int32)
    sc = np.zeros((len(ids), per_item), dtype=np.float64)  # as the graph stores them: answers match exactly
    tx = np.zeros((len(ids), per_item), dtype=bool)
    for row, lst in enumerate(neighbours):
        known = [(index[i], s, t) for i, s, t in lst if i in index][:per_item]
        if known:
            nb[row, : len(known)] = [r for r, _, _ in known]
            sc[row, : len(known)] = [s for _, s, _ in known]
            tx[row, : len(known)] = [t for _, _, t in known]
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=root))
    try:
        np.save(tmp / "vectors.npy", vec)
        np.save(tmp / "has_vector.npy", has)
        np.save(tmp / "neighbours.npy", nb)
        np.save(tmp / "scores.npy", sc)
        np.save(tmp / "by_text.npy", tx)
        (tmp / "items.json").write_bytes(orjson.dumps({"ids": ids, "titles": titles, "interests": interests}))
        meta = {"version": version, "published_at": published.published_at, "similar_version": similar_version,
                "items": len(ids), "dim": dim, "per_item": per_item, "built_at": now_ms()}  # fmt: skip
        (tmp / "meta.json").write_bytes(orjson.dumps(meta))  # last: its presence means complete
        for f in tmp.iterdir():
            with f.open("rb") as fh:
                os.fsync(fh.fileno())
        tmp.chmod(0o755)
        try:
            tmp.rename(final)
        except OSError:  # another process renamed its own first: same content
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    prune(root, keep, final.name)
    log.info(
        "serving snapshot of %s: %d items, %d vectors, in %.1f s", version, len(ids), int(has.sum()),
        time.perf_counter() - started,
    )  # fmt: skip
    return final


def prune(root: Path, keep: int, current: str) -> None:
    """Remove all but the `keep` newest snapshots (never `current`). A worker still
    mapping a removed one keeps reading it: unlinked files live while mapped."""
    done = [p for p in root.iterdir() if p.is_dir() and (p / "meta.json").exists()]
    done.sort(key=lambda p: (p / "meta.json").stat().st_mtime, reverse=True)
    for p in done[max(keep, 1) :]:
        if p.name != current:
            shutil.rmtree(p, ignore_errors=True)
    for p in root.glob(".*"):  # a build killed half-way, older than an hour
        if p.is_dir() and time.time() - p.stat().st_mtime > 3600:
            shutil.rmtree(p, ignore_errors=True)


@contextlib.contextmanager
def _build_lock(root: Path) -> Iterator[bool]:
    """Whether this process holds the host-wide lock for building a snapshot under root."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".build.lock", "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class SharedSnapshots:
    """A worker's view of the snapshots: the published model's, opened once; a missing
    one is built in the background (see the module notes)."""

    def __init__(self, root: Path, per_item: int, keep: int) -> None:
        self.root = root
        self.per_item = per_item
        self.keep = keep
        self._current: ModelSnapshot | None = None
        self._looked: dict[str, float] = {}
        self._building = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def get(self, store: ServingReads, version: str | None, published_at: int | None) -> ModelSnapshot | None:
        """The snapshot of the publish (version, published_at), or None while there is
        none (serve from the graph)."""
        if version is None:
            return None
        snap = self._current
        if snap is not None and snap.version == version and snap.published_at == published_at:
            return snap
        name = dir_name(version, published_at)
        now = time.monotonic()
        if now - self._looked.get(name, -RECHECK_S) < RECHECK_S:
            return None
        self._looked = {name: now}
        path = self.root / name
        if (path / "meta.json").exists():
            try:
                snap = ModelSnapshot.open(path)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("serving snapshot %s unreadable (%s): serving from the graph", path, exc)
                return None
            self._current = snap
            return snap
        self._build_later(store)
        return None

    def _build_later(self, store: ServingReads) -> None:
        with self._lock:
            if self._building:
                return
            self._building = True

        def build() -> None:
            try:
                with _build_lock(self.root) as mine:
                    if mine:
                        write(store, self.root, self.per_item, self.keep)
            except Exception as exc:  # serving goes on from the graph; the next check retries
                log.warning("serving snapshot not built: %s", exc)
            finally:
                with self._lock:
                    self._building = False

        self._thread = threading.Thread(target=build, name="serving-snapshot", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for a background build (before closing the store it reads)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def drop(self) -> None:
        self._current = None
        self._looked = {}
