"""The last full run's base vectors on local disk (training.base_vectors)."""

import numpy as np

from graph_schema.columns import VectorTable
from training.base_vectors import BaseVectors


def tables(scale: float = 1.0) -> dict[str, VectorTable]:
    return {
        "user": VectorTable(["u1", "u2"], np.arange(8, dtype=np.float32).reshape(2, 4) * scale),
        "item": VectorTable(["i1"], np.ones((1, 4), dtype=np.float32) * scale),
        "interest": VectorTable([], np.zeros((0, 4), dtype=np.float32)),
    }


def test_saved_vectors_load_by_id_and_a_second_save_replaces_the_first(tmp_path):
    store = BaseVectors(tmp_path / "g")
    assert store.load() == {}  # nothing saved yet: the run trains from scratch
    assert store.save(tables())
    assert store.save(tables(2.0))
    got = store.load()
    assert got["user"].ids == ["u1", "u2"] and got["interest"].ids == []
    np.testing.assert_array_equal(got["user"]["u2"], [8, 10, 12, 14])
    np.testing.assert_array_equal(got["item"]["i1"], [2, 2, 2, 2])
    assert [p.name for p in (tmp_path / "g").iterdir()] == ["base.npz"]  # no temporary file left


def test_a_damaged_file_is_a_miss_and_no_directory_saves_nothing(tmp_path, caplog):
    store = BaseVectors(tmp_path)
    (tmp_path / "base.npz").write_bytes(b"not an npz")
    assert store.load() == {}
    assert "unreadable" in caplog.text
    assert not BaseVectors(None).save(tables()) and BaseVectors(None).load() == {}
    store.forget()
    assert not (tmp_path / "base.npz").exists()
