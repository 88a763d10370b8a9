"""The refresh job: pull -> build -> train -> evaluate -> gate -> write -> publish.

Full mode trains on each user's older interactions (temporal split), early-stops on the
next 10 %, measures ours and the popularity baseline on the newest 10 %, then propagates
the trained base vectors over the graph of *all* interactions, so the published vectors
reflect the newest events without a second training run.

Incremental mode re-fits a sampled neighbourhood of the users with events since the
published run (the seeds, U0): the items they interacted with (I1), and up to
`neighbours_per_item` other users of each of those items (U2, the most recent ones; see
GraphStore.pull_neighbourhood). It pulls only the interactions of U0 and U2 (all of them,
so their vectors can be re-fitted), their evidence, all tags and all previous embeddings,
then re-fits the vectors of U0, U2 and I1 jointly against everything else frozen
(training.foldin). It stages only those users (with their strengths) and items, but
writes every item's SIMILAR_TO neighbours for the new version (any item's list may hold a
moved item, and readers read only the published version's edges); publish_model carries
every vector and strength it did not stage into the new version unchanged. Interests keep
their vectors, population strength and trend (a full run recomputes those).

Gate: a full run is compared with the published run's NDCG@20. An incremental run is
compared with the published vectors of the same users on the same hold-out: the newest
half of each user's interactions first seen after the published model's t_ref (the newest
interaction it was fitted on, kept in the published metrics), see holdout_after. A model
published before t_ref was recorded falls back to the newest 10 % per user, on which the
published vectors have an unfair edge (they were propagated over it).

Decay: every decayed quantity is measured from t_ref = the newest interaction pulled, not
the wall clock. All of them are normalised (mean, per user, or share), so the constant
factor exp(-(now - t_ref)/tau) cancels, and historical data sets do not underflow to 0.

Publishing: all rows are written under a new model_version first (SIMILAR_TO edges tagged
with it, node properties and strengths staged as next_*); store.publish_model promotes the
staged properties and moves the pointer in one transaction, and only then are other
versions cleaned up. A run that fails or
is rejected by the quality gate never moves the pointer.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from training.data import LABELS, Split, TrainingData, temporal_split
from training.metrics import evaluate, evaluate_popularity, holdout_truth, items_by_user
from training.options import RefreshOptions
from training.outputs import STORE_LABEL, Outputs, build_outputs
from training.strengths import (
    evidence_from_interactions,
    evidence_from_rows,
    interest_population,
    similar_items,
    user_strengths,
)

log = logging.getLogger(__name__)

PHASES = ("pull", "build", "train", "evaluate", "write")
GATE_METRIC = "ndcg@20"
# The definition of the full run's hold-out, stored with its metrics: the gate compares
# only numbers measured on the same definition. 2: pulled rows sorted by id, so ties in
# first_ts are broken by item id on every engine (1: the engine's scan order).
HOLDOUT_VERSION = 2


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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Phases:
    """Times each phase and tells the caller (progress display) when one starts."""

    def __init__(self, on_phase: Callable[[str], None] | None) -> None:
        self.seconds: dict[str, float] = {}
        self.on_phase = on_phase

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        if self.on_phase:
            self.on_phase(name)
        start = time.perf_counter()
        try:
            return fn()
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def new_model_version(now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


def run_refresh(
    store: Any,
    settings: Any,
    mode: str = "full",
    device: str = "auto",
    epochs: int | None = None,
    force: bool = False,
    *,
    options: RefreshOptions | None = None,
    on_phase: Callable[[str], None] | None = None,
    model_version: str | None = None,
    touched_users: Sequence[str] | None = None,
) -> RefreshResult:
    """Run one refresh against a GraphStore; raises on failure (nothing published then).

    Incremental mode seeds its neighbourhood with `touched_users` (e.g. users with events
    ingested since the published run, from the event log); without them, users with an
    interaction whose last_ts is at or after the published run's published_at.
    """
    if mode not in {"full", "incremental"}:
        raise ValueError("mode must be full or incremental")
    opts = (options or RefreshOptions.from_settings(settings)).for_run(device, epochs)
    tau_days = settings.evidence_tau_days
    version = model_version or new_model_version()
    phases = _Phases(on_phase)

    current = store.current_model()
    published_at = int(current["published_at"]) if current and current.get("published_at") is not None else None
    if mode == "incremental" and current is None:
        log.info("incremental refresh: no published model yet, running a full refresh")
        mode = "full"
    since = None
    if opts.window_days is not None:
        since = int(time.time() * 1000 - opts.window_days * 86_400_000)

    # --- pull + build -----------------------------------------------------------------
    def pull_full() -> tuple[Any, dict[str, float]]:
        return store.pull_subgraph(since_ts=since), _previous_interest_strengths(store)

    def pull_neighbourhood() -> tuple[Any, list[str]]:
        seeds = list(touched_users) if touched_users is not None else store.users_active_since(published_at or 0)
        return store.pull_neighbourhood(seeds, opts.neighbours_per_item, since_ts=since), seeds

    def build(sg: Any, extra: bool = False) -> TrainingData:
        previous = {label: sg.embeddings.get(STORE_LABEL[label], {}) for label in LABELS}
        # a neighbourhood holds few of the items: add every item (and interest) with a
        # vector, so negatives come from all items and SIMILAR_TO covers all of them
        extra_ids = {"item": list(previous["item"]), "interest": list(previous["interest"])} if extra else None
        return TrainingData.from_rows(sg.interactions, sg.tags, previous=previous, extra_ids=extra_ids)

    seeds: list[str] = []
    prev_arrays = None
    if mode == "incremental":
        sg, seeds = phases.run("pull", pull_neighbourhood)
        prev_interest: dict[str, float] = {}
        data = phases.run("build", lambda: build(sg, extra=True))
        prev_arrays = _previous_arrays(data)
        if prev_arrays is None:
            log.info("incremental refresh: previous embeddings missing or inconsistent, running a full refresh")
            mode = "full"
    if mode == "full":
        sg, prev_interest = phases.run("pull", pull_full)
        data = phases.run("build", lambda: build(sg))
    if data.n_interactions == 0:
        reason = "no interactions to train on" if mode == "full" else "no users with new interactions"
        return RefreshResult(
            version,
            mode,
            "skipped",
            "-",
            phases.seconds,
            {"interactions": 0, **({"touched_users": 0} if mode == "incremental" else {})},
            {},
            {},
            None,
            reason,
        )
    t_ref = int(data.last_ts.max())
    current_metrics = dict(current["metrics"]) if current and isinstance(current.get("metrics"), Mapping) else {}
    # the newest interaction the published model was fitted on (runs publish it as t_ref)
    horizon = current_metrics.get("t_ref")
    incremental_holdout = mode == "incremental" and horizon is not None
    split = holdout_after(data, int(horizon)) if incremental_holdout else temporal_split(data)
    counts = {
        "users": data.n_users,
        "items": data.n_items,
        "interests": data.n_interests,
        "interactions": data.n_interactions,
        "train": len(split.train),
        "valid": len(split.valid),
        "test": len(split.test),
    }

    reference: dict[str, float] = {}
    staged: dict[str, np.ndarray] | None = None  # incremental: the rows re-fitted (and staged)
    if mode == "full":
        embeddings, metrics, baseline, used_device, best_epoch = _full(data, split, t_ref, opts, phases)
    else:
        assert prev_arrays is not None
        touched = np.unique(np.array([data.users.pos[u] for u in seeds if u in data.users.pos], dtype=np.int64))
        hood = _neighbourhood(data, touched, prev_arrays)
        embeddings, metrics, baseline, reference = _incremental(data, split, prev_arrays, hood, opts, phases)
        used_device, best_epoch = "cpu", 0
        staged = {"user": hood.users, "item": hood.staged_items, "interest": np.zeros(0, dtype=np.int64)}
        counts.update(
            touched_users=len(touched),
            neighbour_users=len(hood.users) - len(touched),
            refit_items=len(hood.items),
            new_items=len(hood.staged_items) - len(hood.items),
        )

    published_metric = None
    if mode == "incremental":
        # only the neighbourhood was re-fitted: compare with its users' published vectors on the
        # same hold-out, since the full run's number is over a different population
        published_metric = reference.get(GATE_METRIC) if reference.get("users", 0) > 0 else None
        # keep the last full run's numbers as the reference for the next gate
        published = {
            **current_metrics,
            "incremental": {**metrics, "baseline": baseline, "reference": reference, "counts": counts},
            "t_ref": max(t_ref, int(horizon or 0)),
        }
    else:
        value = current_metrics.get(GATE_METRIC)
        same_holdout = current_metrics.get("holdout") == HOLDOUT_VERSION
        published_metric = float(value) if value is not None and same_holdout else None
        if value is not None and not same_holdout:
            log.info("quality gate skipped: the published run's hold-out was defined differently")
        published = {**metrics, "baseline": baseline, "counts": counts, "t_ref": t_ref, "holdout": HOLDOUT_VERSION}
    published["mode"] = mode
    result = RefreshResult(
        version,
        mode,
        "rejected",
        used_device,
        phases.seconds,
        counts,
        metrics,
        baseline,
        published_metric,
        best_epoch=best_epoch,
    )

    # --- quality gate -----------------------------------------------------------------
    ours = metrics.get(GATE_METRIC)
    if (
        not force
        and published_metric is not None
        and ours is not None
        and metrics.get("users", 0) > 0
        and ours < published_metric - opts.gate_margin
    ):
        result.reason = (
            f"{GATE_METRIC} {ours:.4f} is more than {opts.gate_margin} below the published "
            f"{published_metric:.4f}; not published (use --force to publish anyway)"
        )
        log.warning("refresh %s rejected: %s", version, result.reason)
        return result

    # --- write, then publish ------------------------------------------------------------
    def write() -> Outputs:
        # live evidence kept by ingestion if there is any, else derived from interactions x tags
        evidence = evidence_from_rows(sg.evidence, data, t_ref, tau_days) if sg.evidence else None
        if evidence is None or len(evidence.value) == 0:
            evidence = evidence_from_interactions(data, t_ref, tau_days)
        us = user_strengths(
            embeddings["user"], embeddings["interest"], evidence, opts.top_n_interests, opts.strength_alpha
        )
        # population strengths need every interaction: an incremental run keeps the interests'
        population = interest_population(data, t_ref, tau_days, prev_interest) if staged is None else []
        similar = similar_items(embeddings["item"], opts.similar_k)
        out = build_outputs(data, embeddings, us, population, similar, version, int(time.time() * 1000), staged)
        # Versioned SIMILAR_TO edges coexist with the published ones; strengths and node
        # properties are staged (next_*). publish_model promotes them together with the
        # pointer in one transaction (an incremental run's: and carries what it did not
        # stage into the new version), so a run that fails here leaves the previous
        # version fully readable.
        store.write_similar_items(out.similar)
        store.stage_interest_strengths(out.strengths)
        for label, rows in out.nodes.items():
            if rows:
                store.stage_node_properties(label, rows)
        carry_from = current["model_version"] if staged is not None and current else None
        store.publish_model(version, published, carry_from=carry_from)
        return out

    outputs = phases.run("write", write)
    result.counts.update(outputs.counts())
    result.status = "published"
    try:
        # the new version is already published and complete; a failed cleanup only leaves
        # old rows behind for the next run to remove
        result.counts.update(store.cleanup_versions(keep=version))
    except Exception as exc:
        log.warning("cleanup of old model versions failed: %s", exc)
        result.reason = f"published; cleanup of old versions failed: {exc}"
    return result


def _full(
    data: TrainingData, split: Any, t_ref: int, opts: RefreshOptions, phases: _Phases
) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, float], str, int]:
    from training.train import embed_graph, train  # torch/dgl only when a refresh trains

    train_data = data.subset(split.train)
    valid_truth = items_by_user(data, split.valid)
    has_valid = any(len(v) for v in valid_truth)
    res = phases.run("train", lambda: train(train_data, t_ref, opts.train, valid_truth if has_valid else None))

    def evaluate_both() -> tuple[dict[str, float], dict[str, float]]:
        h = holdout_truth(data, split)
        ours = evaluate(res.scores, h.seen, h.truth)
        return ours, evaluate_popularity(train_data.item, data.n_items, h.seen, h.truth)

    metrics, baseline = phases.run("evaluate", evaluate_both)
    # publish vectors propagated over every interaction (hold-outs included)
    embeddings = phases.run("train", lambda: embed_graph(res.model, data, t_ref, opts.train.graph, res.device))
    return embeddings, metrics, baseline, res.device, res.best_epoch


@dataclass(frozen=True)
class _Neighbourhood:
    """What an incremental run re-fits (indices into the pulled TrainingData)."""

    touched: np.ndarray  # U0: users with new events
    users: np.ndarray  # U0 and U2: every pulled user (the pull holds only the neighbourhood)
    items: np.ndarray  # I1: items the touched users interacted with
    staged_items: np.ndarray  # I1 and items that had no vector (filled from their interests)


def _neighbourhood(
    data: TrainingData, touched: np.ndarray, prev: dict[str, tuple[np.ndarray, np.ndarray]]
) -> _Neighbourhood:
    items = np.unique(data.item[np.isin(data.user, touched)])
    new_items = np.flatnonzero(~prev["item"][1])
    return _Neighbourhood(touched, np.arange(data.n_users), items, np.union1d(items, new_items))


def _incremental(
    data: TrainingData,
    split: Any,
    prev: dict[str, tuple[np.ndarray, np.ndarray]],
    hood: _Neighbourhood,
    opts: RefreshOptions,
    phases: _Phases,
) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, float], dict[str, float]]:
    from training.foldin import fill_missing_items, fold_in

    user_emb, user_has = prev["user"]
    item_emb, item_has = prev["item"]
    interest_emb, _ = prev["interest"]
    item_emb = fill_missing_items(item_emb, item_has, interest_emb, data)
    # a user without a vector (new) starts from the mean of its items' vectors
    user_init = user_emb.copy()
    for u in np.flatnonzero(~user_has).tolist():
        user_init[u] = item_emb[data.item[data.user == u]].mean(0)
    cfg = opts.train

    def fit(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return fold_in(
            data.subset(rows),
            hood.users,
            hood.items,
            user_init,
            item_emb,
            opts.foldin_steps,
            opts.foldin_lr,
            cfg.reg,
            cfg.negatives,
            cfg.seed,
            opts.foldin_batch,
        )

    def evaluate_all() -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
        # Re-fit without the hold-out (holdout_after: what the published model never saw),
        # score it there, and score the same users' published vectors on the same hold-out
        # as the reference the gate compares with. Every pulled user comes with all its
        # interactions, so what is "seen" is complete. Users without a published vector
        # have no reference (and their start would be taken from the hold-out): left out.
        known = np.concatenate([split.train, split.valid])
        h = holdout_truth(data, split, test_users=user_has)
        pop = evaluate_popularity(data.item[known], data.n_items, h.seen, h.truth)
        reference = evaluate(lambda u: user_emb[u] @ item_emb.T, h.seen, h.truth)
        if not reference["users"]:
            return dict(reference), pop, reference  # nothing to measure: no need to fit
        users, items = fit(known)
        return evaluate(lambda u: users[u] @ items.T, h.seen, h.truth), pop, reference

    metrics, baseline, reference = phases.run("evaluate", evaluate_all)
    users, items = phases.run("train", lambda: fit(np.arange(data.n_interactions)))
    return {"user": users, "item": items, "interest": interest_emb}, metrics, baseline, reference


def holdout_after(data: TrainingData, horizon: int) -> Split:
    """The incremental hold-out: of each user's interactions first seen after `horizon`
    (the newest interaction the published model was fitted on), the newest half (at least
    one) is the test part; everything else, the older new ones included, is train.

    The published vectors never saw the test part, so comparing them with the re-fit on it
    is fair, and the re-fit has seen what the published vectors have not: the user's
    first new interactions. A temporal split of the pulled data would not be fair: a full
    run propagates its published vectors over every interaction, its own hold-out
    included, so on an older hold-out the published vectors look better than anything
    fitted without it (MovieLens: they score NDCG@20 0.19 on their users' newest 10 %; the
    full run measured 0.16 there, before propagating over it).
    """
    new = np.flatnonzero(data.first_ts > horizon)
    order = new[np.lexsort((new, data.first_ts[new], data.user[new]))]
    users = data.user[order]
    bounds = np.flatnonzero(np.diff(users)) + 1
    test = [rows[len(rows) // 2 :] for rows in np.split(order, bounds)] if len(order) else []
    test_rows = np.sort(np.concatenate(test)) if test else np.zeros(0, dtype=np.int64)
    train = np.ones(data.n_interactions, dtype=bool)
    train[test_rows] = False
    return Split(np.flatnonzero(train), np.zeros(0, dtype=np.int64), test_rows)


def _previous_arrays(data: TrainingData) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """Previous vectors as (array, has_vector mask) per label; None if there are none or dims differ."""
    dims = {len(v) for label in LABELS for v in (data.previous.get(label) or {}).values() if v}
    if len(dims) != 1:
        return None
    dim = dims.pop()
    index = {"user": data.users, "item": data.items, "interest": data.interests}
    out = {}
    for label in LABELS:
        arr = np.zeros((len(index[label]), dim), dtype=np.float32)
        has = np.zeros(len(index[label]), dtype=bool)
        for node_id, vec in (data.previous.get(label) or {}).items():
            pos = index[label].pos.get(str(node_id))
            if pos is not None and vec:
                arr[pos] = vec
                has[pos] = True
        out[label] = (arr, has)
    if not out["item"][1].any():
        return None
    return out


def _previous_interest_strengths(store: Any) -> dict[str, float]:
    """Interest.strength of the published run (for the trend); {} if the store has no such query."""
    from graph_schema.cypher import UnknownQuery

    try:
        rows = store.read_named("pull_interest_strengths")
    except UnknownQuery:
        return {}
    return {str(r["interest_id"]): float(r["strength"]) for r in rows if r.get("strength") is not None}
