"""End to end on a real server: gunicorn on 127.0.0.1, real HTTP, the shared embedded store."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from graph_schema.store import open_store
from records.keys import create_key
from records.tables import session_factory
from service.config import ApiSettings

from .conftest import events_payload, items_payload


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Http:
    def __init__(self, port: int, key: str) -> None:
        self.port, self.key = port, key

    def call(self, method: str, path: str, body: Any = None, key: str | None = None) -> tuple[int, dict[str, str], Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Authorization": f"Bearer {key or self.key}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        conn.close()
        ctype = resp.getheader("Content-Type", "")
        return resp.status, {"content-type": ctype}, json.loads(raw) if "json" in ctype else raw.decode()


@pytest.fixture
def server(data_dir: Path, tmp_path: Path):
    settings = ApiSettings(
        data_dir=data_dir,
        graph_name=f"e2e_{uuid.uuid4().hex[:10]}",
        database_url=f"sqlite:///{tmp_path / 'e2e.sqlite3'}",
    )
    key = create_key(session_factory(settings.sql_url), "admin", "e2e")
    port = _free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "GRAPH_NAME": settings.graph_name,
        "DATABASE_URL": settings.database_url or "",
        "AUTH_DISABLED": "0",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "1",
            "-k",
            "gthread",
            "--threads",
            "4",
            "-b",
            f"127.0.0.1:{port}",
            "service.app:create_app()",
        ],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError):
                if Http(port, key).call("GET", "/healthz")[0] == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"gunicorn did not start: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}"
                )
            time.sleep(0.1)
        yield Http(port, key)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        with open_store(settings) as store, contextlib.suppress(Exception):
            store._graph.delete()  # type: ignore[attr-defined]


def test_ingest_then_explained_recommendations_over_http(server: Http):
    status, _, body = server.call("POST", "/v1/items", {"items": items_payload()})
    assert status == 200 and body["accepted"] == len(items_payload())
    status, _, body = server.call("POST", "/v1/events", {"events": events_payload()})
    assert status == 202 and body["accepted"] == len(events_payload()) and body["pending"] == 0
    # a client retry after a lost reply changes nothing
    status, _, body = server.call("POST", "/v1/events", {"events": events_payload()})
    assert status == 202 and body["accepted"] == 0 and body["duplicates"] == len(events_payload())

    status, headers, body = server.call("GET", "/v1/users/alice/recommendations?k=5&strategy=blend&explain=true")
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert body["user_id"] == "alice" and len(body["items"]) == 5
    assert all(item["reasons"] for item in body["items"])
    assert not {"i1", "i2"} & {item["item_id"] for item in body["items"]}

    status, headers, body = server.call("GET", "/v1/users/alice/recommendations?k=5", key="ig_not-a-key")
    assert status == 401 and headers["content-type"] == "application/problem+json"

    status, _, spec = server.call("GET", "/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.")
    status, _, metrics = server.call("GET", "/metrics")
    assert status == 200 and 'endpoint="/v1/users/<user_id>/recommendations"' in metrics
    status, _, ready = server.call("GET", "/readyz")
    assert status == 200 and ready["status"] == "ready"
