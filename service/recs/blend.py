"""Blending the sources' scores per strategy, and explaining an item's score."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from service.recs.context import Found, LazyEvidence
from service.recs.evidence import Trending

BLEND_WEIGHTS = {"graph": 0.45, "interest": 0.25, "embedding": 0.2, "trending": 0.1}
REASON_SHARE = 0.2  # a source is named as a reason when it gives >= 20% of the score
TRENDING_REASON_TOP = 100  # "trending" only for items this high in the snapshot


def strategy_weights(strategy: str, has_embedding: bool) -> dict[str, float]:
    """A single-source strategy uses that source alone; the blend mixes all (without
    embedding when there are no vectors), the weights summing to 1."""
    if strategy in ("graph", "interest", "embedding", "trending"):
        return {strategy: 1.0}
    weights = dict(BLEND_WEIGHTS)
    if not has_embedding:
        weights.pop("embedding")
    total = sum(weights.values())
    return {k: v / total for k, v in weights.items()}


@dataclass
class Scores:
    """What each source found for one request, by source name."""

    by_source: dict[str, Found] = field(default_factory=dict)
    # an experiment arm's blend setting: these sources' weights replace the strategy's
    overrides: dict[str, float] = field(default_factory=dict)

    def weighed(self, weights: dict[str, float]) -> dict[str, float]:
        if not self.overrides:
            return weights
        return {src: self.overrides.get(src, w) for src, w in weights.items()}

    def add(self, source: str, found: Found) -> None:
        """Add a source's finds; an item it scored before takes the new score and evidence.
        A second add of a source whose evidence is lazy makes all of it (nothing adds one
        twice today: learned once, graph once, trending once and then its fill)."""
        mine = self.by_source.get(source)
        if mine is None:  # the source's first finds: lazy evidence stays lazy
            lazy = isinstance(found.evidence, LazyEvidence)
            self.by_source[source] = Found(dict(found.scores), found.evidence if lazy else dict(found.evidence))
            return
        mine.scores.update(found.scores)
        if not isinstance(mine.evidence, dict):
            mine.evidence = dict(mine.evidence)
        mine.evidence.update(found.evidence)

    def items(self) -> set[str]:
        out: set[str] = set()
        for found in self.by_source.values():
            out.update(found.scores)
        return out

    def totals(self, items: Iterable[str], weights: dict[str, float]) -> dict[str, float]:
        out = dict.fromkeys(items, 0.0)
        for src, w in self.weighed(weights).items():
            found = self.by_source.get(src)
            if found is None:
                continue
            for item, score in found.scores.items():
                if item in out:
                    out[item] += w * score
        return out

    def explain(self, item: str, weights: dict[str, float]) -> tuple[list[str], list[dict[str, Any]]]:
        """Reasons and evidence for an item, biggest contribution first: every source
        giving at least REASON_SHARE of its score (the first always), and "trending"
        besides another reason only for items high in the snapshot."""
        return self.explainer(weights)(item)

    def explainer(self, weights: dict[str, float]) -> Callable[[str], tuple[list[str], list[dict[str, Any]]]]:
        """`explain` for these weights, for the items of one answer (the weights and the
        sources looked up once)."""
        weighed = [(w, self.by_source[src]) for src, w in self.weighed(weights).items() if src in self.by_source]

        def explain(item: str) -> tuple[list[str], list[dict[str, Any]]]:
            # stable sort, biggest first: sources with equal contributions keep the weights' order
            parts = sorted(
                [(c, n) for n, (w, found) in enumerate(weighed) if (c := w * found.scores.get(item, 0.0)) > 0],
                key=lambda p: -p[0],
            )
            total = sum(c for c, _ in parts) or 1.0
            reasons: list[str] = []
            evidence: list[dict[str, Any]] = []
            for contribution, n in parts:
                if reasons and contribution / total < REASON_SHARE:
                    continue
                ev = weighed[n][1].evidence[item]
                if reasons and isinstance(ev, Trending) and ev.rank > TRENDING_REASON_TOP:
                    continue
                reason = ev.reason()
                if reason in reasons:  # the learned ranking and the live source can name the same people
                    continue
                reasons.append(reason)
                evidence.append(ev.as_json())
            return reasons, evidence

        return explain
