"""Metric definitions against hand-computed cases."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.metrics import (
    evaluate,
    evaluate_popularity,
    group_by_user,
    popularity_scores,
    rank_metrics,
    ranked_hits,
    shared_score_hits,
    top_k,
)


def test_top_k_orders_and_excludes():
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [1.0, 1.0, 0.0, 2.0]])
    assert top_k(scores, 2).tolist() == [[1, 3], [3, 0]]  # tie 0/1 broken by lower index
    assert top_k(scores, 2, [np.array([1]), np.array([3, 0])]).tolist() == [[3, 2], [1, 2]]


def test_single_user_hand_computed():
    # ranked: a=5 b=3 c=9 d=1 e=7 ; truth {3, 7, 8}: hits at ranks 2 and 5
    ranked = np.array([[5, 3, 9, 1, 7]])
    m = rank_metrics(ranked, [np.array([3, 7, 8])], ks=(2, 5))
    assert m["recall@2"] == pytest.approx(1 / 3)
    assert m["recall@5"] == pytest.approx(2 / 3)
    assert m["hit@2"] == 1.0
    assert m["mrr@2"] == pytest.approx(1 / 2)
    dcg2 = 1 / math.log2(3)
    idcg2 = 1 + 1 / math.log2(3)
    assert m["ndcg@2"] == pytest.approx(dcg2 / idcg2)
    dcg5 = 1 / math.log2(3) + 1 / math.log2(6)
    idcg5 = 1 + 1 / math.log2(3) + 1 / math.log2(4)  # min(|truth|=3, K=5) ideal hits
    assert m["ndcg@5"] == pytest.approx(dcg5 / idcg5)


def test_average_skips_users_without_truth_and_misses_score_zero():
    ranked = np.array([[0, 1], [2, 3], [4, 5]])
    m = rank_metrics(ranked, [np.array([0]), np.array([], dtype=np.int64), np.array([9])], ks=(2,))
    assert m["users"] == 2
    assert m["hit@2"] == pytest.approx(0.5)
    assert m["ndcg@2"] == pytest.approx(0.5)  # user 0 perfect (1.0), user 2 zero
    assert m["mrr@2"] == pytest.approx(0.5)
    assert m["recall@2"] == pytest.approx(0.5)


def test_ideal_dcg_capped_at_k():
    # 3 truth items, K=1, hit at rank 1 -> NDCG@1 = 1 (ideal over min(3, 1) = 1 item)
    m = rank_metrics(np.array([[4]]), [np.array([4, 5, 6])], ks=(1,))
    assert m["ndcg@1"] == 1.0
    assert m["recall@1"] == pytest.approx(1 / 3)


def test_full_ranking_excludes_seen_and_popularity_baseline():
    # items 0..3; popularity from train: item 0 x3, item 1 x2, item 2 x1, item 3 x0
    train_item = np.array([0, 0, 0, 1, 1, 2])
    assert popularity_scores(train_item, 4).tolist() == [3, 2, 1, 0]
    seen = [np.array([0]), np.array([], dtype=np.int64)]
    truth = [np.array([2]), np.array([3])]
    m = evaluate_popularity(train_item, 4, seen, truth, ks=(1, 2))
    # user 0 ranks [1, 2] -> hit at 2; user 1 ranks [0, 1] -> miss
    assert m["hit@2"] == pytest.approx(0.5)
    assert m["mrr@2"] == pytest.approx(0.25)
    assert m["ndcg@1"] == 0.0
    same = evaluate(lambda users: np.tile(popularity_scores(train_item, 4), (len(users), 1)), seen, truth, ks=(1, 2))
    assert same == m


def test_group_by_user():
    g = group_by_user(np.array([1, 0, 1, 1]), np.array([5, 2, 3, 5]), 3)
    assert [x.tolist() for x in g] == [[2], [3, 5], []]


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda n: st.tuples(
            st.lists(st.lists(st.integers(0, 4), min_size=7, max_size=7), min_size=n, max_size=n),  # few values: ties
            st.lists(st.sets(st.integers(0, 6), max_size=7), min_size=n, max_size=n),
            st.integers(0, 9),
            st.booleans(),
        )
    )
)
def test_top_k_is_a_stable_sort_by_score_then_column(case):
    values, excluded, k, single = case
    scores = np.array(values, dtype=np.float32 if single else np.float64)
    exclude = [np.array(sorted(e), dtype=np.int64) for e in excluded]
    for use_torch in (False, True):  # np.partition, and torch.topk with the tied rows redone
        got = top_k(scores, k, exclude, use_torch=use_torch)
        for row, cols, out in zip(scores, exclude, got, strict=True):
            masked = np.where(np.isin(np.arange(len(row)), cols), -np.inf, row)
            expected = sorted(range(len(row)), key=lambda c: (-masked[c], c))[: min(k, len(row))]
            assert out.tolist() == expected, use_torch


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 5).flatmap(
        lambda n: st.tuples(
            st.lists(
                st.lists(
                    st.sampled_from([0.0, 1.0, 0.5, float("nan"), -np.inf]) | st.floats(-1, 1), min_size=9, max_size=9
                ),
                min_size=n,
                max_size=n,
            ),
            st.integers(1, 9),
        )
    )
)
def test_top_k_by_torch_is_top_k_by_partition(case):
    """Both selections rank a NaN score as -inf, -inf and ties by the lowest column first."""
    pytest.importorskip("torch")
    values, k = case
    scores = np.array(values, dtype=np.float32)
    ranked = np.where(np.isnan(scores), -np.inf, scores)
    expected = [sorted(range(len(row)), key=lambda c: (-row[c], c))[:k] for row in ranked]
    assert top_k(scores, k, use_torch=True).tolist() == expected
    assert top_k(scores, k, use_torch=False).tolist() == expected
    assert np.isnan(scores).sum() == np.isnan(np.array(values, dtype=np.float32)).sum()  # not overwritten


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, 3), min_size=8, max_size=8),  # few values: ties
            st.lists(st.sets(st.integers(0, 7), max_size=8), min_size=n, max_size=n),
            st.lists(st.sets(st.integers(0, 7), max_size=4), min_size=n, max_size=n),
            st.integers(1, 10),
        )
    )
)
def test_shared_score_hits_are_ranked_hits_of_the_broadcast_block(case):
    """One score vector for every user (popularity): the same hits as ranking the block,
    excluded truth items and rows with fewer items than the width included."""
    values, excluded, truths, width = case
    scores = np.array(values, dtype=np.float64)
    exclude = [np.array(sorted(e), dtype=np.int64) for e in excluded]
    truth = [np.array(sorted(t), dtype=np.int64) for t in truths]
    block = np.broadcast_to(scores, (len(truth), len(scores)))
    assert (shared_score_hits(scores, truth, exclude, width) == ranked_hits(block, truth, exclude, width)).all()
