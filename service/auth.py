"""The Flask guard: which API key (records/keys.py) may call which view.

Clients send a key as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.

Roles: ingest (events, catalogue), read (recommendations, similar, interests),
analyst (Cypher, interests, run history), admin (everything). Views declare
the roles they accept with ``@requires(...)``; the check runs in a
``before_request`` hook, so an unauthenticated request gets its 401 before its
body is even validated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request

from records.keys import ROLES, KeyResolver, Principal
from service.problems import ApiProblem

F = TypeVar("F", bound=Callable[..., Any])

# OpenAPI security requirement for protected operations: either scheme works.
SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyHeader": []}]
SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <API key>"},
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}


def requires(*roles: str) -> Callable[[F], F]:
    """Mark a view as needing one of `roles` (admin always passes).

    Put it *below* the route decorator: flask-openapi3 copies the attribute
    onto the view function it builds, where the before_request hook reads it.
    """
    for role in roles:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")

    def mark(func: F) -> F:
        func._required_roles = tuple(roles)  # type: ignore[attr-defined]
        return func

    return mark


def _presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = request.headers.get("X-API-Key", "").strip()
    return key or None


def _unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(
        401, "unauthorized", "Unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="interest-graph"'}
    )


def init_auth(app: Flask, resolver: KeyResolver, disabled: bool) -> None:
    app.extensions["ig_key_resolver"] = resolver

    @app.before_request
    def _authenticate() -> None:
        view = current_app.view_functions.get(request.endpoint or "")
        roles: tuple[str, ...] | None = getattr(view, "_required_roles", None)
        if roles is None or request.method == "OPTIONS":
            return
        if disabled:
            g.principal = Principal(None, "admin", "AUTH_DISABLED")
            return
        key = _presented_key()
        if key is None:
            raise _unauthorized(
                "this endpoint needs an API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`"
            )
        principal = resolver.resolve(key)
        if principal is None:
            raise _unauthorized("the API key is unknown or revoked")
        if not principal.allowed(roles):
            raise ApiProblem(
                403,
                "forbidden",
                "Forbidden",
                f"this endpoint needs the role {' or '.join(roles)} (or admin); the key has role {principal.role}",
            )
        g.principal = principal
