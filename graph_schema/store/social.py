"""The social role: user-user relations (FOLLOWS edges) and the reads built on them.

A relation is `(:User)-[:FOLLOWS {kind, since, weight}]->(:User)`: one edge per
(user, target, kind), kind `follow` (directed) or `friend` (symmetric: written in both
directions). Which relations exist is decided in SQL (service/ingest/relations.py, a
last-writer-wins register per edge); this role only writes that state to the graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from graph_schema.store.base import StoreBase, chunks


@dataclass(frozen=True, slots=True)
class RelationState:
    """One register's state, as the graph should hold it."""

    user_id: str
    target_user_id: str
    kind: str  # follow | friend
    active: bool
    since: int  # ms: the ts of the event that decided the state
    weight: float


@dataclass(frozen=True, slots=True)
class FollowedTook:
    """An item a followed user interacted with (the social candidate source)."""

    user_id: str  # the followed user
    tie: float  # the relation's weight
    item_id: str
    weight: float  # the INTERACTED weight
    last_ts: int


@dataclass(frozen=True, slots=True)
class PeopleCandidate:
    """A user found for "people you may like", with what found them."""

    user_id: str
    via: tuple[str, ...] = ()  # followed users who follow them (friends of friends)
    shared: float = 0.0  # shared-interest score
    interests: tuple[str, ...] = ()  # the shared interests' names


@dataclass(frozen=True, slots=True)
class Followed:
    user_id: str
    weight: float
    kinds: tuple[str, ...]


class SocialGraph(StoreBase):
    def apply_relations(self, states: Sequence[RelationState]) -> tuple[int, int]:
        """Write the registers' states: active ones as FOLLOWS edges, inactive ones
        removed. Idempotent (a state written twice is the same graph). Returns
        (edges written, edges removed)."""
        written = removed = 0
        for chunk in chunks(list(states), self.batch_size):
            on = [s for s in chunk if s.active]
            off = [s for s in chunk if not s.active]
            if on:
                users = sorted({s.user_id for s in on} | {s.target_user_id for s in on})
                rows = self._named_write(
                    "relations_set",
                    users=users,
                    followers=sorted({s.user_id for s in on}),
                    rows=[[s.user_id, s.target_user_id, s.kind, s.since, s.weight] for s in on],
                )
                written += int(rows[0]["written"]) if rows else 0
            if off:
                rows = self._named_write("relations_remove", rows=[[s.user_id, s.target_user_id, s.kind] for s in off])
                removed += int(rows[0]["removed"]) if rows else 0
                self._named_write("relations_touch", users=sorted({s.user_id for s in off}))
        return written, removed

    def following(self, user_id: str) -> list[Followed]:
        """The users `user_id` follows or is friends with."""
        return [
            Followed(r["user_id"], float(r["weight"] or 0.0), tuple(sorted(r["kinds"])))
            for r in self._named_read("social_following", user_id=user_id)
        ]

    def relation_counts(self) -> dict[str, int]:
        """FOLLOWS edges by kind."""
        return {r["kind"]: int(r["n"]) for r in self._named_read("social_relations_count")}

    def followed_recent_items(self, user_id: str, limit: int) -> list[FollowedTook]:
        """What the users `user_id` follows took, newest first, at most `limit` rows."""
        return [
            FollowedTook(
                r["user_id"], float(r["tie"] or 0.0), r["item_id"], float(r["weight"] or 0.0), int(r["last_ts"] or 0)
            )
            for r in self._named_read("social_recent_items", user_id=user_id, limit=limit)
        ]

    def people_by_friends(self, user_id: str, limit: int) -> list[PeopleCandidate]:
        """Users followed by the users `user_id` follows (themselves excluded)."""
        return [
            PeopleCandidate(r["user_id"], via=tuple(sorted(r["via"])))
            for r in self._named_read("social_people_fof", user_id=user_id, limit=limit)
        ]

    def people_by_interests(self, user_id: str, interests: int, per_interest: int, limit: int) -> list[PeopleCandidate]:
        """Users strong in the user's strongest interests (themselves excluded)."""
        rows = self._named_read(
            "social_people_interests", user_id=user_id, interests=interests, per_interest=per_interest, limit=limit
        )
        return [
            PeopleCandidate(r["user_id"], shared=float(r["score"] or 0.0), interests=tuple(r["interests"]))
            for r in rows
        ]

    def user_embeddings(self, user_ids: Sequence[str], model_version: str) -> dict[str, tuple[float, ...]]:
        """The published vectors of these users (those that have one)."""
        rows = self._named_read("social_user_embeddings", user_ids=list(user_ids), model_version=model_version)
        return {r["user_id"]: tuple(float(x) for x in r["embedding"]) for r in rows}
