"""`interest-graph demo` (what `make run` does) against the test Neo4j, as a user runs it:
a real process with GRAPH_URI=bolt://..., a SQLite event log in a fresh DATA_DIR.

The demo imports MovieLens-100K into an empty graph; a small graph is loaded first so it
skips the import (too slow for a test on Neo4j) and goes through the rest of its code
path: no embedded store started, migrations, a first full refresh (TRAIN_EPOCHS=2),
the demo key, gunicorn with the scheduler; then real HTTP with that key.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from graph_schema.migrations import MIGRATIONS
from graph_schema.settings import Settings
from graph_schema.store import open_store
from records.runs import list_runs
from service.config import ApiSettings
from service.ingest.catalogue import upsert_items
from service.ingest.eventlog import EventLog
from service.ingest.graph_writer import GraphWriter
from service.ingest.schemas import EventIn, ItemIn
from tests.engines import free_port

ROOT = Path(__file__).resolve().parents[1]
DAY_MS = 86_400_000
GENRES = ("scifi", "drama", "comedy", "horror")
# 16 items, 4 per genre; 12 users, each mostly in one genre
ITEMS = {f"m{n}": GENRES[n % len(GENRES)] for n in range(16)}
USERS = {f"u{n}": GENRES[n % len(GENRES)] for n in range(12)}
START_TIMEOUT_S = 50.0


def _history() -> dict[str, list[str]]:
    """user -> items, most recent first: two or three of the user's genre, one other."""
    out = {}
    for u, (user, genre) in enumerate(USERS.items()):
        liked = [i for i, g in ITEMS.items() if g == genre]
        other = [i for i, g in ITEMS.items() if g != genre][u]
        out[user] = [*liked[: 2 + u % 2], other]
    return out


def _preload(settings: Settings) -> None:
    """A small catalogue and history through the event log, so the demo skips its import.
    Not migrated: the demo applies the migrations to a graph that already holds data."""
    now = int(time.time() * 1000)
    events = [
        EventIn(
            event_id=f"{user}-{item}",
            user_id=user,
            item_id=item,
            type="purchase" if k == 0 else "view",
            ts=now - (k + 1) * DAY_MS,
        )
        for user, items in _history().items()
        for k, item in enumerate(items)
    ]
    catalogue = [ItemIn(item_id=i, title=f"Movie {i}", interests=[f"genre:{g}"]) for i, g in ITEMS.items()]
    log = EventLog(settings)
    with open_store(settings) as store:
        upsert_items(log, store, catalogue)
        accepted, applied = GraphWriter(log).ingest(store, enumerate(events))
        assert accepted.accepted == len(events) and applied.pending == 0, (accepted, applied)
        assert store.counts()["nodes"]["User"] == len(USERS)


def _get(port: int, path: str, key: str | None = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {key}"} if key else {})
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    return resp.status, json.loads(raw) if "json" in (resp.getheader("Content-Type") or "") else raw.decode()


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


def _stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM (gunicorn's graceful stop) and wait; the demo must exit by itself."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        raise


def test_demo_serves_recommendations_on_neo4j(neo4j_graph: dict[str, object], tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    _preload(Settings(data_dir=tmp_path, database_url=database_url, **neo4j_graph))

    configured = {name.upper() for name in ApiSettings.model_fields}  # nothing from the caller's shell
    env = {k: v for k, v in os.environ.items() if k.upper() not in configured}
    env.update(
        DATA_DIR=str(tmp_path),
        DATABASE_URL=database_url,
        GRAPH_URI=str(neo4j_graph["graph_uri"]),
        NEO4J_USER=str(neo4j_graph["neo4j_user"]),
        NEO4J_PASSWORD=str(neo4j_graph["neo4j_password"]),
        NEO4J_DATABASE=str(neo4j_graph["neo4j_database"]),
        AUTH_DISABLED="0",
        TRAIN_EPOCHS="2",
        PYTHONUNBUFFERED="1",
    )
    port = free_port()
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service", "demo", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            with contextlib.suppress(OSError, http.client.HTTPException):
                if _get(port, "/healthz")[0] == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the demo did not serve /healthz (exit code {proc.poll()}):\n{_tail(log)}")
            time.sleep(0.2)

        output = log.read_text(errors="replace")
        assert "importing MovieLens" not in output, "the pre-loaded graph must skip the import"
        assert "embedded FalkorDB" not in output and not (tmp_path / "falkordb").exists(), (
            "the demo must not start an embedded store when GRAPH_URI is a Neo4j"
        )
        key_file = tmp_path / "demo-api-key"
        key = key_file.read_text().strip()
        assert key and key in output and key_file.stat().st_mode & 0o777 == 0o600

        # the demo migrated the graph and ran its first full refresh on Neo4j to the end
        settings = Settings(data_dir=tmp_path, database_url=database_url, **neo4j_graph)
        with open_store(settings) as store:
            assert store.schema_versions() == set(range(1, len(MIGRATIONS) + 1))
        runs = list_runs(settings)
        assert [(r["mode"], r["trigger"]) for r in runs] == [("full", "cli")], runs
        assert runs[0]["status"] in {"published", "rejected"}, runs[0]

        status, body = _get(port, "/v1/users/u0/recommendations?k=5&explain=true", key)
        assert status == 200, body
        assert body["user_id"] == "u0" and body["items"], body
        recommended = {item["item_id"] for item in body["items"]}
        assert recommended <= set(ITEMS) and not recommended & set(_history()["u0"]), body
        status, _ = _get(port, "/v1/users/u0/recommendations?k=5", "ig_not-a-key")
        assert status == 401
    finally:
        code = _stop(proc)
    assert code == 0, f"the demo exited with {code}:\n{_tail(log)}"
