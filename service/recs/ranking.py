"""One recommendation request: which sources run for the strategy, the blend, the
embedding re-rank, the trending fill, and the answer with its explanations."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from service.recs.blend import Scores, strategy_weights
from service.recs.context import Context, Found
from service.recs.social_weight import learned_blend_social_weight
from service.recs.sources.embedding import embedding
from service.recs.sources.graph import graph
from service.recs.sources.interest import interest
from service.recs.sources.learned import learned
from service.recs.sources.social import social
from service.recs.sources.trending import trending

RERANK_POOL = 100  # candidates re-ranked by embeddings
TRENDING_ITEMS = 30  # trending items added to a blend
# blend with a learned ranking: the neighbours of items the user took after the ranking
# was computed join it at this weight (the ranking itself weighs 1)
FRESH_WEIGHT = 0.5


def recommend(ctx: Context, strategy: str, explain: bool) -> dict[str, Any]:
    """The answer for `ctx` (`ctx.n` items): {user_id, model_version, strategy used, items}."""
    k = ctx.n
    sc = Scores(overrides=dict(ctx.blend))
    used = strategy
    totals: dict[str, float] = {}
    weights: dict[str, float] = {}
    friends = _social(ctx, strategy)
    if ctx.profile.interactions == 0:
        used = "trending"
        if friends.scores:  # no history of their own, but people they follow have one
            used, weights = "social", {"social": 1.0}
            sc.add("social", friends)
            totals = {i: t for i, t in sc.totals(_of_interest(ctx, sc.items()), weights).items() if t > 0}
    elif strategy == "random":  # an experiment's control arm: popular items in random order
        pool = trending(dataclasses.replace(ctx, n=TRENDING_ITEMS))
        sc.add("trending", pool)
        weights = {"trending": 1.0}
        rng = random.Random()
        totals = {i: rng.random() for i in _of_interest(ctx, set(pool.scores))}
    elif strategy == "blend" and (found := learned(ctx)).scores:
        weights = _learned_blend(ctx, sc, found)
        if friends.scores:
            sc.add("social", friends)
            weights["social"] = learned_blend_social_weight(ctx)
        totals = {i: t for i, t in sc.totals(_of_interest(ctx, sc.items()), weights).items() if t > 0}
    else:
        if strategy in ("blend", "graph", "embedding"):
            sc.add("graph", graph(ctx))
        if strategy in ("blend", "interest", "embedding"):
            sc.add("interest", interest(ctx))
        if strategy in ("blend", "embedding"):  # a prior over all trending items, not only `interest=`'s
            sc.add("trending", trending(dataclasses.replace(ctx, n=TRENDING_ITEMS, interest=None)))
        if friends.scores:
            sc.add("social", friends)
        candidates = _of_interest(ctx, sc.items())
        # rank without embeddings first; the user·item products (pure Python) are then
        # computed for the best RERANK_POOL candidates only
        weights = _with_social(ctx, friends, strategy_weights("blend" if strategy == "embedding" else used, False))
        totals = {i: t for i, t in sc.totals(candidates, weights).items() if t > 0}
        if strategy in ("blend", "embedding") and totals:
            pool = best_first(totals, max(RERANK_POOL, 3 * k))
            fits = embedding(dataclasses.replace(ctx, pool=tuple(pool)))
            if fits.scores:
                sc.add("embedding", fits)
                weights = _with_social(ctx, friends, strategy_weights(used, True))
                totals = sc.totals(pool, weights)
            elif strategy == "embedding":
                used = "blend"
    ranked = best_first(totals, k)
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
    meta = ctx.meta(ranked)
    items = []
    explained = sc.explainer(weights)
    for item in ranked:
        entry: dict[str, Any] = {
            "item_id": item,
            "title": meta.get(item, (None, ()))[0],
            "score": round(totals[item], 6),
            "position": len(items) + 1,
        }
        if explain:
            entry["reasons"], entry["evidence"] = explained(item)
            if not entry["reasons"]:  # a fill item in a non-blend strategy
                entry["reasons"], entry["evidence"] = sc.explain(item, {"trending": 1.0})
        else:
            entry["reasons"], entry["evidence"] = [], []
        items.append(entry)
    return {"user_id": ctx.user_id, "model_version": ctx.model_version, "strategy": used, "items": items}


def best_first(totals: dict[str, float], n: int) -> list[str]:
    """The n highest-scoring items, ties by item id (pairs sorted in C: no key function)."""
    return [item for _, item in sorted([(-t, item) for item, t in totals.items()])[:n]]


def _learned_blend(ctx: Context, sc: Scores, found: Found) -> dict[str, float]:
    """The learned ranking, and the neighbours of what the user did after it was computed."""
    sc.add("learned", found)
    at = ctx.profile.ranking_at
    fresh = tuple(r for r in ctx.profile.recent if at is not None and r.last_ts > at)
    if not fresh or not ctx.model_version:
        return {"learned": 1.0}
    sc.add("graph", graph(dataclasses.replace(ctx, profile=dataclasses.replace(ctx.profile, recent=fresh))))
    return {"learned": 1.0, "graph": FRESH_WEIGHT}


def _social(ctx: Context, strategy: str) -> Found:
    """The social source, for the blends (and a history-less user's cold start)."""
    if strategy != "blend" and ctx.profile.interactions > 0:
        return Found()
    if ctx.settings.recs_social_weight <= 0:
        return Found()
    return social(ctx)


def _with_social(ctx: Context, friends: Found, weights: dict[str, float]) -> dict[str, float]:
    """A blend's weights with the social source at RECS_SOCIAL_WEIGHT (the others keep theirs)."""
    if not friends.scores or "social" in weights or len(weights) == 1:
        return weights
    return {**weights, "social": ctx.settings.recs_social_weight}


def _of_interest(ctx: Context, candidates: set[str]) -> set[str]:
    """The candidates tagged with the request's `interest`, if it names one."""
    if ctx.interest is None:
        return candidates
    meta = ctx.meta(candidates)
    return {i for i in candidates if ctx.interest in meta.get(i, (None, ()))[1]}
