"""INGEST_MAX_BATCHES: a worker takes at most that many ingest batches at once; the next
gets a 503 `ingest-busy` with Retry-After, before anything is stored, and its resend counts
once."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from records.keys import ROLES, create_key
from service.ingest.admission import IngestBusy, IngestGate

from .conftest import NOW_MS, Keys, items_payload, services_of

EPS = ("events", "items")


def _keys(app: Any) -> Keys:
    sessions = app.extensions["interest_graph"].sessions
    return Keys(**{role: create_key(sessions, role, name=f"test-{role}") for role in ROLES})


def _events(prefix: str, n: int) -> list[dict[str, Any]]:
    return [
        {"event_id": f"{prefix}-{k}", "user_id": f"u{k % 3}", "item_id": f"x{k}", "type": "view", "ts": NOW_MS}
        for k in range(n)
    ]


def _busy(r: Any) -> dict[str, Any]:
    assert r.status_code == 503, (r.status_code, r.data[:300])
    assert r.content_type == "application/problem+json"
    assert r.headers["Retry-After"] == "1"
    body = r.get_json(force=True)
    assert body["type"].endswith("/ingest-busy") and "resend" in body["detail"]
    return body


def test_the_gate_admits_at_most_its_limit_at_once():
    gate, limit, callers = IngestGate(2), 2, 8
    inside, release, start = threading.Semaphore(0), threading.Event(), threading.Barrier(callers)
    admitted, refused = [], []
    admitted_threads: set[int | None] = set()

    def call(k: int) -> None:
        start.wait()
        try:
            with gate.slot():
                admitted.append(k)
                admitted_threads.add(threading.get_ident())
                inside.release()
                release.wait(10)
        except IngestBusy:
            refused.append(k)

    threads = [threading.Thread(target=call, args=(k,)) for k in range(callers)]
    for t in threads:
        t.start()
    for _ in range(limit):
        assert inside.acquire(timeout=10)
    # the admitted callers still hold their slots: everyone else was refused, not queued
    for t in threads:
        if t.ident not in admitted_threads:
            t.join(10)
    assert len(admitted) == limit and len(refused) == callers - limit
    release.set()
    for t in threads:
        t.join(10)
    with gate.slot(), gate.slot(), pytest.raises(IngestBusy, match="INGEST_MAX_BATCHES"), gate.slot():
        pass  # both slots came back, and only two


def test_a_slot_comes_back_when_the_batch_fails():
    gate = IngestGate(1)
    with pytest.raises(ValueError, match="boom"), gate.slot():
        raise ValueError("boom")
    with gate.slot():
        pass


def test_no_limit_and_a_negative_limit():
    gate = IngestGate(0)
    with gate.slot(), gate.slot(), gate.slot():
        pass
    with pytest.raises(ValueError):
        IngestGate(-1)


def test_a_batch_past_the_limit_is_refused_and_its_resend_counts_once(make_app):
    app = make_app(ingest_max_batches=1)
    client = app.test_client()
    keys = _keys(app)
    svc = services_of(client)
    events = _events("busy", 5)
    refused = [REGISTRY.get_sample_value("interest_graph_ingest_refused_total", {"endpoint": e}) or 0 for e in EPS]
    with svc.ingest_gate.slot():  # another batch of this worker in flight
        _busy(client.post("/v1/events", json={"events": events}, headers=keys.header("ingest")))
        _busy(client.post("/v1/items", json={"items": items_payload()}, headers=keys.header("ingest")))
        # the refusal comes after authentication: a bad key still gets its 401
        assert (
            client.post("/v1/events", json={"events": events}, headers={"Authorization": "Bearer nope"}).status_code
            == 401
        )
    assert [REGISTRY.get_sample_value("interest_graph_ingest_refused_total", {"endpoint": e}) for e in EPS] == [
        n + 1 for n in refused
    ]
    assert svc.eventlog.count() == 0  # nothing of the refused batch was stored
    assert svc.store().user_interactions("u0") == []
    r = client.post("/v1/events", json={"events": events}, headers=keys.header("ingest"))
    assert r.status_code == 202 and r.get_json()["accepted"] == 5
    r = client.post("/v1/events", json={"events": events}, headers=keys.header("ingest"))
    assert r.get_json()["accepted"] == 0 and r.get_json()["duplicates"] == 5
    assert svc.eventlog.count() == 5
    assert sum(row["count"] for u in ("u0", "u1", "u2") for row in svc.store().user_interactions(u)) == 5


def test_a_refused_batch_starts_no_ingest_process(make_app):
    app = make_app(ingest_max_batches=1, ingest_nice=5)
    client = app.test_client()
    keys = _keys(app)
    svc = services_of(client)
    with svc.ingest_gate.slot():
        _busy(client.post("/v1/events", json={"events": _events("nice", 3)}, headers=keys.header("ingest")))
    assert svc.ingest_pool.pids() == []
    r = client.post("/v1/events", json={"events": _events("nice", 3)}, headers=keys.header("ingest"))
    assert r.status_code == 202 and r.get_json()["accepted"] == 3
    assert len(svc.ingest_pool.pids()) == 1


def test_concurrent_batches_over_the_limit_lose_nothing(make_app, monkeypatch):
    """Four clients on one worker with room for one batch: every refused batch is resent
    until taken; the log and the graph hold each event exactly once."""
    app = make_app(ingest_max_batches=1)
    keys = _keys(app)
    svc = services_of(app.test_client())
    refusals, errors = [], []
    refused = threading.Event()
    taken = svc.ingest_gate.slot

    @contextlib.contextmanager
    def slot_held_until_a_refusal() -> Iterator[None]:
        with taken():
            refused.wait(10)  # the first batch taken holds its slot until another was refused
            yield

    monkeypatch.setattr(svc.ingest_gate, "slot", slot_held_until_a_refusal)

    def client_loop(c: int) -> None:
        client = app.test_client()
        for b in range(5):
            events = _events(f"c{c}-b{b}", 20)
            while True:
                r = client.post("/v1/events", json={"events": events}, headers=keys.header("ingest"))
                if r.status_code == 202:
                    break
                if r.status_code != 503:
                    errors.append((r.status_code, r.get_data(as_text=True)[:200]))
                    return
                _busy(r)
                refusals.append(c)
                refused.set()
                time.sleep(0.005)  # a real client waits Retry-After

    threads = [threading.Thread(target=client_loop, args=(c,)) for c in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and refusals
    assert svc.eventlog.count() == 4 * 5 * 20
    assert sum(row["count"] for u in ("u0", "u1", "u2") for row in svc.store().user_interactions(u)) == 4 * 5 * 20
