"""What every candidate source gets (a Context) and gives back (Found).

A source is a function `(Context) -> Found`, as Gorse's recommenders in logics/
all share one shape: the caller decides which sources run and how their scores
are blended (ranking.py, blend.py); a source only finds and scores candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from graph_schema.store.serving import ServingReads
from graph_schema.store.serving_rows import UserProfile
from service.config import ApiSettings
from service.recs.evidence import Evidence
from service.recs.model_snapshot import ModelSnapshot
from service.recs.published import PublishedModel
from service.recs.snapshot import Meta, Snapshot


@dataclass(frozen=True)
class Context:
    """One recommendation request, as the sources see it."""

    store: ServingReads
    published: PublishedModel  # per-version neighbour lists and item vectors
    settings: ApiSettings
    user_id: str
    profile: UserProfile
    snapshot: Snapshot
    model_version: str | None  # published; None before any model
    excluded: frozenset[str]  # seen items and the request's `exclude`
    n: int  # how many candidates a source that takes a count should find (trending)
    interest: str | None = None  # a source that can should find only items of this interest (trending)
    pool: tuple[str, ...] = ()  # candidates to re-score (embedding)
    model: ModelSnapshot | None = None  # the published version's shared snapshot, once built
    blend: tuple[tuple[str, float], ...] = ()  # an experiment arm's source weights (blend.Scores.overrides)
    pinned: bool = False  # model_version is an older publish an experiment arm pins (`model` is its snapshot)

    def meta(self, items: Iterable[str]) -> Meta:
        """Titles and interest ids of `items` (see Snapshot.meta)."""
        return self.snapshot.meta(self.store, items, self.model)


class LazyEvidence(Mapping[str, Evidence]):
    """A source's evidence, each item's made when first asked for: an answer explains
    its k items, not the candidates its sources scored (the learned source scores 60 for
    an answer of 20). `make(item, spec)` makes it from the item's entry in `specs`."""

    __slots__ = ("_made", "_make", "_specs")

    def __init__(self, specs: Mapping[str, Any], make: Callable[[str, Any], Evidence]) -> None:
        self._specs, self._make = specs, make
        self._made: dict[str, Evidence] = {}

    def __getitem__(self, item: str) -> Evidence:
        made = self._made.get(item)
        if made is None:
            made = self._made[item] = self._make(item, self._specs[item])
        return made

    def __contains__(self, item: object) -> bool:  # (Mapping's would make the evidence)
        return item in self._specs

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)


@dataclass
class Found:
    """A source's candidates: normalised (0..1) scores and the evidence behind each.

    Plain dicts rather than an object per candidate: a request scores a few
    hundred candidates, and this is the hot path of the API. A source may give its
    evidence as a LazyEvidence instead of a dict (made only for the items shown).
    """

    scores: dict[str, float] = field(default_factory=dict)
    evidence: dict[str, Evidence] | LazyEvidence = field(default_factory=dict)


Source = Callable[[Context], Found]
