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
from graph_schema.store.serving_rows import FollowedTook


def changed_by(event_type: str, user_id: str, target_user_id: str) -> tuple[str, ...]:
    """The users whose FOLLOWS edges a relation event (follow, unfollow, friend, unfriend)
    changes: its user, and for a friend or unfriend event the target too (a friend
    relation is written in both directions)."""
    return (user_id, target_user_id) if event_type in ("friend", "unfriend") else (user_id,)


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

    # --- interest communities ---------------------------------------------------------
    def all_relations(self) -> list[tuple[str, str, float]]:
        """Every FOLLOWS edge: (user, target, weight)."""
        return [
            (r["user_id"], r["target_user_id"], float(r["weight"] or 0.0))
            for r in self._named_read("social_all_relations")
        ]

    def relation_ties(self) -> list[tuple[str, str, float, int]]:
        """Every FOLLOWS edge with its start: (user, target, weight, since ms)."""
        return [
            (r["user_id"], r["target_user_id"], float(r["weight"] or 0.0), int(r["since"] or 0))
            for r in self._named_read("social_all_relations")
        ]

    def user_interest_weights(self) -> list[tuple[str, str, str, float]]:
        """(user, interest, interest name, weight): strength if written, else evidence."""
        rows = self._named_read("community_user_interests")
        if rows and "rows_json" in rows[0]:  # a backend's one-value variant (FalkorDB)
            return [(u, t, name, float(w)) for u, t, name, w in rows[0]["rows_json"] or []]
        return [(r["user_id"], r["interest_id"], r["name"], float(r["weight"])) for r in rows]

    def community_members(self, version: str) -> dict[str, list[str]]:
        """Members of each community of `version`."""
        return {
            r["community_id"]: list(r["members"]) for r in self._named_read("community_members_of", version=version)
        }

    def write_communities(
        self,
        version: str,
        communities: Sequence[CommunityRow],
        members: Sequence[tuple[str, str]],
        written_at: int,
        keep_versions: int,
    ) -> dict[str, int]:
        """Write a version's communities and membership, point readers at it, then drop
        the other versions' MEMBER_OF edges and the Community nodes of versions not kept."""
        for chunk in chunks(list(communities), self.batch_size):
            self._named_write(
                "community_write",
                version=version,
                written_at=written_at,
                communities=[[c.community_id, c.size, list(c.interests), list(c.names), list(c.shares)] for c in chunk],
            )
        written = 0
        for chunk in chunks([[u, c] for u, c in members], self.batch_size):
            rows = self._named_write("community_write_members", version=version, rows=chunk)
            written += int(rows[0]["n"]) if rows else 0
        self._named_write("community_publish", version=version, written_at=written_at)
        removed = 0
        while True:
            rows = self._named_write("community_cleanup_members", version=version, limit=self.batch_size)
            n = int(rows[0]["n"]) if rows else 0
            removed += n
            if n < self.batch_size:
                break
        versions = [r["model_version"] for r in self._named_read("community_versions")]
        keep = [version, *[v for v in versions if v != version][: max(0, keep_versions - 1)]]
        self._named_write("community_cleanup_nodes", keep=keep)
        return {"communities": len(communities), "community_members": written, "community_members_removed": removed}

    def community_versions(self) -> list[str]:
        """Versions with communities in the graph, newest first."""
        return [r["model_version"] for r in self._named_read("community_versions")]

    def communities(self, limit: int = 1000) -> list[CommunityRow]:
        """The published communities, largest first."""
        return [_community(r) for r in self._named_read("community_list", limit=limit)]

    def community_history(self, community_id: str) -> list[CommunityRow]:
        """One community in every kept version, oldest first."""
        return [
            _community({**r, "community_id": community_id})
            for r in self._named_read("community_history", community_id=community_id)
        ]

    def community_of(self, user_id: str) -> str | None:
        rows = self._named_read("community_of_user", user_id=user_id)
        return rows[0]["community_id"] if rows else None


@dataclass(frozen=True, slots=True)
class CommunityRow:
    """A community of one version: its size and top interests (share of the members'
    interest weight)."""

    community_id: str
    size: int
    interests: tuple[str, ...]
    names: tuple[str, ...]
    shares: tuple[float, ...]
    model_version: str | None = None


def _community(r: dict) -> CommunityRow:
    return CommunityRow(
        r["community_id"],
        int(r["size"] or 0),
        tuple(r["interests"] or ()),
        tuple(r["names"] or ()),
        tuple(float(x) for x in (r["shares"] or ())),
        r.get("model_version"),
    )
