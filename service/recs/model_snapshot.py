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

Who writes it: the refresh job right after it publishes (service/jobs/refresh.py; a
full run's users and SIMILAR_TO lists copied from the run's own arrays, an incremental
run's unchanged ones from the previous snapshot, the rest read from the graph),
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
and the user side, so that an experiment arm can pin this version after newer ones are
published (service/loop/experiments.py; read only for such arms, opened lazily):
  users.json       {ids, because}: the users in id order; `because` is the string table of
                   ranking_because (graph_schema.because)
  user_vectors.npy float64 [users, dim]; user_has_vector.npy bool [users]
  ranking_items.npy   int32 [users, length]: item row indices of the learned ranking, -1 past the end
  ranking_scores.npy  float64 [users, length]
  ranking_because.npy int32 [users, length]: index into `because`, -1 for none
  ranking_at.npy      int64 [users]: the newest interaction the ranking knew, -1 for none
meta.json's `users` is the user count (absent in snapshots written before the user side)
and `social_weight` the social weight the version's learned blend chose (null: none).

Pinning: a `.pin-<experiment id>` file in a version's directory keeps it from pruning
while that experiment runs (pin / unpin below).
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
from collections import OrderedDict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, cast

import numpy as np
import orjson

from graph_schema.clock import now_ms
from graph_schema.store.model_io import ModelIO
from graph_schema.store.serving import ServingReads
from graph_schema.store.serving_rows import Neighbour, RankedItem, SnapshotUser

log = logging.getLogger(__name__)

PAGE = 2000  # items per snapshot read
RECHECK_S = 1.0  # how often a worker looks again for a snapshot another process builds
PIN_PREFIX = ".pin-"


@dataclass(frozen=True)
class PinnedUser:
    """A user as a pinned version served them: vector and learned ranking."""

    embedding: tuple[float, ...] | None
    ranking: tuple[RankedItem, ...]
    ranking_at: int | None


def mapped(path: Path) -> np.ndarray:
    """The .npy file memory-mapped read-only, as a plain ndarray over the mapping: the
    pages stay shared, and indexing it skips np.memmap's per-result subclass work (~0.1 ms
    of a computed answer's ~30 small reads)."""
    return np.load(path, mmap_mode="r").view(np.ndarray)


class UserSide:
    """The users' vectors and learned rankings of one version: memory-mapped from a
    snapshot's files (open), or arrays in memory in the files' layout (e.g. what a refresh
    run staged, service/jobs/refresh.py, for the snapshot to copy instead of reading the graph)."""

    def __init__(
        self,
        ids: list[str],
        item_ids: list[str],
        because: list[str],
        vectors: np.ndarray,
        has_vector: np.ndarray,
        items: np.ndarray,
        scores: np.ndarray,
        because_rows: np.ndarray,
        at: np.ndarray,
    ) -> None:
        self.index = {u: n for n, u in enumerate(ids)}
        self.because = because
        self.item_ids = item_ids
        self.vectors, self.has_vector = vectors, has_vector
        self.items, self.scores = items, scores
        self.because_rows, self.at = because_rows, at

    @classmethod
    def open(cls, path: Path, item_ids: list[str]) -> UserSide:
        users = orjson.loads((path / "users.json").read_bytes())
        names = ("user_vectors", "user_has_vector", "ranking_items", "ranking_scores", "ranking_because", "ranking_at")
        return cls(users["ids"], item_ids, users["because"], *(mapped(path / f"{n}.npy") for n in names))

    def user(self, user_id: str) -> PinnedUser | None:
        row = self.index.get(user_id)
        if row is None:
            return None
        items = [r for r in self.items[row].tolist() if r >= 0]
        scores = self.scores[row, : len(items)].tolist()
        because = self.because_rows[row, : len(items)].tolist()
        at = int(self.at[row])
        return PinnedUser(
            embedding=tuple(self.vectors[row].tolist()) if self.has_vector[row] else None,
            ranking=tuple(
                RankedItem(self.item_ids[i], s, self.because[b] if b >= 0 else None)
                for i, s, b in zip(items, scores, because, strict=True)
            ),
            ranking_at=None if at < 0 else at,
        )


# neighbour sums kept per snapshot and worker (~8 KB each at 10 anchors x 20 neighbours)
SUMS_KEPT = 4096


@dataclass(frozen=True)
class NeighbourSums:
    """ModelSnapshot.neighbour_sums: per neighbour (items[n]) its summed score, the index
    into `anchors` of the anchor giving the most (-1: none), and whether that anchor's
    similarity to it comes from text alone."""

    items: list[str]
    sums: np.ndarray
    best_anchor: np.ndarray
    by_text: np.ndarray
    anchors: list[str]

    def rows(self) -> Iterator[tuple[str, float, int, bool]]:
        """(item, sum, best anchor, by text) per neighbour, as Python values. Made per
        use, not kept: as Python objects a kept sum would take ~4x the memory of its
        arrays (~85 MB a worker with SUMS_KEPT full), for ~10 µs a request."""
        return zip(self.items, self.sums.tolist(), self.best_anchor.tolist(), self.by_text.tolist(), strict=True)


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
    social_weight: float | None = None  # what the version's learned blend chose for its social source
    has_users: bool = False  # written with the user side (pinnable)
    # neighbour_sums per (k, anchors and weights), least recently used dropped first: a
    # user's anchors and their weights stay the same until the user acts again
    _sums: OrderedDict[tuple[Any, ...], NeighbourSums] = field(default_factory=OrderedDict, compare=False, repr=False)
    _sums_lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @classmethod
    def open(cls, path: Path) -> ModelSnapshot:
        meta = orjson.loads((path / "meta.json").read_bytes())
        items = orjson.loads((path / "items.json").read_bytes())
        ids = items["ids"]

        def array(name: str) -> np.ndarray:
            return mapped(path / name)

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
            social_weight=meta.get("social_weight"),
            has_users=meta.get("users") is not None,
        )

    @cached_property
    def users(self) -> UserSide | None:
        """The user side (opened on first use: by pinned arms, and by kept profiles to
        share the ranking's item ids); None in a snapshot written without one."""
        return UserSide.open(self.path, self.ids) if self.has_users else None

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

    def neighbour_sums(self, weights: dict[str, float], k: int) -> NeighbourSums:
        """_neighbour_sums, kept for the last SUMS_KEPT (k, weights) asked (a pure function
        of them and this version's arrays; the result is read-only, shared by requests)."""
        key = (k, *weights.items())
        with self._sums_lock:
            found = self._sums.get(key)
            if found is not None:
                self._sums.move_to_end(key)
                return found
        found = self._neighbour_sums(weights, k)
        for array in (found.sums, found.best_anchor, found.by_text):
            array.flags.writeable = False
        with self._sums_lock:
            self._sums[key] = found
            if len(self._sums) > SUMS_KEPT:
                self._sums.popitem(last=False)
        return found

    def _neighbour_sums(self, weights: dict[str, float], k: int) -> NeighbourSums:
        """Over the anchors of `weights` (in their order) and each one's first k neighbours:
        every neighbour's sum of (anchor weight × similarity), and the anchor giving the
        most (the first on ties; -1 when no contribution beats -1). The same sums, in the
        same order, as the loop over neighbours() in service/recs/sources/graph.py: a
        computed answer's graph source is a few array operations instead of ~200 tuples."""
        anchors = [a for a in weights if a in self.index]
        at = np.fromiter((self.index[a] for a in anchors), np.int64, len(anchors))
        rows = self.neighbour_rows[at, :k]
        keep = rows >= 0
        if not keep.any():
            return NeighbourSums([], np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool), anchors)
        which = np.broadcast_to(np.arange(len(anchors))[:, None], rows.shape)[keep]  # anchor-major, as the loop
        w = np.fromiter((weights[a] for a in anchors), np.float64, len(anchors))
        contribution = (w[:, None] * self.neighbour_scores[at, :k])[keep]
        items, slot = np.unique(rows[keep], return_inverse=True)
        sums = np.bincount(slot, weights=contribution, minlength=len(items))  # sequential: the loop's order
        # per item, the largest contribution, first anchor on ties
        order = np.lexsort((np.arange(len(slot)), -contribution, slot))
        first = order[np.r_[True, slot[order][1:] != slot[order][:-1]]]
        best = np.where(contribution[first] > -1.0, which[first], -1)
        by_text = self.neighbour_by_text[at, :k][keep][first]
        ids = self.ids
        return NeighbourSums([ids[r] for r in items.tolist()], sums, best, by_text, anchors)

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


def write(
    store: ServingReads,
    root: Path,
    per_item: int,
    keep: int = 3,
    users: bool = True,
    carry: Carry | None = None,
    staged: UserSide | None = None,
    staged_lists: ItemLists | None = None,
    staged_version: str | None = None,
) -> Path | None:
    """Build the published model's snapshot into root/<version>@<published_at>
    (idempotent: an existing one is kept) and remove all but the `keep` newest. None
    before any model. `users`: with the user side (pinnable). `carry`: the publish was
    incremental, and only `carry.changed` users differ from `carry.base`'s (the version
    it carried the others from): their rows are read, the others' copied from the base's
    snapshot when this root keeps it (else everything is read), and so are the
    SIMILAR_TO lists when the publish serves the base's (an incremental one does).
    `staged`: the users' vectors and rankings exactly as the publishing run wrote them
    (a full run's): copied, and only the graph's other users read; `staged_lists`: the
    SIMILAR_TO lists it wrote, copied instead of read (cut to `per_item` in the run's
    order: at a tie on the cut the graph may keep the other one). Both only while
    `staged_version`, the run's, is the published version.
    Raises RuntimeError if another model was published meanwhile, or while a batched
    publish is under way (store.publish_under_way)."""
    published = store.published()
    if published is None:
        return None
    if (pending := store.publish_under_way()) is not None:  # half its rows moved: neither version's whole
        raise RuntimeError(f"model {pending} is being published: no snapshot until it is")
    version, similar_version = published.version, published.similar_version
    if staged_version != version:  # another publish since the run's: its rows are not this one's
        staged, staged_lists = None, None
    final = root / dir_name(version, published.published_at)
    if (final / "meta.json").exists():
        return final
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    base = find(root, carry.base) if carry is not None else None
    # an incremental publish serves the lists its base served: copied, not read again
    lists = _base_lists(base, similar_version, per_item) if base is not None else None
    if lists is None and staged_lists is not None and similar_version == version:
        lists = staged_lists  # a full run's own lists: the ones this version serves
    # and keeps its base's item vectors but for those it staged: copied, only those read
    staged_items = carry.items_staged if carry is not None and base is not None else None
    side = _read_items(store, version, similar_version, per_item, neighbours=lists is None,
                       vectors=staged_items is None)  # fmt: skip
    if staged_items is not None and not _carry_item_vectors(store, version, side, base, staged_items):
        side = _read_items(store, version, similar_version, per_item, neighbours=lists is None)
    arrays = lists.remapped(side.index, per_item) if lists is not None else None
    if arrays is None and lists is not None:  # an item of the base is gone: read them all
        side = _read_items(store, version, similar_version, per_item, neighbours=True)
    if store.published() != published or store.publish_under_way() is not None:
        raise RuntimeError(f"model {version} is no longer the published one: its snapshot is not written")
    ids, titles, interests, index = side.ids, side.titles, side.interests, side.index
    vec, has = side.vector_arrays()
    dim = vec.shape[1]
    nb, sc, tx = arrays if arrays is not None else side.neighbour_arrays(per_item)
    user_side = None
    if users and carry is not None and base is not None:
        try:
            old = _base_users(base)
            if old is not None:
                user_side = _merged_user_side(store, version, index, old, base.name, carry.changed, carry.lists_kept)
        except Exception as exc:  # a damaged or odd base: read everything instead
            log.warning("serving snapshot of %s: carrying users from %s failed (%s)", version, base.name, exc)
    elif users and staged is not None:
        try:
            user_side = _merged_user_side(store, version, index, staged, "the run's own rows", ())
        except Exception as exc:  # odd rows: read everything instead
            log.warning("serving snapshot of %s: the run's own users could not be copied (%s)", version, exc)
    if users and user_side is None:
        user_side = _user_side(store, version, index)
    model = cast(ModelIO, store).current_model() or {}
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=root))
    try:
        if user_side is not None:
            for name, array in user_side.arrays.items():
                np.save(tmp / name, array)
            (tmp / "users.json").write_bytes(orjson.dumps({"ids": user_side.ids, "because": user_side.because}))
        np.save(tmp / "vectors.npy", vec)
        np.save(tmp / "has_vector.npy", has)
        np.save(tmp / "neighbours.npy", nb)
        np.save(tmp / "scores.npy", sc)
        np.save(tmp / "by_text.npy", tx)
        (tmp / "items.json").write_bytes(orjson.dumps({"ids": ids, "titles": titles, "interests": interests}))
        meta = {"version": version, "published_at": published.published_at, "similar_version": similar_version,
                "items": len(ids), "dim": dim, "per_item": per_item, "built_at": now_ms(),
                "users": len(user_side.ids) if user_side is not None else None,
                "social_weight": learned_social_weight(model.get("metrics") or {})
                if model.get("model_version") == version else None}  # fmt: skip
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


@dataclass
class _ItemSide:
    """The items as read from the graph for a snapshot, in id order."""

    ids: list[str]
    titles: list[str | None]
    interests: list[list[str]]
    vectors: dict[int, tuple[float, ...]]
    neighbours: list[tuple[tuple[str, float, bool], ...]]
    carried: tuple[np.ndarray, np.ndarray] | None = None  # (vectors, has_vector) when not read

    @property
    def index(self) -> dict[str, int]:
        return {item: n for n, item in enumerate(self.ids)}

    def vector_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self.carried is not None:
            return self.carried
        dim = len(next(iter(self.vectors.values()))) if self.vectors else 0
        vec = np.zeros((len(self.ids), dim), dtype=np.float64)
        has = np.zeros(len(self.ids), dtype=bool)
        for row, v in self.vectors.items():
            if len(v) == dim:
                vec[row] = v
                has[row] = True
        return vec, has

    def neighbour_arrays(self, per_item: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        index = self.index
        nb = np.full((len(self.ids), per_item), -1, dtype=np.int32)
        sc = np.zeros((len(self.ids), per_item), dtype=np.float64)  # as the graph stores them: answers match exactly
        tx = np.zeros((len(self.ids), per_item), dtype=bool)
        for row, lst in enumerate(self.neighbours):
            known = [(index[i], s, t) for i, s, t in lst if i in index][:per_item]
            if known:
                nb[row, : len(known)] = [r for r, _, _ in known]
                sc[row, : len(known)] = [s for _, s, _ in known]
                tx[row, : len(known)] = [t for _, _, t in known]
        return nb, sc, tx


def _read_items(
    store: ServingReads, version: str, similar_version: str, per_item: int, neighbours: bool, vectors: bool = True
) -> _ItemSide:
    side = _ItemSide([], [], [], {}, [])
    after = ""
    while page := store.snapshot_page(
        version, similar_version, after, PAGE, per_item, neighbours=neighbours, vectors=vectors or neighbours
    ):
        for it in page:
            if it.embedding is not None:
                side.vectors[len(side.ids)] = it.embedding
            side.ids.append(it.item_id)
            side.titles.append(it.title)
            side.interests.append(list(it.interests))
            side.neighbours.append(tuple((n.item_id, n.score, n.via == "text") for n in it.neighbours))
        after = page[-1].item_id
    return side


def _carry_item_vectors(
    store: ServingReads, version: str, side: _ItemSide, base: Path, staged: Collection[str]
) -> bool:
    """Fill `side`'s vectors (read without) for an incremental publish: the items it staged
    read from the graph, every other one's copied from the base snapshot (the version it
    carried them from; an item the base does not have had no vector to carry). False when
    the base's vectors cannot be used (damaged, or another size than the staged ones)."""
    try:
        base_ids: list[str] = orjson.loads((base / "items.json").read_bytes())["ids"]
        base_vec, base_has = np.load(base / "vectors.npy"), np.load(base / "has_vector.npy")
        if base_vec.ndim != 2 or base_vec.shape[0] != len(base_ids) or base_has.shape != (len(base_ids),):
            return False
    except Exception as exc:  # a damaged file: the vectors are read instead
        log.warning("serving snapshot: the item vectors of %s cannot be carried (%s): reading them", base.name, exc)
        return False
    index = side.index
    staged_rows = {index[i] for i in staged if i in index}
    rows = np.array([index.get(i, -1) for i in base_ids], dtype=np.int64)
    keep = (rows >= 0) & base_has
    if staged_rows:
        keep &= ~np.isin(rows, np.fromiter(staged_rows, np.int64, len(staged_rows)))
    fresh = store.item_embeddings(version, [side.ids[r] for r in sorted(staged_rows)]) if staged_rows else {}
    dims = {len(v) for v in fresh.values()} | ({base_vec.shape[1]} if keep.any() else set())
    if len(dims) > 1:
        return False
    dim = dims.pop() if dims else base_vec.shape[1]
    vec = np.zeros((len(side.ids), dim), dtype=np.float64)
    has = np.zeros(len(side.ids), dtype=bool)
    vec[rows[keep]] = base_vec[keep]
    has[rows[keep]] = True
    for item, v in fresh.items():
        vec[index[item]], has[index[item]] = v, True
    side.carried = (vec, has)
    return True


@dataclass
class ItemLists:
    """Similar-item arrays in another item order: the snapshot an incremental publish
    follows, or the lists a full run wrote (service/jobs/refresh.py)."""

    ids: list[str]
    neighbours: np.ndarray  # int32 [items, per_item]: rows into ids, -1 past the end
    scores: np.ndarray  # float64
    by_text: np.ndarray  # bool

    @classmethod
    def of_width(
        cls, ids: list[str], neighbours: np.ndarray, scores: np.ndarray, by_text: np.ndarray, per_item: int
    ) -> ItemLists:
        """Lists of any width (best first) cut or padded to `per_item`."""
        n, w = neighbours.shape[0], min(neighbours.shape[1], per_item)
        nb = np.full((n, per_item), -1, dtype=np.int32)
        sc = np.zeros((n, per_item), dtype=np.float64)
        tx = np.zeros((n, per_item), dtype=bool)
        nb[:, :w], sc[:, :w], tx[:, :w] = neighbours[:, :w], scores[:, :w], by_text[:, :w]
        return cls(ids, nb, sc, tx)

    def remapped(self, index: dict[str, int], per_item: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The arrays in this publish's item rows; None when an item of the base is gone
        (its lists, and others' mentions of it, are then read again). Items new since
        the base have no list of the base's version."""
        rows = np.array([index.get(i, -1) for i in self.ids] + [-1], dtype=np.int64)
        if (rows[:-1] < 0).any():
            return None
        n = len(index)
        nb = np.full((n, per_item), -1, dtype=np.int32)
        sc = np.zeros((n, per_item), dtype=np.float64)
        tx = np.zeros((n, per_item), dtype=bool)
        nb[rows[:-1]] = rows[self.neighbours]  # padding (-1) maps to the extra last entry, -1
        sc[rows[:-1]] = self.scores
        tx[rows[:-1]] = self.by_text
        return nb, sc, tx


def _base_lists(base: Path, similar_version: str, per_item: int) -> ItemLists | None:
    """The base snapshot's lists when they are the ones this publish serves (same
    SIMILAR_TO version, same width); None otherwise or when they cannot be read."""
    try:
        meta = orjson.loads((base / "meta.json").read_bytes())
        if meta.get("similar_version") != similar_version or meta.get("per_item") != per_item:
            return None
        ids = orjson.loads((base / "items.json").read_bytes())["ids"]
        lists = ItemLists(
            ids, np.load(base / "neighbours.npy"), np.load(base / "scores.npy"), np.load(base / "by_text.npy")
        )
        if not (lists.neighbours.shape == lists.scores.shape == lists.by_text.shape == (len(ids), per_item)):
            return None
        if lists.neighbours.size and not (lists.neighbours.min() >= -1 and lists.neighbours.max() < len(ids)):
            return None  # rows that name no item of the base: not its lists
        return lists
    except Exception as exc:  # a damaged file (EOFError, pickle, ...): the lists are only a shortcut
        log.warning("serving snapshot: the lists of %s cannot be carried (%s): reading them", base.name, exc)
        return None


@dataclass
class _UserArrays:
    ids: list[str]
    because: list[str]
    arrays: dict[str, np.ndarray]


@dataclass(frozen=True)
class Carry:
    """An incremental publish: the version it carried unchanged users from, and the users
    it changed (re-fitted). `lists_kept`: the publish staged no learned ranking, so every
    user's is still the base's (an incremental run's): of a changed user only the vector
    is read again."""

    base: str
    changed: Collection[str]
    lists_kept: bool = False
    # the items whose vectors the publish staged (None: not known): every other item's
    # vector is the base's, copied from its snapshot instead of read
    items_staged: Collection[str] | None = None


def _user_side(store: ServingReads, version: str, item_rows: dict[str, int]) -> _UserArrays:
    """The users' vectors and rankings as the graph holds them at this publish, page by
    page into arrays (no object per ranked item beyond one page)."""

    def pages() -> Iterator[list[SnapshotUser]]:
        after = ""
        while page := store.snapshot_user_page(version, after, PAGE):
            yield page
            after = page[-1].user_id

    return _user_arrays(pages(), item_rows)


def _base_users(base: Path) -> UserSide | None:
    """The user side of the snapshot at `base`; None when it was written without one."""
    meta = orjson.loads((base / "meta.json").read_bytes())
    if meta.get("users") is None:
        return None
    return UserSide.open(base, orjson.loads((base / "items.json").read_bytes())["ids"])


def _merged_user_side(
    store: ServingReads,
    version: str,
    item_rows: dict[str, int],
    old: UserSide,
    source: str,
    changed: Collection[str],
    lists_kept: bool = False,
) -> _UserArrays | None:
    """The user side of a publish whose users `old` holds but for `changed`: the users the
    graph holds now, the changed ones (and new ones, and any whose ranking names an item
    this version lost) read from the graph, every other copied from `old`'s arrays (item
    rows and "because" strings renumbered). `old` is the base snapshot of an incremental
    publish, or a full run's own rows (`source` names it in the log). With `lists_kept`, a
    changed user `old` holds (ranking intact) has only its vector read, its ranking copied
    (0.9 s of the snapshot of 8k re-fitted users at 1M events). None when the vector sizes
    differ."""
    base_items = old.item_ids
    now = sorted(store.snapshot_user_ids(version))
    # base item row -> this version's row (-1: gone); the extra last entry maps padding (-1)
    remap = np.array([item_rows.get(i, -1) for i in base_items] + [-1], dtype=np.int32)
    mapped = remap[old.items]
    lost = set(np.flatnonzero(((old.items >= 0) & (mapped < 0)).any(axis=1)).tolist())
    relisted = {old_id for old_id, row in old.index.items() if row in lost}
    reread = set(changed) | relisted
    fresh_ids = [u for u in now if u in reread or u not in old.index]
    # changed users whose ranking the base holds intact: vector read, ranking copied
    revector = [u for u in fresh_ids if lists_kept and u in old.index and u not in relisted]
    revectored = set(revector)
    fresh_ids = [u for u in fresh_ids if u not in revectored]

    def read(ids: list[str], lists: bool = True) -> _UserArrays:
        return _user_arrays(
            (store.snapshot_users_of(version, ids[k : k + PAGE], lists) for k in range(0, len(ids), PAGE)), item_rows
        )

    fresh = read(fresh_ids)
    vectors_of = read(revector, lists=False)
    old_dim, new_dim = old.vectors.shape[1], fresh.arrays["user_vectors.npy"].shape[1]
    vec_dim = vectors_of.arrays["user_vectors.npy"].shape[1]
    dims = {d for d, a in ((old_dim, old.has_vector), (new_dim, fresh.arrays["user_has_vector.npy"]),
                           (vec_dim, vectors_of.arrays["user_has_vector.npy"])) if a.any()}  # fmt: skip
    if len(dims) > 1:
        return None
    dim = max(old_dim, new_dim, vec_dim)
    width = max(old.items.shape[1], fresh.arrays["ranking_items.npy"].shape[1])
    n = len(now)
    items = np.full((n, width), -1, dtype=np.int32)
    scores = np.zeros((n, width), dtype=np.float64)
    because = np.full((n, width), -1, dtype=np.int32)
    at = np.full(n, -1, dtype=np.int64)
    vectors = np.zeros((n, dim), dtype=np.float64)
    has = np.zeros(n, dtype=bool)
    # the copied rows keep the base's string numbers; the read rows' follow them
    table = list(old.because)
    known = {b: k for k, b in enumerate(table)}
    fresh_strings = np.array([known.setdefault(b, len(known)) for b in fresh.because] + [-1], dtype=np.int32)
    table = list(known)
    fresh_row = {u: k for k, u in enumerate(fresh.ids)}
    carried = [k for k, u in enumerate(now) if u not in fresh_row]
    if carried:
        rows = [old.index[now[k]] for k in carried]
        w = old.items.shape[1]
        items[carried, :w] = mapped[rows]
        scores[carried, :w] = old.scores[rows]
        because[carried, :w] = old.because_rows[rows]
        at[carried] = old.at[rows]
        vectors[carried, :old_dim] = old.vectors[rows]
        has[carried] = old.has_vector[rows]
    if revector:  # their ranking copied above; the vector is this version's (none: not one of it)
        vec_row = {u: k for k, u in enumerate(vectors_of.ids)}
        at_rows = [k for k, u in enumerate(now) if u in revectored]
        found = [vec_row.get(now[k], -1) for k in at_rows]
        got = np.array(found, dtype=np.int64) >= 0
        has[at_rows] = False
        vectors[at_rows] = 0.0
        if got.any():
            dst = np.array(at_rows, dtype=np.int64)[got]
            src = np.array(found, dtype=np.int64)[got]
            vectors[dst, :vec_dim] = vectors_of.arrays["user_vectors.npy"][src]
            has[dst] = vectors_of.arrays["user_has_vector.npy"][src]
    read = [k for k, u in enumerate(now) if u in fresh_row]
    if read:
        rows = [fresh_row[now[k]] for k in read]
        a = fresh.arrays
        w = a["ranking_items.npy"].shape[1]
        items[read, :w] = a["ranking_items.npy"][rows]
        scores[read, :w] = a["ranking_scores.npy"][rows]
        because[read, :w] = fresh_strings[a["ranking_because.npy"][rows]]
        at[read] = a["ranking_at.npy"][rows]
        vectors[read, :new_dim] = a["user_vectors.npy"][rows]
        has[read] = a["user_has_vector.npy"][rows]
    # keep only the strings still used, renumbered
    used = np.unique(because[because >= 0])
    renumber = np.full(len(table) + 1, -1, dtype=np.int32)
    renumber[used] = np.arange(len(used), dtype=np.int32)
    because = renumber[because]  # -1 indexes the extra last entry: stays -1
    log.info(
        "serving snapshot of %s: %d users read, %d carried from %s",
        version,
        len(fresh.ids) + len(revector),
        n - len(fresh.ids) - len(revector),
        source,
    )
    return _UserArrays(
        ids=now,
        because=[table[k] for k in used.tolist()],
        arrays={
            "user_vectors.npy": vectors,
            "user_has_vector.npy": has,
            "ranking_items.npy": items,
            "ranking_scores.npy": scores,
            "ranking_because.npy": because,
            "ranking_at.npy": at,
        },
    )


def _user_arrays(pages: Iterable[list[SnapshotUser]], item_rows: dict[str, int]) -> _UserArrays:
    """Pages of users into the user side's arrays."""
    ids: list[str] = []
    because: dict[str, int] = {}
    vectors: list[np.ndarray] = []
    pages_out: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for page in pages:
        if not page:
            continue
        length = max((len(u.items) for u in page), default=0)
        dim = max((len(u.embedding or ()) for u in page), default=0)
        items = np.full((len(page), length), -1, dtype=np.int32)
        scores = np.zeros((len(page), length), dtype=np.float64)
        reasons = np.full((len(page), length), -1, dtype=np.int32)
        at = np.full(len(page), -1, dtype=np.int64)
        vec = np.zeros((len(page), dim), dtype=np.float64)
        has = np.zeros(len(page), dtype=bool)
        for n, u in enumerate(page):
            ids.append(u.user_id)
            m = min(len(u.items), len(u.scores), len(u.because))  # as the profile's read zips them
            rows = [item_rows.get(i, -1) for i in u.items[:m]]
            if -1 in rows:  # an item created after the items were read: not in this version's lists
                keep = [k for k, r in enumerate(rows) if r >= 0]
                rows, u_scores, u_because = (
                    [rows[k] for k in keep],
                    [u.scores[k] for k in keep],
                    [u.because[k] for k in keep],
                )
            else:
                u_scores, u_because = u.scores, u.because
            items[n, : len(rows)] = rows
            scores[n, : len(rows)] = u_scores[: len(rows)]
            reasons[n, : len(rows)] = [because.setdefault(b, len(because)) if b else -1 for b in u_because[: len(rows)]]
            at[n] = -1 if u.ranking_at is None else u.ranking_at
            if u.embedding is not None and len(u.embedding) == dim:
                vec[n], has[n] = u.embedding, True
        pages_out.append((items, scores, reasons, at, has))
        vectors.append(vec)
    pages = pages_out
    length = max((p[0].shape[1] for p in pages), default=0)
    dim = max((v.shape[1] for v in vectors), default=0)

    def padded(a: np.ndarray, width: int, fill: float) -> np.ndarray:
        return np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=fill)

    def joined(parts: list[np.ndarray], shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(shape, dtype=dtype)

    # a page whose vectors are all missing has width 0: it pads with zeros (has_vector False)
    return _UserArrays(
        ids=ids,
        because=list(because),
        arrays={
            "user_vectors.npy": joined([padded(v, dim, 0.0) for v in vectors], (0, dim), np.float64),
            "user_has_vector.npy": joined([p[4] for p in pages], (0,), bool),
            "ranking_items.npy": joined([padded(p[0], length, -1) for p in pages], (0, length), np.int32),
            "ranking_scores.npy": joined([padded(p[1], length, 0.0) for p in pages], (0, length), np.float64),
            "ranking_because.npy": joined([padded(p[2], length, -1) for p in pages], (0, length), np.int32),
            "ranking_at.npy": joined([p[3] for p in pages], (0,), np.int64),
        },
    )


def learned_social_weight(metrics: dict[str, Any]) -> float | None:
    """The `social` weight of a published run's blend record (training.combiner), if
    social was among its candidates; None otherwise."""
    blend = metrics.get("blend") or {}
    if "social" not in (blend.get("candidates") or ()):
        return None
    return float((blend.get("weights") or {}).get("social", 0.0))


def pinned(path: Path) -> bool:
    return any(path.glob(PIN_PREFIX + "*"))


def pinnable(root: Path, version: str) -> bool:
    """Whether root keeps a snapshot of `version` with its user side."""
    path = find(root, version)
    return path is not None and orjson.loads((path / "meta.json").read_bytes()).get("users") is not None


def pin(root: Path, version: str, experiment_id: str) -> bool:
    """Keep `version`'s newest snapshot under root from pruning while the experiment runs;
    False when there is none with a user side (the version cannot be served pinned)."""
    path = find(root, version)
    if path is None or not pinnable(root, version):
        return False
    (path / f"{PIN_PREFIX}{experiment_id}").touch()
    return True


def unpin(root: Path, experiment_id: str) -> None:
    for marker in root.glob(f"*/{PIN_PREFIX}{experiment_id}"):
        marker.unlink(missing_ok=True)


def find(root: Path, version: str) -> Path | None:
    """The newest complete snapshot of `version` under root (a version name reused by a
    rebuilt graph has one per publish), or None."""
    if not root.exists() or "/" in version or version.startswith("."):  # a name, never a path out of root
        return None
    found = [p for p in root.glob(f"{glob_escape(version)}@*") if (p / "meta.json").exists()]
    return max(found, key=lambda p: (p / "meta.json").stat().st_mtime, default=None)


def glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def readable(root: Path) -> list[dict[str, Any]]:
    """The snapshots under root, newest first: version, published_at, whether pinnable."""
    if not root.exists():
        return []
    out = []
    for p in root.iterdir():
        if p.is_dir() and (meta_file := p / "meta.json").exists():
            meta = orjson.loads(meta_file.read_bytes())
            pinnable = meta.get("users") is not None
            entry = {"model_version": meta["version"], "published_at": meta.get("published_at"), "pinnable": pinnable}
            out.append((meta_file.stat().st_mtime, entry))
    return [m for _, m in sorted(out, key=lambda x: x[0], reverse=True)]


def prune(root: Path, keep: int, current: str) -> None:
    """Remove all but the `keep` newest snapshots (never `current`, nor one a running
    experiment pins). A worker still mapping a removed one keeps reading it: unlinked
    files live while mapped."""
    done = [p for p in root.iterdir() if p.is_dir() and (p / "meta.json").exists() and not pinned(p)]
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

    def __init__(self, root: Path, per_item: int, keep: int, users: bool = True) -> None:
        self.root = root
        self.per_item = per_item
        self.keep = keep
        self.users = users
        self._current: ModelSnapshot | None = None
        self._looked: dict[str, float] = {}
        self._building = False
        self._pinned: dict[str, ModelSnapshot] = {}
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
                        write(store, self.root, self.per_item, self.keep, self.users)
            except Exception as exc:  # serving goes on from the graph; the next check retries
                log.warning("serving snapshot not built: %s", exc)
            finally:
                with self._lock:
                    self._building = False

        self._thread = threading.Thread(target=build, name="serving-snapshot", daemon=True)
        self._thread.start()

    def of_version(self, version: str) -> ModelSnapshot | None:
        """Version `version`'s snapshot with its user side (an experiment arm pinned to
        it), opened once per worker; None when this host has none."""
        snap = self._pinned.get(version)
        if snap is not None and (snap.path / "meta.json").exists():
            return snap
        path = find(self.root, version)
        try:
            snap = ModelSnapshot.open(path) if path is not None else None
        except (OSError, ValueError, KeyError) as exc:
            log.warning("serving snapshot %s unreadable (%s)", path, exc)
            snap = None
        if snap is None or not snap.has_users:
            self._pinned.pop(version, None)
            return None
        if len(self._pinned) >= 8:  # a few experiments' versions at most; forget the oldest
            self._pinned.pop(next(iter(self._pinned)))
        self._pinned[version] = snap
        return snap

    def join(self, timeout: float | None = None) -> None:
        """Wait for a background build (before closing the store it reads)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def drop(self) -> None:
        self._current = None
        self._looked = {}
