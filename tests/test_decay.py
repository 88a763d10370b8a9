"""graph_schema.decay: exponentially decayed evidence that does not depend on arrival order."""

from __future__ import annotations

import itertools
import math
from functools import reduce

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph_schema.decay import fold, fold_many, value_at

TAU = 1000.0
REL = 1e-9

_terms = st.lists(
    st.tuples(
        st.floats(min_value=0.01, max_value=100.0, allow_nan=False, allow_infinity=False),
        st.integers(min_value=0, max_value=int(20 * TAU)),
    ),
    min_size=1,
    max_size=40,
)


def sequential(terms: list[tuple[float, int]], tau: float = TAU) -> tuple[float, int]:
    """Fold events one by one from the first, as ingest does across batches."""
    (w0, t0), rest = terms[0], terms[1:]
    return reduce(lambda state, term: fold(*state, *term, tau), rest, (w0, t0))


def brute_force(terms: list[tuple[float, int]], tau: float = TAU) -> tuple[float, int]:
    t_max = max(t for _, t in terms)
    return math.fsum(w * math.exp(-(t_max - t) / tau) for w, t in terms), t_max


# --- unit cases, computed by hand ---------------------------------------------------------


def test_fold_newer_event_decays_the_state_forward() -> None:
    assert fold(2.0, 1000, 3.0, 1000 + int(TAU), TAU) == (pytest.approx(2.0 / math.e + 3.0, rel=1e-15), 2000)


def test_fold_older_event_is_decayed_to_the_state_time() -> None:
    value, ts = fold(2.0, 3000, 3.0, 1000, TAU)
    assert ts == 3000  # evidence_ts does not move back
    assert value == pytest.approx(2.0 + 3.0 * math.exp(-2.0), rel=1e-15)


def test_fold_same_time_adds() -> None:
    assert fold(2.0, 500, 3.0, 500, TAU) == (5.0, 500)


def test_fold_from_empty_state() -> None:
    assert fold(0.0, 0, 4.0, 12345, TAU) == (4.0, 12345)


def test_fold_many_by_hand() -> None:
    value, ts = fold_many([(1.0, 0), (2.0, 1000), (4.0, 3000)], TAU)
    assert ts == 3000
    assert value == pytest.approx(1.0 * math.exp(-3) + 2.0 * math.exp(-2) + 4.0, rel=1e-15)


def test_fold_many_single_term_is_itself() -> None:
    assert fold_many([(2.5, 77)], TAU) == (2.5, 77)


def test_fold_many_needs_a_term() -> None:
    with pytest.raises(ValueError):
        fold_many([], TAU)


def test_fold_many_accepts_an_iterator() -> None:
    assert fold_many(iter([(1.0, 0), (1.0, 0)]), TAU) == (2.0, 0)


def test_value_at() -> None:
    assert value_at(3.0, 1000, 1000 + 2 * int(TAU), TAU) == pytest.approx(3.0 * math.exp(-2), rel=1e-15)
    assert value_at(3.0, 1000, 1000, TAU) == 3.0
    assert value_at(3.0, 5000, 1000, TAU) == 3.0  # a future-dated state never grows


def test_far_apart_events_do_not_overflow() -> None:
    value, ts = fold_many([(1.0, 0), (1.0, 10**9)], TAU)
    assert (value, ts) == (1.0, 10**9)
    assert fold(1.0, 10**9, 1.0, 0, TAU) == (1.0, 10**9)


# --- properties --------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(terms=_terms)
def test_fold_many_equals_sequential_fold(terms: list[tuple[float, int]]) -> None:
    value, ts = fold_many(terms, TAU)
    seq_value, seq_ts = sequential(terms)
    ref_value, ref_ts = brute_force(terms)
    assert ts == seq_ts == ref_ts
    assert value == pytest.approx(seq_value, rel=REL)
    assert value == pytest.approx(ref_value, rel=REL)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), terms=_terms)
def test_any_order_gives_the_same_state(data: st.DataObject, terms: list[tuple[float, int]]) -> None:
    permuted = data.draw(st.permutations(terms))
    a, b = sequential(terms), sequential(permuted)
    assert a[1] == b[1]
    assert a[0] == pytest.approx(b[0], rel=REL)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), terms=_terms)
def test_batches_folded_then_combined_equal_the_whole(data: st.DataObject, terms: list[tuple[float, int]]) -> None:
    """What the store does: fold each batch into one term, then fold the terms
    into the stored state in whatever order the batches arrive."""
    permuted = data.draw(st.permutations(terms))
    cuts = sorted(data.draw(st.sets(st.integers(min_value=1, max_value=max(1, len(permuted) - 1)))))
    bounds = [0, *[c for c in cuts if c < len(permuted)], len(permuted)]
    batch_terms = [fold_many(permuted[a:b], TAU) for a, b in itertools.pairwise(bounds) if b > a]
    combined = sequential(batch_terms)
    whole = fold_many(terms, TAU)
    assert combined[1] == whole[1]
    assert combined[0] == pytest.approx(whole[0], rel=REL)


@settings(max_examples=100, deadline=None)
@given(terms=_terms, later=st.integers(min_value=0, max_value=int(50 * TAU)))
def test_value_at_commutes_with_folding(terms: list[tuple[float, int]], later: int) -> None:
    """Reading the evidence later equals decaying every event to that time."""
    value, ts = fold_many(terms, TAU)
    now = ts + later
    expected = math.fsum(w * math.exp(-(now - t) / TAU) for w, t in terms)
    assert value_at(value, ts, now, TAU) == pytest.approx(expected, rel=REL, abs=1e-300)


@settings(max_examples=100, deadline=None)
@given(terms=_terms, scale=st.floats(min_value=0.01, max_value=100.0))
def test_fold_many_is_linear_in_the_weights(terms: list[tuple[float, int]], scale: float) -> None:
    value, ts = fold_many(terms, TAU)
    scaled, scaled_ts = fold_many([(w * scale, t) for w, t in terms], TAU)
    assert scaled_ts == ts
    assert scaled == pytest.approx(value * scale, rel=REL)
