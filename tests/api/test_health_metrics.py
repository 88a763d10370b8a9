"""/healthz, /readyz and /metrics."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from graph_schema.clock import now_ms
from graph_schema.store import StoreUnavailable
from records.tables import RefreshRun

from .conftest import Keys, services_of


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json() == {"status": "ok"}


def test_readyz_when_ready(loaded, client):
    body = client.get("/readyz").get_json()
    assert body["status"] == "ready" and body["checks"] == {"sql": "ok", "graph": "ok"} and body["pending_events"] == 0


def test_readyz_when_graph_is_down(client):
    svc = services_of(client)

    def down() -> Any:
        raise StoreUnavailable("no graph (test)")

    svc.store_holder.get = down  # type: ignore[method-assign]
    r = client.get("/readyz")
    assert r.status_code == 503 and r.content_type == "application/problem+json"
    assert r.get_json()["checks"]["graph"].startswith("unavailable") and r.get_json()["checks"]["sql"] == "ok"


def test_store_down_is_a_503_problem(make_app):
    app = make_app(auth_disabled=True)
    svc = app.extensions["interest_graph"]

    def down() -> Any:
        raise StoreUnavailable("no graph (test)")

    svc.store_holder.get = down  # type: ignore[method-assign]
    r = app.test_client().get("/v1/users/u/recommendations")
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    assert "retry" in r.get_json()["detail"]


def test_metrics(loaded, client, keys: Keys):
    client.get("/v1/users/alice/recommendations", headers=keys.header("read"))
    client.get("/v1/users/alice/recommendations")  # 401
    with services_of(client).sessions.begin() as session:
        session.add(
            RefreshRun(
                mode="full", status="published", trigger="test", started_at=now_ms() - 42_000, finished_at=now_ms()
            )
        )
        session.execute(text("SELECT 1"))
    r = client.get("/metrics")
    assert r.status_code == 200 and r.content_type.startswith("text/plain")
    text_ = r.get_data(as_text=True)
    assert (
        'interest_graph_http_requests_total{endpoint="/v1/users/<user_id>/recommendations",method="GET",status="200"}'
        in text_
    )
    assert 'status="401"' in text_
    assert "interest_graph_http_request_duration_seconds_bucket" in text_
    assert 'interest_graph_events_total{outcome="accepted"}' in text_
    assert 'interest_graph_refresh_runs_total{mode="full",status="published"} 1.0' in text_
    assert 'interest_graph_refresh_run_duration_seconds_bucket{le="60.0",mode="full"} 1.0' in text_
    assert "interest_graph_events_pending 0.0" in text_
