"""The explore role: typed reads for the web console's item and interest pages, and the
item tags its interest timeline folds the event log with.

Like serving.py: each read names its query (queries/explore_*.cypher, item_tags.cypher)
and returns frozen records, so the console never sees a query name or a row layout.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from graph_schema.store.base import StoreBase


@dataclass(frozen=True, slots=True)
class InterestTag:
    interest_id: str
    name: str
    weight: float  # the TAGGED edge's weight (what an event's evidence is multiplied by)


@dataclass(frozen=True, slots=True)
class ItemDetail:
    item_id: str
    title: str | None
    users: int  # users who interacted with it
    tags: tuple[InterestTag, ...]


@dataclass(frozen=True, slots=True)
class InterestDetail:
    interest_id: str
    name: str  # the id when it has no name
    kind: str | None
    items: int  # items tagged with it
    users: int  # users with evidence or a strength for it


@dataclass(frozen=True, slots=True)
class TrendPoint:
    bucket_ms: int  # the bucket's start, epoch ms
    interactions: int  # new (user, item) interactions, by their first event
    weight: float


@dataclass(frozen=True, slots=True)
class InterestUser:
    user_id: str
    strength: float | None
    model_version: str | None  # of the strength
    evidence: float | None  # as of evidence_ts
    evidence_ts: int | None


@dataclass(frozen=True, slots=True)
class PopularItem:
    item_id: str
    title: str | None
    users: int
    weight: float


# the schema's relationship types, each counted by its own query (explore_count_<type>.cypher)
RELATIONSHIP_TYPES = ("INTERACTED", "INTERESTED_IN", "SIMILAR_TO", "TAGGED")


class ExploreReads(StoreBase):
    def relationship_counts(self) -> dict[str, int]:
        """Relationships per type of the schema, each O(1) (Admin.counts scans them all)."""
        return {t: int(self._named_read(f"explore_count_{t.lower()}")[0]["n"] or 0) for t in RELATIONSHIP_TYPES}

    def node_counts(self) -> dict[str, int]:
        """Nodes per label (one scan of the nodes, which are few next to the relationships)."""
        return {str(r["label"]): int(r["n"]) for r in self._named_read("count_labels") if r["label"]}

    def item_detail(self, item_id: str) -> ItemDetail | None:
        rows = self._named_read("explore_item", item_id=item_id)
        if not rows:
            return None
        r = rows[0]
        tags = tuple(InterestTag(str(t[0]), str(t[1]), float(t[2])) for t in r.get("tags") or [] if t)
        return ItemDetail(item_id, r.get("title"), int(r.get("users") or 0), tuple(sorted(tags, key=lambda t: t.name)))

    def item_tag_weights(self, item_ids: Sequence[str]) -> dict[str, tuple[tuple[str, float], ...]]:
        """The tags of each item as ingest weighs evidence: (interest_id, weight) per TAGGED
        edge; items without tags are left out."""
        rows = self._named_read("item_tags", item_ids=list(item_ids))
        out: dict[str, list[tuple[str, float]]] = {}
        for tag in (rows[0]["tags"] if rows else None) or []:
            if tag:
                out.setdefault(str(tag[0]), []).append((str(tag[1]), float(tag[2])))
        return {item: tuple(sorted(tags)) for item, tags in out.items()}

    def interest_detail(self, interest_id: str) -> InterestDetail | None:
        rows = self._named_read("explore_interest", interest_id=interest_id)
        if not rows:
            return None
        r = rows[0]
        return InterestDetail(
            interest_id, r.get("name") or interest_id, r.get("kind"), int(r.get("items") or 0), int(r.get("users") or 0)
        )

    def interest_trend(self, interest_id: str, bucket_ms: int) -> list[TrendPoint]:
        """New interactions with the interest's items per bucket, oldest first."""
        return [
            TrendPoint(int(r["bucket_ms"]), int(r["interactions"] or 0), float(r["weight"] or 0.0))
            for r in self._named_read("explore_interest_trend", interest_id=interest_id, bucket_ms=bucket_ms)
            if r.get("bucket_ms") is not None
        ]

    def interest_users(self, interest_id: str, limit: int) -> list[InterestUser]:
        return [
            InterestUser(
                str(r["user_id"]),
                None if r.get("strength") is None else float(r["strength"]),
                r.get("model_version"),
                None if r.get("evidence") is None else float(r["evidence"]),
                None if r.get("evidence_ts") is None else int(r["evidence_ts"]),
            )
            for r in self._named_read("explore_interest_users", interest_id=interest_id, limit=limit)
        ]

    def interest_items(self, interest_id: str, limit: int) -> list[PopularItem]:
        return [
            PopularItem(str(r["item_id"]), r.get("title"), int(r.get("users") or 0), float(r.get("weight") or 0.0))
            for r in self._named_read("explore_interest_items", interest_id=interest_id, limit=limit)
        ]

    def published_user_strengths(
        self, model_version: str, refreshed_since: int, page: int = 5_000
    ) -> Iterator[tuple[str, dict[str, float]]]:
        """(user id, {interest: strength}) of the users `model_version` wrote at or after
        `refreshed_since`, in id order, read `page` users per query."""
        after = ""
        while True:
            rows = self._pull(
                "published_user_strengths",
                ("user_id", "interests", "strengths"),
                model_version=model_version,
                refreshed_since=refreshed_since,
                after=after,
                limit=page,
            )
            for r in rows:
                yield user_strengths(r["user_id"], r.get("interests"), r.get("strengths"))
            if len(rows) < page:
                return
            after = str(rows[-1]["user_id"])


def user_strengths(
    user_id: Any, interests: list[Any] | None, strengths: list[Any] | None
) -> tuple[str, dict[str, float]]:
    """(user id, {interest: strength}) of a User's published top_interests and interest_strengths."""
    return str(user_id), {str(i): float(s) for i, s in zip(interests or [], strengths or [], strict=False)}
