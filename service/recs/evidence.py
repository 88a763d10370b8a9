"""The evidence behind a candidate, one kind per source, each with its reason text
and its JSON form (service/api/models.py: Evidence)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class Evidence(Protocol):
    def reason(self) -> str: ...

    def as_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class SimilarTo:
    """graph, with a model: a neighbour of this recent item of the user's."""

    anchor: str
    title: str | None

    def reason(self) -> str:
        return f"similar to {self.title or self.anchor}, which you interacted with"

    def as_json(self) -> dict[str, Any]:
        return {"kind": "similar_item", "item_id": self.anchor, "title": self.title}


@dataclass(frozen=True, slots=True)
class SimilarInDescription:
    """graph, with a model: a neighbour of this recent item of the user's whose vector
    comes from its text alone (a new item no one took yet, training.text)."""

    anchor: str
    title: str | None

    def reason(self) -> str:
        return f"similar in description to {self.title or self.anchor}, which you interacted with"

    def as_json(self) -> dict[str, Any]:
        return {"kind": "similar_description", "item_id": self.anchor, "title": self.title}


@dataclass(frozen=True, slots=True)
class SharedTaste:
    """graph, before a model: liked by `peers` users who share the user's items."""

    peers: int

    def reason(self) -> str:
        return "users with similar taste also liked this" + (f" ({self.peers} of them)" if self.peers > 1 else "")

    def as_json(self) -> dict[str, Any]:
        return {"kind": "co_interaction", "peers": self.peers}


@dataclass(frozen=True, slots=True)
class MatchesInterest:
    """interest: a popular item of one of the user's strongest interests."""

    interest_id: str
    name: str

    def reason(self) -> str:
        return f"matches your interest {self.name}"

    def as_json(self) -> dict[str, Any]:
        return {"kind": "interest", "interest_id": self.interest_id, "name": self.name}


@dataclass(frozen=True, slots=True)
class TasteProfile:
    """embedding: close to the user's vector in the published model."""

    model_version: str

    def reason(self) -> str:
        return "fits your taste profile in the published model"

    def as_json(self) -> dict[str, Any]:
        return {"kind": "embedding", "model_version": self.model_version}


@dataclass(frozen=True, slots=True)
class LearnedRanking:
    """learned: high in the ranking the refresh learned for the user; `because` is the
    known item that contributes most (the item-item weights), when there is one, and
    `followed` the people the user follows who took the item (`followed_count` of them),
    when the item is there mostly because of them (training.user_lists)."""

    model_version: str | None
    because: str | None
    title: str | None
    followed: tuple[str, ...] = ()
    followed_count: int = 0

    def reason(self) -> str:
        if self.followed_count:
            return LikedByFollowed(self.followed, self.followed_count).reason()
        if self.because:
            return f"people who liked {self.title or self.because} also liked this"
        return "ranked high for you by the published model"

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "learned", "model_version": self.model_version}
        if self.followed_count:
            out.update(source="social", count=self.followed_count, user_ids=list(self.followed))
        elif self.because:
            out.update(item_id=self.because, title=self.title)
        return out


@dataclass(frozen=True, slots=True)
class Trending:
    """trending: this high in the worker's trending snapshot (1 is the top)."""

    rank: int

    def reason(self) -> str:
        return "trending"

    def as_json(self) -> dict[str, Any]:
        return {"kind": "trending", "rank": self.rank}


@dataclass(frozen=True, slots=True)
class LikedByFollowed:
    """social: taken recently by people the user follows (or is friends with)."""

    people: tuple[str, ...]  # the followed users who took it, strongest first
    count: int | None = None  # how many took it, when `people` names only some (None: all)

    def reason(self) -> str:
        n = len(self.people) if self.count is None else self.count
        if n == 1 and self.people:
            return f"liked by {self.people[0]}, whom you follow"
        return f"liked by {n} people you follow"

    def as_json(self) -> dict[str, Any]:
        n = len(self.people) if self.count is None else self.count
        return {"kind": "social", "count": n, "user_ids": list(self.people[:10])}
