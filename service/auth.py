"""API keys with roles, stored hashed in SQL.

A key is ``ig_`` + 43 url-safe characters (32 random bytes). Only its SHA-256
is stored (a salted slow hash buys nothing for 256-bit random secrets), plus a
short prefix to tell keys apart in listings. Clients send it as
``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.

Roles: ingest (events, catalogue), read (recommendations, similar, interests),
analyst (Cypher, interests, run history), admin (everything). Views declare
the roles they accept with ``@requires(...)``; the check runs in a
``before_request`` hook, so an unauthenticated request gets its 401 before its
body is even validated.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, current_app, g, request
from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from graph_schema.sql import ApiKey, now_ms
from service.problems import ApiProblem

ROLES = ("ingest", "read", "analyst", "admin")
KEY_PREFIX = "ig_"
F = TypeVar("F", bound=Callable[..., Any])

# OpenAPI security requirement for protected operations: either scheme works.
SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyHeader": []}]
SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <API key>"},
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}


@dataclass(frozen=True)
class Principal:
    key_id: int | None
    role: str
    name: str | None = None

    def allowed(self, roles: tuple[str, ...]) -> bool:
        return self.role == "admin" or self.role in roles


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(sessions: sessionmaker, role: str, name: str | None = None) -> str:
    """Store a new key's hash and return the key itself (shown once, never stored)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with sessions.begin() as session:
        session.add(ApiKey(prefix=key[:10], key_hash=hash_key(key), role=role, name=name, created_at=now_ms()))
    return key


def list_keys(sessions: sessionmaker) -> list[dict[str, Any]]:
    with sessions() as session:
        rows = session.scalars(select(ApiKey).order_by(ApiKey.id)).all()
    return [
        {
            "id": r.id,
            "prefix": r.prefix,
            "role": r.role,
            "name": r.name,
            "created_at": r.created_at,
            "revoked_at": r.revoked_at,
        }
        for r in rows
    ]


def revoke_key(sessions: sessionmaker, key_id: int) -> bool:
    with sessions.begin() as session:
        res = session.execute(
            update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None)).values(revoked_at=now_ms())
        )
        return bool(res.rowcount)


class KeyResolver:
    """Looks keys up by hash, caching answers (positive and negative) briefly."""

    def __init__(self, sessions: sessionmaker, ttl_s: float) -> None:
        self.sessions = sessions
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def resolve(self, key: str) -> Principal | None:
        digest = hash_key(key)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        with self.sessions() as session:
            row = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
        principal = Principal(row.id, row.role, row.name) if row is not None and row.revoked_at is None else None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now + self.ttl_s, principal)
        return principal


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
