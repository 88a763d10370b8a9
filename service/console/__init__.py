"""The web console under /console: server-rendered pages (Jinja) with small scripts that
draw charts (ECharts) and graphs (Cytoscape.js) and refresh panels (htmx), all served
from our own static files. Signed in with an API key kept in the session cookie; each
page needs a role (read, analyst, admin) as the matching /v1 endpoints do.

See docs/console.md for the pages and what they cost the stores.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, g, jsonify, redirect, render_template, request, url_for

from service.config import ApiSettings
from service.console import session as console_session
from service.console.formats import HELPERS

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates", static_folder="static")
OPEN_ENDPOINTS = {"console.login", "console.static"}  # reachable without signing in


def _refuse(status: int, message: str) -> Any:
    """A refusal as the caller reads it: problem-like JSON for the pages' scripts, a page else."""
    if request.path.startswith("/console/api/"):
        return jsonify(title="Forbidden" if status == 403 else "Unauthorized", status=status, detail=message), status
    return render_template("console/error.html", status=status, message=message), status


@bp.before_request
def _guard() -> Any:
    """Sign-in, role and CSRF checks for every console request."""
    if request.method == "POST":
        presented = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token")
        if not console_session.csrf_valid(presented):
            return _refuse(403, "the form was not sent by this console session (CSRF token missing or wrong); reload")
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    principal = console_session.current_principal()
    if principal is None or principal.role == "ingest":
        if request.path.startswith("/console/api/"):
            return _refuse(401, "sign in to the console first")
        return redirect(url_for("console.login", next=request.path))
    g.console_principal = principal
    view = current_app.view_functions.get(request.endpoint or "")
    roles: tuple[str, ...] = getattr(view, "_console_roles", ("read", "analyst"))
    if not principal.allowed(roles):
        return _refuse(
            403, f"this page needs the role {' or '.join(roles)} (or admin); your key has role {principal.role}"
        )
    return None


@bp.context_processor
def _template_helpers() -> dict[str, Any]:
    return {
        "csrf_token": console_session.csrf_token,
        "can": console_session.can,
        "who": g.get("console_principal"),
        **HELPERS,
    }


def init_console(app: Flask, settings: ApiSettings) -> None:
    from service.console import data, views  # noqa: F401  (their routes join bp)

    console_session.configure_cookie(app, settings)
    app.register_blueprint(bp)


__all__ = ["bp", "init_console"]
