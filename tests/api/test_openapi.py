"""The OpenAPI document: valid, generated from the models, and a schemathesis run finds no 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

PATHS = {
    "/v1/events": {"post"},
    "/v1/items": {"post"},
    "/v1/users/{user_id}/recommendations": {"get"},
    "/v1/items/{item_id}/similar": {"get"},
    "/v1/users/{user_id}/interests": {"get"},
    "/v1/users/{user_id}/people": {"get"},
    "/v1/communities": {"get"},
    "/v1/communities/{community_id}": {"get"},
    "/v1/users/{user_id}": {"delete"},
    "/v1/cypher": {"post"},
    "/v1/jobs/refresh": {"post"},
    "/v1/jobs": {"get"},
    "/v1/jobs/{run_id}": {"get"},
    "/v1/experiments": {"post"},
    "/v1/experiments/{experiment_id}": {"get"},
    "/v1/experiments/{experiment_id}/stop": {"post"},
    "/v1/metrics/online": {"get", "post"},
    "/healthz": {"get"},
    "/readyz": {"get"},
    "/metrics": {"get"},
}


def test_document_is_valid_and_complete(client):
    spec = client.get("/openapi.json").get_json()
    validate(spec)
    assert {p: set(ops) for p, ops in spec["paths"].items()} == PATHS
    schemas = spec["components"]["schemas"]
    assert schemas["EventBatch"]["properties"]["events"]["items"] == {
        "oneOf": [{"$ref": "#/components/schemas/EventIn"}, {"$ref": "#/components/schemas/RelationIn"}]
    }
    assert set(schemas["EventIn"]["properties"]) == {
        "event_id",
        "user_id",
        "item_id",
        "type",
        "ts",
        "weight",
        "rec_id",
        "position",
    }
    assert set(schemas["RelationIn"]["properties"]) == {"event_id", "user_id", "target_user_id", "type", "ts", "weight"}
    assert set(schemas["Recommendations"]["properties"]) >= {"user_id", "model_version", "strategy", "items"}
    recs = spec["paths"]["/v1/users/{user_id}/recommendations"]["get"]
    assert {p["name"] for p in recs["parameters"]} == {"user_id", "k", "strategy", "exclude", "interest", "explain"}
    assert recs["security"] and set(spec["components"]["securitySchemes"]) == {"bearerAuth", "apiKeyHeader"}
    for path_item in spec["paths"].values():
        for op in path_item.values():
            for code, resp in op["responses"].items():
                if code.startswith(("4", "5")) and "content" in resp:
                    assert list(resp["content"]) == ["application/problem+json"], (op["operationId"], code)


def test_docs_are_served(client):
    assert client.get("/docs").status_code == 302
    r = client.get("/docs/swagger")
    assert r.status_code == 200 and b"swagger-ui" in r.data
    assert client.get("/docs/openapi.json").get_json() == client.get("/openapi.json").get_json()


@pytest.fixture
def fuzz_schema(loaded, keys):
    """The small graph, called with an admin key (schemathesis also tries without one)."""
    loaded.extensions["interest_graph"].settings.cypher_timeout_ms = 500
    schema = schemathesis.openapi.from_wsgi("/openapi.json", loaded)
    # POST /v1/jobs/refresh would start real training; test_jobs.py covers it
    return schema.exclude(path="/v1/jobs/refresh"), keys.header("admin")


def test_schemathesis_finds_no_server_errors(fuzz_schema):
    """Every operation, generated cases: no 5xx, responses conform to the document."""
    schema, headers = fuzz_schema
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True
        )
        def check(case):
            response = case.call(headers=headers)
            try:
                # auth is tested in test_auth.py; the fixed admin header would defeat ignored_auth's probes
                # and an analyst's invalid Cypher is rightly a 400 although the body fits the schema
                excluded = [ignored_auth] + ([positive_data_acceptance] if case.path == "/v1/cypher" else [])
                case.validate_response(response, excluded_checks=excluded)
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {exc}"[:2000])

        check()
    assert not failures, "\n\n".join(failures[:10])
