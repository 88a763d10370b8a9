"""INGEST_APPLY=background: POST /v1/events answers once the events are in the log, and
the worker's applier thread writes them to the graph; nothing lost, nothing twice.
On SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

import pytest

from graph_schema.store import StoreUnavailable

from .conftest import NOW_MS, events_payload, services_of

pytestmark = pytest.mark.sql_engines


def _post(client: Any, events: list[dict[str, Any]]) -> dict[str, Any]:
    r = client.post("/v1/events", json={"events": events})
    assert r.status_code == 202, r.get_json()
    return r.get_json()


def _counts(store: Any, user: str) -> dict[str, int]:
    return {r["item_id"]: r["count"] for r in store.user_interactions(user)}


@pytest.fixture
def background(make_app: Any, sql_engine: str) -> Any:
    return make_app(ingest_apply="background", auth_disabled=True).test_client()


def test_the_answer_reports_the_events_as_pending_and_the_applier_writes_them_once(background: Any) -> None:
    svc = services_of(background)
    body = _post(background, events_payload())
    n = len(events_payload())
    assert body == {"accepted": n, "duplicates": 0, "rejected": [], "pending": n}
    svc.applier.drain()  # whatever the thread has not applied yet, now
    store = svc.store()
    assert svc.eventlog.pending_count() == 0
    assert store.counts()["relationships"]["INTERACTED"] == n
    before = _counts(store, "bob")
    again = _post(background, events_payload())  # the same event ids: duplicates, nothing pending
    assert again == {"accepted": 0, "duplicates": n, "rejected": [], "pending": 0}
    svc.applier.drain()
    assert _counts(store, "bob") == before == {"i1": 1, "i2": 1, "i3": 1, "i8": 1}


def test_the_thread_applies_without_being_asked(background: Any) -> None:
    svc = services_of(background)
    _post(background, [{"event_id": "t1", "user_id": "u", "item_id": "x", "type": "view", "ts": NOW_MS}])
    deadline = time.monotonic() + 60  # a bound on waiting, not a measurement
    while svc.eventlog.pending_count() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert svc.eventlog.pending_count() == 0
    assert _counts(svc.store(), "u") == {"x": 1}


def test_graph_down_keeps_events_in_the_log_until_it_is_back(background: Any) -> None:
    svc = services_of(background)
    up = svc.store_holder.get

    def down() -> Any:
        raise StoreUnavailable("the embedded graph store is down (test)")

    svc.store_holder.get = down  # type: ignore[method-assign]
    body = _post(background, [{"event_id": "p1", "user_id": "u", "item_id": "x", "type": "view", "ts": NOW_MS}])
    assert body["accepted"] == 1 and body["pending"] == 1
    with pytest.raises(StoreUnavailable):
        svc.applier.drain()
    assert svc.eventlog.pending_count() == 1
    svc.store_holder.get = up  # type: ignore[method-assign]
    report = svc.applier.drain()
    assert report.applied == 1 and svc.eventlog.pending_count() == 0
    assert _counts(svc.store(), "u") == {"x": 1}


def test_bad_events_are_refused_as_inline(background: Any) -> None:
    events = [
        {"event_id": "g1", "user_id": "u1", "item_id": "x1", "type": "click", "ts": NOW_MS},
        {"event_id": "b1", "user_id": "u1", "item_id": "x1", "type": "view", "ts": "yesterday"},
        {"event_id": "b2", "user_id": "u1", "item_id": "x1", "type": "teleport", "ts": NOW_MS},
    ]
    body = _post(background, events)
    assert body["accepted"] == 1 and body["pending"] == 1
    rejected = {x["index"]: x["error"] for x in body["rejected"]}
    assert sorted(rejected) == [1, 2] and rejected[1].startswith("ts:") and "teleport" in rejected[2]
