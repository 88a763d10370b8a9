"""The serving role: typed reads for the API and the recommender.

Each read names its query and turns the engine's rows into the frozen records of
serving_rows.py, so the service never sees a query name or a row layout. Where
FalkorDB has a toJSON() variant of a query, its backend decodes it before these
reads see the rows (falkor.JSON_COLUMNS).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graph_schema.store.base import StoreBase
from graph_schema.store.serving_rows import (
    CoInteractedItem,
    FollowedTook,
    InterestName,
    InterestSignal,
    ItemMeta,
    Neighbour,
    PeerItem,
    Published,
    RankedItem,
    RecentItem,
    SimilarItem,
    SnapshotItem,
    SnapshotUser,
    TrendingItem,
    UserInterest,
    UserProfile,
    UserState,
)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _ranking(items: Any, scores: Any, because: Any) -> tuple[RankedItem, ...]:
    """User.recs_items / recs_scores / recs_because as one list, best first."""
    return tuple(
        RankedItem(str(i), float(sc), b or None)
        for i, sc, b in zip(items or [], scores or [], reasons(because, items), strict=False)
    )


def reasons(because: Any, items: Any) -> list[str | None]:
    """User.recs_because, one entry per ranked item. The refresh writes an empty list
    when no entry has a reason (at scale, without the item-item weights: 100 empty
    strings a user were ~15 % of the staged user rows' text)."""
    because = list(because or [])
    return because + [""] * (len(items or []) - len(because))


class ServingReads(StoreBase):
    def user_exists(self, user_id: str) -> bool:
        return bool(self._named_read("user_exists", user_id=user_id)[0]["n"])

    def item_exists(self, item_id: str) -> bool:
        return bool(self._named_read("item_exists", item_id=item_id)[0]["n"])

    def interest_exists(self, interest_id: str) -> bool:
        return bool(self._named_read("recs_interest_exists", interest_id=interest_id)[0]["n"])

    def current_model_version(self) -> str | None:
        """The published model version (the ModelRegistry pointer); None before any."""
        rows = self._named_read("current_model")
        return rows[0]["model_version"] if rows else None

    def published(self) -> Published | None:
        """The published model: version, publish time and the version whose SIMILAR_TO
        lists it serves; None before any."""
        rows = self._named_read("current_model")
        if not rows or rows[0].get("model_version") is None:
            return None
        r = rows[0]
        return Published(
            r["model_version"], _opt_int(r.get("published_at")), r.get("similar_version") or r["model_version"]
        )

    def publish_under_way(self) -> str | None:
        """The version a batched publish is promoting (its rows are half moved), or None."""
        rows = self._named_read("publishing")
        return str(rows[0]["model_version"]) if rows and rows[0].get("model_version") else None

    def user_state(self, user_id: str) -> UserState:
        """One indexed read telling whether a user's cached answer is still valid."""
        rows = self._named_read("recs_user_state", user_id=user_id)
        row = rows[0] if rows else {}
        rev = row.get("rev")
        return UserState(bool(row.get("known")), tuple(rev) if isinstance(rev, list) else rev, row.get("model_version"))

    def profile(self, user_id: str, anchors: int, seen_limit: int, social_rows: int = 0) -> UserProfile | None:
        """The user's history, interests and vector; None for an unknown user. `anchors`:
        how many recent items to return with their weights; `seen_limit`: how many item ids;
        `social_rows`: how many of the followed people's recent items (0: none read)."""
        rows = self._named_read(
            "recs_profile", user_id=user_id, anchors=anchors, seen_limit=seen_limit, social_rows=social_rows
        )
        if not rows:
            return None
        p = rows[0]["profile"]
        # an OPTIONAL MATCH without rows yields one [null, ...] entry: skipped
        recent = tuple(
            RecentItem(str(r[0]), r[1], float(r[2] or 0.0), int(r[3] or 0))
            for r in p.get("recent") or []
            if r and r[0] is not None
        )
        interests = tuple(
            InterestSignal(
                interest_id=str(r[0]),
                name=r[1] or str(r[0]),
                strength=_opt_float(r[2]),
                model_version=r[3],
                evidence=_opt_float(r[4]),
                evidence_ts=_opt_int(r[5]),
            )
            for r in p.get("interests") or []
            if r and r[0] is not None
        )
        embedding = p.get("embedding")
        published = [*(p.get("published") or []), None, None][:2]
        items, scores, because, at = (list(p.get("ranking") or []) + [None] * 4)[:4]
        ranking = _ranking(items, scores, because)
        return UserProfile(
            interactions=int(p.get("interactions") or 0),
            seen=tuple(str(s) for s in p.get("seen") or [] if s is not None),
            recent=recent,
            interests=interests,
            embedding=None if embedding is None else tuple(float(x) for x in embedding),
            model_version=p.get("model_version"),
            ranking=ranking,
            ranking_at=_opt_int(at),
            followed=tuple(
                FollowedTook(str(f[0]), float(f[1] or 0.0), str(f[2]), float(f[3] or 0.0), int(f[4] or 0))
                for f in p.get("followed") or []
                if f and f[2] is not None
            )
            if social_rows > 0
            else None,
            published=published[0],
            published_at=_opt_int(published[1]),
            read_published=True,
        )

    def interests_of(self, user_id: str) -> list[UserInterest]:
        """A user's interests (live evidence, and the strength of whichever run wrote
        it), by interest id; [] for an unknown user or one without interests."""
        return [
            UserInterest(
                interest_id=str(r["interest_id"]),
                name=r.get("name"),
                kind=r.get("kind"),
                evidence=_opt_float(r.get("evidence")),
                evidence_ts=_opt_int(r.get("evidence_ts")),
                strength=_opt_float(r.get("strength")),
                updated_at=_opt_int(r.get("updated_at")),
                model_version=r.get("model_version"),
            )
            for r in self._named_read("user_interests", user_id=user_id)
        ]

    def similar_lists(
        self, model_version: str, item_ids: Sequence[str], per_item: int
    ) -> dict[str, tuple[Neighbour, ...]]:
        """The published neighbours of each item, best first, at most `per_item`; items
        without any are left out."""
        rows = self._named_read("recs_similar", item_ids=list(item_ids), model_version=model_version, per_item=per_item)
        return {
            str(a): tuple(Neighbour(str(b), float(s or 0.0), *via[:1]) for b, s, *via in neighbours)
            for a, neighbours in (rows[0]["similar"] if rows else None) or []
        }

    def item_embeddings(self, model_version: str, item_ids: Sequence[str]) -> dict[str, tuple[float, ...]]:
        """The items' vectors written by `model_version`; items without one are left out."""
        rows = self._named_read("recs_embeddings", item_ids=list(item_ids), model_version=model_version)
        return {
            str(i): tuple(float(x) for x in vector) for i, vector in (rows[0]["embeddings"] if rows else None) or []
        }

    def trending(self, tau_ms: float, limit: int) -> list[TrendingItem]:
        """The `limit` most popular items, popularity decayed with `tau_ms`, best first."""
        return [
            TrendingItem(
                item_id=str(r["item_id"]),
                title=r.get("title"),
                score=float(r["score"] or 0.0),
                users=int(r.get("users") or 0),
                interests=tuple(t for t in (r.get("interests") or []) if t is not None),
            )
            for r in self._named_read("trending", tau_ms=tau_ms, limit=limit)
        ]

    def interest_names(self, limit: int) -> list[InterestName]:
        """Every interest's id and display name, by id, at most `limit`."""
        return [
            InterestName(str(r["interest_id"]), r.get("name") or str(r["interest_id"]), r.get("kind"))
            for r in self._named_read("recs_interests", limit=limit)
        ]

    def item_meta(self, item_ids: Sequence[str]) -> list[ItemMeta]:
        """Title and interest ids of each item that exists."""
        return [
            ItemMeta(str(r["item_id"]), r.get("title"), tuple(t for t in r.get("interests") or [] if t))
            for r in self._named_read("recs_item_meta", item_ids=list(item_ids))
        ]

    def item_titles(self, item_ids: Sequence[str]) -> dict[str, str | None]:
        return {str(r["item_id"]): r.get("title") for r in self._named_read("item_titles", item_ids=list(item_ids))}

    def peer_items(self, user_id: str, anchors: int, peers: int, k: int) -> list[PeerItem]:
        """Items of the `peers` users sharing most of the user's `anchors` most recent
        items, best first, at most `k` (the user's own items included: callers exclude them)."""
        rows = self._named_read("recs_co_interaction", user_id=user_id, anchors=anchors, peers=peers, k=k)
        return [
            PeerItem(str(item), float(score or 0.0), int(n or 0))
            for item, score, n in ((rows[0]["items"] or []) if rows else [])
        ]

    def similar_items(self, item_id: str, model_version: str, k: int) -> list[SimilarItem]:
        """The item's neighbours in `model_version`, best first, at most `k`."""
        return [
            SimilarItem(str(r["item_id"]), r.get("title"), float(r["score"] or 0.0))
            for r in self._named_read("item_similar", item_id=item_id, model_version=model_version, k=k)
        ]

    def co_interacted_items(self, item_id: str, users: int, candidates: int, k: int) -> list[CoInteractedItem]:
        """Items the item's `users` most recent users also interacted with, best first."""
        rows = self._named_read("item_co_interaction", item_id=item_id, users=users, candidates=candidates, k=k)
        return [
            CoInteractedItem(str(r["item_id"]), r.get("title"), int(r.get("shared") or 0), float(r["score"] or 0.0))
            for r in rows
        ]

    def snapshot_page(
        self,
        model_version: str,
        similar_version: str,
        after: str,
        page: int,
        per_item: int,
        neighbours: bool = True,
        vectors: bool = True,
    ) -> list[SnapshotItem]:
        """The next `page` items after `after` (id order) as model `model_version` serves
        them: title, interests, its vector (None if that version wrote none) and its
        neighbours of `similar_version` (none read when `neighbours` is False; without
        neighbours, `vectors` False reads no vector either: all None); [] past the last item."""
        if neighbours:
            rows = self._named_read(
                "snapshot_items",
                model_version=model_version,
                similar_version=similar_version,
                after=after,
                page=page,
                per_item=per_item,
            )
        else:
            rows = self._named_read(
                "snapshot_items_plain", model_version=model_version, after=after, page=page, vectors=vectors
            )
        return [
            SnapshotItem(
                item_id=str(i),
                title=title,
                interests=tuple(str(t) for t in interests or () if t is not None),
                embedding=None if emb is None else tuple(float(x) for x in emb),
                neighbours=tuple(Neighbour(str(n[0]), float(n[1] or 0.0), *n[2:3]) for n in neighbours or () if n),
            )
            for i, title, interests, emb, neighbours in (rows[0]["rows_json"] if rows else None) or []
        ]

    def snapshot_user_page(self, model_version: str, after: str, page: int) -> list[SnapshotUser]:
        """The next `page` users after `after` (id order) with a vector of `model_version`
        or a learned ranking, as the graph holds them now; [] past the last one."""
        rows = self._named_read("snapshot_users", model_version=model_version, after=after, page=page)
        return _snapshot_users(rows)

    def snapshot_users_of(self, model_version: str, user_ids: Sequence[str], lists: bool = True) -> list[SnapshotUser]:
        """snapshot_user_page's rows for `user_ids` only (those with a vector of the
        version or a ranking), in no particular order; without `lists`, their rankings
        are left empty (recs_at still read)."""
        rows = self._named_read("snapshot_users_of", model_version=model_version, ids=list(user_ids), lists=lists)
        return _snapshot_users(rows)

    def snapshot_user_ids(self, model_version: str) -> list[str]:
        """The ids of every user snapshot_user_page pages through."""
        rows = self._named_read("snapshot_user_ids", model_version=model_version)
        return [str(u) for u in (rows[0]["rows_json"] if rows else None) or []]


def _snapshot_users(rows: list[dict[str, Any]]) -> list[SnapshotUser]:
    return [
        SnapshotUser(str(u), emb, items or [], scores or [], reasons(because, items), _opt_int(at))
        for u, emb, items, scores, because, at in (rows[0]["rows_json"] if rows else None) or []
    ]
