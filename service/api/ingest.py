"""POST /v1/events and POST /v1/items: batches validated record by record."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from flask import request
from flask_openapi3 import APIBlueprint, Tag

from graph_schema.store import StoreError
from graph_schema.store.embedded import EmbeddedStoreError
from service.api import AUTH_ERRORS, responses
from service.api.deps import Services, services
from service.api.models import EventBatch, IngestReport, ItemBatch
from service.auth import SECURITY, requires
from service.ingest import catalogue
from service.ingest.admission import RETRY_AFTER_S, IngestBusy
from service.ingest.intake import Intake, take_events
from service.ingest.pool import IngestProcessLost
from service.ingest.schemas import ItemIn, validate_each
from service.metrics import EVENTS, INGEST_REFUSED, ITEMS
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


@contextlib.contextmanager
def _admitted(endpoint: str) -> Iterator[None]:
    """The block holds one of this worker's ingest slots (INGEST_MAX_BATCHES), or the
    request gets a 503 `ingest-busy` before anything is written."""
    try:
        with services().ingest_gate.slot():
            yield
    except IngestBusy as exc:
        INGEST_REFUSED.labels(endpoint).inc()
        raise ApiProblem(
            503,
            "ingest-busy",
            "Ingest busy",
            f"{exc}; nothing of this batch was stored: resend it after {RETRY_AFTER_S} s (event ids make that safe)",
            {"Retry-After": str(RETRY_AFTER_S)},
        ) from None


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
    with _admitted("events"):
        intake = _take(svc, raw)
    EVENTS.labels("accepted").inc(intake.accepted)
    EVENTS.labels("duplicate").inc(intake.duplicates)
    EVENTS.labels("rejected").inc(intake.rejected)
    if intake.changed_users:  # this worker's cached answers for them go now; others' at their next log poll
        svc.recommender.touched(intake.changed_users)
    return intake.body, 202


def _take(svc: Services, raw: list[Any]) -> Intake:
    """The batch's intake, in this request thread or in the worker's ingest process."""
    if svc.ingest_pool.enabled:  # INGEST_NICE > 0: in the worker's niced ingest process
        # the worker opens the graph store first (and starts the embedded server if none
        # runs, at the worker's priority): the child only uses a running one
        with contextlib.suppress(StoreError, EmbeddedStoreError):
            svc.store()
        try:
            return svc.ingest_pool.take(raw)
        except IngestProcessLost as exc:
            log.warning("the ingest process died with a batch: %s", exc)
            raise ApiProblem(
                503,
                "ingest-restarting",
                "Ingest process restarting",
                "the process taking this batch stopped before answering; resend the batch (event ids make that safe)",
            ) from exc
    return take_events(svc.intake(), raw)


@bp.post("/items", responses=responses({200: IngestReport}, 400, *AUTH_ERRORS, 413, 415, 422, 503))
@requires("ingest")
def post_items(body: ItemBatch) -> tuple[dict[str, Any], int]:
    """Upsert catalogue records.

    Each record is the item's current state: title, attributes and the
    interests it is tagged with (interests not seen before are created). A
    record repeated in one batch counts once (the last wins).
    """
    svc = services()
    raw = _raw_records("items", svc.settings.max_batch_items)
    with _admitted("items"):  # (before validating: a refused batch costs no more than its parse)
        good, bad = validate_each(ItemIn, raw)
        items = [item for _, item in good]
        if items:
            catalogue.upsert_items(svc.eventlog, svc.store(), items)
    bad.sort(key=lambda r: r["index"])
    unique = len({item.item_id for item in items})
    ITEMS.labels("accepted").inc(unique)
    ITEMS.labels("rejected").inc(len(bad))
    return {"accepted": unique, "duplicates": len(items) - unique, "rejected": bad, "pending": None}, 200
