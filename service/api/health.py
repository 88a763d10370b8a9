"""Liveness and readiness (no authentication)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import text

from service.api import responses
from service.api.deps import services
from service.api.models import Health, Readiness
from service.problems import problem_response

bp = APIBlueprint("health", __name__, abp_tags=[Tag(name="operations")])


@bp.get("/healthz", responses={200: Health})
def healthz() -> dict[str, Any]:
    """The process is up (touches no store)."""
    return {"status": "ok"}


@bp.get("/readyz", responses=responses({200: Readiness}, 503))
def readyz() -> Any:
    """Ready to serve: the graph store answers and the SQL database is reachable."""
    svc = services()
    checks: dict[str, str] = {}
    model_version = pending = None
    try:
        with svc.sessions() as session:
            session.execute(text("SELECT 1"))
        checks["sql"] = "ok"
        pending = svc.eventlog.pending_count()
    except Exception as exc:
        checks["sql"] = f"unavailable: {type(exc).__name__}: {exc}"
    try:
        store = svc.store()
        store.ping()
        model_version = svc.recommender.model_version(store)
        checks["graph"] = "ok"
    except Exception as exc:
        checks["graph"] = f"unavailable: {type(exc).__name__}: {exc}"
    if all(v == "ok" for v in checks.values()):
        return {"status": "ready", "checks": checks, "model_version": model_version, "pending_events": pending}
    bad = ", ".join(f"{k} {v}" for k, v in checks.items() if v != "ok")
    resp: Response = problem_response(503, "not-ready", "Not ready", bad, {"Retry-After": "5"}, checks=checks)
    return resp
