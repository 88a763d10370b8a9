"""interest: the most popular items of the user's strongest interests."""

from __future__ import annotations

from graph_schema.clock import now_ms
from service.recs import profile
from service.recs.context import Context, Found
from service.recs.evidence import MatchesInterest

INTEREST_ITEMS = 30  # most popular items taken per interest


def interest(ctx: Context) -> Found:
    """Each item scores the sum over the user's top interests of (interest weight
    relative to the strongest × the item's popularity within the interest); its
    evidence is the interest giving the most."""
    s = ctx.settings
    weighted = profile.interest_weights(ctx.profile, ctx.model_version, now_ms(), s.evidence_tau_ms)
    weighted = weighted[: s.recs_top_interests]
    out = Found()
    if not weighted:
        return out
    scores, evidence = out.scores, out.evidence
    top_w = weighted[0][1]
    best: dict[str, float] = {}
    for signal, w in weighted:
        reason = MatchesInterest(signal.interest_id, signal.name)
        taken = 0
        for item, popularity in ctx.snapshot.by_interest.get(signal.interest_id, ()):
            if item in ctx.excluded:
                continue
            contribution = (w / top_w) * popularity
            scores[item] = scores.get(item, 0.0) + contribution
            if contribution > best.get(item, -1.0):
                best[item] = contribution
                evidence[item] = reason
            taken += 1
            if taken >= INTEREST_ITEMS:
                break
    top = max(scores.values(), default=0.0) or 1.0
    for item in scores:
        scores[item] /= top
    return out
