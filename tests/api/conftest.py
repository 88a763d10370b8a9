"""Fixtures for the API tests: the real Flask app on a real embedded FalkorDB
server (one per session, in a temporary DATA_DIR) and a SQLite file per test; in
modules marked `stacks` / `graph_engines` / `sql_engines` (tests/conftest.py) also on
the test Neo4j and PostgreSQL.

- `make_app(**overrides)`: a fresh app on its own graph key (or the emptied Neo4j)
  and its own SQL database; its graph is deleted when the test ends.
- `app` / `client`: an app with auth on; `keys` holds one key per role.
- `loaded`: `app` with the small hand-built graph of `GRAPH` ingested through
  the API itself (items, then events).
- `published`: `loaded` plus a published model (embeddings, strengths,
  SIMILAR_TO) written through the GraphStore as the refresh job would.

The session fails if a redis-server is left running under the temp dir.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from graph_schema.store.embedded import EmbeddedServer
from records.keys import ROLES, create_key
from service.api.deps import services
from service.app import create_app
from service.config import ApiSettings

DAY_MS = 86_400_000
NOW_MS = int(time.time() * 1000)

INTERESTS = {"genre:scifi": "Sci-Fi", "genre:drama": "Drama", "genre:comedy": "Comedy", "genre:horror": "Horror"}
ITEMS = {
    "i1": ("Star Voyage", ["genre:scifi"]),
    "i2": ("Robot Dawn", ["genre:scifi"]),
    "i3": ("Galaxy Quest", ["genre:scifi", "genre:comedy"]),
    "i4": ("Quiet River", ["genre:drama"]),
    "i5": ("Long Goodbye", ["genre:drama"]),
    "i6": ("Laugh Track", ["genre:comedy"]),
    "i7": ("Night Terror", ["genre:horror"]),
    "i8": ("Deep Space Drama", ["genre:scifi", "genre:drama"]),
    "i9": ("Cold Open", ["genre:comedy"]),
    "i10": ("Haunted Hill", ["genre:horror"]),
}
# user -> [(item, type, days ago)]
HISTORY = {
    "alice": [("i1", "purchase", 3), ("i2", "click", 1)],
    "bob": [("i1", "view", 10), ("i2", "view", 9), ("i3", "purchase", 8), ("i8", "purchase", 2)],
    "erin": [("i1", "view", 5), ("i3", "click", 4), ("i9", "view", 4)],
    "carol": [("i4", "view", 6), ("i5", "purchase", 5), ("i6", "view", 2)],
    "dave": [("i7", "view", 3), ("i10", "click", 2), ("i6", "view", 1)],
    "frank": [("i6", "click", 1), ("i9", "view", 1)],
}
MODEL_VERSION = "test-v1"


def events_payload() -> list[dict[str, Any]]:
    return [
        {"event_id": f"{u}-{i}-{t}", "user_id": u, "item_id": i, "type": t, "ts": NOW_MS - days * DAY_MS}
        for u, hist in HISTORY.items()
        for i, t, days in hist
    ]


def items_payload() -> list[dict[str, Any]]:
    return [{"item_id": i, "title": title, "interests": tags} for i, (title, tags) in ITEMS.items()]


def _redis_servers_under(root: Path) -> list[int]:
    root = root.resolve()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            exe, cwd = os.readlink(entry / "exe"), os.readlink(entry / "cwd")
        except OSError:
            continue
        cwd_path = Path(cwd.removesuffix(" (deleted)"))
        if "redis-server" in os.path.basename(exe) and (cwd_path == root or root in cwd_path.parents):
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One embedded FalkorDB server for the API test session."""
    root = tmp_path_factory.mktemp("api-data")
    base = ApiSettings(data_dir=root)
    server = EmbeddedServer(base.falkordb_dir, base.falkordb_appendfsync, base.falkordb_start_timeout_s)
    server.ensure_running()
    try:
        yield root
    finally:
        with contextlib.suppress(Exception):
            server.stop()
        leftovers = _redis_servers_under(root)
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert not leftovers, f"API tests left redis-server processes running (killed now): {leftovers}"


@pytest.fixture
def make_app(
    request: pytest.FixtureRequest, data_dir: Path, tmp_path: Path, graph_engine: str, sql_engine: str
) -> Iterator[Callable[..., Any]]:
    from tests.conftest import drop_graph, graph_fields

    apps: list[Any] = []

    def make(**overrides: Any) -> Any:
        # a graph key of its own per app; on Neo4j (one database) the test's apps share it
        graph = graph_fields(request, graph_engine, "api")
        if sql_engine == "sqlite":
            database_url = f"sqlite:///{tmp_path / f'db{len(apps)}.sqlite3'}"
        else:  # one PostgreSQL database per test, shared by its apps
            database_url = request.getfixturevalue("sql_url")
        settings = ApiSettings(
            data_dir=data_dir,
            **graph,
            database_url=database_url,
            api_key_cache_s=0,
            **overrides,
        )
        app = create_app(settings)
        app.config["TESTING"] = True
        apps.append(app)
        return app

    yield make
    for app in apps:
        # a serving snapshot being built in the background reads the store: let it finish
        app.extensions["interest_graph"].recommender.published.shared.join(60)
        app.extensions["interest_graph"].ingest_pool.close()  # INGEST_NICE > 0: its child process
        holder = app.extensions["interest_graph"].store_holder
        if holder.opened():
            drop_graph(holder.get())
            holder.close()


@dataclass
class Keys:
    ingest: str
    read: str
    analyst: str
    admin: str

    def header(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {getattr(self, role)}"}


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app()


@pytest.fixture
def keys(app: Any) -> Keys:
    sessions = app.extensions["interest_graph"].sessions
    return Keys(**{role: create_key(sessions, role, name=f"test-{role}") for role in ROLES})


@pytest.fixture
def client(app: Any) -> FlaskClient:
    return app.test_client()


def load_graph(client: FlaskClient, keys: Keys) -> None:
    r = client.post("/v1/items", json={"items": items_payload()}, headers=keys.header("ingest"))
    assert r.status_code == 200, r.get_json()
    r = client.post("/v1/events", json={"events": events_payload()}, headers=keys.header("ingest"))
    assert r.status_code == 202, r.get_json()
    assert r.get_json()["rejected"] == []
    # interest names (POST /v1/items creates unknown interests named after their id)
    store = services_of(client).store()
    store.upsert_interests([{"interest_id": k, "name": v, "kind": "genre"} for k, v in INTERESTS.items()])
    services_of(client).recommender.invalidate()


def experiment_with_every_arm(
    client: FlaskClient, keys: Keys, body: dict[str, Any], users: Iterable[str]
) -> tuple[dict[str, Any], dict[str, set[str]]]:
    """Create the experiment until each of its arms holds at least one of `users`.

    The split hashes the (random) experiment id with the user id, so a handful of users
    all land in one arm now and then (six users, two arms: 1 in 32); a new experiment
    replaces the old one and draws again. Returns the experiment and the users by arm."""
    users = list(users)
    for _ in range(20):
        r = client.post("/v1/experiments", json=body, headers=keys.header("admin"))
        assert r.status_code == 201, r.get_json()
        exp = r.get_json()
        by_arm: dict[str, set[str]] = {arm["name"]: set() for arm in body["arms"]}
        for user in users:
            r = client.get(f"/v1/users/{user}/recommendations?k=5", headers=keys.header("read"))
            assert r.status_code == 200, r.get_json()
            by_arm[r.get_json()["experiment"]["arm"]].add(user)
        if all(by_arm.values()):
            return exp, by_arm
    raise AssertionError(f"20 experiments never split {users} over every arm: {by_arm}")


def services_of(client: FlaskClient) -> Any:
    with client.application.app_context():
        return services()


@pytest.fixture
def loaded(app: Any, client: FlaskClient, keys: Keys) -> Any:
    load_graph(client, keys)
    return app


def publish_model(store: Any) -> None:
    """What a refresh run writes, by hand: vectors, strengths, neighbours, then the pointer."""
    dim = 4
    axis = {"genre:scifi": 0, "genre:drama": 1, "genre:comedy": 2, "genre:horror": 3}

    def vec(tags: list[str]) -> list[float]:
        v = [0.05] * dim
        for t in tags:
            v[axis[t]] = 1.0
        return v

    store.write_node_properties(
        "Item",
        [
            {"id": i, "props": {"embedding": vec(tags), "model_version": MODEL_VERSION}}
            for i, (_, tags) in ITEMS.items()
        ],
    )
    users = {"alice": ["genre:scifi"], "bob": ["genre:scifi"], "erin": ["genre:comedy"], "carol": ["genre:drama"],
             "dave": ["genre:horror"], "frank": ["genre:comedy"]}  # fmt: skip
    store.write_node_properties(
        "User", [{"id": u, "props": {"embedding": vec(t), "model_version": MODEL_VERSION}} for u, t in users.items()]
    )
    store.write_interest_strengths(
        [
            {
                "user_id": "alice",
                "interest_id": "genre:scifi",
                "strength": 0.9,
                "updated_at": NOW_MS,
                "model_version": MODEL_VERSION,
            },
            {
                "user_id": "alice",
                "interest_id": "genre:comedy",
                "strength": 0.1,
                "updated_at": NOW_MS,
                "model_version": MODEL_VERSION,
            },
        ]
    )
    store.write_similar_items(
        [
            {"item_id": "i1", "other_id": "i8", "score": 0.9, "model_version": MODEL_VERSION},
            {"item_id": "i2", "other_id": "i3", "score": 0.8, "model_version": MODEL_VERSION},
            {"item_id": "i1", "other_id": "i2", "score": 0.7, "model_version": MODEL_VERSION},
            # an older version's edge: must never be served
            {"item_id": "i1", "other_id": "i7", "score": 0.99, "model_version": "old-v0"},
        ]
    )
    store.publish_model(MODEL_VERSION, {"recall@20": 0.5})


@pytest.fixture
def published(loaded: Any) -> Any:
    svc = loaded.extensions["interest_graph"]
    publish_model(svc.store())
    svc.recommender.invalidate()
    return loaded
