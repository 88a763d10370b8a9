"""The last full run's base vectors on local disk (training.base_vectors)."""

import numpy as np

from graph_schema.columns import VectorTable
from training.base_vectors import BaseVectors, Saved
from training.data import TrainingData, temporal_split


def tables(scale: float = 1.0) -> dict[str, VectorTable]:
    return {
        "user": VectorTable(["u1", "u2"], np.arange(8, dtype=np.float32).reshape(2, 4) * scale),
        "item": VectorTable(["i1"], np.ones((1, 4), dtype=np.float32) * scale),
        "interest": VectorTable([], np.zeros((0, 4), dtype=np.float32)),
    }


PAIRS = (np.array([0, 1]), np.array([0, 0]))  # u1-i1, u2-i1


def is_empty(saved: Saved) -> bool:
    return saved.tables == {} and len(saved.trained[0]) == len(saved.trained[1]) == 0


def test_saved_vectors_load_by_id_and_a_second_save_replaces_the_first(tmp_path):
    store = BaseVectors(tmp_path / "g")
    assert is_empty(store.load())  # nothing saved yet: the run trains from scratch
    assert store.save(tables(), PAIRS)
    assert store.save(tables(2.0), (np.array([1]), np.array([0])))
    got = store.load()
    assert got.tables["user"].ids == ["u1", "u2"] and got.tables["interest"].ids == []
    np.testing.assert_array_equal(got.tables["user"]["u2"], [8, 10, 12, 14])
    np.testing.assert_array_equal(got.tables["item"]["i1"], [2, 2, 2, 2])
    assert got.trained[0].tolist() == [1] and got.trained[1].tolist() == [0]
    assert [p.name for p in (tmp_path / "g").iterdir()] == ["base.npz"]  # no temporary file left


def test_a_damaged_file_is_a_miss_and_no_directory_saves_nothing(tmp_path, caplog):
    store = BaseVectors(tmp_path)
    (tmp_path / "base.npz").write_bytes(b"not an npz")
    assert is_empty(store.load())
    assert "unreadable" in caplog.text
    assert not BaseVectors(None).save(tables(), PAIRS) and is_empty(BaseVectors(None).load())
    store.forget()
    assert not (tmp_path / "base.npz").exists()


def history(user: str, n: int) -> list[dict]:
    return [{"user_id": user, "item_id": f"i{k}", "first_ts": 1_000 + k, "last_ts": 1_000 + k} for k in range(n)]


def test_users_whose_hold_out_the_saved_run_trained_on_start_from_scratch():
    """A user's hold-out grows by one every 10 interactions: at 9 the saved run trained on
    all of them, at 10 the 9th is in valid. That user starts from scratch; a user whose new
    hold-out is new events keeps the saved vector; a user the saved run never saw has none."""
    before = TrainingData.from_rows(history("a", 9) + history("b", 10), [])
    trained_rows = temporal_split(before).train
    saved = Saved(
        {
            "user": VectorTable(list(before.users.ids), np.ones((before.n_users, 2), dtype=np.float32)),
            "item": VectorTable(list(before.items.ids), np.ones((before.n_items, 2), dtype=np.float32)),
            "interest": VectorTable([], np.zeros((0, 2), dtype=np.float32)),
        },
        (before.user[trained_rows], before.item[trained_rows]),
    )
    # one new event each, and a new user
    after = TrainingData.from_rows(history("a", 10) + history("b", 11) + history("c", 10), [])
    split = temporal_split(after)
    held = np.concatenate([split.valid, split.test])
    warm, dropped = saved.without_seen(after, held)
    assert dropped == 1 and warm["user"].ids == ["b"]  # a's i8 was trained, now held out
    assert warm["item"] is saved.tables["item"]
    assert saved.without_seen(after, np.zeros(0, dtype=np.int64))[1] == 0
    assert Saved().without_seen(after, held) == ({}, 0)
