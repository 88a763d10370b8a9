"""Taking one POST /v1/events batch: validate, log, apply to the graph.

The view runs this in the request thread, or, with INGEST_NICE > 0, in the worker's
ingest process (service/ingest/pool.py) at a lower CPU priority. Both get the same
`Intake` back: the response body, the users whose answers the batch changed (the view
forgets their cached answers) and the counts for the metrics (the view's process
exports them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from graph_schema.store import GraphStore, StoreError
from graph_schema.store.embedded import EmbeddedStoreError
from service.config import ApiSettings
from service.ingest import relations
from service.ingest.applier import BackgroundApplier
from service.ingest.eventlog import EventLog
from service.ingest.graph_writer import GraphWriter
from service.ingest.schemas import EventIn, RelationIn, is_relation, validate_all, validate_each

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntakeResources:
    """What taking a batch needs of the process it runs in."""

    settings: ApiSettings
    eventlog: EventLog
    store: Callable[[], GraphStore]
    applier: BackgroundApplier


@dataclass
class Intake:
    body: dict[str, Any]  # the 202 answer: accepted, duplicates, rejected, pending
    changed_users: set[str] = field(default_factory=set)
    rejected: int = 0  # for the metrics: accepted and duplicates are in the body

    @property
    def accepted(self) -> int:
        return int(self.body["accepted"])

    @property
    def duplicates(self) -> int:
        return int(self.body["duplicates"])


def take_events(res: IntakeResources, raw: list[Any]) -> Intake:
    """Validate, log and apply the batch (a relation event anywhere sends the whole
    batch down the mixed path)."""
    social = [n for n, r in enumerate(raw) if is_relation(r)]
    if social:  # relation events (target_user_id): their own log, register and graph path
        return _take_mixed(res, raw, set(social))
    good, bad = validate_all(EventIn, raw)
    background = res.settings.ingest_apply == "background"
    report = res.eventlog.accept(good, claim=not background)
    rejected = sorted(bad + report.rejected, key=lambda r: r["index"])
    pending: int | None = 0
    if background:
        # durable in the log: the applier thread writes them to the graph (service/ingest/applier.py);
        # `pending` is this request's events, all still on their way (the log's total is in /readyz)
        pending = report.accepted
        if report.accepted:
            res.applier.notify()
    elif report.accepted:
        try:
            applied = GraphWriter(res.eventlog).apply_pending(res.store())
            pending = applied.pending
        except (StoreError, EmbeddedStoreError) as exc:
            log.warning("events accepted but not applied (graph unavailable): %s", exc)
            pending = res.eventlog.pending_count()
    body = {"accepted": report.accepted, "duplicates": report.duplicates, "rejected": rejected, "pending": pending}
    return Intake(body, changed_users(m for _, m in good) if report.accepted else set(), len(rejected))


def changed_users(events: Iterable[EventIn]) -> set[str]:
    """Users whose answers the events change (an impression changes none)."""
    return {e.user_id for e in events if e.type != "impression"}


def _reindexed(good: list[tuple[int, Any]], bad: list[dict[str, Any]], index: list[int]) -> None:
    """validate_each numbered a sub-list: back to the request's indexes."""
    good[:] = [(index[n], m) for n, m in good]
    for r in bad:
        r["index"] = index[r["index"]]


def _take_mixed(res: IntakeResources, raw: list[Any], social: set[int]) -> Intake:
    """A batch holding relation events (follow, unfollow, friend, unfriend): those are
    logged and folded into their registers, then written to the graph; the behaviour
    events of the batch take their usual path (inline: written to the graph here, whatever
    INGEST_APPLY says, since the relations' registers are applied in the request too)."""
    rel_index = sorted(social)
    ev_index = [n for n in range(len(raw)) if n not in social]
    rel_good, rel_bad = validate_each(RelationIn, [raw[n] for n in rel_index])
    ev_good, ev_bad = validate_each(EventIn, [raw[n] for n in ev_index])
    _reindexed(rel_good, rel_bad, rel_index)
    _reindexed(ev_good, ev_bad, ev_index)
    sessions = res.eventlog.sessions
    rel_report = relations.accept(sessions, rel_good)
    report = res.eventlog.accept(ev_good) if ev_good else None
    rejected = sorted(rel_bad + ev_bad + (report.rejected if report else []), key=lambda r: r["index"])
    accepted = rel_report.accepted + (report.accepted if report else 0)
    duplicates = rel_report.duplicates + (report.duplicates if report else 0)
    pending = 0
    try:
        store = res.store()
        if rel_report.accepted:
            pending += relations.apply_pending(sessions, store).pending
        if report is not None and report.accepted:
            pending += GraphWriter(res.eventlog).apply_pending(store).pending
    except (StoreError, EmbeddedStoreError) as exc:
        log.warning("events accepted but not applied (graph unavailable): %s", exc)
        pending = res.eventlog.pending_count() + relations.pending_count(sessions)
    changed = changed_users(m for _, m in ev_good) | relations.changed_users(r for _, r in rel_good)
    body = {"accepted": accepted, "duplicates": duplicates, "rejected": rejected, "pending": pending}
    return Intake(body, changed, len(rejected))
