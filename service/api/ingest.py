"""POST /v1/events and POST /v1/items: batches validated record by record."""

from __future__ import annotations

import logging
from typing import Any

from flask import request
from flask_openapi3 import APIBlueprint, Tag

from graph_schema.store import StoreError
from graph_schema.store.embedded import EmbeddedStoreError
from service.api import AUTH_ERRORS, responses
from service.api.deps import services
from service.api.models import EventBatch, IngestReport, ItemBatch
from service.auth import SECURITY, requires
from service.ingest import catalogue, relations
from service.ingest.graph_writer import GraphWriter
from service.ingest.schemas import EventIn, ItemIn, RelationIn, is_relation, validate_all, validate_each
from service.metrics import EVENTS, ITEMS
from service.problems import ApiProblem

log = logging.getLogger(__name__)

bp = APIBlueprint("ingest", __name__, url_prefix="/v1", abp_tags=[Tag(name="ingest")], abp_security=SECURITY)


def _raw_records(key: str, limit: int) -> list[Any]:
    records = request.get_json(silent=True)[key]  # the body model already checked the envelope
    if len(records) > limit:
        raise ApiProblem(
            413,
            "batch-too-large",
            "Batch too large",
            f"{len(records)} {key} in one request; the limit is {limit} — split the batch",
        )
    return records


@bp.post("/events", responses=responses({202: IngestReport}, 400, *AUTH_ERRORS, 413, 415, 422, 503))
@requires("ingest")
def post_events(body: EventBatch) -> tuple[dict[str, Any], int]:
    """Send behaviour events (idempotent by event_id).

    Each event is validated on its own: bad ones are listed in `rejected` with
    their index and what is wrong, good ones are stored in the event log and
    then applied to the graph. Resending an event_id is counted as a duplicate
    and changes nothing. If the graph store is down, accepted events stay
    pending in the log (`pending` > 0) and are applied later.
    """
    svc = services()
    raw = _raw_records("events", svc.settings.max_batch_events)
    social = [n for n, r in enumerate(raw) if is_relation(r)]
    if social:  # relation events (target_user_id): their own log, register and graph path
        return _post_mixed(raw, set(social))
    good, bad = validate_all(EventIn, raw)
    background = svc.settings.ingest_apply == "background"
    report = svc.eventlog.accept(good, claim=not background)
    rejected = sorted(bad + report.rejected, key=lambda r: r["index"])
    EVENTS.labels("accepted").inc(report.accepted)
    EVENTS.labels("duplicate").inc(report.duplicates)
    EVENTS.labels("rejected").inc(len(rejected))
    pending: int | None = 0
    if background:
        # durable in the log: the worker's applier thread writes them to the graph (service/ingest/applier.py);
        # `pending` is this request's events, all still on their way (the log's total is in /readyz)
        pending = report.accepted
        if report.accepted:
            svc.applier.notify()
    elif report.accepted:
        try:
            applied = GraphWriter(svc.eventlog).apply_pending(svc.store())
            pending = applied.pending
        except (StoreError, EmbeddedStoreError) as exc:
            log.warning("events accepted but not applied (graph unavailable): %s", exc)
            pending = svc.eventlog.pending_count()
    if report.accepted:  # this worker's cached answers for them go now; others' at their next log poll
        svc.recommender.touched(_changed_users(good))
    return {"accepted": report.accepted, "duplicates": report.duplicates, "rejected": rejected, "pending": pending}, 202


def _changed_users(good: list[tuple[int, Any]]) -> set[str]:
    """Users whose answers the events change (an impression changes none)."""
    return {e.user_id for _, e in good if e.type != "impression"}


def _reindexed(good: list[tuple[int, Any]], bad: list[dict[str, Any]], index: list[int]) -> None:
    """validate_each numbered a sub-list: back to the request's indexes."""
    good[:] = [(index[n], m) for n, m in good]
    for r in bad:
        r["index"] = index[r["index"]]


def _post_mixed(raw: list[Any], social: set[int]) -> tuple[dict[str, Any], int]:
    """A batch holding relation events (follow, unfollow, friend, unfriend): those are
    logged and folded into their registers, then written to the graph; the behaviour
    events of the batch take their usual path (inline: written to the graph here, whatever
    INGEST_APPLY says, since the relations' registers are applied in the request too)."""
    svc = services()
    rel_index = sorted(social)
    ev_index = [n for n in range(len(raw)) if n not in social]
    rel_good, rel_bad = validate_each(RelationIn, [raw[n] for n in rel_index])
    ev_good, ev_bad = validate_each(EventIn, [raw[n] for n in ev_index])
    _reindexed(rel_good, rel_bad, rel_index)
    _reindexed(ev_good, ev_bad, ev_index)
    rel_report = relations.accept(svc.eventlog.sessions, rel_good)
    report = svc.eventlog.accept(ev_good) if ev_good else None
    rejected = sorted(rel_bad + ev_bad + (report.rejected if report else []), key=lambda r: r["index"])
    accepted = rel_report.accepted + (report.accepted if report else 0)
    duplicates = rel_report.duplicates + (report.duplicates if report else 0)
    EVENTS.labels("accepted").inc(accepted)
    EVENTS.labels("duplicate").inc(duplicates)
    EVENTS.labels("rejected").inc(len(rejected))
    pending = 0
    try:
        store = svc.store()
        if rel_report.accepted:
            pending += relations.apply_pending(svc.eventlog.sessions, store).pending
        if report is not None and report.accepted:
            pending += GraphWriter(svc.eventlog).apply_pending(store).pending
    except (StoreError, EmbeddedStoreError) as exc:
        log.warning("events accepted but not applied (graph unavailable): %s", exc)
        pending = svc.eventlog.pending_count() + relations.pending_count(svc.eventlog.sessions)
    svc.recommender.touched(_changed_users(ev_good) | relations.changed_users(r for _, r in rel_good))
    return {"accepted": accepted, "duplicates": duplicates, "rejected": rejected, "pending": pending}, 202


@bp.post("/items", responses=responses({200: IngestReport}, 400, *AUTH_ERRORS, 413, 415, 422, 503))
@requires("ingest")
def post_items(body: ItemBatch) -> tuple[dict[str, Any], int]:
    """Upsert catalogue records.

    Each record is the item's current state: title, attributes and the
    interests it is tagged with (interests not seen before are created). A
    record repeated in one batch counts once (the last wins).
    """
    svc = services()
    good, bad = validate_each(ItemIn, _raw_records("items", svc.settings.max_batch_items))
    bad.sort(key=lambda r: r["index"])
    items = [item for _, item in good]
    unique = len({item.item_id for item in items})
    if items:
        catalogue.upsert_items(svc.eventlog, svc.store(), items)
    ITEMS.labels("accepted").inc(unique)
    ITEMS.labels("rejected").inc(len(bad))
    return {"accepted": unique, "duplicates": len(items) - unique, "rejected": bad, "pending": None}, 200
