"""Experiment arms pinned to an older published model version (issue 16): the version's
serving snapshot keeps its user side (vectors, learned rankings), the arm's users are
served that version after newer ones are published, a pinned snapshot survives pruning
while the experiment runs, and a version this host does not keep is a 409."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from graph_schema.because import followed_because
from service.recs import model_snapshot
from service.recs.model_snapshot import ModelSnapshot
from tests.api.conftest import HISTORY, ITEMS, MODEL_VERSION, NOW_MS, Keys, experiment_with_every_arm

pytestmark = pytest.mark.stacks  # the user-side query on Neo4j too, UPDATE ... RETURNING on PostgreSQL

LEARNED_ONLY = {"learned": 1, "graph": 0, "interest": 0, "embedding": 0, "trending": 0, "social": 0}


def _svc(app: Any) -> Any:
    return app.extensions["interest_graph"]


def _unseen(user: str) -> list[str]:
    seen = {item for item, _, _ in HISTORY[user]}
    return sorted((i for i in ITEMS if i not in seen), key=lambda i: int(i[1:]))


def _rankings(version: str) -> dict[str, list[str]]:
    """Each user's learned ranking in `version`: two unseen items, different per version."""
    pick = (lambda xs: xs[-2:][::-1]) if version == MODEL_VERSION else (lambda xs: xs[:2])
    return {user: pick(_unseen(user)) for user in HISTORY}


def _write_rankings(store: Any, version: str) -> None:
    rows = []
    for user, items in _rankings(version).items():
        because = [followed_because(2, ["bob", "erin"]) if user == "alice" else items[0], ""]
        props = {"recs_items": items, "recs_scores": [2.0, 1.0], "recs_because": because, "recs_at": NOW_MS,
                 "embedding": [0.5, 0.5, 0.5, 0.5], "model_version": version}  # fmt: skip
        rows.append({"id": user, "props": props})
    store.write_node_properties("User", rows)


def _publish(app: Any, version: str, keep: int = 3) -> ModelSnapshot:
    """Publish `version` (rankings written first, as a refresh stages them) and write its snapshot."""
    svc = _svc(app)
    store = svc.store()
    if version != MODEL_VERSION:
        _write_rankings(store, version)
        store.publish_model(version, {"blend": {"candidates": ["social"], "weights": {"social": 0.25}}})
    path = model_snapshot.write(store, svc.settings.recs_snapshot_root, 20, keep=keep)
    assert path is not None
    svc.recommender.invalidate()
    return ModelSnapshot.open(path)


@pytest.fixture
def two_versions(published: Any) -> Any:
    """test-v1 (the `published` fixture's, with rankings) and then test-v2, each with a snapshot."""
    _write_rankings(_svc(published).store(), MODEL_VERSION)
    _publish(published, MODEL_VERSION)
    _publish(published, "test-v2")
    return published


def _ranked_base(app: Any) -> tuple[Any, Path, ModelSnapshot]:
    """MODEL_VERSION published with every user's ranking, and its snapshot written: the base
    an incremental publish carries from. (store, snapshot root, the base's snapshot)"""
    svc = _svc(app)
    store = svc.store()
    _write_rankings(store, MODEL_VERSION)
    return store, svc.settings.recs_snapshot_root, _publish(app, MODEL_VERSION)


def test_the_snapshot_keeps_each_users_vector_and_ranking(published: Any) -> None:
    _write_rankings(_svc(published).store(), MODEL_VERSION)
    snap = _publish(published, MODEL_VERSION)
    assert snap.has_users and snap.users is not None
    for user, items in _rankings(MODEL_VERSION).items():
        found = snap.users.user(user)
        assert found is not None
        assert [r.item_id for r in found.ranking] == items
        assert [r.score for r in found.ranking] == [2.0, 1.0]
        assert found.ranking_at == NOW_MS
        assert found.embedding == (0.5, 0.5, 0.5, 0.5)
        assert found.ranking[1].because is None
    alice = snap.users.user("alice")
    assert alice is not None and alice.ranking[0].because == followed_because(2, ["bob", "erin"])
    assert snap.users.user("nobody") is None
    assert snap.social_weight is None  # test-v1's metrics record no learned blend


def _experiment(client: Any, keys: Keys, arms: list[dict[str, Any]]) -> dict[str, Any]:
    r = client.post("/v1/experiments", json={"name": "pinned", "arms": arms}, headers=keys.header("admin"))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _answer(client: Any, keys: Keys, user: str) -> dict[str, Any]:
    r = client.get(f"/v1/users/{user}/recommendations?k=5", headers=keys.header("read"))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_a_pinned_arm_serves_the_older_version_after_a_newer_one_is_published(two_versions: Any, keys: Keys) -> None:
    client = two_versions.test_client()
    arms = [{"name": "current", "strategy": "blend", "blend": LEARNED_ONLY},
            {"name": "v1", "strategy": "blend", "blend": LEARNED_ONLY, "model_version": MODEL_VERSION}]  # fmt: skip
    exp, by_arm = experiment_with_every_arm(client, keys, {"name": "pinned", "arms": arms}, HISTORY)
    assert exp["arms"][1]["model_version"] == MODEL_VERSION
    for arm, version in (("current", "test-v2"), ("v1", MODEL_VERSION)):
        for user in by_arm[arm]:
            answer = _answer(client, keys, user)
            assert answer["experiment"]["arm"] == arm  # a user stays in their arm
            assert answer["model_version"] == version, (user, arm)
            assert [i["item_id"] for i in answer["items"]][:2] == _rankings(version)[user], (user, arm)
    report = client.get(f"/v1/experiments/{exp['experiment_id']}", headers=keys.header("analyst")).get_json()
    assert {a["arm"]: a["model_version"] for a in report["results"]} == {"current": None, "v1": MODEL_VERSION}
    # stopped: everyone gets the published version again
    client.post(f"/v1/experiments/{exp['experiment_id']}/stop", headers=keys.header("admin"))
    _svc(two_versions).experiments.forget()
    for user in by_arm["v1"]:
        assert _answer(client, keys, user)["model_version"] == "test-v2"


def test_a_pinned_users_social_reason_and_weight_come_from_that_version(two_versions: Any) -> None:
    svc = _svc(two_versions)
    store = svc.store()
    pinned = svc.recommender.recommend(
        store, "alice", k=5, blend=tuple(sorted(LEARNED_ONLY.items())), pin=MODEL_VERSION
    )
    assert pinned["model_version"] == MODEL_VERSION
    first = pinned["items"][0]
    assert first["item_id"] == _rankings(MODEL_VERSION)["alice"][0]
    assert any("2 people you follow" in r for r in first["reasons"]), first
    # a pin to the published version, or to one this host does not keep, serves the published one
    for pin in ("test-v2", "no-such-version"):
        assert svc.recommender.recommend(store, "alice", k=5, pin=pin)["model_version"] == "test-v2"
    snap = svc.recommender.published.shared.of_version("test-v2")
    assert snap is not None and snap.social_weight == pytest.approx(0.25)


def test_an_incremental_publish_reads_only_its_users_and_carries_the_others(
    published: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After an incremental publish the snapshot re-reads the users the run staged and
    copies the others from the previous snapshot: the same user side as reading them all."""
    store, root, _ = _ranked_base(published)
    changed = ["alice", "bob"]
    unseen = {u: _unseen(u) for u in changed}
    store.stage_node_properties("User", [
        {"id": u, "props": {"recs_items": unseen[u][1:4], "recs_scores": [3.0, 2.5, 2.0],
                            "recs_because": [f"new reason of {u}", "", unseen[u][0]], "recs_at": NOW_MS + 1,
                            "embedding": [0.1, 0.2, 0.3, 0.4], "model_version": "test-v2"}}
        for u in changed
    ])  # fmt: skip
    store.publish_model("test-v2", {}, carry_from=MODEL_VERSION)
    read: list[str] = []
    of = store.snapshot_users_of
    monkeypatch.setattr(store, "snapshot_users_of", lambda v, ids, *a: read.extend(ids) or of(v, ids, *a))
    page = store.snapshot_user_page

    def no_full_read(*args: Any) -> Any:
        raise AssertionError("the carried snapshot read every user")

    monkeypatch.setattr(store, "snapshot_user_page", no_full_read)
    carried = model_snapshot.write(store, root, 20, carry=model_snapshot.Carry(MODEL_VERSION, changed))
    monkeypatch.setattr(store, "snapshot_user_page", page)
    everything = model_snapshot.write(store, tmp_path / "all", 20)
    assert carried is not None and everything is not None
    assert sorted(read) == changed
    a, b = ModelSnapshot.open(carried).users, ModelSnapshot.open(everything).users
    assert a is not None and b is not None
    assert sorted(a.index) == sorted(b.index) == sorted(HISTORY)
    for user in HISTORY:
        assert a.user(user) == b.user(user), user
    alice = a.user("alice")
    assert alice is not None and alice.ranking[0].because == "new reason of alice" and alice.ranking_at == NOW_MS + 1
    assert alice.embedding == (0.1, 0.2, 0.3, 0.4)
    carol = a.user("carol")
    assert carol is not None and [r.item_id for r in carol.ranking] == _rankings(MODEL_VERSION)["carol"]
    assert set(a.because) == set(b.because)  # no string left over from the base's changed users


def test_an_incremental_publish_that_kept_every_list_reads_only_the_vectors_of_its_users(
    published: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An incremental run stages vectors, no learned ranking (every user keeps its list):
    the snapshot reads only the re-fitted users' vectors (no list) and copies their rankings
    from the base: the same user side as reading them all."""
    store, root, _ = _ranked_base(published)
    changed = ["alice", "bob"]
    store.stage_node_properties(
        "User", [{"id": u, "props": {"embedding": [0.1, 0.2, 0.3, 0.4], "model_version": "test-v2"}} for u in changed]
    )
    store.publish_model("test-v2", {}, carry_from=MODEL_VERSION)
    asked: list[tuple[tuple[str, ...], bool]] = []
    of = store.snapshot_users_of
    monkeypatch.setattr(
        store, "snapshot_users_of", lambda v, ids, lists=True: asked.append((tuple(ids), lists)) or of(v, ids, lists)
    )
    carried = model_snapshot.write(store, root, 20, carry=model_snapshot.Carry(MODEL_VERSION, changed, lists_kept=True))
    everything = model_snapshot.write(store, tmp_path / "all", 20)
    assert carried is not None and everything is not None
    assert asked == [(tuple(changed), False)]  # no user read whole
    a, b = ModelSnapshot.open(carried).users, ModelSnapshot.open(everything).users
    assert a is not None and b is not None and sorted(a.index) == sorted(b.index)
    for user in HISTORY:
        assert a.user(user) == b.user(user), user
    alice = a.user("alice")
    assert alice is not None and alice.embedding == (0.1, 0.2, 0.3, 0.4)
    assert [r.item_id for r in alice.ranking] == _rankings(MODEL_VERSION)["alice"]


def test_a_pinned_snapshot_is_kept_from_pruning_while_its_experiment_runs(two_versions: Any, keys: Keys) -> None:
    svc = _svc(two_versions)
    root = svc.settings.recs_snapshot_root
    client = two_versions.test_client()
    exp = _experiment(client, keys, [{"name": "now", "strategy": "blend"},
                                     {"name": "v2", "strategy": "blend", "model_version": "test-v2"}])  # fmt: skip
    for n in (3, 4):
        _publish(two_versions, f"test-v{n}", keep=1)  # only the newest, and the pinned one
    assert {s["model_version"] for s in model_snapshot.readable(root)} == {"test-v2", "test-v4"}
    # a new experiment replaces the running one: its pins go, and the next publish prunes
    _experiment(client, keys, [{"name": "a", "strategy": "blend"}, {"name": "b", "strategy": "graph"}])
    assert not list(root.glob(f"*/{model_snapshot.PIN_PREFIX}{exp['experiment_id']}"))
    _publish(two_versions, "test-v5", keep=1)
    assert [s["model_version"] for s in model_snapshot.readable(root)] == ["test-v5"]


def test_pinning_a_version_that_is_not_kept_is_a_409_that_lists_the_pinnable_ones(
    two_versions: Any, keys: Keys
) -> None:
    client = two_versions.test_client()
    arms = [{"name": "now", "strategy": "blend"}, {"name": "old", "strategy": "blend", "model_version": "test-v0"}]
    r = client.post("/v1/experiments", json={"name": "x", "arms": arms}, headers=keys.header("admin"))
    assert r.status_code == 409
    detail = r.get_json()["detail"]
    assert "'test-v0' cannot be pinned" in detail and "test-v2" in detail
    for name in ("../test-v2", "test-v*", ".hidden"):  # a version is a name, never a path or a pattern
        assert not model_snapshot.pinnable(_svc(two_versions).settings.recs_snapshot_root, name)
    assert _svc(two_versions).experiments.running() is None


def test_without_the_user_side_no_version_is_pinnable(published: Any) -> None:
    svc = _svc(published)
    root = svc.settings.recs_snapshot_root
    path = model_snapshot.write(svc.store(), root, 20, users=False)
    assert path is not None and not ModelSnapshot.open(path).has_users
    assert not model_snapshot.pinnable(root, MODEL_VERSION)
    published_at = svc.store().published().published_at
    assert model_snapshot.readable(root)[0] == {
        "model_version": MODEL_VERSION, "published_at": published_at, "pinnable": False}  # fmt: skip
    assert svc.recommender.published.shared.of_version(MODEL_VERSION) is None


def test_an_incremental_publish_copies_the_similar_lists_it_keeps(
    published: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An incremental publish serves its base's SIMILAR_TO lists: the snapshot copies them from
    the base's arrays (renumbered for items added since) instead of reading them, and reads
    titles, interests and vectors as the graph holds them now: the same as reading it all."""
    from graph_schema.rows import CatalogueItem

    store, root, base = _ranked_base(published)
    assert (base.neighbour_rows >= 0).any()  # the base serves lists: there is something to copy
    kept = store.published().similar_version
    # the catalogue moves on: an item sorted first is added, another retitled
    store.upsert_items(
        [CatalogueItem("a-new", "A new item", ()), CatalogueItem("i1", "Retitled", tuple(ITEMS["i1"][1]))]
    )
    store.publish_model("test-v2", {}, carry_from=MODEL_VERSION, similar_version=kept)
    asked: list[bool] = []
    page = store.snapshot_page

    def recorded(*args: Any, neighbours: bool = True, **kwargs: Any) -> Any:
        asked.append(neighbours)
        return page(*args, neighbours=neighbours, **kwargs)

    monkeypatch.setattr(store, "snapshot_page", recorded)
    carried = model_snapshot.write(store, root, 20, carry=model_snapshot.Carry(MODEL_VERSION, []))
    assert asked and not any(asked)
    everything = model_snapshot.write(store, tmp_path / "all", 20)
    assert carried is not None and everything is not None and asked[-1] is True
    assert (carried / "items.json").read_bytes() == (everything / "items.json").read_bytes()
    for name in ("vectors", "has_vector", "neighbours", "scores", "by_text"):
        a, b = np.load(carried / f"{name}.npy"), np.load(everything / f"{name}.npy")
        assert a.shape == b.shape and (a == b).all(), name
    snap = ModelSnapshot.open(carried)
    assert snap.index["a-new"] == 0 and (snap.neighbour_rows[0] < 0).all()
    assert snap.meta("i1") == ("Retitled", tuple(ITEMS["i1"][1]))


def test_carried_lists_are_read_again_when_an_item_of_the_base_is_gone() -> None:
    lists = model_snapshot.ItemLists(
        ["a", "b"], np.array([[1, -1], [0, -1]]), np.array([[0.5, 0.0], [0.5, 0.0]]), np.zeros((2, 2), dtype=bool)
    )
    assert lists.remapped({"a": 0}, 2) is None
    nb, sc, _ = lists.remapped({"new": 0, "a": 1, "b": 2}, 2)
    assert nb.tolist() == [[-1, -1], [2, -1], [1, -1]] and sc[1, 0] == 0.5


@pytest.mark.parametrize("damage", ["empty", "out-of-range", "garbage"])
def test_a_damaged_base_snapshot_is_read_from_the_graph_instead(published: Any, tmp_path: Any, damage: str) -> None:
    """The base snapshot is only a shortcut: a truncated, garbled or inconsistent file in it
    makes the incremental publish's snapshot read its lists, vectors and users from the graph, with
    the same content as reading everything, never an error."""
    store, root, base = _ranked_base(published)
    assert (base.neighbour_rows >= 0).any()
    store.publish_model("test-v2", {}, carry_from=MODEL_VERSION, similar_version=store.published().similar_version)
    base_dir = model_snapshot.find(root, MODEL_VERSION)
    assert base_dir is not None
    # the item side's lists and vectors, and the user side's rankings
    for name in ("neighbours.npy", "vectors.npy", "ranking_items.npy"):
        path = base_dir / name
        if damage == "empty":
            path.write_bytes(b"")
        elif damage == "garbage":
            path.write_bytes(b"\x93NUMPY garbage")
        else:
            array = np.load(path)
            np.save(path, np.full_like(array, 10**6) if array.dtype.kind in "iu" else array)
    carry = model_snapshot.Carry(MODEL_VERSION, ["alice"], items_staged=())  # every item vector carried
    carried = model_snapshot.write(store, root, 20, carry=carry)
    everything = model_snapshot.write(store, tmp_path / "all", 20)
    assert carried is not None and everything is not None
    for name in ("vectors", "has_vector", "neighbours", "scores", "by_text"):
        a, b = np.load(carried / f"{name}.npy"), np.load(everything / f"{name}.npy")
        assert a.shape == b.shape and (a == b).all(), name
    a_users, b_users = ModelSnapshot.open(carried).users, ModelSnapshot.open(everything).users
    assert a_users is not None and b_users is not None
    for user in HISTORY:
        assert a_users.user(user) == b_users.user(user), user
