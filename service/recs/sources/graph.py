"""graph: the published neighbours of the user's recent items; before a model, the
items of users who share the user's items."""

from __future__ import annotations

import math

from service.recs.context import Context, Found
from service.recs.evidence import Evidence, SharedTaste, SimilarInDescription, SimilarTo
from service.recs.model_snapshot import NeighbourSums

CO_INTERACTION_ITEMS = 300  # candidates read from co-interaction


def graph(ctx: Context) -> Found:
    """With a published model, its neighbour lists only (from the worker's snapshot: no
    graph read; the other sources cover a user whose recent items have none); before
    any model, co-interaction (a second graph read)."""
    if ctx.model_version:
        return _neighbours(ctx, ctx.model_version) if ctx.profile.recent else Found()
    return _shared_taste(ctx)


def _neighbours(ctx: Context, model_version: str) -> Found:
    """Each neighbour scores the sum over anchors of (anchor's decayed weight ×
    similarity); its evidence is the anchor giving the most."""
    recent = ctx.profile.recent
    tau_ms = ctx.settings.evidence_tau_ms
    newest = max(r.last_ts for r in recent)
    weights = {r.item_id: r.weight * math.exp(-(newest - r.last_ts) / tau_ms) for r in recent}
    titles = {r.item_id: r.title for r in recent}
    out = Found()
    scores, evidence = out.scores, out.evidence
    if ctx.model is not None:  # the shared snapshot: the same sums as below, as arrays
        return _from_sums(ctx, ctx.model.neighbour_sums(weights, ctx.settings.recs_similar_per_item), titles)
    best: dict[str, float] = {}
    for anchor, neighbours in ctx.published.similar_lists(ctx.store, model_version, list(weights), ctx.model).items():
        wa = weights.get(anchor, 0.0)
        anchor_evidence = SimilarTo(anchor, titles.get(anchor))
        by_text = SimilarInDescription(anchor, titles.get(anchor))
        for n in neighbours:
            item = n.item_id
            if item in ctx.excluded:
                continue
            contribution = wa * n.score
            scores[item] = scores.get(item, 0.0) + contribution
            if contribution > best.get(item, -1.0):
                best[item] = contribution
                evidence[item] = by_text if n.via == "text" else anchor_evidence
    top = max(scores.values(), default=0.0)
    if top <= 0:
        return Found()
    for item in scores:
        scores[item] /= top
    return out


def _from_sums(ctx: Context, found: NeighbourSums, titles: dict[str, str | None]) -> Found:
    similar: list[Evidence] = [SimilarTo(a, titles.get(a)) for a in found.anchors]
    described: list[Evidence] = [SimilarInDescription(a, titles.get(a)) for a in found.anchors]
    excluded = ctx.excluded
    kept = [row for row in found.rows() if row[0] not in excluded]
    top = max((row[1] for row in kept), default=0.0)
    if top <= 0:
        return Found()
    return Found(
        {item: total / top for item, total, _, _ in kept},
        {item: (described if text else similar)[best] for item, _, best, text in kept if best >= 0},
    )


def _shared_taste(ctx: Context) -> Found:
    """Items of the users sharing most of the user's recent items (their own excluded)."""
    s = ctx.settings
    found = [
        p
        for p in ctx.store.peer_items(ctx.user_id, s.recs_anchor_items, s.recs_peers, CO_INTERACTION_ITEMS)
        if p.item_id not in ctx.excluded
    ]
    top = max((p.score for p in found), default=0.0)
    out = Found()
    if top <= 0:
        return out
    for p in found:
        out.scores[p.item_id] = p.score / top
        out.evidence[p.item_id] = SharedTaste(p.peers)
    return out
