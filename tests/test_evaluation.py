"""The evaluation harness (service/evaluation.py): its splits, its metric from answers,
and one end-to-end run through the real store, refresh and recommender."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from service import evaluation as ev
from training.metrics import REPORTED, evaluate, top_k
from training.movielens import Movie, MovieLens


def synthetic(n_users: int = 12, n_items: int = 60, per_user: int = 20, seed: int = 1) -> MovieLens:
    """A tiny MovieLens-shaped data set: 3 genres, users preferring one genre."""
    rng = np.random.default_rng(seed)
    genres = ["Action", "Comedy", "Drama"]
    items = [Movie(str(i), f"movie {i}", 1990 + i % 10, (genres[i % 3],)) for i in range(n_items)]
    users = [{"user_id": f"u{u}", "props": {"age": 30, "gender": "F", "occupation": "x"}} for u in range(n_users)]
    ratings = []
    for u in range(n_users):
        liked = [i for i in range(n_items) if i % 3 == u % 3]
        other = [i for i in range(n_items) if i % 3 != u % 3]
        picks = list(rng.permutation(liked))[:8] + list(rng.permutation(other))[: per_user - 8]
        for n, i in enumerate(rng.permutation(picks)):
            ratings.append((f"u{u}", str(i), float(rng.integers(1, 6)), 880_000_000_000 + 3_600_000 * (u + 50 * n)))
    return MovieLens(users, items, genres, ratings)


@pytest.mark.parametrize("protocol", ev.PROTOCOLS)
def test_split_disjoint_per_user_sized_and_deterministic(protocol: str) -> None:
    ml = synthetic()
    s = ev.split_ratings(ml.ratings, protocol, seed=3)
    known = Counter(u for u, *_ in s.known)
    for u in known:
        truth, excluded = set(s.truth.get(u, ())), set(s.exclude.get(u, ()))
        seen = {i for v, i, *_ in s.known if v == u}
        assert not truth & seen and not truth & excluded and not excluded & seen
        # 20 interactions per user: 16 train, 2 valid, 2 test
        assert len(truth) == 2
        assert len(seen) == (18 if protocol == "deployed" else 16)
        assert len(excluded) == (0 if protocol == "deployed" else 2)
    assert s.parts == {"train": 16 * 12, "valid": 2 * 12, "test": 2 * 12}
    assert ev.split_ratings(ml.ratings, protocol, seed=3) == s
    other = ev.split_ratings(ml.ratings, protocol, seed=4)
    assert (other.truth != s.truth) == (protocol == "random")


def test_temporal_test_is_each_users_newest() -> None:
    ml = synthetic()
    s = ev.split_ratings(ml.ratings, "temporal")
    ts = {(u, i): t for u, i, _r, t in ml.ratings}
    for u, truth in s.truth.items():
        others = [t for (v, i), t in ts.items() if v == u and i not in truth]
        assert min(ts[(u, i)] for i in truth) > max(others)


def test_answer_metrics_equal_evaluate_on_the_score_matrix() -> None:
    rng = np.random.default_rng(0)
    n_users, n_items = 7, 40
    scores = rng.normal(size=(n_users, n_items))
    seen = [np.sort(rng.choice(n_items, size=5, replace=False)) for _ in range(n_users)]
    truth = [np.setdiff1d(rng.choice(n_items, size=4, replace=False), s) for s in seen]
    truth[3] = np.zeros(0, dtype=np.int64)  # a user without truth is not counted
    want = evaluate(lambda users: scores[users], seen, truth)

    ids = [f"item{i}" for i in range(n_items)]
    items = {x: n for n, x in enumerate(ids)}
    ranked = top_k(scores, 20, seen)
    answers = {f"user{u}": [ids[i] for i in ranked[u]] for u in range(n_users)}
    truth_ids = {f"user{u}": [ids[i] for i in truth[u]] for u in range(n_users)}
    got = ev.answer_metrics(answers, truth_ids, items)
    assert got == pytest.approx(want)
    # a short answer (its tail missing) can only lose hits, and never fails
    short = {u: a[:5] for u, a in answers.items()}
    assert ev.answer_metrics(short, truth_ids, items)["recall@20"] <= got["recall@20"]


def test_strategies_come_from_the_api() -> None:
    assert "blend" in ev.api_strategies()
    assert set(ev.api_strategies()) >= {"blend", "graph", "interest", "embedding"}


def test_table_mean_over_seeds() -> None:
    def result(protocol: str, seed: int, v: float) -> ev.ProtocolResult:
        m = {c: {name: v for name in REPORTED} for c in ("blend", ev.POPULARITY)}
        return ev.ProtocolResult(protocol, seed, m, 10.0 + seed, 1.0, {}, {}, {}, {})

    runs = [result("temporal", 0, 0.1), result("temporal", 1, 0.3)]
    (s,) = ev.summarise(runs)
    assert s.mean["blend"]["ndcg@20"] == pytest.approx(0.2)
    assert s.std["blend"]["ndcg@20"] == pytest.approx(0.1)
    table = ev.format_table(runs)
    assert "0.2000 ± 0.1000" in table and "temporal" in table and "popularity" in table


@pytest.mark.slow
def test_end_to_end_on_a_tiny_data_set(tmp_path) -> None:
    res = ev.evaluate_protocol(
        "random",
        seed=0,
        dataset=synthetic(),
        settings={"train_epochs": 2, "train_dim": 8},
        workdir=tmp_path,
    )
    assert set(res.metrics) == {*ev.api_strategies(), ev.POPULARITY}
    for column, m in res.metrics.items():
        assert m["users"] == 12, column
        for name in REPORTED:
            assert 0.0 <= m[name] <= 1.0 and not math.isnan(m[name]), (column, name)
    assert res.train_seconds > 0
    assert res.counts["known_ratings"] == 16 * 12
    assert res.refresh["status"] == "published"
    assert res.short_answers == dict.fromkeys(ev.api_strategies(), 0)  # 60 items: 20 are always left
    assert not list(tmp_path.iterdir())  # the temporary data dir is removed
