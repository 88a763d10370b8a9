"""Pull and build: what a refresh trains on, as TrainingData, and the mode it can run in.

Full: every interaction (last touched inside the window), all interest evidence and tags,
and the published Interest.strength (the trend is measured from it); not the published
vectors, which a full run never starts from (training.base_vectors).

Incremental: the users with events since the published run (the seeds, U0) with all their
interactions and evidence; the items their interactions newer than the published fit
reached (I1), each with the edges of up to `neighbours_per_item` of its most recent other
users (U2, whose published vectors stay frozen: only those edges are pulled; see
GraphStore.pull_neighbourhood); all tags and all previous embeddings.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from training.data import LABELS, TrainingData
from training.incremental import PreviousVectors, previous_vectors
from training.outputs import STORE_LABEL
from training.run import Mode, Phases, RefreshPlan

if TYPE_CHECKING:
    from graph_schema.columns import GraphColumns
    from graph_schema.rows import Subgraph
    from training.store_protocol import RefreshStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingSet:
    """What was pulled and built, and the mode the run goes on in."""

    mode: Mode
    subgraph: Subgraph | GraphColumns  # what was pulled (both modes pull columns)
    data: TrainingData
    seeds: list[str] = field(default_factory=list)  # incremental: U0, the users with new events
    previous: PreviousVectors | None = None  # incremental: the published vectors, as arrays
    interest_strengths: dict[str, float] = field(default_factory=dict)  # full: published Interest.strength


def pull_training_set(
    store: RefreshStore, run: RefreshPlan, requested: Mode, touched_users: Sequence[str] | None, phases: Phases
) -> TrainingSet:
    """Pull and build for `requested`, deciding the mode the run can actually run in.

    An incremental run re-fits against the published vectors, so it falls back to a full
    run when nothing is published yet, or when the pulled previous vectors are missing or
    of mixed sizes (then the neighbourhood just pulled is dropped and everything pulled).
    """
    if requested == "incremental":
        if run.published is None:
            log.info("incremental refresh: no published model yet, running a full refresh")
        else:
            neighbourhood = _pull_neighbourhood(store, run, touched_users, phases)
            if neighbourhood.previous is not None:
                return neighbourhood
            log.info("incremental refresh: previous embeddings missing or inconsistent, running a full refresh")
    columns, strengths = phases.run(
        "pull",
        lambda: (
            # not the published vectors: a full run never starts from them (training.base_vectors)
            store.pull_columns(since_ts=run.since_ts, page=run.options.pull_page, vectors=False),
            previous_interest_strengths(store),
        ),
    )
    data = phases.run("build", lambda: build_columns(columns))
    return TrainingSet("full", columns, data, interest_strengths=strengths)


def _pull_neighbourhood(
    store: RefreshStore, run: RefreshPlan, touched_users: Sequence[str] | None, phases: Phases
) -> TrainingSet:
    assert run.published is not None

    def pull() -> tuple[GraphColumns, list[str]]:
        # without the caller's touched users: users with an interaction last touched at or
        # after the published run's publication
        seeds = (
            list(touched_users)
            if touched_users is not None
            else store.users_active_since(run.published.published_at or 0)
        )
        # the items moved: those of the seeds' interactions newer than the published fit
        assert run.published is not None
        sub = store.pull_neighbourhood(seeds, run.options.neighbours_per_item, run.since_ts, run.published.new_since)
        return sub, seeds

    columns, seeds = phases.run("pull", pull)
    data = phases.run("build", lambda: build_columns(columns, every_vector=True))
    return TrainingSet("incremental", columns, data, seeds=seeds, previous=previous_vectors(data))


def build(subgraph: Subgraph, every_vector: bool = False) -> TrainingData:
    """TrainingData of the pulled rows, with the previous vectors attached.

    `every_vector`: also index every item (and interest) that has a vector; a neighbourhood
    holds few of the items, and negatives must come from all of them and SIMILAR_TO cover
    all of them.
    """
    previous = {label: subgraph.embeddings.get(STORE_LABEL[label], {}) for label in LABELS}
    extra_ids = {"item": list(previous["item"]), "interest": list(previous["interest"])} if every_vector else None
    return TrainingData.from_rows(subgraph.interactions, subgraph.tags, previous=previous, extra_ids=extra_ids)


def build_columns(columns: GraphColumns, every_vector: bool = False) -> TrainingData:
    """TrainingData of a pull's columns, with the previous vectors (float32 tables);
    `every_vector` as in build."""
    previous = {label: columns.embeddings.get(STORE_LABEL[label], {}) for label in LABELS}
    extra_ids = {"item": list(previous["item"]), "interest": list(previous["interest"])} if every_vector else None
    return TrainingData.from_columns(columns.interactions, columns.tags, previous=previous, extra_ids=extra_ids)


def previous_interest_strengths(store: RefreshStore) -> dict[str, float]:
    """Interest.strength of the published run (for the trend); {} before the first."""
    return store.pull_interest_strengths()
