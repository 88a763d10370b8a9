"""The client side of an ingest batch: per-key aggregation, evidence terms from the
items' tags, and the tag cache's revision rules (no graph needed)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graph_schema.decay import fold_many
from graph_schema.rows import Interaction
from graph_schema.store.batch import TagCache, Tags, aggregate_interactions

TAU = 1_000_000.0


class Catalogue:
    """A stand-in for the graph's side of `item_tags`: a revision and the tags,
    changed between reads by the test, and a log of what each read asked for."""

    def __init__(self, tags: dict[str, Tags], rev: int = 1) -> None:
        self.tags, self.rev, self.reads = tags, rev, []

    def fetch(self, item_ids: list[str]) -> tuple[int, dict[str, Tags]]:
        self.reads.append(sorted(item_ids))
        return self.rev, {i: self.tags.get(i, ()) for i in item_ids}


def test_lookup_reads_only_what_is_not_cached() -> None:
    cat = Catalogue({"i1": (("a", 1.0),), "i2": (("b", 0.5),)})
    cache = TagCache()
    assert cache.lookup(["i1"], cat.fetch) == (1, {"i1": (("a", 1.0),)})
    assert cache.lookup(["i1", "i2", "i3"], cat.fetch) == (1, {"i1": (("a", 1.0),), "i2": (("b", 0.5),), "i3": ()})
    assert cache.lookup(["i3", "i2"], cat.fetch) == (1, {"i3": (), "i2": (("b", 0.5),)})
    assert cat.reads == [["i1"], ["i2", "i3"]]


def test_a_new_revision_drops_the_cache_and_rereads_the_rest() -> None:
    cat = Catalogue({"i1": (("a", 1.0),)})
    cache = TagCache()
    cache.lookup(["i1"], cat.fetch)
    cat.tags, cat.rev = {"i1": (("b", 1.0),), "i2": (("a", 1.0),)}, 2
    # i1 was cached under revision 1: reading i2 sees revision 2, so i1 is read again
    assert cache.lookup(["i1", "i2"], cat.fetch) == (2, {"i1": (("b", 1.0),), "i2": (("a", 1.0),)})
    assert cat.reads == [["i1"], ["i2"], ["i1"]]  # i2 was read under revision 2 already
    cache.clear()
    assert cache.lookup(["i2"], cat.fetch) == (2, {"i2": (("a", 1.0),)})
    assert cat.reads[-1] == ["i2"]


def test_lookup_gives_up_when_the_revision_never_settles() -> None:
    cat = Catalogue({})
    cache = TagCache()
    cache.lookup(["i0"], cat.fetch)

    def moving(item_ids: list[str]) -> tuple[int, dict[str, Tags]]:
        cat.rev += 1
        return cat.fetch(item_ids)

    assert cache.lookup(["i0", "i1"], moving) is None
    assert len(cat.reads) == 1 + TagCache.READS


def test_a_full_cache_starts_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TagCache, "MAX_ITEMS", 3)
    cat = Catalogue({})
    cache = TagCache()
    cache.lookup(["i1", "i2"], cat.fetch)
    assert cache.lookup(["i3", "i4"], cat.fetch) == (1, {"i3": (), "i4": ()})
    cache.lookup(["i1"], cat.fetch)
    assert cat.reads == [["i1", "i2"], ["i3", "i4"], ["i1"]]


terms = st.lists(
    st.tuples(
        st.sampled_from(["u1", "u2"]),
        st.sampled_from(["i1", "i2", "i3", "i4"]),
        st.floats(0.1, 5.0),
        st.integers(0, 3_000_000),
    ),
    min_size=1,
    max_size=30,
)
TAGS: dict[str, Tags] = {"i1": (("a", 1.0), ("b", 0.5)), "i2": (("a", 2.0),), "i3": (("c", 1.0),)}  # i4: none


@given(terms)
def test_rows_and_evidence_match_the_events_folded_by_hand(events: list[tuple[str, str, float, int]]) -> None:
    users, interests, t0 = aggregate_interactions([Interaction(*e) for e in events], TAU, TAGS)
    assert t0 == min(ts for _, _, _, ts in events)
    assert [u for u, _, _ in users] == list(dict.fromkeys(u for u, _, _, _ in events))
    assert sorted(interests) == sorted({t for _, i, _, _ in events for t, _ in TAGS.get(i, ())})
    for user_id, item_rows, evidence_rows in users:
        mine = [e for e in events if e[0] == user_id]
        for row in item_rows:
            item_id, weight, last = row[:3]
            count, first, term = row[3:] if len(row) == 6 else (1, last, weight)  # one event: the short row
            on_item_terms = [(w, ts) for _, i, w, ts in mine if i == item_id]
            assert term == pytest.approx(fold_many(on_item_terms, TAU)[0], rel=1e-9)
            on_item = [(w, ts) for _, i, w, ts in mine if i == item_id]
            assert count == len(on_item) and weight == pytest.approx(sum(w for w, _ in on_item))
            assert (t0 + first, t0 + last) == (min(ts for _, ts in on_item), max(ts for _, ts in on_item))
        assert sorted(r[0] for r in item_rows) == sorted({i for _, i, _, _ in mine})
        by_hand = {}
        for interest in {t for _, i, _, _ in mine for t, _ in TAGS.get(i, ())}:
            tagged = [(w * tw, ts) for _, i, w, ts in mine for t, tw in TAGS.get(i, ()) if t == interest]
            by_hand[interest] = fold_many(tagged, TAU)
        got = {interests[k]: (value, t0 + ts) for k, value, ts in evidence_rows}
        assert got.keys() == by_hand.keys()
        for interest, (value, ts) in got.items():
            assert ts == by_hand[interest][1]
            assert math.isclose(value, by_hand[interest][0], rel_tol=1e-9)
