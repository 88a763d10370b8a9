"""RFC 9457 problem details: every error the API returns is `application/problem+json`.

Views raise `ApiProblem`; the handlers registered by `register_error_handlers`
turn it, HTTP errors (404, 405, 413, ...), validation errors from the request
models, store outages and anything unexpected into a problem document with a
message that says what is wrong, never a stack trace.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from flask import Flask, Response, has_request_context, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from graph_schema.store import StoreError, StoreUnavailable
from graph_schema.store.embedded import EmbeddedStoreError

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "/problems/"


class FieldError(BaseModel):
    loc: str = Field(description="Where: dotted path into the body or the parameter name.")
    msg: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(extra="allow")

    type: str = Field("about:blank", description="URI reference naming the kind of problem (see docs/api.md).")
    title: str = Field(description="Short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str | None = Field(None, description="What went wrong with this request, in words.")
    instance: str | None = Field(None, description="The request path.")
    errors: list[FieldError] | None = Field(None, description="Field-level validation errors.")


class ApiProblem(Exception):
    """Raise from a view to answer with a problem document."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.headers = headers or {}
        self.extra = extra


def problem_response(
    status: int,
    slug: str | None,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + slug if slug else "about:blank",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if has_request_context():
        body["instance"] = request.path
    body.update({k: v for k, v in extra.items() if v is not None})
    resp = Response(json.dumps(body), status=status, mimetype=PROBLEM_MEDIA_TYPE)
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def not_found(what: str, ident: str) -> ApiProblem:
    return ApiProblem(404, "not-found", "Not found", f"{what} {ident!r} does not exist")


def _loc(parts: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in parts) or "body"


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    out = []
    for err in exc.errors(include_url=False, include_context=False):
        msg = err["msg"].removeprefix("Value error, ")
        out.append({"loc": _loc(err["loc"]), "msg": msg})
    return out


def validation_error_response(exc: ValidationError) -> Response:
    """flask-openapi3's validation callback: body, query and path models."""
    raw = request.get_data(cache=True)
    if request.method in {"POST", "PUT", "PATCH"} and raw:
        if not request.is_json:
            return problem_response(
                415,
                "unsupported-media-type",
                "Unsupported media type",
                "the request body must be JSON sent with Content-Type: application/json, "
                f"got {request.mimetype or 'none'}",
            )
        try:
            json.loads(raw)
        except (ValueError, UnicodeDecodeError) as err:
            return problem_response(
                400, "malformed-json", "Malformed JSON", f"the request body is not valid JSON: {err}"
            )
    elif request.method in {"POST", "PUT", "PATCH"} and not raw:
        return problem_response(400, "missing-body", "Missing body", "this endpoint needs a JSON request body")
    errors = field_errors(exc)
    detail = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors[:10])
    return problem_response(422, "validation-error", "Invalid request", detail, errors=errors)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiProblem)
    def _api_problem(exc: ApiProblem) -> Response:
        return problem_response(exc.status, exc.slug, exc.title, exc.detail, exc.headers, **exc.extra)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        if exc.response is not None:  # e.g. flask-openapi3's abort(validation response)
            return exc.response
        code = exc.code or 500
        detail = {
            404: f"no resource at {request.path}; see /docs for the API",
            405: f"{request.method} is not allowed on {request.path}",
            413: f"the request body is larger than the limit of {app.config.get('MAX_CONTENT_LENGTH')} bytes "
            "(MAX_REQUEST_BYTES); send smaller batches",
        }.get(code, exc.description)
        headers = dict(exc.get_headers())
        headers.pop("Content-Type", None)
        return problem_response(
            code, (exc.name or "error").lower().replace(" ", "-"), exc.name or "Error", detail, headers
        )

    @app.errorhandler(StoreUnavailable)
    @app.errorhandler(EmbeddedStoreError)
    def _store_down(exc: Exception) -> Response:
        log.warning("graph store unavailable: %s", exc)
        return problem_response(
            503,
            "store-unavailable",
            "Graph store unavailable",
            f"the graph store cannot be reached right now; retry shortly ({exc})",
            {"Retry-After": "5"},
        )

    @app.errorhandler(StoreError)
    def _store_error(exc: StoreError) -> Response:
        ref = uuid.uuid4().hex[:12]
        log.error("graph store error [%s]: %s", ref, exc)
        return problem_response(
            503, "store-error", "Graph store error", f"the graph store failed this request (reference {ref}); retry it"
        )

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def _sql_down(exc: Exception) -> Response:
        # the SQL database refused for now: locked past its busy timeout (SQLite, e.g.
        # while an index builds), unreachable or restarting (PostgreSQL), no free pooled
        # connection. Resending is safe: events are idempotent by event id
        log.warning("SQL database unavailable on %s %s: %s", request.method, request.path, str(exc).splitlines()[0])
        return problem_response(
            503,
            "sql-unavailable",
            "SQL database unavailable",
            "the SQL database (event log, keys, run history) cannot serve this request right now; retry shortly",
            {"Retry-After": "5"},
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if isinstance(exc, HTTPException):  # pragma: no cover - handled above
            return _http(exc)
        ref = uuid.uuid4().hex[:12]
        log.exception("unhandled error [%s] on %s %s", ref, request.method, request.path)
        return problem_response(
            500, "internal-error", "Internal error", f"the server failed unexpectedly; the log has reference {ref}"
        )
