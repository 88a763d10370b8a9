"""The weight of the live social source next to the learned ranking.

The refresh's learned blend (training.combiner) chooses a weight for its social component
on its own hold-out, by the rule the live source follows (what the people the user follows
took, decayed by age); the live source takes that weight, since it is the same signal with
what those people did since the refresh. RECS_SOCIAL_WEIGHT stands in when no published run
learned one (before any model, or a run trained without FOLLOWS ties), and weighs the
heuristic blend, which nothing learned; RECS_SOCIAL_WEIGHT=0 turns the source off."""

from __future__ import annotations

from service.recs.context import Context


def learned_blend_social_weight(ctx: Context) -> float:
    if ctx.pinned and ctx.model is not None:  # an older publish: what it learned rides in its snapshot
        learned = ctx.model.social_weight
    else:
        learned = ctx.published.learned_social_weight(ctx.store, ctx.model_version)
    return ctx.settings.recs_social_weight if learned is None else learned
