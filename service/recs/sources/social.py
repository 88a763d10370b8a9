"""social: what the people the user follows took recently, decayed by age.

Each item scores the sum over the followed users who took it of (tie weight × their
interaction weight × exp(-age / tau)), age counted from now, tau = SOCIAL_TAU_DAYS;
its evidence names those people ("liked by 3 people you follow")."""

from __future__ import annotations

import math
from typing import cast

from graph_schema.clock import now_ms
from graph_schema.store.social import SocialGraph
from service.recs.context import Context, Found
from service.recs.evidence import LikedByFollowed


def social(ctx: Context) -> Found:
    s = ctx.settings
    rows = ctx.profile.followed  # read with the profile (one round trip), else now
    if rows is None:
        rows = tuple(cast(SocialGraph, ctx.store).followed_recent_items(ctx.user_id, s.recs_social_rows))
    out = Found()
    if not rows:
        return out
    now = now_ms()
    tau = s.recs_social_tau_days * 86_400_000.0
    people: dict[str, dict[str, float]] = {}
    for r in rows:
        if r.item_id in ctx.excluded:
            continue
        contribution = r.tie * r.weight * math.exp(-max(0, now - r.last_ts) / tau)
        mine = people.setdefault(r.item_id, {})
        mine[r.user_id] = mine.get(r.user_id, 0.0) + contribution
    if not people:
        return out
    for item, by_person in people.items():
        out.scores[item] = sum(by_person.values())
        ranked = sorted(by_person, key=lambda p: (-by_person[p], p))
        out.evidence[item] = LikedByFollowed(tuple(ranked))
    top = max(out.scores.values()) or 1.0
    for item in out.scores:
        out.scores[item] /= top
    return out
