"""Candidate generation, ranking and explanations.

Sources of candidates for a user (each scored, then normalised to 0..1):

- graph:     with a published model, the SIMILAR_TO neighbours (of that model
             version) of the user's recent items, weighted by the decayed
             weight of the interaction; evidence: the anchor item ("similar to
             <title>"). Without a model (or without neighbours for the
             anchors), co-interaction: items of users who share the user's
             items ("users with similar taste also liked").
- interest:  the most popular (trending) items of the user's strongest
             interests: published strength when the model has one, live
             decayed evidence otherwise ("matches your interest <name>").
- embedding: user·item dot product of the published embeddings, used to
             re-rank the pooled candidates ("fits your taste profile").
- trending:  time-decayed popularity; a small prior in the blend, the fill when
             other sources run dry, and the whole answer for a cold start.

Seen items (the user's most recent RECS_SEEN_LIMIT interactions) and
`exclude` ids never come back; `interest=` keeps only items tagged with it.

Per-worker caches keep the hot path at one or two graph round trips: the
trending snapshot (refreshed in the background every RECS_CACHE_S), the current
model version (5 s), and per model version the neighbour lists and item
embeddings (bounded caches). A new model version simply misses the caches.
"""

from __future__ import annotations

import logging
import math
import operator
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from graph_schema.clock import now_ms
from graph_schema.decay import value_at
from graph_schema.store import GraphStore
from service.config import ApiSettings
from service.recs_cache import CachedAnswer, ResponseCache, UserState

log = logging.getLogger(__name__)

STRATEGIES = ("blend", "graph", "interest", "embedding")
MODEL_VERSION_TTL_S = 5.0
BLEND_WEIGHTS = {"graph": 0.45, "interest": 0.25, "embedding": 0.2, "trending": 0.1}
RERANK_POOL = 100  # candidates re-ranked by embeddings
INTEREST_ITEMS = 30  # most popular items taken per interest
TRENDING_ITEMS = 30  # trending items added to a blend
REASON_SHARE = 0.2  # a source is named as a reason when it gives >= 20% of the score
TRENDING_REASON_TOP = 100  # "trending" only for items this high in the snapshot


class UnknownInterest(LookupError):
    pass


class BoundedCache:
    """A dict that forgets everything when it grows past `capacity` (cheap on the hot
    path; entries are per model version and refill from one query)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._data: dict[Any, Any] = {}

    def get_many(self, keys: Iterable[Any]) -> tuple[dict[Any, Any], list[Any]]:
        data = self._data
        found, missing = {}, []
        for key in keys:
            value = data.get(key, _MISSING)
            if value is _MISSING:
                missing.append(key)
            else:
                found[key] = value
        return found, missing

    def put_many(self, items: dict[Any, Any]) -> None:
        if len(self._data) + len(items) > self.capacity:
            self._data = {}
        self._data.update(items)

    def clear(self) -> None:
        self._data = {}


_MISSING = object()


@dataclass
class Snapshot:
    """Trending items with their titles and tags, and the interest names."""

    loaded_at: float = 0.0
    trending: list[tuple[str, float]] = field(default_factory=list)  # normalised, best first
    score: dict[str, float] = field(default_factory=dict)
    position: dict[str, int] = field(default_factory=dict)
    titles: dict[str, str | None] = field(default_factory=dict)
    tags: dict[str, tuple[str, ...]] = field(default_factory=dict)
    by_interest: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    interest_names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, rows: list[dict[str, Any]], interests: list[dict[str, Any]]) -> Snapshot:
        snap = cls(loaded_at=time.monotonic())
        top = max((float(r["score"] or 0.0) for r in rows), default=0.0) or 1.0
        for pos, r in enumerate(rows):
            item = str(r["item_id"])
            s = float(r["score"] or 0.0) / top
            snap.trending.append((item, s))
            snap.score[item] = s
            snap.position[item] = pos
            snap.titles[item] = r.get("title")
            tags = tuple(t for t in (r.get("interests") or []) if t is not None)
            snap.tags[item] = tags
            for t in tags:
                snap.by_interest.setdefault(t, []).append((item, s))
        for lst in snap.by_interest.values():
            best = lst[0][1] or 1.0
            lst[:] = [(i, s / best) for i, s in lst]
        snap.interest_names = {str(r["interest_id"]): (r.get("name") or str(r["interest_id"])) for r in interests}
        return snap


@dataclass
class Profile:
    interactions: int
    seen: list[str]
    recent: list[tuple[str, str | None, float, int]]  # item, title, weight, last_ts
    interests: list[dict[str, Any]]
    embedding: list[float] | None
    model_version: str | None

    @classmethod
    def from_row(cls, p: Any) -> Profile:
        """`p`: recs_profile's map (FalkorDB's toJSON variant arrives decoded by the store)."""
        recent = [
            (str(r[0]), r[1], float(r[2] or 0.0), int(r[3] or 0))
            for r in p.get("recent") or []
            if r and r[0] is not None
        ]
        interests = [
            {
                "interest_id": str(r[0]),
                "name": r[1] or str(r[0]),
                "strength": r[2],
                "model_version": r[3],
                "evidence": r[4],
                "evidence_ts": r[5],
            }
            for r in p.get("interests") or []
            if r and r[0] is not None
        ]
        return cls(
            interactions=int(p.get("interactions") or 0),
            seen=[str(s) for s in p.get("seen") or [] if s is not None],
            recent=recent,
            interests=interests,
            embedding=p.get("embedding"),
            model_version=p.get("model_version"),
        )


@dataclass
class Scores:
    """Normalised (0..1) scores per source and item, and the evidence behind them.

    Plain dicts per source rather than an object per candidate: a request
    scores a few hundred candidates, and this is the hot path of the API.
    """

    by_source: dict[str, dict[str, float]] = field(default_factory=dict)
    anchor: dict[str, str] = field(default_factory=dict)  # item -> best anchor (similar_item)
    anchor_titles: dict[str, str | None] = field(default_factory=dict)
    peers: dict[str, int] = field(default_factory=dict)  # item -> peers (co_interaction)
    interest: dict[str, dict[str, Any]] = field(default_factory=dict)  # item -> strongest interest
    rank: dict[str, int] = field(default_factory=dict)  # item -> trending rank
    model_version: str | None = None

    def source(self, name: str) -> dict[str, float]:
        return self.by_source.setdefault(name, {})

    def items(self) -> set[str]:
        out: set[str] = set()
        for scores in self.by_source.values():
            out.update(scores)
        return out

    def totals(self, items: Iterable[str], weights: dict[str, float]) -> dict[str, float]:
        out = dict.fromkeys(items, 0.0)
        for src, w in weights.items():
            for item, score in self.by_source.get(src, {}).items():
                if item in out:
                    out[item] += w * score
        return out

    def explain(self, item: str, weights: dict[str, float]) -> tuple[list[str], list[dict[str, Any]]]:
        parts = [(src, w * self.by_source[src].get(item, 0.0)) for src, w in weights.items() if src in self.by_source]
        parts = sorted((p for p in parts if p[1] > 0), key=lambda p: -p[1])
        total = sum(c for _, c in parts) or 1.0
        reasons: list[str] = []
        evidence: list[dict[str, Any]] = []
        for src, contribution in parts:
            if reasons and contribution / total < REASON_SHARE:
                continue
            if src == "graph" and item in self.anchor:
                anchor = self.anchor[item]
                title = self.anchor_titles.get(anchor)
                reasons.append(f"similar to {title or anchor}, which you interacted with")
                evidence.append({"kind": "similar_item", "item_id": anchor, "title": title})
            elif src == "graph":
                n = self.peers.get(item, 0)
                reasons.append("users with similar taste also liked this" + (f" ({n} of them)" if n > 1 else ""))
                evidence.append({"kind": "co_interaction", "peers": n})
            elif src == "interest":
                ev = self.interest[item]
                reasons.append(f"matches your interest {ev['name']}")
                evidence.append({"kind": "interest", "interest_id": ev["interest_id"], "name": ev["name"]})
            elif src == "embedding":
                reasons.append("fits your taste profile in the published model")
                evidence.append({"kind": "embedding", "model_version": self.model_version})
            elif src == "trending":
                rank = self.rank.get(item, 10**9)
                if reasons and rank > TRENDING_REASON_TOP:
                    continue
                reasons.append("trending")
                evidence.append({"kind": "trending", "rank": rank})
        return reasons, evidence


class Recommender:
    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self._snapshot: Snapshot | None = None
        self._snapshot_lock = threading.Lock()
        self._refreshing = False
        self._mv: tuple[float, str | None] = (0.0, None)
        self._similar = BoundedCache(settings.recs_cache_items)
        self._embeddings = BoundedCache(settings.recs_cache_items)
        self.answers = ResponseCache(settings.recs_answer_cache, settings.recs_answer_ttl_s)
        self._tau_ms = settings.evidence_tau_ms
        self._trending_tau_ms = settings.trending_tau_days * 86_400_000.0

    # --- shared state ---------------------------------------------------------
    def model_version(self, store: GraphStore, known: Any = _MISSING) -> str | None:
        """The published version: `known` when the caller just read it, else cached for 5 s."""
        ts, mv = self._mv
        if known is _MISSING:
            if time.monotonic() - ts < MODEL_VERSION_TTL_S:
                return mv
            known = store.current_model_version()
        if known != mv:  # entries are keyed by version: drop the old version's at once
            self._similar.clear()
            self._embeddings.clear()
        self._mv = (time.monotonic(), known)
        return known

    def invalidate(self) -> None:
        self._mv = (0.0, None)
        self._snapshot = None
        self.answers.clear()

    def user_state(self, store: GraphStore, user_id: str) -> UserState:
        return UserState.from_rows(store.read_named("recs_user_state", user_id=user_id))

    def _load_snapshot(self, store: GraphStore) -> Snapshot:
        rows = store.read_named("trending", tau_ms=self._trending_tau_ms, limit=self.settings.trending_limit)
        interests = store.read_named("recs_interests", limit=100_000)
        return Snapshot.build(rows, interests)

    def snapshot(self, store: GraphStore | Callable[[], GraphStore]) -> Snapshot:
        """The trending snapshot; a stale one is served while a thread refreshes it."""
        get = store if callable(store) and not isinstance(store, GraphStore) else (lambda: store)
        snap = self._snapshot
        if snap is None:
            with self._snapshot_lock:
                if self._snapshot is None:
                    self._snapshot = self._load_snapshot(get())  # type: ignore[arg-type]
                return self._snapshot
        if time.monotonic() - snap.loaded_at > self.settings.recs_cache_s and not self._refreshing:
            self._refreshing = True

            def refresh() -> None:
                try:
                    self._snapshot = self._load_snapshot(get())  # type: ignore[arg-type]
                except Exception as exc:
                    log.warning("trending snapshot refresh failed: %s", exc)
                finally:
                    self._refreshing = False

            threading.Thread(target=refresh, name="trending-refresh", daemon=True).start()
        return snap

    def profile(self, store: GraphStore, user_id: str) -> Profile | None:
        rows = store.read_named(
            "recs_profile",
            user_id=user_id,
            anchors=self.settings.recs_anchor_items,
            seen_limit=self.settings.recs_seen_limit,
        )
        return Profile.from_row(rows[0]["profile"]) if rows else None

    def _similar_lists(self, store: GraphStore, mv: str, items: list[str]) -> dict[str, list[tuple[str, float]]]:
        found, missing = self._similar.get_many((mv, i) for i in items)
        out = {key[1]: value for key, value in found.items()}
        if missing:
            rows = store.read_named(
                "recs_similar",
                item_ids=[k[1] for k in missing],
                model_version=mv,
                per_item=self.settings.recs_similar_per_item,
            )
            fetched = {str(a): [(str(b), float(s or 0.0)) for b, s in lst] for a, lst in rows[0]["similar"] or []}
            new = {(mv, i): fetched.get(i, []) for _, i in missing}
            self._similar.put_many(new)
            out.update({k[1]: v for k, v in new.items()})
        return out

    def _item_embeddings(self, store: GraphStore, mv: str, items: list[str]) -> dict[str, list[float] | None]:
        found, missing = self._embeddings.get_many((mv, i) for i in items)
        out = {key[1]: value for key, value in found.items()}
        if missing:
            rows = store.read_named("recs_embeddings", item_ids=[k[1] for k in missing], model_version=mv)
            fetched = {str(i): [float(x) for x in vec] for i, vec in rows[0]["embeddings"] or []}
            new = {(mv, i): fetched.get(i) for _, i in missing}
            self._embeddings.put_many(new)
            out.update({k[1]: v for k, v in new.items()})
        return out

    def _meta(
        self, store: GraphStore, snap: Snapshot, items: Iterable[str]
    ) -> dict[str, tuple[str | None, tuple[str, ...]]]:
        out: dict[str, tuple[str | None, tuple[str, ...]]] = {}
        missing = []
        for i in items:
            if i in snap.tags:
                out[i] = (snap.titles.get(i), snap.tags[i])
            else:
                missing.append(i)
        if missing:
            for r in store.read_named("recs_item_meta", item_ids=missing):
                out[str(r["item_id"])] = (r.get("title"), tuple(t for t in r.get("interests") or [] if t))
        return out

    def interest_exists(self, store: GraphStore, snap: Snapshot, interest: str) -> bool:
        if interest in snap.interest_names:
            return True
        return bool(store.read_named("recs_interest_exists", interest_id=interest)[0]["n"])

    # --- sources ----------------------------------------------------------------
    def _graph_scores(
        self, store: GraphStore, prof: Profile, mv: str | None, user_id: str, excluded: set[str], sc: Scores
    ) -> None:
        out = sc.source("graph")
        if mv and prof.recent:
            newest = max(ts for _, _, _, ts in prof.recent)
            weights = {item: w * math.exp(-(newest - ts) / self._tau_ms) for item, _, w, ts in prof.recent}
            best: dict[str, float] = {}
            for anchor, neighbours in self._similar_lists(store, mv, list(weights)).items():
                wa = weights.get(anchor, 0.0)
                for item, sim in neighbours:
                    if item in excluded:
                        continue
                    contribution = wa * sim
                    out[item] = out.get(item, 0.0) + contribution
                    if contribution > best.get(item, -1.0):
                        best[item] = contribution
                        sc.anchor[item] = anchor
            top = max(out.values(), default=0.0)
            if top > 0:
                for item in out:
                    out[item] /= top
                sc.anchor_titles.update({item: title for item, title, _, _ in prof.recent})
                return
            out.clear()
            sc.anchor.clear()
        # no model, or no neighbours for the anchors: users who share the user's items
        rows = store.read_named(
            "recs_co_interaction", user_id=user_id, anchors=self.settings.recs_anchor_items,
            peers=self.settings.recs_peers, k=300,
        )  # fmt: skip
        found = [
            (str(item), float(score or 0.0), int(peers or 0))
            for item, score, peers in ((rows[0]["items"] or []) if rows else [])
            if str(item) not in excluded
        ]
        top = max((score for _, score, _ in found), default=0.0)
        if top <= 0:
            return
        for item, score, peers in found:
            out[item] = score / top
            sc.peers[item] = peers

    def interest_weights(self, prof: Profile, mv: str | None) -> list[tuple[dict[str, Any], float]]:
        """The user's interests with a weight: published strength, else live evidence."""
        now = now_ms()
        with_strength = [i for i in prof.interests if mv and i["strength"] is not None and i["model_version"] == mv]
        if with_strength:
            weighted = [(i, float(i["strength"])) for i in with_strength]
        else:
            weighted = [
                (i, value_at(float(i["evidence"] or 0.0), int(i["evidence_ts"] or 0), now, self._tau_ms))
                for i in prof.interests
            ]
        weighted = [(i, w) for i, w in weighted if w > 0]
        weighted.sort(key=lambda x: (-x[1], x[0]["interest_id"]))
        return weighted

    def _interest_scores(self, snap: Snapshot, prof: Profile, mv: str | None, excluded: set[str], sc: Scores) -> None:
        weighted = self.interest_weights(prof, mv)[: self.settings.recs_top_interests]
        if not weighted:
            return
        out = sc.source("interest")
        top_w = weighted[0][1]
        best: dict[str, float] = {}
        for interest, w in weighted:
            taken = 0
            for item, s in snap.by_interest.get(interest["interest_id"], ()):
                if item in excluded:
                    continue
                contribution = (w / top_w) * s
                out[item] = out.get(item, 0.0) + contribution
                if contribution > best.get(item, -1.0):
                    best[item] = contribution
                    sc.interest[item] = interest
                taken += 1
                if taken >= INTEREST_ITEMS:
                    break
        top = max(out.values(), default=0.0) or 1.0
        for item in out:
            out[item] /= top

    def _trending_scores(self, snap: Snapshot, excluded: set[str], n: int, interest: str | None, sc: Scores) -> None:
        out = sc.source("trending")
        source = snap.by_interest.get(interest, []) if interest else snap.trending
        taken = 0
        for item, _ in source:
            if item in excluded or item in out:
                continue
            out[item] = snap.score.get(item, 0.0)
            sc.rank[item] = snap.position.get(item, 0) + 1
            taken += 1
            if taken >= n:
                break

    def _embedding_scores(self, store: GraphStore, prof: Profile, mv: str | None, items: list[str], sc: Scores) -> bool:
        if not mv or not prof.embedding or prof.model_version != mv or not items:
            return False
        user = [float(x) for x in prof.embedding]
        dots = {
            i: sum(map(operator.mul, user, v))
            for i, v in self._item_embeddings(store, mv, items).items()
            if v and len(v) == len(user)
        }
        if not dots:
            return False
        lo, hi = min(dots.values()), max(dots.values())
        span = (hi - lo) or 1.0
        sc.source("embedding").update({i: (d - lo) / span for i, d in dots.items()})
        sc.model_version = mv
        return True

    # --- the answer -------------------------------------------------------------
    def answer(
        self,
        store: GraphStore,
        user_id: str,
        dumps: Callable[[Any], str],
        k: int = 20,
        strategy: str = "blend",
        exclude: Iterable[str] = (),
        interest: str | None = None,
        explain: bool = True,
    ) -> tuple[CachedAnswer, bool]:
        """`recommend` serialised by `dumps`, from the answer cache when nothing it
        depends on changed (service.recs_cache); returns (answer, cache hit)."""
        if not self.answers.enabled:
            result = self.recommend(store, user_id, k, strategy, exclude, interest, explain)
            return CachedAnswer(dumps(result).encode(), result["strategy"]), False
        state = self.user_state(store, user_id)
        exclude = tuple(exclude)
        key = (user_id, state.known, state.rev, state.model_version, k, strategy, exclude, interest, explain)
        hit = self.answers.get(key)
        if hit is not None:
            return hit, True
        result = self.recommend(store, user_id, k, strategy, exclude, interest, explain, state.model_version)
        answer = self.answers.put(key, dumps(result).encode(), result["strategy"])
        return answer, False

    def recommend(
        self,
        store: GraphStore,
        user_id: str,
        k: int = 20,
        strategy: str = "blend",
        exclude: Iterable[str] = (),
        interest: str | None = None,
        explain: bool = True,
        model_version: Any = _MISSING,
    ) -> dict[str, Any]:
        mv = self.model_version(store, model_version)
        snap = self.snapshot(store)
        if interest is not None and not self.interest_exists(store, snap, interest):
            raise UnknownInterest(interest)
        prof = self.profile(store, user_id)
        excluded = set(exclude)
        if prof is not None:
            excluded.update(prof.seen)
        sc = Scores()
        used = strategy
        totals: dict[str, float] = {}
        weights: dict[str, float] = {}
        if prof is None or prof.interactions == 0:
            used = "trending"
        else:
            if strategy in ("blend", "graph", "embedding"):
                self._graph_scores(store, prof, mv, user_id, excluded, sc)
            if strategy in ("blend", "interest", "embedding"):
                self._interest_scores(snap, prof, mv, excluded, sc)
            if strategy in ("blend", "embedding"):
                self._trending_scores(snap, excluded, TRENDING_ITEMS, None, sc)
            candidates = sc.items()
            if interest is not None:
                meta = self._meta(store, snap, candidates)
                candidates = {i for i in candidates if interest in meta.get(i, (None, ()))[1]}
            # rank without embeddings first; the user·item products (pure Python) are then
            # computed for the best RERANK_POOL candidates only
            weights = self._weights("blend" if strategy == "embedding" else used, False)
            totals = {i: t for i, t in sc.totals(candidates, weights).items() if t > 0}
            if strategy in ("blend", "embedding") and totals:
                pool = sorted(totals, key=lambda i: (-totals[i], i))[: max(RERANK_POOL, 3 * k)]
                if self._embedding_scores(store, prof, mv, pool, sc):
                    weights = self._weights(used, True)
                    totals = sc.totals(pool, weights)
                elif strategy == "embedding":
                    used = "blend"
        ranked = sorted(totals, key=lambda i: (-totals[i], i))[:k]
        if len(ranked) < k:  # fill (or answer a cold start) with trending items
            fill = Scores()
            self._trending_scores(snap, excluded | set(ranked), k - len(ranked), interest, fill)
            floor = min((totals[i] for i in ranked), default=2.0) * 0.5
            for item, score in sorted(fill.by_source["trending"].items(), key=lambda x: (-x[1], x[0])):
                totals[item] = floor * score if ranked or used != "trending" else score
                sc.source("trending")[item] = score
                sc.rank[item] = fill.rank[item]
                ranked.append(item)
            if used == "trending" or not weights:
                weights = {"trending": 1.0}
            else:
                weights = {**weights, "trending": weights.get("trending", 0.0) or 1e-9}
        meta = self._meta(store, snap, ranked)
        items = []
        for item in ranked:
            entry: dict[str, Any] = {
                "item_id": item,
                "title": meta.get(item, (None, ()))[0],
                "score": round(totals[item], 6),
            }
            if explain:
                entry["reasons"], entry["evidence"] = sc.explain(item, weights)
                if not entry["reasons"]:  # a fill item in a non-blend strategy
                    entry["reasons"], entry["evidence"] = sc.explain(item, {"trending": 1.0})
            else:
                entry["reasons"], entry["evidence"] = [], []
            items.append(entry)
        return {"user_id": user_id, "model_version": mv, "strategy": used, "items": items}

    @staticmethod
    def _weights(strategy: str, has_embedding: bool) -> dict[str, float]:
        if strategy in ("graph", "interest", "embedding", "trending"):
            return {strategy: 1.0}
        weights = dict(BLEND_WEIGHTS)
        if not has_embedding:
            weights.pop("embedding")
        total = sum(weights.values())
        return {k: v / total for k, v in weights.items()}

    # --- similar items ------------------------------------------------------------
    def similar_items(self, store: GraphStore, item_id: str, k: int) -> dict[str, Any]:
        mv = self.model_version(store)
        items: list[dict[str, Any]] = []
        source_title = None
        if mv:
            for r in store.read_named("item_similar", item_id=item_id, model_version=mv, k=k):
                items.append(
                    {
                        "item_id": str(r["item_id"]),
                        "title": r.get("title"),
                        "score": round(float(r["score"] or 0.0), 6),
                        "reasons": ["similar in the published model"],
                    }
                )
        if len(items) < k:
            seen = {i["item_id"] for i in items} | {item_id}
            titles = {str(r["item_id"]): r.get("title") for r in store.read_named("item_titles", item_ids=[item_id])}
            source_title = titles.get(item_id) or item_id
            rows = store.read_named("item_co_interaction", item_id=item_id, users=200, candidates=200, k=k + len(seen))
            top = max((float(r["score"] or 0.0) for r in rows), default=0.0) or 1.0
            floor = min((i["score"] for i in items), default=1.0)
            for r in rows:
                if str(r["item_id"]) in seen or len(items) >= k:
                    continue
                n = int(r.get("shared") or 0)
                items.append(
                    {
                        "item_id": str(r["item_id"]),
                        "title": r.get("title"),
                        "score": round(float(r["score"] or 0.0) / top * (floor if mv and items else 1.0), 6),
                        "reasons": [f"{n} users who interacted with {source_title} also interacted with this"],
                    }
                )
        return {"item_id": item_id, "model_version": mv, "items": items[:k]}
