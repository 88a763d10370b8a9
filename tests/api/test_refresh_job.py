"""The refresh job as operators meet it: killed with SIGKILL in each phase, run from
the CLI with a lease shorter than the run, and seeded from the event log. Real
processes, the real store and real training; on FalkorDB + SQLite and on Neo4j +
PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("dgl")

from graph_schema.clock import now_ms
from graph_schema.store import GraphStore
from graph_schema.store.social import RelationState
from records.runs import list_runs
from records.strength_history import user_history
from records.tables import NamedLock, StrengthHistoryRecord, session_factory
from service.config import ApiSettings
from service.jobs.refresh import run_job

from .conftest import services_of

pytestmark = pytest.mark.stacks

ROOT = Path(__file__).resolve().parents[2]
DAY = 86_400_000
# small and quick: the tests are about the job, not the model
TRAINING = {"train_dim": 8, "train_layers": 1, "train_epochs": 3, "refresh_similar_k": 5, "recs_answer_cache": 0}


def planted(client: Any) -> None:
    """Two groups of 10 users, each with 6 of its group's 8 items (tagged topic0/topic1)."""
    items = [{"item_id": f"g{g}i{i}", "title": f"item {g}/{i}", "interests": [f"topic{g}"]}
             for g in (0, 1) for i in range(8)]  # fmt: skip
    assert client.post("/v1/items", json={"items": items}).status_code == 200
    t0 = now_ms() - 30 * DAY
    events = [
        {"event_id": f"g{g}u{u}-{k}", "user_id": f"g{g}u{u}", "item_id": f"g{g}i{(u + k) % 8}", "type": "click",
         "ts": t0 + (u * 6 + k) * 3_600_000}
        for g in (0, 1) for u in range(10) for k in range(6)
    ]  # fmt: skip
    r = client.post("/v1/events", json={"events": events})
    assert r.status_code == 202 and r.get_json()["rejected"] == [], r.get_json()


def staged_rows(store: GraphStore, version: str) -> dict[str, int]:
    """Rows of `version` that only a run which has not published would hold."""
    queries = {
        "similar": "MATCH ()-[r:SIMILAR_TO]->() WHERE r.model_version = $v RETURN count(r)",
        "nodes": "MATCH (n) WHERE n.next_model_version = $v RETURN count(n)",
        "strengths": "MATCH ()-[r:INTERESTED_IN]->() WHERE r.next_model_version = $v RETURN count(r)",
    }
    return {k: store.read_only_query(q, {"v": version}, 10_000, 10).rows[0][0] for k, q in queries.items()}


def settings_env(settings: ApiSettings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"GRAPH_URI", "DATABASE_URL", "NEO4J_URI"}}
    for name, value in settings.model_dump(mode="json").items():
        if value is not None:
            env[name.upper()] = json.dumps(value) if isinstance(value, dict | list) else str(value)
    return env


@pytest.fixture
def served(make_app: Any) -> tuple[Any, Any, ApiSettings]:
    """An app (auth off) on the planted graph with a first published model."""
    app = make_app(auth_disabled=True, **TRAINING)
    client = app.test_client()
    planted(client)
    svc = services_of(client)
    first = run_job(svc.store, svc.settings, "full", trigger="test", force=True)
    assert first.result.status == "published"
    return client, svc, svc.settings


@pytest.mark.parametrize("phase", ["pull", "train", "write"])
def test_refresh_killed_in_each_phase_is_recovered(served: Any, phase: str, tmp_path: Path) -> None:
    client, svc, settings = served
    store = svc.store()
    published = store.current_model_version()
    before = client.get("/v1/users/g0u1/recommendations?k=5&strategy=embedding")
    assert before.status_code == 200 and before.get_json()["items"]

    marker = tmp_path / "parked"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.api.refresh_driver", settings.model_dump_json(), phase, str(marker)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while not marker.exists():
        assert proc.poll() is None, f"the refresh ended before parking in {phase}: {proc.stdout.read()}"  # type: ignore[union-attr]
        assert time.monotonic() < deadline, f"the refresh never reached {phase}"
        time.sleep(0.1)
    dead = list_runs(settings, 1)[0]
    assert dead["status"] == "running" and dead["metrics"]["phase"] == phase
    if phase == "write":  # the dead run really left staged rows behind
        assert staged_rows(store, dead["model_version"])["similar"] > 0
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)

    # the previous model goes on serving, with the same answer
    assert store.current_model_version() == published
    after = client.get("/v1/users/g0u1/recommendations?k=5&strategy=embedding")
    assert after.status_code == 200
    assert {**after.get_json(), "rec_id": None} == {**before.get_json(), "rec_id": None}  # each answer its own id

    # the next refresh starts at once (the dead holder ran on this host) and publishes
    nxt = run_job(svc.store, settings, "full", trigger="test", force=True)
    assert nxt.result.status == "published"
    runs = {r["run_id"]: r for r in list_runs(settings)}
    assert runs[dead["run_id"]]["status"] == "abandoned"
    assert f"during phase {phase}" in runs[dead["run_id"]]["error"]
    assert [r for r in runs.values() if r["status"] == "running"] == []
    assert staged_rows(store, dead["model_version"]) == {"similar": 0, "nodes": 0, "strengths": 0}
    assert store.current_model_version() == nxt.result.model_version


def test_a_refresh_killed_while_publishing_in_batches_is_finished_by_the_next(served: Any, tmp_path: Path) -> None:
    """A publish of more users than REFRESH_PUBLISH_BATCH commits batch by batch; killed
    after its first batch, the pointer has not moved, and the next run finishes that
    publish (it rolls forward: its rows are not removed as a dead run's) before its own."""
    client, svc, settings = served
    settings = settings.model_copy(update={"refresh_publish_batch": 5})  # 20 users: 4 batches
    store = svc.store()
    published = store.current_model_version()
    marker = tmp_path / "parked"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.api.refresh_driver", settings.model_dump_json(), "publish", str(marker)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while not marker.exists():
        assert proc.poll() is None, f"the refresh ended before parking in publish: {proc.stdout.read()}"  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the refresh never reached its publish"
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    dead = list_runs(settings, 1)[0]
    versions = "MATCH (u:User) RETURN u.model_version AS v, count(u) AS n ORDER BY v"
    half = {r[0]: r[1] for r in store.read_only_query(versions, {}, 10_000, 10).rows}
    assert half == {published: 15, dead["model_version"]: 5}  # one batch promoted, no more
    assert store.current_model_version() == published
    assert client.get("/v1/users/g0u1/recommendations?k=5").status_code == 200

    nxt = run_job(svc.store, settings, "full", trigger="test", force=True)
    assert nxt.result.status == "published"
    runs = {r["run_id"]: r for r in list_runs(settings)}
    assert runs[dead["run_id"]]["status"] == "published"  # its model was published, by the next run
    assert staged_rows(store, dead["model_version"])["nodes"] == 0
    after = {r[0]: r[1] for r in store.read_only_query(versions, {}, 10_000, 10).rows}
    assert after == {nxt.result.model_version: 20} and store.current_model_version() == nxt.result.model_version


LEASE_S = 0.5


def test_cli_refresh_renews_its_lease(served: Any) -> None:
    """A lease far shorter than the run: the CLI's heartbeat keeps it, no one can take it."""
    _client, _svc, settings = served
    sessions = session_factory(settings.sql_url)
    seen: list[tuple[str, int, int]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            with sessions() as s:
                row = s.get(NamedLock, "refresh")
            if row is not None:
                seen.append((row.holder, row.expires_at, now_ms()))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    # beats every 0.125 s; a wide model and 600 epochs without early stopping (patience 600) so
    # that the run (with torch and the text encoder imported before the lease is taken)
    # outlives the lease several times (~2.8 s here; with early stopping
    # at 30 epochs, 0.99-1.0 s, too close to the lease)
    env = {**settings_env(settings), "REFRESH_LEASE_S": str(LEASE_S), "TRAIN_EPOCHS": "600", "TRAIN_DIM": "256",
           "TRAIN_LAYERS": "3", "TRAIN_PATIENCE": "600"}  # fmt: skip
    try:
        out = subprocess.run([sys.executable, "-m", "service", "refresh", "--full", "--force"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    finally:
        stop.set()
        watcher.join()
    assert out.returncode == 0, out.stderr
    run = list_runs(settings, 1)[0]
    assert run["status"] == "published"
    assert run["duration_s"] > 2 * LEASE_S, "the run was too short to outlive its lease"
    assert seen, "the lease was never observed"
    assert len({holder for holder, _, _ in seen}) == 1
    # renewed again and again, and never observed lapsed while the run held it
    assert len({expires for _, expires, _ in seen}) >= 3
    lapsed = [(expires, at) for _, expires, at in seen if expires < at]
    assert not lapsed, (lapsed, seen[0], seen[-1])


def test_cli_incremental_refresh_is_seeded_from_the_event_log(served: Any) -> None:
    """An event received after the published model, about the past: the graph's event
    time would not find its user, the log's receive time does."""
    client, _svc, settings = served
    old = now_ms() - 400 * DAY
    r = client.post("/v1/events", json={"events": [
        {"event_id": "late-1", "user_id": "g0u1", "item_id": "g1i3", "type": "purchase", "ts": old}]})  # fmt: skip
    assert r.status_code == 202
    out = subprocess.run([sys.executable, "-m", "service", "refresh", "--incremental", "--force"], cwd=ROOT,
                         env=settings_env(settings), capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    run = list_runs(settings, 1)[0]
    assert run["mode"] == "incremental" and run["trigger"] == "cli"
    assert run["status"] == "published" and run["counts"]["touched_users"] == 1


def test_published_strengths_are_kept_per_version(served: Any) -> None:
    """The console's strength chart reads the SQL history: a full run records every user's
    published strengths (as the graph holds them), an incremental run only the users it
    re-fitted, and the oldest versions are dropped beyond STRENGTH_HISTORY_VERSIONS."""
    client, svc, settings = served
    first = list_runs(settings, 1)[0]["model_version"]
    history = user_history(svc.sessions, "g0u1")
    assert [h.model_version for h in history] == [first]
    store = svc.store()
    graph = {i.interest_id: i.strength for i in store.interests_of("g0u1") if i.strength is not None}
    assert graph and history[0].strengths == pytest.approx(graph)
    assert history[0].at_ms == store.current_model()["metrics"]["t_ref"]
    with session_factory(settings.sql_url)() as s:
        assert s.query(StrengthHistoryRecord).filter_by(model_version=first).count() == 20  # every user

    r = client.post("/v1/events", json={"events": [
        {"event_id": "hist-1", "user_id": "g1u2", "item_id": "g1i7", "type": "purchase", "ts": now_ms()}]})  # fmt: skip
    assert r.status_code == 202
    second = run_job(svc.store, settings, "incremental", trigger="test", force=True).result
    assert second.status == "published" and second.mode == "incremental"
    with session_factory(settings.sql_url)() as s:
        refitted = {u for (u,) in s.query(StrengthHistoryRecord.user_id).filter_by(model_version=second.model_version)}
    assert "g1u2" in refitted and len(refitted) < 20  # the neighbourhood, not the carried users
    assert [h.model_version for h in user_history(svc.sessions, "g1u2")] == [first, second.model_version]

    keep_one = settings.model_copy(update={"strength_history_versions": 1})
    third = run_job(svc.store, keep_one, "full", trigger="test", force=True).result
    assert third.status == "published"
    assert [h.model_version for h in user_history(svc.sessions, "g0u1")] == [third.model_version]


def test_a_published_refresh_detects_communities_and_can_train_on_ties(served: Any) -> None:
    """The job writes the communities of the version it published (the planted groups
    share topic0 / topic1), and a run with TRAIN_SOCIAL_WEIGHT reads the FOLLOWS edges."""
    client, svc, settings = served
    first = list_runs(settings, 1)[0]
    assert first["counts"]["communities"] == 2 and first["counts"]["community_members"] == 20
    body = client.get("/v1/communities").get_json()
    assert body["model_version"] == first["model_version"]
    tops = sorted((c["size"], c["top_interests"][0]["interest_id"]) for c in body["communities"])
    assert tops == [(10, "topic0"), (10, "topic1")]
    store = svc.store()
    group_of = {store.community_of(f"g0u{u}") for u in range(10)}
    assert len(group_of) == 1 and store.community_of("g1u0") not in group_of

    follows = [{"event_id": f"t{u}", "user_id": f"g0u{u}", "target_user_id": f"g0u{(u + 1) % 10}",
                "type": "follow", "ts": now_ms()} for u in range(10)]  # fmt: skip
    assert client.post("/v1/events", json={"events": follows}).get_json()["accepted"] == 10
    social = settings.model_copy(update={"train_social_weight": 1.0})
    second = run_job(svc.store, social, "full", trigger="test", force=True).result
    assert second.status == "published"
    again = client.get("/v1/communities").get_json()
    assert again["model_version"] == second.model_version
    ids = {c["community_id"] for c in body["communities"]}
    assert {c["community_id"] for c in again["communities"]} == ids  # the same groups keep their ids
    for cid in ids:
        trend = client.get(f"/v1/communities/{cid}").get_json()["trend"]
        assert [t["model_version"] for t in trend] == [first["model_version"], second.model_version]


def test_a_published_refresh_writes_the_serving_snapshot(served: Any) -> None:
    """The job writes the published model's shared snapshot (service/recs/model_snapshot.py)
    right after publishing, as the graph holds it; an incremental run's snapshot keeps the
    neighbour lists of the full run it started from."""
    from service.recs.model_snapshot import ModelSnapshot, dir_name

    client, svc, settings = served
    api = svc.settings
    store = svc.store()
    published = store.published()
    path = api.recs_snapshot_root / dir_name(published.version, published.published_at)
    snap = ModelSnapshot.open(path)
    assert snap.version == published.version == published.similar_version
    items = sorted(snap.ids)
    lists = store.similar_lists(published.version, items, api.recs_similar_per_item)
    assert lists  # the full run wrote SIMILAR_TO
    for item in items:
        assert [n.item_id for n in snap.neighbours(item, api.recs_similar_per_item)] == [
            n.item_id for n in lists.get(item, ())
        ]
    vectors = store.item_embeddings(published.version, items)
    assert int(snap.has_vector.sum()) == len(vectors) > 0

    r = client.post("/v1/events", json={"events": [
        {"event_id": "snap-1", "user_id": "g1u2", "item_id": "g1i7", "type": "purchase", "ts": now_ms()}]})  # fmt: skip
    assert r.status_code == 202
    second = run_job(svc.store, settings, "incremental", trigger="test", force=True).result
    assert second.status == "published" and second.mode == "incremental"
    now = store.published()
    assert now.version == second.model_version and now.similar_version == published.version
    inc = ModelSnapshot.open(api.recs_snapshot_root / dir_name(now.version, now.published_at))
    assert inc.similar_version == published.version
    assert inc.neighbours(items[0], 5) == snap.neighbours(items[0], 5)


def test_a_full_runs_snapshot_takes_its_users_and_lists_from_the_run(served: Any, tmp_path: Path) -> None:
    """A full run's serving snapshot copies every user's vector and learned ranking, and
    the SIMILAR_TO lists, from the run's own rows instead of reading them back out of the
    graph: the same snapshot as reading it all from the graph."""
    from service.recs import model_snapshot
    from service.recs.model_snapshot import ModelSnapshot, dir_name

    _, svc, settings = served
    store = svc.store()
    # a user the run does not rank (no interaction, a follow only) with an older ranking the
    # graph keeps: the snapshot must read it from the graph
    store.apply_relations([RelationState("ghost", "g0u1", "follow", True, now_ms(), 1.0)])
    old = {"recs_items": ["g0i1", "g1i2"], "recs_scores": [2.0, 1.0], "recs_because": ["", "g0i3"], "recs_at": 7}
    assert store.write_node_properties("User", [{"id": "ghost", "props": old}]) == 1
    paged: list[str] = []
    read_of: list[str] = []
    with_lists: list[bool] = []
    user_page, users_of, item_page = store.snapshot_user_page, store.snapshot_users_of, store.snapshot_page

    def users(version: str, after: str, size: int) -> Any:
        paged.append(after)
        return user_page(version, after, size)

    def users_by_id(version: str, ids: Any, *args: Any) -> Any:
        read_of.extend(ids)
        return users_of(version, ids, *args)

    def items(*args: Any, neighbours: bool = True, **kwargs: Any) -> Any:
        with_lists.append(neighbours)
        return item_page(*args, neighbours=neighbours, **kwargs)

    # the instance's, for this run only
    store.snapshot_user_page, store.snapshot_users_of, store.snapshot_page = users, users_by_id, items
    try:
        result = run_job(lambda: store, settings, "full", trigger="test", force=True).result
    finally:
        del store.snapshot_user_page, store.snapshot_users_of, store.snapshot_page
    assert result.status == "published" and result.mode == "full"
    assert paged == []  # no user read back page by page
    assert read_of == ["ghost"]  # only the user the run has no ranking of
    assert with_lists and not any(with_lists)  # the items' titles and vectors read, their lists not
    now = store.published()
    path = settings.recs_snapshot_root / dir_name(now.version, now.published_at)
    per_item = settings.recs_similar_per_item
    copied_snap = ModelSnapshot.open(path)
    everything = model_snapshot.write(store, tmp_path / "all", per_item)
    assert everything is not None
    read_snap = ModelSnapshot.open(everything)
    assert copied_snap.ids == read_snap.ids and len(read_snap.ids) == 16
    np.testing.assert_array_equal(copied_snap.vectors, read_snap.vectors)
    listed = 0
    for item in read_snap.ids:
        a, b = copied_snap.neighbours(item, per_item), read_snap.neighbours(item, per_item)
        # the graph orders equal scores as it likes: compared by score, then id
        assert sorted(a, key=lambda n: (-n.score, n.item_id)) == sorted(b, key=lambda n: (-n.score, n.item_id)), item
        assert [n.score for n in a] == [n.score for n in b]
        listed += bool(a)
    assert listed == 16
    copied, read = copied_snap.users, read_snap.users
    assert copied is not None and read is not None and sorted(copied.index) == sorted(read.index)
    users = sorted(read.index)
    assert len(users) == 21 and "ghost" in users
    for user in users:
        a, b = copied.user(user), read.user(user)
        assert a == b, user
        assert a is not None and a.ranking, user
        if user != "ghost":
            assert a.embedding is not None and a.ranking_at != 7  # the run's vector and ranking
    ghost = copied.user("ghost")
    assert ghost is not None and [r.item_id for r in ghost.ranking] == old["recs_items"] and ghost.ranking_at == 7
    assert set(copied.because) == set(read.because)


def test_an_incremental_snapshot_reads_only_the_vectors_of_the_items_it_staged(served: Any, tmp_path: Path) -> None:
    """After an incremental publish the snapshot copies every item vector the run carried
    from the previous snapshot and reads only the staged ones (a new item's): the same
    vectors as reading them all from the graph."""
    from service.recs import model_snapshot
    from service.recs.model_snapshot import ModelSnapshot, dir_name

    client, svc, settings = served
    store = svc.store()
    events = [("new-1", "g1u2", "g1i7", "purchase"), ("new-2", "g0u3", "brand-new", "purchase"),
              ("new-3", "g0u4", "brand-new", "click")]  # fmt: skip
    r = client.post("/v1/events", json={"events": [
        {"event_id": e, "user_id": u, "item_id": i, "type": t, "ts": now_ms()} for e, u, i, t in events]})  # fmt: skip
    assert r.status_code == 202 and r.get_json()["rejected"] == []
    with_vectors: list[bool] = []
    asked: list[str] = []
    item_page, embeddings = store.snapshot_page, store.item_embeddings

    def items(*args: Any, vectors: bool = True, **kwargs: Any) -> Any:
        with_vectors.append(vectors)
        return item_page(*args, vectors=vectors, **kwargs)

    def vectors_of(version: str, ids: Any) -> Any:
        asked.extend(ids)
        return embeddings(version, ids)

    store.snapshot_page, store.item_embeddings = items, vectors_of
    try:
        result = run_job(lambda: store, settings, "incremental", trigger="test", force=True).result
    finally:
        del store.snapshot_page, store.item_embeddings
    assert result.status == "published" and result.mode == "incremental"
    assert result.staged_items == ("brand-new",) and asked == ["brand-new"]
    assert with_vectors and not any(with_vectors)  # no page read with vectors
    now = store.published()
    carried = ModelSnapshot.open(settings.recs_snapshot_root / dir_name(now.version, now.published_at))
    everything = model_snapshot.write(store, tmp_path / "all", settings.recs_similar_per_item)
    assert everything is not None
    read = ModelSnapshot.open(everything)
    assert carried.ids == read.ids and "brand-new" in read.ids and len(read.ids) == 17
    np.testing.assert_array_equal(carried.has_vector, read.has_vector)
    np.testing.assert_array_equal(carried.vectors, read.vectors)
    assert read.has_vector[read.index["brand-new"]] and int(read.has_vector.sum()) == 17
