"""Refresh jobs: trigger a run, list the run history, one run's detail."""

from __future__ import annotations

from typing import Any

from flask_openapi3 import APIBlueprint, Tag

from records import runs
from service.api import AUTH_ERRORS, responses
from service.api.deps import services
from service.api.models import JobsQuery, RefreshAccepted, RefreshIn, RefreshRunOut, RefreshRuns, RunPath
from service.auth import SECURITY, requires
from service.jobs.background import RefreshBusy, start_refresh
from service.jobs.refresh import TrainingUnavailable
from service.problems import ApiProblem, not_found

bp = APIBlueprint("jobs", __name__, url_prefix="/v1/jobs", abp_tags=[Tag(name="jobs")], abp_security=SECURITY)


@bp.post("/refresh", responses=responses({202: RefreshAccepted}, 400, *AUTH_ERRORS, 409, 415, 422, 503))
@requires("admin")
def trigger_refresh(body: RefreshIn) -> tuple[dict[str, Any], int]:
    """Start a refresh run (training, write-back, publish) in the background.

    Answers at once with the run id; follow it with GET /v1/jobs/{run_id}.
    409 when a refresh is already running (in any process); 503 when the
    training stack is not installed in the API's environment.
    """
    svc = services()
    try:
        run_id = start_refresh(
            svc.store, svc.settings, svc.sessions, body.mode, body.force, trigger="api",
            device=svc.settings.refresh_device, in_process=svc.settings.api_runs_refresh,
        )  # fmt: skip
    except TrainingUnavailable as exc:
        raise ApiProblem(
            503, "training-unavailable", "Training not available", f"the refresh job cannot run here: {exc}"
        ) from None
    except RefreshBusy as exc:
        raise ApiProblem(409, "refresh-running", "A refresh is already running", str(exc), run_id=exc.run_id) from None
    return {"run_id": run_id, "status": "queued"}, 202


@bp.get("", responses=responses({200: RefreshRuns}, *AUTH_ERRORS, 422, 503))
@requires("analyst")
def list_runs(query: JobsQuery) -> dict[str, Any]:
    """The refresh run history, newest first (optionally one status only)."""
    return {"runs": runs.list_runs(services().settings, query.limit, query.status)}


@bp.get("/<int:run_id>", responses=responses({200: RefreshRunOut}, *AUTH_ERRORS, 404, 422, 503))
@requires("analyst")
def get_run(path: RunPath) -> dict[str, Any]:
    """One run: status, phases with their durations, counts, metrics, error."""
    run = runs.get_run(services().settings, path.run_id)
    if run is None:
        raise not_found("refresh run", str(path.run_id))
    return run
