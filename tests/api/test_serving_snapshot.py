"""The published model's shared serving snapshot (service/recs/model_snapshot.py) and
the one-round-trip answer: what the snapshot holds is what the graph holds, answers
do not change when it is used, a computed answer asks the graph once, a new publish
gets a new snapshot, and separate worker processes map the same files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from graph_schema.store.serving_rows import Neighbour
from service.recs import model_snapshot
from service.recs.model_snapshot import ModelSnapshot
from tests.api.conftest import ITEMS, MODEL_VERSION, Keys

ROOT = Path(__file__).resolve().parents[2]


def _svc(app: Any) -> Any:
    return app.extensions["interest_graph"]


def _write(app: Any) -> ModelSnapshot:
    svc = _svc(app)
    path = model_snapshot.write(svc.store(), svc.settings.recs_snapshot_root, svc.settings.recs_similar_per_item)
    assert path is not None
    return ModelSnapshot.open(path)


def test_no_snapshot_before_any_model(loaded: Any) -> None:
    svc = _svc(loaded)
    assert model_snapshot.write(svc.store(), svc.settings.recs_snapshot_root, 20) is None


def test_the_snapshot_holds_what_the_graph_serves(published: Any) -> None:
    snap = _write(published)
    assert snap.version == MODEL_VERSION
    assert sorted(snap.ids) == sorted(ITEMS)
    # publish_model wrote i1 -> i8 (0.9), i1 -> i2 (0.7), i2 -> i3 (0.8) for this version and
    # i1 -> i7 (0.99) for "old-v0", which must not be served
    assert snap.neighbours("i1", 20) == (Neighbour("i8", pytest.approx(0.9)), Neighbour("i2", pytest.approx(0.7)))
    assert snap.neighbours("i1", 1) == (Neighbour("i8", pytest.approx(0.9)),)
    assert snap.neighbours("i2", 20) == (Neighbour("i3", pytest.approx(0.8)),)
    assert snap.neighbours("i4", 20) == ()
    assert snap.neighbours("no-such-item", 20) == ()
    # vectors: 0.05 everywhere and 1.0 on each tag's axis (scifi, drama, comedy, horror)
    kept, vectors = snap.vector_rows(["i8", "no-such-item", "i6"])
    assert kept == ["i8", "i6"]
    np.testing.assert_allclose(vectors, [[1.0, 1.0, 0.05, 0.05], [0.05, 0.05, 1.0, 0.05]], rtol=1e-6)
    for item, (title, tags) in ITEMS.items():
        found = snap.meta(item)
        assert found is not None and found[0] == title and set(found[1]) == set(tags)
    assert snap.meta("no-such-item") is None
    # the graph's own reads agree
    store = _svc(published).store()
    graph_lists = store.similar_lists(MODEL_VERSION, list(ITEMS), 20)
    for item in ITEMS:
        assert [n.item_id for n in snap.neighbours(item, 20)] == [n.item_id for n in graph_lists.get(item, ())]


def _answers(client: Any, keys: Keys, users: list[str], **params: str) -> dict[str, Any]:
    out = {}
    query = "&".join(f"{k}={v}" for k, v in params.items())
    for user in users:
        r = client.get(f"/v1/users/{user}/recommendations?k=5&{query}", headers=keys.header("read"))
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        out[user] = [(i["item_id"], i["score"], i["reasons"]) for i in body["items"]]
    return out


@pytest.mark.parametrize("strategy", ["blend", "graph", "embedding"])
def test_answers_are_the_same_from_the_snapshot_and_from_the_graph(
    published: Any, keys: Keys, strategy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = ["alice", "bob", "carol", "dave", "erin", "frank", "nobody"]
    svc = _svc(published)
    shared = svc.recommender.published.shared
    with monkeypatch.context() as m:
        m.setattr(shared, "_build_later", lambda store: None)  # no snapshot yet: read the graph
        client = published.test_client()
        from_graph = _answers(client, keys, users, strategy=strategy)
        assert shared._current is None
    _write(published)
    svc.recommender.invalidate()
    assert svc.recommender.published.snapshot(svc.store(), MODEL_VERSION, _published_at(svc)) is not None
    from_snapshot = _answers(client, keys, users, strategy=strategy)
    assert from_snapshot == from_graph
    assert any(from_graph.values())


def _published_at(svc: Any) -> int | None:
    published = svc.store().published()
    assert published is not None
    return published.published_at


def test_a_computed_answer_asks_the_graph_once(published: Any, keys: Keys) -> None:
    svc = _svc(published)
    svc.recommender.answers.capacity = 0  # every answer computed
    _write(published)
    svc.recommender.invalidate()
    client = published.test_client()
    users = ["alice", "bob", "carol", "erin", "nobody"]
    _answers(client, keys, users)  # the worker opens the snapshot, loads trending
    store = svc.store()
    me = threading.get_ident()
    reads: list[str] = []
    real_read = store._read

    def counting(text: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        if threading.get_ident() == me:
            reads.append(text.strip().splitlines()[-1][:80])
        return real_read(text, params)

    store._read = counting
    try:
        for user in users:
            for strategy in ("blend", "graph", "embedding", "interest", "random"):
                reads.clear()
                r = client.get(f"/v1/users/{user}/recommendations?k=5&strategy={strategy}", headers=keys.header("read"))
                assert r.status_code == 200
                assert r.headers["X-Recs-Cache"] == "miss"
                assert r.get_json()["items"], (user, strategy)
                assert len(reads) <= 1, (user, strategy, reads)
    finally:
        del store._read


def test_a_new_publish_gets_its_own_snapshot_and_old_ones_are_pruned(published: Any) -> None:
    svc = _svc(published)
    store = svc.store()
    first = _write(published)
    root = svc.settings.recs_snapshot_root
    paths = [first.path]
    for n in range(2, 6):
        store.write_similar_items([{"item_id": "i4", "other_id": "i5", "score": 0.5, "model_version": f"test-v{n}"}])
        store.publish_model(f"test-v{n}", {})
        path = model_snapshot.write(store, root, 20, keep=3)
        assert path is not None
        paths.append(path)
        snap = ModelSnapshot.open(path)
        assert snap.version == f"test-v{n}"
        assert snap.neighbours("i4", 20) == (Neighbour("i5", pytest.approx(0.5)),)
        assert snap.neighbours("i1", 20) == ()  # test-v1's lists are not test-vN's
    kept = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert kept == sorted(p.name for p in paths[-3:])
    # a snapshot a worker still maps keeps working after it is pruned (unlinked, mapped)
    assert first.neighbours("i1", 20)[0].item_id == "i8"
    # writing again is a no-op
    assert model_snapshot.write(store, root, 20, keep=3) == paths[-1]


def test_no_snapshot_while_a_batched_publish_is_under_way(published: Any) -> None:
    """Half a batched publish's rows are moved: neither version's snapshot would be whole."""
    svc = _svc(published)
    store = svc.store()
    root = svc.settings.recs_snapshot_root
    store._named_write(
        "publish_intent", model_version="test-v9", carry_from=None, similar_version=None, metrics="{}", published_at=1
    )
    with pytest.raises(RuntimeError, match="test-v9 is being published"):
        model_snapshot.write(store, root, 20)
    assert store.finish_publish(batch=10)[0] == "test-v9"
    assert ModelSnapshot.open(model_snapshot.write(store, root, 20)).version == "test-v9"


WORKER = """
import json, os, sys
from pathlib import Path
from service.app import create_app
from service.config import ApiSettings
settings = ApiSettings(**json.loads(sys.argv[1]))
app = create_app(settings)
svc = app.extensions["interest_graph"]
store = svc.store()
published = store.published()
snap = svc.recommender.published.snapshot(store, published.version, published.published_at)
assert snap is not None, "no snapshot"
answer = svc.recommender.recommend(store, "alice", k=5)
assert answer["items"], answer
target = str(snap.path / "vectors.npy")
maps = [line.split() for line in Path("/proc/self/maps").read_text().splitlines() if line.endswith(target)]
print(json.dumps({"pid": os.getpid(), "maps": [m[4] for m in maps], "path": target}))
"""


def test_worker_processes_map_the_same_snapshot_files(published: Any) -> None:
    svc = _svc(published)
    snap = _write(published)
    s = svc.settings
    fields = {"data_dir": str(s.data_dir), "graph_uri": s.graph_uri, "graph_name": s.graph_name,
              "neo4j_user": s.neo4j_user, "neo4j_password": s.neo4j_password, "neo4j_database": s.neo4j_database,
              "database_url": s.database_url, "recs_snapshot_dir": None}  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    seen = []
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-c", WORKER, json.dumps(fields)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        seen.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert seen[0]["pid"] != seen[1]["pid"]
    # both processes memory-mapped the one file of this version (same inode), no copy
    inode = os.stat(snap.path / "vectors.npy").st_ino
    for worker in seen:
        assert worker["path"] == str(snap.path / "vectors.npy")
        assert worker["maps"] and {int(i) for i in worker["maps"]} == {inode}
