"""Streamed write-back rows and the column build: the same rows and arrays as the full
lists and the row build they replace, on a small graph."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from graph_schema.columns import Coder, EvidenceTable, InteractionTable, VectorTable
from training.data import TrainingData
from training.outputs import STORE_LABEL, _vec, _vecs, build_outputs
from training.similar import similar_items
from training.strengths import (
    Evidence,
    evidence_from_rows,
    evidence_from_table,
    interest_population,
    user_strengths,
)

DAY = 86_400_000


def _rows(seed: int = 3) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    inter = []
    for u in range(40):
        for i in rng.sample(range(25), 1 + u % 6):
            inter.append(
                {
                    "user_id": f"u{(u * 7) % 40}",  # ids not in insertion order
                    "item_id": f"i{(i * 11) % 25}",
                    "weight": float(1 + i % 3),
                    "count": 1 + i % 2,
                    "first_ts": i * DAY,
                    "last_ts": (i + u % 3) * DAY,
                }
            )
    tags = [
        {"item_id": f"i{k}", "interest_id": f"x{k % 5}", "weight": 1.0} for k in range(27)
    ]  # i25, i26 untagged-only
    inter.sort(key=lambda r: (r["user_id"], r["item_id"]))
    return inter, tags


def _table(inter: list[dict[str, Any]]) -> InteractionTable:
    shuffled = inter[:]
    random.Random(1).shuffle(shuffled)  # a paged pull's order is the engine's
    users, items = Coder(), Coder()
    return InteractionTable(
        users.ids,
        items.ids,
        np.array([users.code(r["user_id"]) for r in shuffled], dtype=np.int32),
        np.array([items.code(r["item_id"]) for r in shuffled], dtype=np.int32),
        np.array([r["weight"] for r in shuffled]),
        np.array([r["count"] for r in shuffled]),
        np.array([r["first_ts"] for r in shuffled]),
        np.array([r["last_ts"] for r in shuffled]),
    )


def test_vectors_rounded_in_numpy_equal_the_formatted_ones() -> None:
    x = np.random.default_rng(5).normal(scale=3.0, size=(300, 16)).astype(np.float32)
    x[0, :4] = [0.0, 1e-7, -123456.7, 1 / 3]
    assert _vecs(x) == [_vec(row) for row in x]


@pytest.mark.parametrize("extra", [None, {"item": ["i1", "z-new", "i99"], "interest": ["x0", "y-new"]}])
def test_from_columns_builds_what_from_rows_builds(extra: dict[str, list[str]] | None) -> None:
    """The same node indexes and arrays, with the nodes an incremental pull adds that have
    no edge (every item and interest with a vector: `extra_ids`) or without them."""
    inter, tags = _rows()
    prev = {"item": VectorTable.of(["i1"], [[1.0, 2.0]])}
    a = TrainingData.from_rows(inter, tags, previous=prev, extra_ids=extra)
    b = TrainingData.from_columns(_table(inter), tags, previous=prev, extra_ids=extra)
    assert a.users.ids == b.users.ids and a.items.ids == b.items.ids and a.interests.ids == b.interests.ids
    assert len(b.items) == 27 + (2 if extra else 0) and len(b.users) == 40
    for name in ("user", "item", "weight", "count", "first_ts", "last_ts", "tag_item", "tag_interest", "tag_weight"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert b.previous["item"]["i1"].tolist() == [1.0, 2.0]


def test_evidence_from_table_equals_evidence_from_rows() -> None:
    inter, tags = _rows()
    data = TrainingData.from_rows(inter, tags)
    rows = [
        {"user_id": "u3", "interest_id": "x1", "evidence": 2.0, "evidence_ts": 5 * DAY},
        {"user_id": "u4", "interest_id": "x2", "evidence": 1.5, "evidence_ts": None},
        {"user_id": "ghost", "interest_id": "x2", "evidence": 9.0, "evidence_ts": 0},
        {"user_id": "u5", "interest_id": "x9", "evidence": 9.0, "evidence_ts": 0},
        {"user_id": "u6", "interest_id": "x0", "evidence": 3.0, "evidence_ts": 0},
    ]
    users, interests = Coder(), Coder()
    table = EvidenceTable(
        users.ids,
        interests.ids,
        np.array([users.code(r["user_id"]) for r in rows], dtype=np.int32),
        np.array([interests.code(r["interest_id"]) for r in rows], dtype=np.int32),
        np.array([r["evidence"] for r in rows]),
        np.array([-1 if r["evidence_ts"] is None else r["evidence_ts"] for r in rows]),
    )
    a = evidence_from_rows(rows, data, 10 * DAY, 7.0)
    b = evidence_from_table(table, data, 10 * DAY, 7.0)
    assert len(b.value) == 3  # ghost and x9 are unknown
    np.testing.assert_array_equal(a.user, b.user)
    np.testing.assert_array_equal(a.interest, b.interest)
    np.testing.assert_allclose(a.value, b.value, rtol=1e-12)


def _old_build_outputs(data, embeddings, strengths, population, similar, version, at, only=None, extra=None):
    """The full-list build_outputs the streams replaced (plus publish's merge of the lists)."""
    stamp = {"model_version": version, "refreshed_at": at}
    index = {"user": data.users, "item": data.items, "interest": data.interests}
    selected = {label: np.arange(len(ids)) for label, ids in index.items()}
    selected.update({label: np.asarray(rows, dtype=np.int64) for label, rows in (only or {}).items()})
    pop = {r["interest_id"]: r for r in population}
    nodes = {}
    for label, ids in index.items():
        out = []
        for k in selected[label].tolist():
            props = {"embedding": _vec(embeddings[label][k]), **stamp}
            if label == "user":
                keep = strengths.interest[k] >= 0
                props["top_interests"] = [data.interests.ids[i] for i in strengths.interest[k][keep]]
                props["interest_strengths"] = [round(float(s), 6) for s in strengths.strength[k][keep]]
            elif label == "interest":
                p = pop.get(ids.ids[k], {})
                props["strength"] = float(p.get("strength", 0.0))
                props["trend"] = float(p.get("trend", 0.0))
            out.append({"id": ids.ids[k], "props": props})
        nodes[STORE_LABEL[label]] = out
    by_id = {row["id"]: row for row in nodes["User"]}
    for u, props in extra or []:
        if data.users.ids[u] in by_id:
            by_id[data.users.ids[u]]["props"].update(props)
    strength_rows = [
        {
            "user_id": data.users.ids[u],
            "interest_id": data.interests.ids[i],
            "strength": round(float(s), 6),
            "updated_at": at,
            "model_version": version,
        }
        for u in selected["user"].tolist()
        for i, s in zip(strengths.interest[u].tolist(), strengths.strength[u].tolist(), strict=True)
        if i >= 0
    ]
    idx, score = similar
    similar_rows = [
        {
            "item_id": data.items.ids[a],
            "other_id": data.items.ids[b],
            "score": round(float(s), 6),
            "model_version": version,
        }
        for a in range(idx.shape[0])
        for b, s in zip(idx[a].tolist(), score[a].tolist(), strict=True)
        if np.isfinite(s) and s > 0
    ]
    return nodes, strength_rows, similar_rows


def test_streamed_outputs_equal_the_full_lists() -> None:
    inter, tags = _rows()
    data = TrainingData.from_rows(inter, tags)
    rng = np.random.default_rng(0)
    emb = {label: rng.normal(size=(n, 8)).astype(np.float32) for label, n in
           (("user", data.n_users), ("item", data.n_items), ("interest", data.n_interests))}  # fmt: skip
    emb["item"][26] = 0.0  # an isolated item: no neighbours written
    ev = Evidence(data.user, data.item % max(data.n_interests, 1), data.weight)
    strengths = user_strengths(emb["user"], emb["interest"], ev, 3, 0.5)
    population = interest_population(data, 30 * DAY, 7.0, {"x1": 0.3})
    similar = similar_items(emb["item"], 5)
    lists = [(u, {"recs_items": [f"i{u}"], "recs_at": 7}) for u in range(0, data.n_users, 3)]
    for only in (None, {"user": np.array([9, 2, 30]), "item": np.array([4])}):
        old_nodes, old_strengths, old_similar = _old_build_outputs(
            data, emb, strengths, population, similar, "v9", 123, only, lists
        )
        out = build_outputs(data, emb, strengths, population, similar, "v9", 123, only, iter(lists))
        for label, rows in out.nodes.items():
            # users come in ascending order when lists are merged, the rest in `only`'s order
            assert sorted(rows, key=lambda r: r["id"]) == sorted(old_nodes[label], key=lambda r: r["id"])
        got_strengths = list(out.strengths)
        assert sorted(got_strengths, key=str) == sorted(old_strengths, key=str) and got_strengths
        got_similar = list(out.similar)
        assert got_similar == old_similar
        assert len(got_similar) == 26 * 5 - sum(1 for r in old_similar if r["other_id"] == "i26")
        assert any("recs_items" in r["props"] for r in old_nodes["User"])
        counts = out.counts()
        assert counts["user_nodes"] == len(old_nodes["User"]) and counts["similar"] == len(old_similar)
        assert counts["strengths"] == len(old_strengths)
