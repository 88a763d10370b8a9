"""Experiments (POST/GET /v1/experiments) and online metrics (GET/POST /v1/metrics/online)."""

from __future__ import annotations

from typing import Any

from flask_openapi3 import APIBlueprint, Tag

from service.api import AUTH_ERRORS, responses
from service.api.deps import services
from service.api.models import ExperimentIn, ExperimentOut, ExperimentPath, OnlineMetrics, OnlineQuery
from service.auth import SECURITY, requires
from service.loop import online
from service.loop.experiments import HOLDOUT
from service.problems import ApiProblem, not_found
from service.recs import model_snapshot

bp = APIBlueprint("loop", __name__, url_prefix="/v1", abp_tags=[Tag(name="experiments")], abp_security=SECURITY)


@bp.post("/experiments", responses=responses({201: ExperimentOut}, 400, *AUTH_ERRORS, 409, 415, 422, 503))
@requires("admin")
def create_experiment(body: ExperimentIn) -> tuple[dict[str, Any], int]:
    """Start an experiment (stopping the running one): arms by strategy, blend setting or
    pinned model version, a holdout share.

    A user's arm is fixed by a hash of (experiment id, user id); recommendations then
    use the arm's strategy (and setting, and model version) and name the arm in
    `experiment`. A pinned version must be one whose serving snapshot this host keeps
    (a 409 lists them)."""
    svc = services()
    root = svc.settings.recs_snapshot_root
    for arm in body.arms:
        if arm.model_version is not None and not model_snapshot.pinnable(root, arm.model_version):
            kept = [s["model_version"] for s in model_snapshot.readable(root) if s["pinnable"]]
            raise ApiProblem(
                409,
                "version-not-kept",
                "Model version not kept",
                f"model version {arm.model_version!r} cannot be pinned: no serving snapshot of it is kept here "
                f"(pinnable: {', '.join(kept) or 'none yet'})",
            )
    arms: list[dict[str, Any]] = []
    for arm in body.arms:
        name, n = arm.name, 1
        while name in {a["name"] for a in arms} or name == HOLDOUT:
            n += 1
            name = f"{arm.name}#{n}"
        arms.append({**arm.model_dump(exclude_none=True), "name": name})
    exp, stopped = svc.experiments.create(body.name, arms, body.holdout)
    for experiment_id in stopped:
        model_snapshot.unpin(root, experiment_id)
    for arm_spec in arms:
        if (version := arm_spec.get("model_version")) is not None:
            model_snapshot.pin(root, version, exp.experiment_id)
    return exp.as_dict(), 201


@bp.get("/experiments/<experiment_id>", responses=responses({200: ExperimentOut}, *AUTH_ERRORS, 404, 422, 503))
@requires("analyst")
def get_experiment(path: ExperimentPath) -> dict[str, Any]:
    """The experiment and per-arm online metrics: CTR with a 95 % interval of its
    difference to the control (the first arm), a two-proportion z-test, and a verdict
    ("better", "worse", "no significant difference" or "too small to tell")."""
    svc = services()
    exp = svc.experiments.get(path.experiment_id)
    if exp is None:
        raise not_found("experiment", path.experiment_id)
    return svc.experiments.report(exp)


@bp.post("/experiments/<experiment_id>/stop", responses=responses({200: ExperimentOut}, *AUTH_ERRORS, 404, 422, 503))
@requires("admin")
def stop_experiment(path: ExperimentPath) -> dict[str, Any]:
    """Stop an experiment: recommendations go back to the requested strategy."""
    svc = services()
    svc.experiments.stop(path.experiment_id)
    model_snapshot.unpin(svc.settings.recs_snapshot_root, path.experiment_id)
    exp = svc.experiments.get(path.experiment_id)
    if exp is None:
        raise not_found("experiment", path.experiment_id)
    return exp.as_dict()


@bp.get("/metrics/online", responses=responses({200: OnlineMetrics}, *AUTH_ERRORS, 422, 503))
@requires("analyst")
def online_metrics(query: OnlineQuery) -> dict[str, Any]:
    """The newest computed online metrics per (model version, strategy), with history."""
    return {"snapshots": online.history(services().sessions, query.history)}


@bp.post("/metrics/online", responses=responses({200: OnlineMetrics}, *AUTH_ERRORS, 503))
@requires("admin")
def compute_online_metrics() -> dict[str, Any]:
    """Compute the online metrics now (the scheduler also does it periodically)."""
    svc = services()
    online.compute(svc.sessions, svc.settings.online_ctr_k)
    return {"snapshots": online.history(svc.sessions, 1)}
