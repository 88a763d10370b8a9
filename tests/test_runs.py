"""Refresh-run history and the cross-process refresh lock, on a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import update

from graph_schema.clock import now_ms
from graph_schema.settings import Settings
from records.locks import LeaseLost, holder_process_gone
from records.runs import RefreshAlreadyRunning, RunNotQueued, create_run_row, get_run, list_runs, refresh_run
from records.tables import NamedLock, RefreshRun, session_factory

# run history and the refresh lock on SQLite and on PostgreSQL
pytestmark = pytest.mark.sql_engines


@pytest.fixture
def settings(tmp_path: Path, sql_url: str) -> Settings:
    return Settings(data_dir=tmp_path, database_url=sql_url)


def test_a_run_records_phases_counts_metrics_and_status(settings: Settings) -> None:
    with refresh_run(settings, mode="full") as run:
        with run.phase("pull"):
            run.counts["users"] = 3
        run.metrics["ndcg@20"] = 0.2
        run.finish("published", model_version="v1")
    [row] = list_runs(settings)
    assert row["status"] == "published" and row["model_version"] == "v1"
    assert set(row["phases"]) == {"pull"} and row["counts"] == {"users": 3}
    assert row["metrics"] == {"ndcg@20": 0.2} and row["finished_at"] is not None


def test_a_failing_run_is_recorded_as_failed_and_releases_the_lock(settings: Settings) -> None:
    with pytest.raises(ValueError), refresh_run(settings, mode="full"):
        raise ValueError("boom")
    [row] = list_runs(settings)
    assert row["status"] == "failed" and "boom" in row["error"]
    with refresh_run(settings, mode="full") as run:  # the lock was released
        run.finish("rejected")


def _hold_lock(url: str, data_dir: str, started, release) -> None:  # type: ignore[no-untyped-def]
    s = Settings(data_dir=Path(data_dir), database_url=url)
    with refresh_run(s, mode="full", trigger="other-process") as run:
        started.set()
        release.wait(20)
        run.finish("rejected")


def test_the_lock_stops_a_second_concurrent_refresh_in_another_process(settings: Settings) -> None:
    ctx = multiprocessing.get_context("spawn")
    started, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(settings.sql_url, str(settings.data_dir), started, release))
    proc.start()
    try:
        assert started.wait(30)
        queued = create_run_row(settings, "full", "api")
        with (
            pytest.raises(RefreshAlreadyRunning, match="already running"),
            refresh_run(settings, "full", run_id=queued),
        ):
            pass
        assert get_run(settings, queued)["status"] == "failed"  # type: ignore[index]
    finally:
        release.set()
        proc.join(30)
    assert proc.exitcode == 0
    with refresh_run(settings, mode="full") as run:
        run.finish("rejected")


def test_an_expired_lock_of_a_crashed_holder_is_taken_over(settings: Settings) -> None:
    sessions = session_factory(settings.sql_url)
    with sessions.begin() as s:
        s.add(NamedLock(name="refresh", holder="dead:1", acquired_at=0, expires_at=1))
    with refresh_run(settings, mode="full") as run:
        run.finish("rejected")
    with sessions.begin() as s:
        s.add(NamedLock(name="refresh", holder="alive:1", acquired_at=0, expires_at=2**62))
    with pytest.raises(RefreshAlreadyRunning), refresh_run(settings, mode="full"):
        pass
    with sessions.begin() as s:
        s.execute(update(NamedLock).values(expires_at=1))


def test_a_live_holder_on_another_host_keeps_the_lease_until_it_lapses(settings: Settings) -> None:
    sessions = session_factory(settings.sql_url)
    with sessions.begin() as s:
        s.add(NamedLock(name="refresh", holder="elsewhere:1:abc", acquired_at=0, expires_at=now_ms() + 60_000))
    with pytest.raises(RefreshAlreadyRunning, match="elsewhere:1:abc"), refresh_run(settings, mode="full"):
        pass
    with sessions.begin() as s:
        s.execute(update(NamedLock).values(expires_at=now_ms() - 1))  # its heartbeat stopped
    with refresh_run(settings, mode="full") as run:
        run.finish("rejected")


def test_a_same_host_holder_whose_process_is_gone_is_taken_over_at_once(settings: Settings) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    sessions = session_factory(settings.sql_url)
    holder = f"{socket.gethostname()}:{dead.pid}:abc"
    with sessions.begin() as s:
        s.add(NamedLock(name="refresh", holder=holder, acquired_at=0, expires_at=now_ms() + 60_000))
    assert holder_process_gone(holder)
    assert not holder_process_gone(f"{socket.gethostname()}:{os.getpid()}:abc")
    assert not holder_process_gone(f"{socket.gethostname()}:{os.getppid()}:abc")  # alive
    assert not holder_process_gone(f"otherhost:{dead.pid}:abc")  # cannot tell: wait for the lease
    with refresh_run(settings, mode="full") as run:
        run.finish("rejected")


def test_runs_left_running_are_marked_abandoned_by_the_next_run(settings: Settings) -> None:
    sessions = session_factory(settings.sql_url)
    with sessions.begin() as s:
        s.add(RefreshRun(mode="full", status="running", trigger="cli", started_at=1, model_version="v-dead",
                         metrics={"phase": "train"}))  # fmt: skip
    with refresh_run(settings, mode="full", model_version="v-next") as run:
        assert [(a.model_version) for a in run.abandoned] == ["v-dead"]
        run.finish("rejected")
    dead, nxt = sorted(list_runs(settings), key=lambda r: r["run_id"])
    assert dead["status"] == "abandoned" and "during phase train" in dead["error"] and dead["finished_at"]
    assert nxt["status"] == "rejected" and nxt["model_version"] == "v-next"


def test_a_lost_lease_stops_the_run_at_its_next_phase(settings: Settings) -> None:
    sessions = session_factory(settings.sql_url)
    with pytest.raises(LeaseLost), refresh_run(settings, mode="full") as run:
        with sessions.begin() as s:  # e.g. the process stalled past its lease and another took over
            s.execute(update(NamedLock).values(holder="someone-else"))
        run.enter_phase("train")
    [row] = list_runs(settings)
    assert row["status"] == "failed" and "LeaseLost" in row["error"]


def test_a_queued_run_starts_once(settings: Settings) -> None:
    queued = create_run_row(settings, "full", "api")
    with refresh_run(settings, "full", run_id=queued) as run:
        run.finish("rejected")
    # a second scheduler that picked the same queued run does not start it again
    with pytest.raises(RunNotQueued), refresh_run(settings, "full", run_id=queued):
        pass
    assert get_run(settings, queued)["status"] == "rejected"  # type: ignore[index]
