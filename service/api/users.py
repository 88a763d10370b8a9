"""Users: recommendations, interest profile, privacy delete; items: similar items."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from graph_schema.clock import now_ms
from service.api import AUTH_ERRORS, responses
from service.api.deps import services
from service.api.models import (
    ItemPath,
    People,
    PeopleQuery,
    Recommendations,
    RecsQuery,
    SimilarItems,
    SimilarQuery,
    UserDeleted,
    UserInterests,
    UserPath,
)
from service.auth import SECURITY, requires
from service.ingest import privacy, recid
from service.metrics import RECOMMENDATIONS
from service.problems import not_found
from service.recs.people import people as people_for
from service.recs.profile import interest_levels, negative_evidence
from service.recs.recommender import NegativeTerms, UnknownInterest

users = APIBlueprint("users", __name__, url_prefix="/v1/users", abp_tags=[Tag(name="users")], abp_security=SECURITY)
items = APIBlueprint("items", __name__, url_prefix="/v1/items", abp_tags=[Tag(name="items")], abp_security=SECURITY)


@users.get("/<user_id>/recommendations", responses=responses({200: Recommendations}, *AUTH_ERRORS, 404, 422, 503))
@requires("read")
def recommendations(path: UserPath, query: RecsQuery) -> Response:
    """Recommendations for a user, with the evidence behind each.

    Seen items are never returned, nor the ids in `exclude`. An unknown or
    history-less user (cold start) gets trending items (within `interest=`
    when given) with the reason "trending" — a 200, not a 404. An unknown
    `interest` is a 404.
    """
    svc = services()
    exclude = [x.strip() for x in (query.exclude or "").split(",") if x.strip()]

    def feedback() -> NegativeTerms:
        # disliked / not-interested items: never again, and they lower the live evidence
        # of their interests (read when needed: Recommender.answer)
        return svc.eventlog.negative_terms(path.user_id)

    strategy: str = query.strategy
    experiment = svc.experiments.running()
    arm = experiment.assign(path.user_id) if experiment is not None else None
    if arm is not None:
        strategy = arm.strategy
    try:
        answer, hit = svc.recommender.answer(
            svc.store(),
            path.user_id,
            orjson.dumps,  # plain dicts, lists, str, float: ~5x faster than the stdlib encoder
            k=query.k,
            strategy=strategy,
            exclude=exclude,
            interest=query.interest,
            explain=query.explain,
            feedback=feedback,
            blend=arm.blend if arm is not None else (),
            pin=arm.model_version if arm is not None else None,
        )
    except UnknownInterest:
        raise not_found("interest", query.interest or "") from None
    RECOMMENDATIONS.labels(answer.strategy).inc()
    served = recid.Served(
        answer.strategy,
        answer.model_version,
        experiment.experiment_id if experiment is not None and arm is not None else None,
        arm.name if arm is not None else None,
    )
    head: dict[str, Any] = {"rec_id": recid.new_rec_id(served)}
    if served.experiment_id is not None:
        head["experiment"] = {"experiment_id": served.experiment_id, "arm": served.arm}
    # the cached body is shared by answers: the per-answer fields are spliced in front
    body = orjson.dumps(head)[:-1] + b"," + answer.body[1:]
    return Response(body, mimetype="application/json", headers={"X-Recs-Cache": "hit" if hit else "miss"})


@users.get("/<user_id>/interests", responses=responses({200: UserInterests}, *AUTH_ERRORS, 404, 422, 503))
@requires("read", "analyst")
def user_interests(path: UserPath) -> dict[str, Any]:
    """A user's interests: model strength (null before any model) and live evidence.

    `evidence` is the decayed evidence as of now, so it moves with every event
    before any retraining; `strength` is the published model's, and only when
    it belongs to the currently published model version.
    """
    svc = services()
    store = svc.store()
    rows = store.interests_of(path.user_id)
    if not rows and not store.user_exists(path.user_id):
        raise not_found("user", path.user_id)
    mv = store.current_model_version()
    now = now_ms()
    negative = negative_evidence(svc.eventlog.negative_terms(path.user_id), now, svc.settings.evidence_tau_ms)
    out = [
        {
            "interest_id": i.interest_id,
            "name": i.name,
            "kind": i.kind,
            "strength": i.strength,
            "evidence": i.evidence,
            "evidence_ts": i.evidence_ts,
            "updated_at": i.updated_at,
        }
        for i in interest_levels(rows, mv, now, svc.settings.evidence_tau_ms, negative)
    ]
    return {"user_id": path.user_id, "model_version": mv, "interests": out}


@users.get("/<user_id>/people", responses=responses({200: People}, *AUTH_ERRORS, 404, 422, 503))
@requires("read")
def people(path: UserPath, query: PeopleQuery) -> dict[str, Any]:
    """People you may like: users ranked by friends of friends (followed by people you
    follow), shared interests and closeness in the published model, with the reasons.
    Never the user themselves nor anyone they already follow or are friends with."""
    svc = services()
    store = svc.store()
    if not store.user_exists(path.user_id):
        raise not_found("user", path.user_id)
    return people_for(store, path.user_id, query.k, svc.recommender.model_version(store))


@users.delete("/<user_id>", responses=responses({200: UserDeleted}, *AUTH_ERRORS, 404, 422, 503))
@requires("admin")
def delete_user(path: UserPath) -> dict[str, Any]:
    """Privacy delete: the user's node, edges and events (graph and event log).

    The user id is remembered as deleted, so replays never bring the events
    back. 404 when neither the graph nor the log knew the user.
    """
    svc = services()
    report = privacy.delete_user(svc.eventlog, svc.store(), path.user_id)
    svc.recommender.touched([path.user_id])
    if not (report["graph_user_removed"] or report["events_removed"] or report["relation_events_removed"]):
        raise not_found("user", path.user_id)
    return report


@items.get("/<item_id>/similar", responses=responses({200: SimilarItems}, *AUTH_ERRORS, 404, 422, 503))
@requires("read")
def similar_items(path: ItemPath, query: SimilarQuery) -> dict[str, Any]:
    """Items similar to an item: the published model's neighbours, else co-interaction."""
    svc = services()
    store = svc.store()
    if not store.item_exists(path.item_id):
        raise not_found("item", path.item_id)
    return svc.recommender.similar_items(store, path.item_id, query.k)


__all__ = ["items", "users"]
