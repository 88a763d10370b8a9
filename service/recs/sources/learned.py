"""learned: the user's ranking written by the refresh (training.combiner blends EASE,
the GNN, the user's recent sequence and popularity with weights chosen on the refresh's
own hold-out), minus what the request excludes. Scores are rescaled to 0..1. An item
there mostly because people the user follows took it is explained by them
(graph_schema.because)."""

from __future__ import annotations

from graph_schema.because import liked_by_followed
from service.recs.context import Context, Found
from service.recs.evidence import LearnedRanking


def learned(ctx: Context) -> Found:
    # only the head can reach an answer of ctx.n items (fresh evidence reorders, rarely by much)
    ranking = [r for r in ctx.profile.ranking if r.item_id not in ctx.excluded][: max(3 * ctx.n, 50)]
    out = Found()
    if not ranking:
        return out
    # the list is best first; its blended scores are z-score sums, so rescale by rank span
    top, low = ranking[0].score, ranking[-1].score
    span = (top - low) or 1.0
    social = {r.item_id: found for r in ranking if (found := liked_by_followed(r.because))}
    titles = ctx.meta({r.because for r in ranking if r.because and r.item_id not in social})
    for r in ranking:
        out.scores[r.item_id] = 0.5 + 0.5 * (r.score - low) / span
        if (people := social.get(r.item_id)) is not None:
            out.evidence[r.item_id] = LearnedRanking(ctx.model_version, None, None, people.people, people.count)
            continue
        title = titles.get(r.because, (None, ()))[0] if r.because else None
        out.evidence[r.item_id] = LearnedRanking(ctx.model_version, r.because, title)
    return out
