"""POST /v1/cypher: read-only Cypher for analysts, with time and row limits."""

from __future__ import annotations

import time
from typing import Any

from flask_openapi3 import APIBlueprint, Tag

from graph_schema.store import InvalidQuery, QueryTimeout, ReadOnlyViolation
from service.api import AUTH_ERRORS, responses
from service.api.deps import services
from service.api.models import CypherIn, CypherOut
from service.api.sendable import check_params, unsendable
from service.auth import SECURITY, requires
from service.problems import ApiProblem

bp = APIBlueprint("cypher", __name__, url_prefix="/v1", abp_tags=[Tag(name="analyst")], abp_security=SECURITY)


@bp.post("/cypher", responses=responses({200: CypherOut}, 400, *AUTH_ERRORS, 413, 415, 422, 503))
@requires("analyst")
def run_cypher(body: CypherIn) -> dict[str, Any]:
    """Run a read-only Cypher query.

    The store refuses writes itself (FalkorDB: a read-only user allowed only
    GRAPH.RO_QUERY; Neo4j: a read transaction): a writing query is a 403 and
    changes nothing. Queries that run longer than the time limit are stopped
    (422, `query-timeout`); syntax errors are a 400. Rows beyond the row limit
    are cut and `truncated` is true. Limits: CYPHER_TIMEOUT_MS and
    CYPHER_ROW_LIMIT; `timeout_ms` / `limit` may only lower them.
    """
    return analyst_query(body.query, body.params, body.timeout_ms, body.limit)


def analyst_query(query: str, params: dict[str, Any], timeout_ms: int | None, limit: int | None) -> dict[str, Any]:
    """One analyst query under the configured limits (`timeout_ms` / `limit` may only
    lower them), its failures as problems: the API's endpoint and the console's share it."""
    svc = services()
    timeout = min(timeout_ms or svc.settings.cypher_timeout_ms, svc.settings.cypher_timeout_ms)
    row_limit = min(limit or svc.settings.cypher_row_limit, svc.settings.cypher_row_limit)
    why = check_params(params) or unsendable(query)
    if why:
        raise ApiProblem(422, "validation-error", "Invalid request", why)
    t0 = time.perf_counter()
    try:
        result = svc.store().read_only_query(query, params, timeout, row_limit)
    except ReadOnlyViolation as exc:
        raise ApiProblem(403, "write-refused", "Writes are not allowed", str(exc)) from None
    except QueryTimeout as exc:
        raise ApiProblem(422, "query-timeout", "Query timed out", f"{exc}; narrow the query or add LIMIT") from None
    except InvalidQuery as exc:
        raise ApiProblem(400, "invalid-query", "Invalid Cypher", str(exc)) from None
    except (ValueError, UnicodeError) as exc:  # parameters the driver cannot encode
        raise ApiProblem(400, "invalid-query", "Invalid Cypher parameters", str(exc)) from None
    return {
        "columns": result.columns,
        "rows": result.rows,
        "truncated": result.truncated,
        "elapsed_ms": round((time.perf_counter() - t0) * 1000, 2),
    }
