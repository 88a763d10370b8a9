"""The `interest-graph` CLI as a user runs it: real processes, a fresh DATA_DIR."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph_schema.migrations import MIGRATIONS


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    d = tmp_path_factory.mktemp("cli")
    yield d
    subprocess.run(
        [sys.executable, "-m", "service", "store", "stop"], env={**os.environ, "DATA_DIR": str(d)}, check=False
    )


def cli(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"GRAPH_URI", "DATABASE_URL"}}
    env["DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "service", *args], env=env, capture_output=True, text=True, input=stdin, timeout=120
    )


def test_store_lifecycle_migrate_stats_and_cypher(data_dir: Path) -> None:
    assert "running" in cli(data_dir, "store", "start").stdout
    status = json.loads(cli(data_dir, "store", "status").stdout)
    assert status["running"] is True and status["pid"]

    out = cli(data_dir, "migrate")
    assert out.returncode == 0, out.stderr
    again = cli(data_dir, "migrate")
    assert "applied: none" in again.stdout

    stats = json.loads(cli(data_dir, "stats", "--json").stdout)
    assert stats["nodes"] == {"SchemaMigration": len(MIGRATIONS)} and stats["model_version"] is None

    res = cli(
        data_dir, "cypher", "MATCH (m:SchemaMigration) WHERE m.version >= $v RETURN m.version", "-p", "v=3", "--json"
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {"columns": ["m.version"], "rows": [[v] for v in range(3, len(MIGRATIONS) + 1)]}

    write = cli(data_dir, "cypher", "CREATE (:Hacker)")
    assert write.returncode == 1 and "read-only" in write.stderr
    assert "Traceback" not in write.stderr
    assert json.loads(cli(data_dir, "stats", "--json").stdout)["nodes"] == {"SchemaMigration": len(MIGRATIONS)}

    # the same server was reused by every command
    assert json.loads(cli(data_dir, "store", "status").stdout)["pid"] == status["pid"]


def test_ingest_file_reports_per_line_and_is_idempotent(data_dir: Path, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(
        "\n".join(
            [
                json.dumps({"event_id": "c1", "user_id": "u", "item_id": "i", "type": "click", "ts": 1000}),
                json.dumps(
                    {"event_id": "c2", "user_id": "u", "item_id": "i", "type": "view", "ts": "2024-05-01T10:00:00Z"}
                ),
                "{broken",
                json.dumps({"event_id": "c3", "user_id": "u", "item_id": "i", "type": "view"}),
            ]
        )
        + "\n"
    )
    first = cli(data_dir, "ingest", str(events))
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout.strip().splitlines()[-1])
    assert report == {"accepted": 2, "duplicates": 0, "rejected": 2, "applied": 2, "pending": 0}
    assert "line 3" in first.stderr and "line 4" in first.stderr and "ts" in first.stderr

    second = json.loads(cli(data_dir, "ingest", str(events)).stdout.strip().splitlines()[-1])
    assert second["accepted"] == 0 and second["duplicates"] == 2
    rows = json.loads(
        cli(data_dir, "cypher", "MATCH (:User {id:'u'})-[r:INTERACTED]->() RETURN r.weight, r.count", "--json").stdout
    )["rows"]
    assert rows == [[3.0, 2]]


def test_ingest_reads_a_pipe(data_dir: Path) -> None:
    line = json.dumps({"event_id": "p1", "user_id": "piped", "item_id": "i", "type": "view", "ts": 1000})
    out = cli(data_dir, "ingest", "/dev/stdin", stdin=line + "\n")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["accepted"] == 1


def test_replay_refuses_a_non_empty_graph_then_rebuilds_it(data_dir: Path) -> None:
    refused = cli(data_dir, "replay")
    assert refused.returncode == 1 and "not empty" in refused.stderr
    done = cli(data_dir, "replay", "--force")
    assert done.returncode == 0, done.stderr
    rows = json.loads(
        cli(data_dir, "cypher", "MATCH (:User {id:'u'})-[r:INTERACTED]->() RETURN r.weight, r.count", "--json").stdout
    )["rows"]
    assert rows == [[3.0, 2]]


def test_a_clear_error_when_the_store_cannot_start(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    out = cli(blocker, "stats")
    assert out.returncode == 1
    assert "cannot use" in out.stderr and "Traceback" not in out.stderr
