"""embedding: the user·item dot product in the published model, for re-ranking a pool."""

from __future__ import annotations

from service.recs.context import Context, Found
from service.recs.evidence import TasteProfile


def embedding(ctx: Context) -> Found:
    """The candidates of `ctx.pool` scored by their dot product with the user's
    vector, min-max normalised; nothing unless the user and the items have vectors
    of the published version."""
    mv, prof = ctx.model_version, ctx.profile
    if not mv or not prof.embedding or prof.model_version != mv or not ctx.pool:
        return Found()
    dots = ctx.published.dot_products(ctx.store, mv, prof.embedding, ctx.pool, ctx.model)
    if not dots:
        return Found()
    lo, hi = min(dots.values()), max(dots.values())
    span = (hi - lo) or 1.0
    reason = TasteProfile(mv)
    return Found({i: (d - lo) / span for i, d in dots.items()}, dict.fromkeys(dots, reason))
