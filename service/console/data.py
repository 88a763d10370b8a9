"""What the console's pages post: an analyst query (JSON, or CSV to download) and a
refresh started by an admin. Every POST carries the session's CSRF token (checked by
the blueprint's guard)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from flask import Response, jsonify, redirect, render_template, request, url_for

from service.api.cypher import analyst_query
from service.api.deps import services
from service.console import bp
from service.console.overview import forget
from service.console.session import allow
from service.jobs.background import RefreshBusy, start_refresh
from service.jobs.refresh import TrainingUnavailable
from service.problems import ApiProblem

MAX_QUERY_CHARS = 100_000  # as POST /v1/cypher


def _query_from(payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    query = str(payload.get("query") or "")
    params = payload.get("params") or {}
    if isinstance(params, str):
        try:
            params = json.loads(params or "{}")
        except json.JSONDecodeError as exc:
            raise ApiProblem(422, "validation-error", "Invalid request", f"params is not JSON: {exc}") from None
    if not query.strip() or len(query) > MAX_QUERY_CHARS:
        raise ApiProblem(422, "validation-error", "Invalid request", "query must be 1 to 100000 characters")
    if not isinstance(params, dict):
        raise ApiProblem(422, "validation-error", "Invalid request", "params must be a JSON object")
    return query, params


@bp.post("/api/cypher")
@allow("analyst")
def cypher_json() -> Any:
    """The console's editor: the same read-only enforcement, timeout and row limit as
    POST /v1/cypher (one implementation, service.api.cypher.analyst_query)."""
    query, params = _query_from(request.get_json(silent=True) or {})
    return jsonify(analyst_query(query, params, None, None))


@bp.post("/cypher.csv")
@allow("analyst")
def cypher_csv() -> Response:
    """The same query's rows as a CSV download (nodes, relationships, lists and maps as JSON)."""
    query, params = _query_from(request.form.to_dict())
    result = analyst_query(query, params, None, None)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(result["columns"])
    for row in result["rows"]:
        writer.writerow([json.dumps(v) if isinstance(v, (dict, list)) else ("" if v is None else v) for v in row])
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="query.csv"'},
    )


@bp.post("/runs")
@allow("admin")
def start_run() -> Any:
    """Start a full or incremental refresh, as POST /v1/jobs/refresh does, then watch it."""
    svc = services()
    mode = request.form.get("mode", "incremental")
    if mode not in ("full", "incremental"):
        return render_template("console/error.html", status=422, message="mode must be full or incremental"), 422
    try:
        run_id = start_refresh(
            svc.store, svc.settings, svc.sessions, mode, request.form.get("force") == "1", trigger="console",  # type: ignore[arg-type]
            device=svc.settings.refresh_device, in_process=svc.settings.api_runs_refresh,
        )  # fmt: skip
    except TrainingUnavailable as exc:
        return render_template("console/error.html", status=503, message=f"the refresh cannot run here: {exc}"), 503
    except RefreshBusy as exc:
        return render_template("console/error.html", status=409, message=str(exc), run_id=exc.run_id), 409
    forget()
    return redirect(url_for("console.run_page", run_id=run_id))
