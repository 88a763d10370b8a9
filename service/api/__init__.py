"""The v1 REST API: one blueprint per resource (see service.app.create_app)."""

from __future__ import annotations

from typing import Any

from service.problems import Problem

AUTH_ERRORS = (401, 403)


def responses(ok: dict[int, Any], *codes: int) -> dict[int, Any]:
    """Success model(s) plus a Problem document for each listed error status
    (create_app rewrites error media types to application/problem+json)."""
    out: dict[int, Any] = dict(ok)
    for code in codes:
        out[code] = Problem
    return out
