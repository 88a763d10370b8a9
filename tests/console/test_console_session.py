"""The console's sign-in, cookie and CSRF rules, and its evidence timeline, without a
browser or a graph (the Flask test client over a SQLite file)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from graph_schema.decay import fold_many, value_at
from records.keys import create_key
from service.app import create_app
from service.config import ApiSettings
from service.console.session import SECRET_FILE
from service.console.timeline import DAY_MS, MAX_POINTS, daily_points, evidence_timeline
from service.ingest.log_reads import LoggedEvent


@pytest.fixture
def app(tmp_path: Path) -> Any:
    return create_app(ApiSettings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}"))


def token(client: Any) -> str:
    page = client.get("/console/login").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def test_sign_in_needs_the_csrf_token_and_keeps_the_key_in_a_strict_cookie(app: Any) -> None:
    key = create_key(app.extensions["interest_graph"].sessions, "analyst", "t")
    client = app.test_client()
    assert client.post("/console/login", data={"api_key": key}).status_code == 403  # no token
    r = client.post("/console/login", data={"api_key": key, "csrf_token": token(client), "next": "//evil.example/"})
    assert r.status_code == 302 and r.headers["Location"] == "/console/"  # never off-site
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert key not in r.headers["Location"]


def test_ingest_and_unknown_keys_are_refused(app: Any) -> None:
    ingest = create_key(app.extensions["interest_graph"].sessions, "ingest", "t")
    client = app.test_client()
    for key, message in ((ingest, "ingest key cannot use the console"), ("ig_nope", "unknown or revoked")):
        r = client.post("/console/login", data={"api_key": key, "csrf_token": token(client)})
        assert r.status_code == 401 and message in r.get_data(as_text=True)
    assert client.get("/console/api/cypher").status_code in (401, 405)
    assert client.get("/console/runs").status_code == 302  # to the sign-in page


def test_the_secret_is_generated_once_per_data_dir(tmp_path: Path) -> None:
    settings = ApiSettings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    first, second = create_app(settings), create_app(settings)
    assert first.secret_key == second.secret_key == (tmp_path / SECRET_FILE).read_text().strip()
    assert (tmp_path / SECRET_FILE).stat().st_mode & 0o077 == 0
    assert create_app(settings.model_copy(update={"console_secret_key": "s3cret"})).secret_key == "s3cret"


def test_timeline_ends_at_the_evidence_ingest_computes() -> None:
    tau = 30 * DAY_MS
    terms = [(5, "a", 4.0), (3 * DAY_MS + 7, "b", 2.0), (3 * DAY_MS + 9, "a", 1.0), (10 * DAY_MS, "b", 5.0)]
    events = [LoggedEvent(ts, item, "rating", w, "applied") for ts, item, w in terms]
    tags = {"a": [("x", 1.0)], "b": [("x", 0.5), ("y", 1.0)]}
    t = evidence_timeline(events, tags, tau, 12 * DAY_MS)
    assert t.points_ms == [k * DAY_MS for k in range(1, 13)]
    x, x_ts = fold_many([(4.0, 5), (1.0, 3 * DAY_MS + 9), (1.0, 3 * DAY_MS + 7), (2.5, 10 * DAY_MS)], tau)
    assert t.evidence["x"][-1] == pytest.approx(value_at(x, x_ts, 12 * DAY_MS, tau), rel=1e-6)
    assert t.evidence["y"][:3] == [0.0, 0.0, 0.0] and t.top(1) == ["x"]
    assert len(daily_points(0, 3 * MAX_POINTS * DAY_MS)) <= MAX_POINTS  # long histories: coarser points
