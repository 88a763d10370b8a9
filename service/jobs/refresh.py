"""The refresh job, assembled once: the CLI, the scheduler, the API and `demo` all call
run_job.

A run: take the refresh lease (records.runs.refresh_run: a short lease renewed by a
heartbeat thread and at every phase), finish a batched publish a stopped process began,
mark runs whose process died as abandoned and remove what they staged, seed an
incremental run with the users the event log received events for since the published
model, and run training.refresh.run_refresh, whose result is recorded in the run history.
torch/dgl are imported here only inside a run.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from graph_schema.clock import now_ms
from graph_schema.settings import Settings
from graph_schema.store import GraphStore
from graph_schema.store.overlap import in_background
from records.runs import AbandonedRun, RunRecorder, mark_published, mark_run, refresh_run
from records.strength_history import record_version
from service.config import ApiSettings
from service.ingest.eventlog import EventLog
from service.recs import model_snapshot

if TYPE_CHECKING:
    from training.refresh import RefreshResult

log = logging.getLogger(__name__)

Mode = Literal["full", "incremental"]


class TrainingUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class JobOutcome:
    run_id: int
    result: RefreshResult


def training_missing() -> str | None:
    """Why the refresh job cannot run in this process, or None if it can (no import of torch)."""
    for module, hint in (
        ("training", "the training package is not installed"),
        ("torch", "torch is not installed (pip install -r requirements-train.txt)"),
        ("dgl", "dgl is not installed (pip install -r requirements-train.txt)"),
    ):
        try:
            if importlib.util.find_spec(module) is None:
                return hint
        except (ImportError, ValueError):
            return hint
    return None


def run_job(
    store: GraphStore | Callable[[], GraphStore],
    settings: Settings,
    mode: Mode,
    *,
    trigger: str,
    force: bool = False,
    device: str = "auto",
    epochs: int | None = None,
    run_id: int | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> JobOutcome:
    """Run one refresh and record it. Raises RefreshAlreadyRunning when another process
    holds the lease, TrainingUnavailable without torch/dgl, and whatever the run raised
    (the run is then recorded as failed and nothing is published)."""
    missing = training_missing()
    if missing:
        raise TrainingUnavailable(missing)
    refresh = _training_refresh()
    yield_to_serving(settings.refresh_nice)
    version = refresh.new_model_version()
    with refresh_run(settings, mode, trigger=trigger, forced=force, run_id=run_id, model_version=version) as run:
        graph = store() if callable(store) else store
        # a batched publish whose process stopped rolls forward before anything else
        # (cleanup would otherwise take its staged rows for an abandoned run's)
        _finish_publish(graph, settings, run)
        if run.abandoned:
            _clean_up_after(run.abandoned, graph, run)
        touched = touched_users(graph, settings) if mode == "incremental" else None

        def read_exposures() -> list[tuple[str, str]]:
            # items shown again and again and never taken, or disliked: harder negatives
            # (issue 16) of a full run; asked for only when the run trains in full
            return [(u, i) for u, i, _ in EventLog(settings).exposures(settings.exposure_min_impressions)]

        # a full run's aggregate over the whole log (39 s at 10M events) runs in the
        # database while the run embeds texts and pulls the graph; an incremental run asks
        # only if it falls back to full
        exposures = in_background(read_exposures) if mode == "full" else read_exposures

        def phase(name: str) -> None:
            run.enter_phase(name)
            if on_phase is not None:
                on_phase(name)

        started = now_ms()
        result = refresh.run_refresh(
            graph, settings, mode, device=device, epochs=epochs, force=force,
            on_phase=phase, model_version=version, touched_users=touched, exposures=exposures,
        )  # fmt: skip
        if result.status == "published":  # the API workers' snapshot, before anything slower
            _write_serving_snapshot(graph, settings, result)
        result.ranked_users = result.similar_lists = None  # the snapshot's copies: freed
        if result.status == "published" and result.mode == "full":
            # communities follow the interest strengths of a full run; an incremental run
            # re-fits a few users and keeps the published ones (Louvain took 12.5 s of a
            # 15.8 s incremental run at 100k events)
            _detect_communities(graph, settings, result)  # its counts go into the run's record
        run.record(result)
        if result.status == "published":
            _record_strength_history(graph, run, settings, result.model_version, started)
        log.info("refresh run %s: %s %s", run.run_id, result.status, result.model_version)
        return JobOutcome(run.run_id, result)


def yield_to_serving(nice: int) -> None:
    """Lower this thread's CPU priority by `nice` (Linux: a thread's own niceness; the
    threads it starts, torch's among them, inherit it), so that an API worker on the same
    cores keeps its latency while a refresh trains. Raising it back needs privileges, so
    the thread stays lowered: the refresh runs in a thread of its own (a job thread, the
    scheduler's pool, or the CLI's process)."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    tid = threading.get_native_id()
    with contextlib.suppress(OSError):
        current = os.getpriority(os.PRIO_PROCESS, tid)
        if current < nice:
            os.setpriority(os.PRIO_PROCESS, tid, min(19, nice))


def _write_serving_snapshot(graph: GraphStore, settings: Settings, result: Any) -> None:
    """The published model's shared serving snapshot (service/recs/model_snapshot.py), so
    that the API workers map it instead of building it; after an incremental run
    (`result.carried_from`), the users it did not re-fit are copied from the previous snapshot. The
    model is already published: a failure is logged (a worker then builds the snapshot
    itself), never raised."""
    api = settings if isinstance(settings, ApiSettings) else ApiSettings(**settings.model_dump())
    try:
        base = result.carried_from
        carry = (
            model_snapshot.Carry(base, result.staged_users, not result.staged_lists, result.staged_items)
            if base
            else None
        )
        model_snapshot.write(
            graph,
            api.recs_snapshot_root,
            api.recs_similar_per_item,
            api.recs_snapshot_keep,
            api.recs_snapshot_users,
            carry,
            _staged_users(result.ranked_users) if api.recs_snapshot_users else None,
            _staged_lists(result.similar_lists, api.recs_similar_per_item),
            result.model_version,
        )
    except Exception as exc:
        log.warning("serving snapshot not written: %s", exc)


def _staged_users(ranked: Any) -> model_snapshot.UserSide | None:
    """A run's own users (training.user_lists.RankedUsers) as a snapshot's user side: those
    it wrote a ranking for (the others keep what the graph holds: read)."""
    if ranked is None:
        return None
    listed = ranked.at >= 0
    # every user listed (a full run's usual case): the arrays as they are, no copy
    keep = slice(None) if listed.all() else np.flatnonzero(listed)
    ids = ranked.ids if listed.all() else [ranked.ids[k] for k in keep.tolist()]
    return model_snapshot.UserSide(
        ids, ranked.item_ids, ranked.because, ranked.vectors[keep], np.ones(len(ids), dtype=bool),
        ranked.items[keep], ranked.scores[keep], ranked.because_rows[keep], ranked.at[keep],
    )  # fmt: skip


def _staged_lists(lists: Any, per_item: int) -> model_snapshot.ItemLists | None:
    """A full run's SIMILAR_TO lists (training.outputs.SimilarLists) as the snapshot's."""
    if lists is None:
        return None
    return model_snapshot.ItemLists.of_width(lists.item_ids, lists.neighbours, lists.scores, lists.by_text, per_item)


def _record_strength_history(
    graph: GraphStore, run: RunRecorder, settings: Settings, version: str, started: int
) -> None:
    """Copy the strengths the run published into the SQL history (the console's chart).
    The model is already published and serving: a failure here is logged, not raised."""
    if settings.strength_history_versions <= 0:
        return
    try:
        model = graph.current_model() or {}
        at_ms = (model.get("metrics") or {}).get("t_ref") or model.get("published_at") or started
        rows = graph.published_user_strengths(version, refreshed_since=started)
        n = record_version(
            run.sessions, version, int(at_ms), rows, keep=settings.strength_history_versions, recorded_since=started
        )
        log.info("strength history: %d users of %s recorded", n, version)
    except Exception as exc:  # the history is a view of the past, never a reason to fail a run
        log.warning("strength history of %s not recorded: %s", version, exc)


def _detect_communities(graph: GraphStore, settings: Settings, result: Any) -> None:
    """Interest communities for the full run just published (training/communities.py).
    The model is already serving: a failure here is logged, never fails the run."""
    if not settings.communities_enabled:
        return
    try:
        from training.communities import detect_and_write
        from training.heap import release_freed

        release_freed()  # the run's arrays are gone: the graph of users starts on a trimmed heap
        result.counts.update(detect_and_write(graph, settings, result.model_version))
    except Exception as exc:
        log.warning("communities of %s not detected: %s", result.model_version, exc)


def _training_refresh() -> Any:
    return importlib.import_module("training.refresh")  # imports torch/dgl: only inside a job


def touched_users(store: GraphStore, settings: Settings) -> list[str] | None:
    """Users the event log received events for since the published model (None: none published).

    The log's receive time, not the events' own timestamps: a late event about the past
    still changes its user."""
    current = store.current_model()
    if not current or current.get("published_at") is None:
        return None
    return EventLog(settings).users_since(int(current["published_at"]))


def _finish_publish(graph: GraphStore, settings: Settings, run: RunRecorder) -> None:
    """Finish a batched publish another process began and stopped (killed, or failed on an
    error): its run is recorded as published and other versions' rows are cleaned up, as
    after any publish."""
    finished, counts = graph.finish_publish(settings.refresh_publish_batch)
    if finished is None:
        return
    log.warning("finished publishing model %s, which a stopped refresh had begun: %s", finished, counts)
    mark_published(run.sessions, finished, f"its publish was finished by run {run.run_id}")
    run.counts.update({f"finished_publish_{k}": v for k, v in counts.items()})
    if not run.abandoned:  # else _clean_up_after cleans up
        try:
            graph.cleanup_versions(keep=finished)
        except Exception as exc:  # old rows are left for the next cleanup, as after any publish
            log.warning("cleanup after finishing the publish of %s failed: %s", finished, exc)


def _clean_up_after(abandoned: list[AbandonedRun], store: GraphStore, run: RunRecorder) -> None:
    """Remove what dead runs staged (their SIMILAR_TO edges and next_* properties). A run
    that died after publishing keeps its status: its model is the one serving."""
    published = store.current_model_version()
    for dead in abandoned:
        if dead.model_version is not None and dead.model_version == published:
            note = f"published; its process stopped before recording it (run {run.run_id} cleaned up)"
            mark_run(run.sessions, dead.run_id, status="published", error=note)
    removed = store.cleanup_versions(keep=published or run.model_version or "")
    run.counts.update({f"abandoned_{k}": v for k, v in removed.items()})
    log.info("removed what abandoned runs %s staged: %s", [d.run_id for d in abandoned], removed)
