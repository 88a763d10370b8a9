"""One recommendation request: which sources run for the strategy, the blend, the
embedding re-rank, the trending fill, and the answer with its explanations."""

from __future__ import annotations

import dataclasses
from typing import Any

from service.recs.blend import Scores, strategy_weights
from service.recs.context import Context
from service.recs.sources.embedding import embedding
from service.recs.sources.graph import graph
from service.recs.sources.interest import interest
from service.recs.sources.trending import trending

RERANK_POOL = 100  # candidates re-ranked by embeddings
TRENDING_ITEMS = 30  # trending items added to a blend


def recommend(ctx: Context, strategy: str, explain: bool) -> dict[str, Any]:
    """The answer for `ctx` (`ctx.n` items): {user_id, model_version, strategy used, items}."""
    k = ctx.n
    sc = Scores()
    used = strategy
    totals: dict[str, float] = {}
    weights: dict[str, float] = {}
    if ctx.profile.interactions == 0:
        used = "trending"
    else:
        if strategy in ("blend", "graph", "embedding"):
            sc.add("graph", graph(ctx))
        if strategy in ("blend", "interest", "embedding"):
            sc.add("interest", interest(ctx))
        if strategy in ("blend", "embedding"):  # a prior over all trending items, not only `interest=`'s
            sc.add("trending", trending(dataclasses.replace(ctx, n=TRENDING_ITEMS, interest=None)))
        candidates = sc.items()
        if ctx.interest is not None:
            meta = ctx.snapshot.meta(ctx.store, candidates)
            candidates = {i for i in candidates if ctx.interest in meta.get(i, (None, ()))[1]}
        # rank without embeddings first; the user·item products (pure Python) are then
        # computed for the best RERANK_POOL candidates only
        weights = strategy_weights("blend" if strategy == "embedding" else used, False)
        totals = {i: t for i, t in sc.totals(candidates, weights).items() if t > 0}
        if strategy in ("blend", "embedding") and totals:
            pool = sorted(totals, key=lambda i: (-totals[i], i))[: max(RERANK_POOL, 3 * k)]
            fits = embedding(dataclasses.replace(ctx, pool=tuple(pool)))
            if fits.scores:
                sc.add("embedding", fits)
                weights = strategy_weights(used, True)
                totals = sc.totals(pool, weights)
            elif strategy == "embedding":
                used = "blend"
    ranked = sorted(totals, key=lambda i: (-totals[i], i))[:k]
    if len(ranked) < k:  # fill (or answer a cold start) with trending items
        fill = trending(dataclasses.replace(ctx, excluded=ctx.excluded | set(ranked), n=k - len(ranked)))
        floor = min((totals[i] for i in ranked), default=2.0) * 0.5
        for item, score in sorted(fill.scores.items(), key=lambda x: (-x[1], x[0])):
            totals[item] = floor * score if ranked or used != "trending" else score
            ranked.append(item)
        sc.add("trending", fill)
        if used == "trending" or not weights:
            weights = {"trending": 1.0}
        else:
            weights = {**weights, "trending": weights.get("trending", 0.0) or 1e-9}
    meta = ctx.snapshot.meta(ctx.store, ranked)
    items = []
    for item in ranked:
        entry: dict[str, Any] = {
            "item_id": item,
            "title": meta.get(item, (None, ()))[0],
            "score": round(totals[item], 6),
        }
        if explain:
            entry["reasons"], entry["evidence"] = sc.explain(item, weights)
            if not entry["reasons"]:  # a fill item in a non-blend strategy
                entry["reasons"], entry["evidence"] = sc.explain(item, {"trending": 1.0})
        else:
            entry["reasons"], entry["evidence"] = [], []
        items.append(entry)
    return {"user_id": ctx.user_id, "model_version": ctx.model_version, "strategy": used, "items": items}
