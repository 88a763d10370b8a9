"""Who is signed in to the console, what their key's role allows, and CSRF.

The API key is kept in Flask's signed session cookie (HttpOnly, SameSite=Strict, path
/console, Secure when CONSOLE_COOKIE_SECURE), never in a URL, and resolved again on every
request through the API's own KeyResolver, so a revoked key stops working here as on /v1
(within API_KEY_CACHE_S). Every POST must carry the session's CSRF token (form field
`csrf_token` or header `X-CSRF-Token`).
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask, current_app, g, session

from records.keys import Principal
from service.api.deps import EXTENSION
from service.config import ApiSettings

F = TypeVar("F", bound=Callable[..., Any])

COOKIE_NAME = "ig_console"
SECRET_FILE = "console-secret-key"


def secret_key(settings: ApiSettings) -> str:
    """CONSOLE_SECRET_KEY, else one generated once into DATA_DIR (0600): every worker of
    this host reads the same file, so a session signed by one is valid in all."""
    if settings.console_secret_key:
        return settings.console_secret_key
    path = Path(settings.data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key


def configure_cookie(app: Flask, settings: ApiSettings) -> None:
    app.secret_key = secret_key(settings)
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_PATH="/console",  # /v1 requests never carry it
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.console_cookie_secure,
    )


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def csrf_valid(presented: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected and presented and hmac.compare_digest(str(expected), presented))


def sign_in(key: str, principal: Principal) -> None:
    """A fresh session (never reuse one from before sign-in) holding the key."""
    session.clear()
    session["key"] = key
    csrf_token()


def sign_out() -> None:
    session.clear()


def current_principal() -> Principal | None:
    """The signed-in key's principal (resolved again: revocation applies), or None."""
    if current_app.extensions[EXTENSION].settings.auth_disabled:
        return Principal(None, "admin", "AUTH_DISABLED")
    key = session.get("key")
    if not key:
        return None
    return resolve_key(str(key))


def resolve_key(key: str) -> Principal | None:
    """The key's principal through the API's own resolver (service.auth), or None."""
    return current_app.extensions["ig_key_resolver"].resolve(key)  # type: ignore[no-any-return]


def principal() -> Principal:
    """The principal of this request (the blueprint's guard has set it)."""
    return g.console_principal  # type: ignore[no-any-return]


def can(*roles: str) -> bool:
    """Whether the signed-in key may see what needs one of `roles` (admin always may)."""
    p = g.get("console_principal")
    return p is not None and p.allowed(roles)


def allow(*roles: str) -> Callable[[F], F]:
    """The roles a console view needs (checked by the blueprint's guard); admin passes."""

    def mark(func: F) -> F:
        func._console_roles = tuple(roles)  # type: ignore[attr-defined]
        return func

    return mark
