"""service/recs/profile.py: a strength counts only at the published model version,
for recommending and for the interests endpoint alike."""

from __future__ import annotations

import math

import pytest

from graph_schema.store.serving_rows import InterestSignal, UserInterest, UserProfile
from service.recs.profile import NO_PROFILE, interest_levels, interest_weights, published_strength

TAU = 1000.0


def test_a_strength_counts_only_at_the_published_version():
    assert published_strength(0.5, "v1", "v1") == 0.5
    assert published_strength(0.5, "v0", "v1") is None  # another run's
    assert published_strength(0.5, "v1", None) is None  # nothing published
    assert published_strength(None, "v1", "v1") is None


def test_interest_weights_use_published_strengths_else_live_evidence():
    signals = (
        InterestSignal("a", "A", 0.2, "v1", 5.0, 1000),
        InterestSignal("b", "B", 0.9, "v0", 1.0, 1000),
        InterestSignal("c", "C", None, None, 2.0, 2000),
    )
    profile = UserProfile(3, (), (), signals, None, None)
    assert [(s.interest_id, w) for s, w in interest_weights(profile, "v1", 2000, TAU)] == [("a", 0.2)]
    live = [(s.interest_id, w) for s, w in interest_weights(profile, "v2", 2000, TAU)]
    assert live == [("c", 2.0), ("a", pytest.approx(5 * math.exp(-1))), ("b", pytest.approx(math.exp(-1)))]
    assert interest_weights(NO_PROFILE, "v1", 2000, TAU) == []


def test_interest_levels_order_and_updated_at():
    rows = [
        UserInterest("a", "A", "genre", 5.0, 1000, 0.2, 77, "v1"),
        UserInterest("b", None, None, None, None, 0.9, 88, "v0"),
        UserInterest("c", "C", "genre", 2.0, 2000, None, None, None),
    ]
    levels = interest_levels(rows, "v1", 2000, TAU)
    assert [(i.interest_id, i.name, i.strength, i.updated_at) for i in levels] == [
        ("a", "A", 0.2, 77),  # the published strength first, updated when the model wrote it
        ("c", "C", None, 2000),  # then by live evidence, updated with the evidence
        ("b", "b", None, None),  # another run's strength does not count
    ]
    assert levels[1].evidence == 2.0 and levels[2].evidence == 0.0
