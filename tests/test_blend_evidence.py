"""Evidence made lazily (service.recs.context.LazyEvidence): made only for the items an
answer explains, once each; the blend keeps it lazy and explains as with a plain dict."""

from __future__ import annotations

from service.recs.blend import Scores
from service.recs.context import Found, LazyEvidence
from service.recs.evidence import Evidence, LearnedRanking, SimilarTo, Trending


def _lazy(specs: dict[str, str | None], made: list[str]) -> LazyEvidence:
    def make(item: str, because: str | None) -> Evidence:
        made.append(item)
        return LearnedRanking("v1", because, None)

    return LazyEvidence(specs, make)


def test_evidence_is_made_when_asked_for_and_once():
    made: list[str] = []
    ev = _lazy({"a": "x", "b": None, "c": "y"}, made)
    assert made == [] and len(ev) == 3 and list(ev) == ["a", "b", "c"] and "b" in ev and "z" not in ev
    assert ev["c"] == LearnedRanking("v1", "y", None) and ev["c"] is ev["c"]
    assert made == ["c"]
    assert ev.get("z") is None


def test_the_blend_explains_lazy_evidence_as_a_dict_and_makes_only_the_shown():
    specs = {"a": "x", "b": None, "c": "y"}
    graph = Found({"a": 0.2, "d": 1.0}, {"a": SimilarTo("p", None), "d": SimilarTo("q", "Q")})
    made: list[str] = []
    lazy, eager = Scores(), Scores()
    lazy.add("learned", Found({"a": 1.0, "b": 0.5, "c": 0.7}, _lazy(specs, made)))
    eager.add("learned", Found({"a": 1.0, "b": 0.5, "c": 0.7}, dict(_lazy(specs, []).items())))
    for sc in (lazy, eager):
        sc.add("graph", graph)
    weights = {"learned": 1.0, "graph": 0.5}
    assert lazy.totals(["a", "b", "c", "d"], weights) == eager.totals(["a", "b", "c", "d"], weights)
    explain = lazy.explainer(weights)
    for item in ("a", "d"):
        assert explain(item) == eager.explain(item, weights)
    assert made == ["a"]  # "d" is the graph source's alone; "b" and "c" were not shown


def test_a_second_find_of_a_source_merges_into_its_lazy_evidence():
    made: list[str] = []
    sc = Scores()
    sc.add("trending", Found({"a": 0.5, "b": 0.4}, _lazy({"a": None, "b": None}, made)))
    sc.add("trending", Found({"b": 0.9, "c": 0.1}, {"b": Trending(3), "c": Trending(7)}))
    found = sc.by_source["trending"]
    assert found.scores == {"a": 0.5, "b": 0.9, "c": 0.1}
    assert found.evidence["b"] == Trending(3) and found.evidence["c"] == Trending(7)
    assert found.evidence["a"] == LearnedRanking("v1", None, None)


def test_a_first_find_is_not_shared_with_its_source():
    finds = Found({"a": 1.0}, {"a": Trending(1)})
    sc = Scores()
    sc.add("trending", finds)
    finds.scores["b"], finds.evidence["b"] = 0.5, Trending(2)
    assert sc.by_source["trending"].scores == {"a": 1.0} and list(sc.by_source["trending"].evidence) == ["a"]
