"""learned: the user's ranking written by the refresh (training.combiner blends EASE,
the GNN, the user's recent sequence and popularity with weights chosen on the refresh's
own hold-out), minus what the request excludes. Scores are rescaled to 0..1. An item
there mostly because people the user follows took it is explained by them
(graph_schema.because)."""

from __future__ import annotations

from typing import Any

from graph_schema.because import liked_by_followed
from service.recs.context import Context, Found, LazyEvidence
from service.recs.evidence import Evidence, LearnedRanking


def learned(ctx: Context) -> Found:
    # only the head can reach an answer of ctx.n items (fresh evidence reorders, rarely by much)
    ranking = [r for r in ctx.profile.ranking if r.item_id not in ctx.excluded][: max(3 * ctx.n, 50)]
    if not ranking:
        return Found()
    # the list is best first; its blended scores are z-score sums, so rescale by rank span
    top, low = ranking[0].score, ranking[-1].score
    span = (top - low) or 1.0
    scores = {r.item_id: 0.5 + 0.5 * (r.score - low) / span for r in ranking}
    because = {r.item_id: r.because for r in ranking}
    return Found(scores, LazyEvidence(because, _Explainer(ctx, because).make))


class _Explainer:
    """The learned evidence of the items an answer shows. The titles of every entry's
    `because` are read at the first one, in one lookup (the snapshot's, or one store
    read for items it does not hold), as before the evidence was made lazily."""

    def __init__(self, ctx: Context, because: dict[str, str | None]) -> None:
        self.ctx, self.because = ctx, because
        self.titles: dict[str, Any] | None = None

    def make(self, item: str, because: str | None) -> Evidence:
        mv = self.ctx.model_version
        if (people := liked_by_followed(because)) is not None:
            return LearnedRanking(mv, None, None, people.people, people.count)
        if not because:
            return LearnedRanking(mv, because, None)
        if self.titles is None:
            self.titles = self.ctx.meta({b for b in self.because.values() if b and liked_by_followed(b) is None})
        return LearnedRanking(mv, because, self.titles.get(because, (None, ()))[0])
