"""INGEST_NICE > 0: POST /v1/events runs in the worker's niced child process, with the
same answers and the same graph as in the request thread; a child killed with a batch
answers 503 and the resent batch counts once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
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


def _gone(pid: int, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds  # a bound on waiting, not a measurement
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_child_started_by_a_request_thread_that_ended_keeps_taking_batches(pooled: Any) -> None:
    """A development server runs each request on a thread of its own: the child must not
    die with the thread that happened to start it."""
    first: list[Any] = []
    t = threading.Thread(target=lambda: first.append(_post(pooled, events_payload()[:3])))
    t.start()
    t.join()
    assert first[0].status_code == 202
    (child,) = services_of(pooled).ingest_pool.pids()
    time.sleep(1.0)  # a parent-death signal tied to that thread would have fired by now
    again = _post(pooled, events_payload()[3:])
    assert again.status_code == 202, again.get_json()
    assert services_of(pooled).ingest_pool.pids() == [child]


def test_the_child_exits_when_its_worker_is_killed(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal
        from service.config import ApiSettings
        from service.ingest.pool import IngestPool
        pool = IngestPool(ApiSettings(data_dir={str(tmp_path)!r}, database_url="sqlite:///{tmp_path}/db.sqlite3",
                                      ingest_nice=5))
        print(pool._executor_here().submit(os.getpid).result(), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    root = Path(__file__).resolve().parents[2]
    # files, not pipes: a child left behind would hold a pipe open (and run() wait for it)
    out, err = tmp_path / "child.pid", tmp_path / "stderr.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        done = subprocess.run([sys.executable, "-c", script], cwd=root, stdout=stdout, stderr=stderr, timeout=120)
    assert done.returncode == -signal.SIGKILL, err.read_text()
    child = int(out.read_text().split()[0])
    assert _gone(child), f"the ingest child {child} outlived its killed worker"


def test_background_apply_runs_in_the_child_and_writes_every_event_once(make_app: Any) -> None:
    client = make_app(ingest_nice=10, ingest_apply="background", auth_disabled=True).test_client()
    n = len(events_payload())
    assert _post(client, events_payload()).get_json() == {"accepted": n, "duplicates": 0, "rejected": [], "pending": n}
    log = services_of(client).eventlog
    deadline = time.monotonic() + 60  # a bound on waiting for the child's applier, not a measurement
    while log.pending_count() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert log.pending_count() == 0
    assert _graph(client)["bob"] == [("i1", 1), ("i2", 1), ("i3", 1), ("i8", 1)]
    assert services_of(client).store().counts()["relationships"]["INTERACTED"] == n


class _TwoArgs(Exception):
    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a} {b}")


def test_an_exception_the_worker_could_not_rebuild_is_sent_as_a_runtime_error() -> None:
    from graph_schema.store import StoreUnavailable
    from service.ingest.pool import sendable

    kept = StoreUnavailable("down")
    assert sendable(kept) is kept
    sent = sendable(_TwoArgs("x", "y"))  # pickles, but unpickling calls __init__ with one argument
    assert type(sent) is RuntimeError and str(sent) == "_TwoArgs: x y"
