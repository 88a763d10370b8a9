"""INGEST_NICE > 0: POST /v1/events runs in the worker's niced child process, with the
same answers and the same graph as in the request thread; a child killed with a batch
answers 503 and the resent batch counts once."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from .conftest import NOW_MS, events_payload, services_of

BAD = {"event_id": "bad-1", "user_id": "u1", "item_id": "x1", "type": "teleport", "ts": NOW_MS}
FOLLOW = {"event_id": "f-1", "user_id": "bob", "target_user_id": "carol", "type": "follow", "ts": NOW_MS}


def _post(client: Any, events: list[dict[str, Any]]) -> Any:
    return client.post("/v1/events", json={"events": events})


def _graph(client: Any) -> dict[str, Any]:
    store = services_of(client).store()
    counts = store.counts()
    return {
        "relationships": {k: v for k, v in counts["relationships"].items() if v},
        "bob": sorted((r["item_id"], r["count"]) for r in store.user_interactions("bob")),
    }


@pytest.fixture
def pooled(make_app: Any) -> Any:
    return make_app(ingest_nice=10, auth_disabled=True).test_client()


@pytest.fixture
def inline(make_app: Any) -> Any:
    return make_app(auth_disabled=True).test_client()


def test_the_child_answers_and_writes_as_the_request_thread_does(pooled: Any, inline: Any) -> None:
    batches = [[*events_payload(), BAD], [FOLLOW, *events_payload()[:2]], events_payload()]
    for batch in batches:
        here, there = _post(inline, batch), _post(pooled, batch)
        assert (there.status_code, there.get_json()) == (here.status_code, here.get_json())
    assert _graph(pooled) == _graph(inline)
    assert _graph(pooled)["bob"] == [("i1", 1), ("i2", 1), ("i3", 1), ("i8", 1)]  # resent: counted once
    pool = services_of(pooled).ingest_pool
    (child,) = pool.pids()
    assert child != os.getpid()
    assert os.getpriority(os.PRIO_PROCESS, child) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)
    assert services_of(inline).ingest_pool.pids() == []  # INGEST_NICE=0: no child


def test_the_worker_forgets_answers_of_the_users_the_child_changed(pooled: Any) -> None:
    feed = services_of(pooled).recommender.feed
    assert feed is not None  # the default freshness: the change feed
    before = feed.generation("bob"), feed.generation("carol")
    assert _post(pooled, events_payload()).status_code == 202
    assert feed.generation("bob") > before[0] and feed.generation("carol") > before[1]


def test_a_child_killed_answers_503_and_the_resent_batch_counts_once(pooled: Any) -> None:
    first, second = events_payload()[:4], events_payload()[4:]
    assert _post(pooled, first).get_json()["accepted"] == 4
    pool = services_of(pooled).ingest_pool
    (child,) = pool.pids()
    os.kill(child, signal.SIGKILL)
    deadline = time.monotonic() + 30  # a bound on waiting for the kill, not a measurement
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.02)
    lost = _post(pooled, second)
    assert lost.status_code == 503, lost.get_json()
    assert lost.get_json()["type"].endswith("ingest-restarting") and "resend" in lost.get_json()["detail"]
    again = _post(pooled, second)  # a new child
    assert again.status_code == 202 and again.get_json()["accepted"] == len(second)
    assert pool.pids() != [child]
    assert _post(pooled, events_payload()).get_json() == {
        "accepted": 0,
        "duplicates": len(events_payload()),
        "rejected": [],
        "pending": 0,
    }
    assert _graph(pooled)["bob"] == [("i1", 1), ("i2", 1), ("i3", 1), ("i8", 1)]
