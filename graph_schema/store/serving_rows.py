"""Typed rows of the serving reads (graph_schema/store/serving.py).

The query names and row layouts of the recommendation reads live in the store;
the service only sees these frozen records. Ids are strings; numbers are
converted once here, so callers never guess at the engines' value types.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UserState:
    """What an answer cached for a user depends on (queries/recs_user_state.cypher)."""

    known: bool  # the user node exists
    rev: Hashable  # (incarnation, interaction count); moves with every applied batch
    model_version: str | None  # the published model version


@dataclass(frozen=True, slots=True)
class RecentItem:
    """One of the user's most recent items: an anchor whose neighbours become candidates."""

    item_id: str
    title: str | None
    weight: float
    last_ts: int


@dataclass(frozen=True, slots=True)
class RankedItem:
    """One item of the user's learned ranking (written by the refresh, training.user_lists)."""

    item_id: str
    score: float
    because: str | None  # the known item that contributes most, if any


@dataclass(frozen=True, slots=True)
class InterestSignal:
    """A user's INTERESTED_IN edge: live evidence, and the strength of the model run
    that wrote it (which counts only if that run is the published one; see
    service/recs/profile.py)."""

    interest_id: str
    name: str  # the interest's id when it has no name
    strength: float | None
    model_version: str | None  # of the strength
    evidence: float | None
    evidence_ts: int | None


@dataclass(frozen=True, slots=True)
class UserInterest:
    """A user's interest as the interests endpoint shows it (queries/user_interests.cypher)."""

    interest_id: str
    name: str | None
    kind: str | None
    evidence: float | None
    evidence_ts: int | None
    strength: float | None
    updated_at: int | None  # of the strength
    model_version: str | None  # of the strength


@dataclass(frozen=True, slots=True)
class UserProfile:
    """Everything recommending for one user needs, read in one round trip
    (queries/recs_profile.cypher)."""

    interactions: int  # items interacted with; 0 is a cold start
    seen: tuple[str, ...]  # most recent first
    recent: tuple[RecentItem, ...]  # the anchors, most recent first
    interests: tuple[InterestSignal, ...]
    embedding: tuple[float, ...] | None  # the user's vector, of `model_version`
    model_version: str | None
    ranking: tuple[RankedItem, ...] = ()  # best first
    ranking_at: int | None = None  # the newest interaction the ranking knew (epoch ms)
    followed: tuple[FollowedTook, ...] | None = None  # newest first; None: not read with the profile
    published: str | None = None  # the published model version when the profile was read
    published_at: int | None = None  # ... and when it was published
    read_published: bool = False  # whether `published` was read with the profile


@dataclass(frozen=True, slots=True)
class FollowedTook:
    """An item a followed user interacted with (the social candidate source)."""

    user_id: str  # the followed user
    tie: float  # the relation's weight
    item_id: str
    weight: float  # the INTERACTED weight
    last_ts: int


@dataclass(frozen=True, slots=True)
class Neighbour:
    """An item's published SIMILAR_TO neighbour."""

    item_id: str
    score: float
    via: str | None = None  # 'text': the similarity comes from an item's text alone


@dataclass(frozen=True, slots=True)
class TrendingItem:
    item_id: str
    title: str | None
    score: float  # decayed popularity (not normalised)
    users: int
    interests: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class InterestName:
    interest_id: str
    name: str  # the interest's id when it has no name
    kind: str | None


@dataclass(frozen=True, slots=True)
class ItemMeta:
    item_id: str
    title: str | None
    interests: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PeerItem:
    """An item of users who share the user's recent items (queries/recs_co_interaction.cypher)."""

    item_id: str
    score: float  # sum over peers of shared items * the peer's weight
    peers: int


@dataclass(frozen=True, slots=True)
class SimilarItem:
    """An item's published neighbour, with its title (queries/item_similar.cypher)."""

    item_id: str
    title: str | None
    score: float


@dataclass(frozen=True, slots=True)
class CoInteractedItem:
    """An item co-interacted with a given item (queries/item_co_interaction.cypher)."""

    item_id: str
    title: str | None
    shared: int  # users of both
    score: float  # shared / sqrt(popularity)


@dataclass(frozen=True, slots=True)
class SnapshotItem:
    """One item of a model version's serving snapshot (queries/snapshot_items.cypher)."""

    item_id: str
    title: str | None
    interests: tuple[str, ...]
    embedding: tuple[float, ...] | None  # None when the version wrote no vector for it
    neighbours: tuple[Neighbour, ...]  # of the version's similar lists, best first


@dataclass(frozen=True, slots=True)
class SnapshotUser:
    """One user of a model version's serving snapshot (queries/snapshot_users.cypher)."""

    user_id: str
    embedding: list[float] | None  # None when the version wrote no vector for them
    items: list[str]  # the learned ranking, best first (plain lists: 100 per user, 50k users at 1M)
    scores: list[float]
    because: list[str | None]
    ranking_at: int | None


@dataclass(frozen=True, slots=True)
class Published:
    """The published model (queries/current_model.cypher)."""

    version: str
    published_at: int | None  # epoch ms; with the version, names one publish
    similar_version: str  # whose SIMILAR_TO lists it serves (an incremental run keeps its parent's)
