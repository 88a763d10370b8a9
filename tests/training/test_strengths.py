"""Interest strengths, population shares and item neighbourhoods."""

import numpy as np
import pytest

from training.data import TrainingData
from training.similar import exact_similar
from training.strengths import (
    Evidence,
    evidence_from_interactions,
    evidence_from_rows,
    interest_population,
    strength_rows,
    user_strengths,
)

DAY = 86_400_000


def small_data():
    inter = [
        {"user_id": "u1", "item_id": "a", "weight": 2.0, "last_ts": 10 * DAY},
        {"user_id": "u1", "item_id": "b", "weight": 1.0, "last_ts": 0},
        {"user_id": "u2", "item_id": "b", "weight": 4.0, "last_ts": 10 * DAY},
    ]
    tags = [
        {"item_id": "a", "interest_id": "x", "weight": 1.0},
        {"item_id": "b", "interest_id": "x", "weight": 1.0},
        {"item_id": "b", "interest_id": "y", "weight": 0.5},
    ]
    return TrainingData.from_rows(inter, tags)


def test_evidence_from_interactions_decays_and_joins_tags():
    d = small_data()
    ev = evidence_from_interactions(d, now_ms=10 * DAY, tau_days=10.0)
    got = {(d.users.ids[u], d.interests.ids[i]): v for u, i, v in zip(ev.user, ev.interest, ev.value, strict=True)}
    e = np.exp(-1.0)
    assert got[("u1", "x")] == pytest.approx(2.0 + 1.0 * e)
    assert got[("u1", "y")] == pytest.approx(0.5 * e)
    assert got[("u2", "x")] == pytest.approx(4.0)
    assert got[("u2", "y")] == pytest.approx(2.0)


def test_evidence_from_rows_skips_unknown_ids():
    d = small_data()
    ev = evidence_from_rows(
        [
            {"user_id": "u1", "interest_id": "x", "evidence": 3.0, "evidence_ts": 0},
            {"user_id": "nobody", "interest_id": "x", "evidence": 1.0, "evidence_ts": 0},
        ],
        d,
        now_ms=10 * DAY,
        tau_days=10.0,
    )
    assert ev.value.tolist() == pytest.approx([3.0 * np.exp(-1.0)])


def test_user_strengths_formula_range_and_order():
    users = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    interests = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    ev = Evidence(np.array([0, 0]), np.array([1, 2]), np.array([4.0, 2.0]))
    us = user_strengths(users, interests, ev, top_n=3, alpha=0.5)
    # user 0: aff = [1, 0, 0.5], ev = [0, 1, 0.5] -> blend [0.5, 0.5, 0.5] -> all 1
    assert us.strength[0].tolist() == pytest.approx([1.0, 1.0, 1.0])
    # user 1: aff = [0, 1, 0.5], no evidence -> blend [0, .5, .25] -> [0, 1, .5]; zero dropped
    assert us.interest[1].tolist() == [1, 2, -1]
    assert us.strength[1].tolist() == pytest.approx([1.0, 0.5, 0.0])
    # user 2: all scores equal, no evidence -> nothing
    assert us.interest[2].tolist() == [-1, -1, -1]
    assert ((us.strength >= 0) & (us.strength <= 1)).all()


def test_user_strengths_random_are_normalised_per_user():
    rng = np.random.default_rng(1)
    ue, ie = rng.normal(size=(50, 8)) * 5, rng.normal(size=(12, 8))
    ev = Evidence(rng.integers(0, 50, 200), rng.integers(0, 12, 200), rng.random(200) * 100)
    us = user_strengths(ue, ie, ev, top_n=5, chunk=7)
    assert us.strength.shape == (50, 5)
    assert ((us.strength >= 0) & (us.strength <= 1)).all()
    assert np.allclose(us.strength[:, 0], 1.0)  # strongest per user is 1
    assert (np.diff(us.strength, axis=1) <= 1e-12).all()  # strongest first


def test_strength_rows_are_aligned():
    d = small_data()
    us = user_strengths(np.eye(2), np.eye(2), evidence_from_interactions(d, 10 * DAY, 10.0), top_n=2)
    rows = strength_rows(d, us)
    assert rows[0]["user_id"] == "u1" and rows[0]["top_interests"][0] == "x"
    assert all(len(r["top_interests"]) == len(r["interest_strengths"]) for r in rows)


def test_interest_population_share_and_trend():
    d = small_data()
    pop = {r["interest_id"]: r for r in interest_population(d, 10 * DAY, 10.0, previous={"x": 0.5})}
    e = np.exp(-1.0)
    ax, ay = 2.0 + e + 4.0, 0.5 * e + 2.0
    assert pop["x"]["strength"] == pytest.approx(ax / (ax + ay))
    assert pop["x"]["trend"] == pytest.approx(ax / (ax + ay) - 0.5)
    assert pop["y"]["trend"] == 0.0
    assert sum(r["strength"] for r in pop.values()) == pytest.approx(1.0)


def test_similar_items_cosine_excludes_self():
    emb = np.array([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0], [-1.0, 0.0]])
    idx, score = exact_similar(emb, k=2, chunk=3)
    assert idx[0].tolist() == [1, 2]
    assert score[0, 0] == pytest.approx(2.0 / np.hypot(2.0, 0.1))
    assert all(i not in row for i, row in enumerate(idx.tolist()))
