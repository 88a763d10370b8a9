"""Write, then publish: the run's rows under its new model_version, then the pointer.

Everything is written under the new version first: SIMILAR_TO edges tagged with it (full
runs; an incremental run keeps the published model's lists, publish_model's
similar_version), node properties and interest strengths staged as next_*. store.publish_model then promotes the
staged properties and moves the pointer in one transaction (an incremental run's also
carries what it did not stage into the new version), so a run that fails half-way leaves
the previous version fully readable. Beyond REFRESH_PUBLISH_BATCH users the promotion runs
in batches under a recorded intent that only rolls forward, the pointer still moving last.
Only after that are other versions cleaned up.

Decay: every decayed quantity (the training graph's edge weights, evidence, population
strength) is measured from t_ref, the newest interaction pulled, not the wall clock. All
of them are normalised (mean, per user, or share), so the constant factor
exp(-(now - t_ref)/tau) cancels, and historical data sets do not underflow to 0.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from graph_schema.clock import now_ms
from graph_schema.columns import GraphColumns
from training.heap import release_freed
from training.options import RefreshOptions
from training.outputs import Outputs, build_outputs, written_vectors
from training.pull import TrainingSet
from training.run import Fit, RefreshPlan
from training.similar import similar_items
from training.strengths import (
    Evidence,
    evidence_from_interactions,
    evidence_from_rows,
    evidence_from_table,
    interest_population,
    user_strengths,
)
from training.user_lists import RankedUsers, user_lists

if TYPE_CHECKING:
    from training.store_protocol import RefreshStore

log = logging.getLogger(__name__)


def write_and_publish(
    store: RefreshStore, run: RefreshPlan, pulled: TrainingSet, fit: Fit, t_ref: int, record: dict[str, Any]
) -> Outputs:
    """Stage the run's rows and publish them with `record` (its metrics); raises if any write fails.

    The rows are streamed: each kind is generated as the store writes it in batches."""
    outputs = build_run_outputs(run, pulled, fit, t_ref)
    store.write_similar_items(outputs.similar)
    store.stage_interest_strengths(outputs.strengths)
    for label, rows in outputs.nodes.items():
        store.stage_node_properties(label, rows)
    incremental = fit.staged is not None and run.published is not None
    carry_from = run.published.version if incremental and run.published else None
    # an incremental run writes no SIMILAR_TO: the published model's lists stay served
    kept = run.published.similar_version if incremental and run.published else None
    store.publish_model(
        run.version, record, carry_from=carry_from, similar_version=kept, batch=run.options.publish_batch
    )
    return outputs


def build_run_outputs(run: RefreshPlan, pulled: TrainingSet, fit: Fit, t_ref: int) -> Outputs:
    """Interest strengths, population strengths and similar items, as the store's row streams."""
    data, opts, tau_days = pulled.data, run.options, run.tau_days
    # live evidence kept by ingestion if there is any, else derived from interactions x tags
    evidence = pulled_evidence(pulled, t_ref, tau_days)
    if evidence is None or len(evidence.value) == 0:
        evidence = evidence_from_interactions(data, t_ref, tau_days)
    emb = fit.embeddings
    strengths = user_strengths(emb["user"], emb["interest"], evidence, opts.top_n_interests, opts.strength_alpha)
    # population strengths need every interaction: an incremental run keeps the interests'
    population = interest_population(data, t_ref, tau_days, pulled.interest_strengths) if fit.staged is None else []
    # SIMILAR_TO lists are a full run's: an incremental run moves a few items a little and
    # keeps the published lists (rewriting every item's list cost more than the fit)
    similar = similar_items(emb["item"], opts.similar_k, opts.similar_exact_max_items) if fit.staged is None else None
    release_freed()  # the similarity blocks' heap: the user lists and the rows come next
    refreshed_at = now_ms()
    # the learned ranking rides on the user's staged row (promoted with it); a run that
    # stages every user keeps them as arrays too (the serving snapshot's user side)
    lists, ranked = None, None
    if fit.blend is not None and stages_lists(fit, opts):
        if fit.staged is None:
            ranked = RankedUsers.empty(data, written_vectors(emb["user"]), opts.list_size)
        lists = user_lists(data, fit.blend, emb, opts.list_size, t_ref, ranked, opts.lists_exact_max_items)
    outputs = build_outputs(data, emb, strengths, population, similar, run.version, refreshed_at, fit.staged, lists)
    outputs.ranked = ranked
    return outputs


def stages_lists(fit: Fit, opts: RefreshOptions) -> bool:
    """Whether the run writes learned rankings (a full run's blend; an incremental run keeps
    every user's list)."""
    return fit.blend is not None and opts.list_size > 0


def pulled_evidence(pulled: TrainingSet, t_ref: int, tau_days: float) -> Evidence | None:
    """The live evidence the store keeps (None: none pulled), from rows or from columns."""
    sub = pulled.subgraph
    if isinstance(sub, GraphColumns):
        return evidence_from_table(sub.evidence, pulled.data, t_ref, tau_days) if len(sub.evidence) else None
    return evidence_from_rows(sub.evidence, pulled.data, t_ref, tau_days) if sub.evidence else None


def cleanup_old_versions(
    store: RefreshStore, keep: str, users: Sequence[str] | None = None, base: str | None = None
) -> tuple[dict[str, int], str]:
    """Remove other versions' rows: (counts, "" or why it failed). The new version is already
    published and complete, so a failure only leaves old rows behind for the next run.
    `users`: an incremental run's re-fitted users, the only ones whose strengths it changed
    since `base`, the version it started from."""
    try:
        return store.cleanup_versions(keep=keep, users=users, base=base), ""
    except Exception as exc:
        log.warning("cleanup of old model versions failed: %s", exc)
        return {}, str(exc)
