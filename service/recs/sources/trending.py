"""trending: the snapshot's most popular items (of `ctx.interest` when given)."""

from __future__ import annotations

from service.recs.context import Context, Found
from service.recs.evidence import Trending


def trending(ctx: Context) -> Found:
    """The first `ctx.n` trending items not excluded, scored by normalised popularity."""
    snap = ctx.snapshot
    source = snap.by_interest.get(ctx.interest, []) if ctx.interest else snap.trending
    out = Found()
    scores = out.scores
    for item, _ in source:
        if item in ctx.excluded or item in scores:
            continue
        scores[item] = snap.score.get(item, 0.0)
        out.evidence[item] = Trending(snap.position.get(item, 0) + 1)
        if len(scores) >= ctx.n:
            break
    return out
