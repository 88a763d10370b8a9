"""A user's interests as the service sees them, and the one rule for a strength.

An INTERESTED_IN edge carries live evidence (decayed to now) and the strength
that some model run wrote. The strength counts only when that run is the
published model version: a run in progress, or one cleaned up after another was
published, must not be read as the model's opinion. Recommending and the
interests endpoint both go through here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from graph_schema.decay import value_at
from graph_schema.store.serving import ServingReads
from graph_schema.store.serving_rows import InterestSignal, UserInterest, UserProfile
from service.config import ApiSettings
from service.recs.model_snapshot import PinnedUser

# an unknown user: no history, so a cold start
NO_PROFILE = UserProfile(
    interactions=0, seen=(), recent=(), interests=(), embedding=None, model_version=None, followed=()
)


def load(store: ServingReads, user_id: str, settings: ApiSettings) -> UserProfile:
    """The user's recommendation profile (NO_PROFILE for an unknown user)."""
    social_rows = settings.recs_social_rows if settings.recs_social_weight > 0 else 0
    found = store.profile(
        user_id, anchors=settings.recs_anchor_items, seen_limit=settings.recs_seen_limit, social_rows=social_rows
    )
    return NO_PROFILE if found is None else found


def negative_evidence(terms: list[tuple[str, float, int, list[str]]], now_ms: int, tau_ms: float) -> dict[str, float]:
    """Per interest, the decayed weight of the user's negative feedback on items
    tagged with it: sum of |w| * exp(-(now - ts) / tau) over dislike / not_interested
    events (a sum, so the arrival order does not matter), each counted once per
    (item, type) like the log counts it per event."""
    out: dict[str, float] = {}
    for _, w, ts, interests in terms:
        term = value_at(w, ts, now_ms, tau_ms)
        for interest_id in interests:
            out[interest_id] = out.get(interest_id, 0.0) + term
    return out


def lowered(profile: UserProfile, negative: dict[str, float], now_ms: int, tau_ms: float) -> UserProfile:
    """The profile with each interest's live evidence lowered by its negative evidence
    (as of now, floored at 0). Published strengths move only with the next refresh."""
    if not negative or not profile.interests:
        return profile
    interests = tuple(
        dataclasses.replace(
            i,
            evidence=max(0.0, live_evidence(i.evidence, i.evidence_ts, now_ms, tau_ms) - negative[i.interest_id]),
            evidence_ts=now_ms,
        )
        if i.interest_id in negative
        else i
        for i in profile.interests
    )
    return dataclasses.replace(profile, interests=interests)


def as_of(profile: UserProfile, version: str, user: PinnedUser | None) -> UserProfile:
    """The profile with the model side of `version` (an experiment arm pinned to an older
    publish): its vector and learned ranking of the user, none if it did not know them.
    What the user did and the live evidence stay as they are now; the published strengths
    are the current model's, so the interest source falls back to live evidence."""
    return dataclasses.replace(
        profile,
        embedding=user.embedding if user else None,
        model_version=version if user and user.embedding else None,
        ranking=user.ranking if user else (),
        ranking_at=user.ranking_at if user else None,
    )


def published_strength(strength: float | None, written_by: str | None, published: str | None) -> float | None:
    """The strength if the run that wrote it is the published model version, else None."""
    if not published or strength is None or written_by != published:
        return None
    return strength


def live_evidence(evidence: float | None, evidence_ts: int | None, now_ms: int, tau_ms: float) -> float:
    """The edge's evidence decayed to `now_ms` (0 without evidence)."""
    return value_at(evidence or 0.0, evidence_ts or 0, now_ms, tau_ms)


def interest_weights(
    profile: UserProfile, published: str | None, now_ms: int, tau_ms: float
) -> list[tuple[InterestSignal, float]]:
    """The user's interests with a weight, strongest first: the published strengths
    when the model has any for this user, else live evidence for every interest."""
    strengths = [
        (i, s)
        for i in profile.interests
        if (s := published_strength(i.strength, i.model_version, published)) is not None
    ]
    weighted = strengths or [(i, live_evidence(i.evidence, i.evidence_ts, now_ms, tau_ms)) for i in profile.interests]
    weighted = [(i, w) for i, w in weighted if w > 0]
    weighted.sort(key=lambda x: (-x[1], x[0].interest_id))
    return weighted


@dataclass(frozen=True, slots=True)
class InterestLevel:
    """A user's interest as the interests endpoint shows it."""

    interest_id: str
    name: str
    kind: str | None
    strength: float | None  # the published model's; None before any or from another run
    evidence: float  # decayed to now
    evidence_ts: int | None
    updated_at: int | None  # of the strength when it counts, else of the evidence


def interest_levels(
    interests: list[UserInterest],
    published: str | None,
    now_ms: int,
    tau_ms: float,
    negative: dict[str, float] | None = None,
) -> list[InterestLevel]:
    """The user's interests, strongest published strength first, then by live evidence
    (lowered by negative feedback: see negative_evidence)."""
    negative = negative or {}
    out = []
    for r in interests:
        strength = published_strength(r.strength, r.model_version, published)
        out.append(
            InterestLevel(
                interest_id=r.interest_id,
                name=r.name or r.interest_id,
                kind=r.kind,
                strength=strength,
                evidence=max(
                    0.0, live_evidence(r.evidence, r.evidence_ts, now_ms, tau_ms) - negative.get(r.interest_id, 0.0)
                ),
                evidence_ts=r.evidence_ts,
                updated_at=r.updated_at if strength is not None else r.evidence_ts,
            )
        )
    out.sort(key=lambda i: (-(i.strength if i.strength is not None else -1.0), -i.evidence, i.interest_id))
    return out
