"""The refresh job: text -> pull -> build -> hold-out -> fit -> gate -> write and publish.

run_refresh runs the stages in that order, each from its own module: text (the changed
item and interest texts embedded, training.text_refresh; its text tags are written after
publishing), pull (what to train
on, and whether an incremental run can stay incremental), holdout (what it is measured
on), full / incremental (the fit), gate (publish or not, and the metrics recorded) and
publish (write under a new model_version, then move the pointer). It times the phases
(PHASES) and reports them as it goes; a run that fails or is rejected never moves the
published pointer.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from training.base_vectors import BaseVectors
from training.full import fit_full
from training.gate import judge
from training.holdout import holdout_split, split_counts
from training.incremental import fit_incremental
from training.options import RefreshOptions
from training.publish import cleanup_old_versions, stages_lists, write_and_publish
from training.pull import pull_training_set
from training.run import MODES, Mode, Phases, RefreshPlan, new_model_version
from training.text_cache import TextVectorCache
from training.text_refresh import embed_texts, write_text_tags

if TYPE_CHECKING:
    from graph_schema.settings import Settings
    from training.outputs import SimilarLists
    from training.store_protocol import RefreshStore
    from training.user_lists import RankedUsers

log = logging.getLogger(__name__)

# the job's entry points (service.jobs.refresh): the version is chosen before the run starts
__all__ = ["PHASES", "RefreshOptions", "RefreshResult", "new_model_version", "run_refresh"]

PHASES = ("text", "pull", "build", "train", "evaluate", "write")


@dataclass
class RefreshResult:
    model_version: str
    mode: str  # full | incremental (what actually ran)
    status: str  # published | rejected | skipped
    device: str
    phases: dict[str, float]  # seconds per phase
    counts: dict[str, int]
    metrics: dict[str, float]  # ours, on the hold-out (full: temporal split; incremental: holdout_after)
    baseline: dict[str, float]  # popularity, same hold-out
    # what the gate compared against: full mode, the published run's GATE_METRIC; incremental
    # mode, the published vectors of the re-fitted users on the same hold-out
    published_metric: float | None
    reason: str = ""
    best_epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)  # the training curve (Fit.history)
    # an incremental run: the version it carried unchanged nodes from, and the users it
    # re-fitted (the serving snapshot re-reads only those); not part of the run's record
    carried_from: str | None = None
    staged_users: tuple[str, ...] = field(default=(), repr=False)
    staged_items: tuple[str, ...] = field(default=(), repr=False)  # the items whose vectors it staged
    # whether it staged learned rankings (User.recs_*): without, every user keeps its list
    staged_lists: bool = field(default=False, repr=False)
    # a published run that staged every user's vector and ranking: them, as arrays (the
    # serving snapshot's user side is built from them, not read back from the graph)
    ranked_users: RankedUsers | None = field(default=None, repr=False)
    similar_lists: SimilarLists | None = field(default=None, repr=False)  # the SIMILAR_TO lists it wrote

    def as_dict(self) -> dict[str, Any]:
        """The run's record (what the run history keeps): every field but the ones above
        that only the job reads after publishing."""
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self) if f.name not in _NOT_RECORDED}


_NOT_RECORDED = frozenset({"staged_users", "staged_items", "staged_lists", "ranked_users", "similar_lists"})


def run_refresh(
    store: RefreshStore,
    settings: Settings,
    mode: str = "full",
    device: str = "auto",
    epochs: int | None = None,
    force: bool = False,
    *,
    options: RefreshOptions | None = None,
    on_phase: Callable[[str], None] | None = None,
    model_version: str | None = None,
    touched_users: Sequence[str] | None = None,
    exposures: Sequence[tuple[str, str]] | Callable[[], Sequence[tuple[str, str]]] = (),
) -> RefreshResult:
    """Run one refresh against a GraphStore; raises on failure (nothing published then).

    Incremental mode seeds its neighbourhood with `touched_users` (e.g. users with events
    ingested since the published run, from the event log); without them, users with an
    interaction whose last_ts is at or after the published run's published_at.
    """
    if mode not in MODES:
        raise ValueError("mode must be full or incremental")
    run = RefreshPlan.start(store, settings, options, device, epochs, model_version)
    phases = Phases(on_phase)
    # item and interest text vectors, only the changed texts embedded (None: text is off)
    texts = phases.run("text", lambda: embed_texts(store, run.options, TextVectorCache(settings.text_cache_dir)))

    # the mode that actually runs is decided here: incremental may fall back to full
    pulled = pull_training_set(store, run, cast(Mode, mode), touched_users, phases)
    # user-user ties: the learned blend's social component (a full run chooses the blend) and,
    # with TRAIN_SOCIAL_WEIGHT > 0, the GNN's own relation type
    if pulled.mode == "full" or run.options.train.graph.social_weight > 0:
        pulled = replace(pulled, data=pulled.data.with_social(store.relation_ties()))
    if texts is not None and pulled.mode == "full" and not run.options.train.distributed:
        # the GNN's item input feature; items with text and no interaction join as cold items
        # (distributed training has no text feature yet: its cold items would get no vector)
        pulled = replace(pulled, data=pulled.data.with_item_text(texts.items.by_id()))
    data = pulled.data
    if data.n_interactions == 0:
        return _skipped(run, pulled.mode, phases)
    # "now" for every decayed quantity: the newest interaction pulled (see training.publish)
    t_ref = int(data.last_ts.max())
    split = holdout_split(data, pulled.mode, run.published)
    base = BaseVectors(settings.base_vectors_dir)
    if pulled.mode == "full":
        # warm-started from the last full run's base vectors, which never saw this run's
        # hold-out; the exposures read only now: an incremental run has no use for them (the
        # job's whole-log aggregate took 2.8 s of a 1M-event incremental run)
        warm, dropped = base.load().without_seen(data, np.concatenate([split.valid, split.test]))
        start = replace(data, previous=warm)
        fit = fit_full(start, split, t_ref, run.options, phases, exposures() if callable(exposures) else exposures)
        fit.counts["warm_start_held_out_users"] = dropped  # started from scratch: their hold-out was trained on
    else:
        assert pulled.previous is not None
        fit = fit_incremental(data, split, pulled.previous, pulled.seeds, run.options, phases)
    counts = {**split_counts(data, split), **fit.counts, **(texts.counts if texts else {})}

    verdict = judge(pulled.mode, fit, counts, t_ref, run.published, run.options.gate_margin, force)
    reason = verdict.reason
    ranked, lists = None, None
    if verdict.accepted:
        outputs = phases.run("write", lambda: write_and_publish(store, run, pulled, fit, t_ref, verdict.record))
        counts.update(outputs.counts())
        if fit.base is not None and fit.trained is not None:  # published: the next full run starts from these
            base.save(fit.base, fit.trained)
        ranked, lists = outputs.ranked, outputs.similar_lists
        previous = run.published.version if run.published is not None else None
        tagged = phases.run("write", lambda: write_text_tags(store, run.options, texts, data, run.version, previous))
        counts.update(tagged)
        refitted = [data.users.ids[u] for u in fit.staged["user"].tolist()] if fit.staged is not None else None
        cleaned, failure = cleanup_old_versions(store, run.version, refitted, previous)
        counts.update(cleaned)
        if failure:
            reason = f"published; cleanup of old versions failed: {failure}"
    else:
        log.warning("refresh %s rejected: %s", run.version, reason)
    return RefreshResult(
        model_version=run.version,
        mode=pulled.mode,
        status="published" if verdict.accepted else "rejected",
        device=fit.device,
        phases=phases.seconds,
        counts=counts,
        metrics=fit.metrics,
        baseline=fit.baseline,
        published_metric=verdict.published_metric,
        reason=reason,
        best_epoch=fit.best_epoch,
        history=[_curve_row(row) for row in fit.history],
        carried_from=run.published.version if fit.staged is not None and run.published is not None else None,
        staged_users=tuple(data.users.ids[u] for u in fit.staged["user"].tolist()) if fit.staged is not None else (),
        staged_items=tuple(data.items.ids[i] for i in fit.staged["item"].tolist()) if fit.staged is not None else (),
        staged_lists=verdict.accepted and stages_lists(fit, run.options),
        ranked_users=ranked,
        similar_lists=lists,
    )


def _curve_row(row: dict[str, float]) -> dict[str, float]:
    """One epoch of the training curve as the run records it: rounded, the epoch an integer."""
    return {k: int(v) if k == "epoch" else round(float(v), 6) for k, v in row.items()}


def _skipped(run: RefreshPlan, mode: Mode, phases: Phases) -> RefreshResult:
    reason = "no interactions to train on" if mode == "full" else "no users with new interactions"
    counts = {"interactions": 0, **({"touched_users": 0} if mode == "incremental" else {})}
    return RefreshResult(run.version, mode, "skipped", "-", phases.seconds, counts, {}, {}, None, reason)
