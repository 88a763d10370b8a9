"""API keys: 401 without a valid key, 403 for a role that may not, admin may all."""

from __future__ import annotations

import pytest

from records.keys import create_key, hash_key, list_keys, revoke_key
from records.tables import ApiKey

from .conftest import NOW_MS, Keys

# API keys on SQLite and on PostgreSQL
pytestmark = pytest.mark.sql_engines

EVENT = {"events": [{"event_id": "a1", "user_id": "u", "item_id": "x", "type": "view", "ts": NOW_MS}]}

# (method, path, body, roles allowed besides admin)
ENDPOINTS = [
    ("post", "/v1/events", EVENT, {"ingest"}),
    ("post", "/v1/items", {"items": [{"item_id": "x"}]}, {"ingest"}),
    ("get", "/v1/users/u/recommendations", None, {"read"}),
    ("get", "/v1/items/x/similar", None, {"read"}),
    ("get", "/v1/users/u/interests", None, {"read", "analyst"}),
    ("post", "/v1/cypher", {"query": "RETURN 1"}, {"analyst"}),
    ("get", "/v1/jobs", None, {"analyst"}),
    ("get", "/v1/jobs/1", None, {"analyst"}),
    ("delete", "/v1/users/nobody", None, set()),
]


@pytest.mark.parametrize(("method", "path", "body", "roles"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS])
def test_roles(client, keys: Keys, method, path, body, roles):
    call = getattr(client, method)
    kwargs = {"json": body} if body is not None else {}
    r = call(path, **kwargs)
    assert r.status_code == 401 and r.content_type == "application/problem+json"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = call(path, headers={"Authorization": "Bearer ig_wrong"}, **kwargs)
    assert r.status_code == 401 and "unknown or revoked" in r.get_json()["detail"]
    for role in ("ingest", "read", "analyst", "admin"):
        r = call(path, headers=keys.header(role), **kwargs)
        if role == "admin" or role in roles:
            assert r.status_code not in (401, 403), (role, r.get_json())
        else:
            assert r.status_code == 403, (role, r.status_code)
            assert r.content_type == "application/problem+json"
            assert role in r.get_json()["detail"]


def test_x_api_key_header_works(client, keys: Keys):
    r = client.get("/v1/users/u/recommendations", headers={"X-API-Key": keys.read})
    assert r.status_code == 200


def test_unauthenticated_bad_body_gets_401_not_422(client):
    r = client.post("/v1/events", data="{", content_type="application/json")
    assert r.status_code == 401


def test_revoked_key_is_refused(app, client, keys: Keys):
    sessions = app.extensions["interest_graph"].sessions
    key = create_key(sessions, "read", "short-lived")
    assert client.get("/v1/users/u/recommendations", headers={"X-API-Key": key}).status_code == 200
    key_id = next(k["id"] for k in list_keys(sessions) if k["name"] == "short-lived")
    assert revoke_key(sessions, key_id)
    assert client.get("/v1/users/u/recommendations", headers={"X-API-Key": key}).status_code == 401


def test_keys_are_stored_hashed(app, keys: Keys):
    sessions = app.extensions["interest_graph"].sessions
    with sessions() as session:
        stored = {row.key_hash for row in session.query(ApiKey).all()}
    assert hash_key(keys.admin) in stored and keys.admin not in stored
    assert all(len(h) == 64 for h in stored)


def test_unknown_role_is_refused(app):
    with pytest.raises(ValueError):
        create_key(app.extensions["interest_graph"].sessions, "superuser")


def test_public_endpoints_need_no_key(client):
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert client.get(path).status_code == 200, path


def test_auth_disabled_acts_as_admin(make_app):
    client = make_app(auth_disabled=True).test_client()
    assert client.post("/v1/cypher", json={"query": "RETURN 1 AS one"}).get_json()["rows"] == [[1]]
