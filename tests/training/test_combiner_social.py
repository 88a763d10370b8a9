"""The social component of the learned blend (training.social_source): the combiner gives
it weight where the people a user follows share their taste, and none where ties are
random; the learned ranking explains the items it is there for by those people. Small
synthetic populations built here, the real combiner (no GNN)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from graph_schema.because import followed_because, liked_by_followed
from training.combiner import BlendChoice, choose_blend
from training.data import TrainingData
from training.social_source import followee_taste
from training.user_lists import user_lists

T0 = 1_700_000_000_000
HOUR = 3_600_000
DAY = 24 * HOUR
TAU_DAYS = 14.0


def population(homophily: float, seed: int) -> tuple[TrainingData, np.ndarray, list[np.ndarray]]:
    """1,000 users in 6 taste clusters of 30 items. A user's known history is 2 items of
    their cluster and 2 from anywhere (their own history says little); the held-out item
    is of their cluster. Each follows 5 others: of their cluster with probability
    `homophily`, else anyone. Returns the data, the known rows and the held-out truth."""
    rng = np.random.default_rng(seed)
    users, clusters, per_cluster = 1000, 6, 30
    taste = np.arange(users) % clusters
    known, held_out = [], []
    for u in range(users):
        mine = taste[u] * per_cluster + rng.choice(per_cluster, 3, replace=False)
        noise = rng.choice(clusters * per_cluster, 2, replace=False)
        for k, item in enumerate(dict.fromkeys([*noise.tolist(), *mine[:2].tolist()])):
            known.append({"user_id": f"u{u}", "item_id": f"i{item}", "last_ts": T0 + k * HOUR})
        held_out.append({"user_id": f"u{u}", "item_id": f"i{mine[2]}", "last_ts": T0 + 10 * HOUR})
    ties = []
    for u in range(users):
        same = np.flatnonzero(taste == taste[u])
        for _ in range(5):
            v = int(rng.choice(same if rng.random() < homophily else np.arange(users)))
            if v != u:
                ties.append((f"u{u}", f"u{v}", 1.0, T0))
    extra = {"item": [f"i{i}" for i in range(clusters * per_cluster)]}
    data = TrainingData.from_rows(known + held_out, extra_ids=extra).with_social(ties)
    truth = [np.zeros(0, dtype=np.int64)] * data.n_users
    for r in range(len(known), data.n_interactions):
        truth[int(data.user[r])] = data.item[r : r + 1]
    return data, np.arange(len(known)), truth


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_blend_weighs_ties_that_predict_taste_and_not_random_ones(seed: int) -> None:
    homophilous = choose_blend(*population(1.0, seed), None, 10_000, social_tau_days=TAU_DAYS)
    assert homophilous.weights.get("social", 0.0) >= 0.5, homophilous
    assert homophilous.validation["social"] > max(homophilous.validation[s] for s in ("ease", "sequence"))
    random = choose_blend(*population(0.0, seed), None, 10_000, social_tau_days=TAU_DAYS)
    assert random.weights.get("social", 0.0) <= 0.1, random
    # in both, social was a candidate: the API then takes the learned weight, 0 included
    assert "social" in homophilous.candidates and "social" in random.candidates
    assert homophilous.social_tau_days == random.social_tau_days == TAU_DAYS


def test_without_ties_or_a_decay_there_is_no_social_candidate() -> None:
    data, rows, truth = population(1.0, 0)
    no_ties = replace(data, social_src=data.social_src[:0], social_dst=data.social_dst[:0])
    for choice in (
        choose_blend(no_ties, rows, truth, None, 10_000, social_tau_days=TAU_DAYS),
        choose_blend(data, rows, truth, None, 10_000),
    ):
        assert "social" not in choice.candidates and "social" not in choice.weights
        assert choice.social_tau_days is None


def test_the_social_score_is_the_api_sources_rule() -> None:
    # a follows b (0.5) and is also b's friend (2: the stronger tie counts), and c (1);
    # b took x 1 day before the newest row and y 15 days before, c took x at the newest
    rows = [
        {"user_id": "a", "item_id": "z", "weight": 1.0, "last_ts": T0},
        {"user_id": "b", "item_id": "x", "weight": 3.0, "last_ts": T0 - DAY},
        {"user_id": "b", "item_id": "y", "weight": 1.0, "last_ts": T0 - 15 * DAY},
        {"user_id": "c", "item_id": "x", "weight": 1.0, "last_ts": T0},
    ]
    ties = [("a", "b", 0.5, T0), ("a", "b", 2.0, T0), ("a", "c", 1.0, T0)]
    data = TrainingData.from_rows(rows).with_social(ties)
    taste = followee_taste(data, np.arange(data.n_interactions), TAU_DAYS, T0)
    assert taste is not None
    a, x, y = data.users.pos["a"], data.items.pos["x"], data.items.pos["y"]
    scores = taste.scores(np.array([a]))[0]
    assert scores[x] == pytest.approx(2.0 * 3.0 * np.exp(-1 / TAU_DAYS) + 1.0, rel=1e-5)
    assert scores[y] == pytest.approx(2.0 * np.exp(-15 / TAU_DAYS), rel=1e-5)
    assert scores[data.items.pos["z"]] == 0.0  # a's own item: nobody a follows took it
    (count_x, people_x), (count_y, people_y) = taste.people(a, np.array([x, y]))
    assert (count_x, [data.users.ids[p] for p in people_x]) == (2, ["b", "c"])  # b contributes more
    assert (count_y, [data.users.ids[p] for p in people_y]) == (1, ["b"])


def test_the_learned_ranking_says_who_it_is_there_because_of() -> None:
    data, rows, truth = population(1.0, 0)
    choice = choose_blend(data, rows, truth, None, 10_000, social_tau_days=TAU_DAYS)
    rng = np.random.default_rng(0)
    vectors = {"user": rng.standard_normal((data.n_users, 4)), "item": rng.standard_normal((data.n_items, 4))}
    lists = dict(user_lists(data.subset(rows), choice, vectors, 20, T0))
    social = 0
    for u, props in lists.items():
        follows = {data.users.ids[w] for v, w in zip(data.social_src, data.social_dst, strict=True) if v == u}
        for item, because in zip(props["recs_items"], props["recs_because"], strict=True):
            found = liked_by_followed(because)
            if found is None:
                continue
            social += 1
            i = data.items.pos[item]
            took = {data.users.ids[v] for v in data.user[rows][data.item[rows] == i]} & follows
            # exactly the people the user follows who took it, however many
            assert found.count == len(took) and set(found.people) <= took and found.people
    assert social > len(lists)  # most lists have such items: social weighs >= 0.5 here


def test_without_a_social_weight_the_ranking_names_no_followed_people() -> None:
    data, rows, _ = population(1.0, 0)
    choice = BlendChoice({"ease": 1.0}, 100.0, 0.8, candidates=("ease", "social"), social_tau_days=TAU_DAYS)
    vectors = {"user": np.zeros((data.n_users, 2)), "item": np.zeros((data.n_items, 2))}
    for _, props in user_lists(data.subset(rows), choice, vectors, 10, T0):
        assert not any(liked_by_followed(b) for b in props["recs_because"])


def test_a_ranking_without_reasons_writes_no_reason_strings() -> None:
    """Without the item-item weights (no EASE: at scale) or a social part no entry has a reason: the
    list's recs_because is [] (the reads give one empty reason per item), not 10 ""."""
    data, rows, _ = population(1.0, 0)
    choice = BlendChoice({"embedding": 1.0}, None, 0.8, candidates=("embedding",), social_tau_days=TAU_DAYS)
    rng = np.random.default_rng(0)
    vectors = {"user": rng.standard_normal((data.n_users, 4)), "item": rng.standard_normal((data.n_items, 4))}
    lists = [props for _, props in user_lists(data.subset(rows), choice, vectors, 10, T0)]
    assert lists and all(props["recs_items"] and props["recs_because"] == [] for props in lists)
    with_ease = BlendChoice({"ease": 1.0}, 100.0, 0.8, candidates=("ease",), social_tau_days=TAU_DAYS)
    named = [props for _, props in user_lists(data.subset(rows), with_ease, vectors, 10, T0)]
    assert any(len(props["recs_because"]) == len(props["recs_items"]) and any(props["recs_because"]) for props in named)


def test_a_social_because_cannot_be_read_as_an_item_and_back() -> None:
    because = followed_because(3, ["alice", "bob"])
    found = liked_by_followed(because)
    assert found is not None and found.count == 3 and found.people == ("alice", "bob")
    assert liked_by_followed("i42") is None and liked_by_followed("") is None and liked_by_followed(None) is None
