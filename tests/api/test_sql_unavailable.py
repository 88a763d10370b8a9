"""The SQL database refusing a request (a lock held past SQLite's busy timeout, PostgreSQL
down) is a 503 problem with Retry-After, never a 500; the request can be resent."""

from __future__ import annotations

import sqlite3
from typing import Any

from tests.api.conftest import events_payload


def test_a_locked_event_log_is_a_503_and_the_batch_can_be_resent(make_app: Any) -> None:
    app = make_app(auth_disabled=True)
    client = app.test_client()
    path = app.extensions["interest_graph"].settings.sql_url.removeprefix("sqlite:///")
    events = events_payload()[:5]
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another process writing, past the 10 s busy timeout
        r = client.post("/v1/events", json={"events": events})
        assert r.status_code == 503, r.get_json()
        assert r.content_type == "application/problem+json" and r.headers["Retry-After"] == "5"
        assert r.get_json()["type"].endswith("sql-unavailable") and "retry" in r.get_json()["detail"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    r = client.post("/v1/events", json={"events": events})
    assert r.status_code == 202 and r.get_json()["accepted"] == 5, r.get_json()
