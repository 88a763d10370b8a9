"""MovieLens-100K import from the files shipped in the recbole wheel, and replay; the
import and the training benchmark read the files alike (one reader, one genre-id rule)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graph_schema.settings import Settings
from graph_schema.store import GraphStore, open_store
from service.ingest import movielens
from service.ingest.eventlog import EventLog
from service.ingest.replay import replay
from tests.ingest.conftest import make_settings
from training.movielens import load, load_ml100k, ml100k_dir

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def imported(ingest_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, dict]]:
    settings = make_settings(ingest_data_dir, tmp_path_factory.mktemp("ml"))
    with open_store(settings) as store:
        store.migrate()
        report = movielens.import_movielens(store, EventLog(settings))
    yield settings, report


def test_files_are_found_in_the_recbole_wheel_without_importing_it() -> None:
    import sys

    d = ml100k_dir()
    assert (d / "ml-100k.inter").is_file()
    assert "recbole" not in sys.modules


def test_import_gives_the_expected_graph(imported: tuple[Settings, dict]) -> None:
    settings, report = imported
    assert report["ratings"] == 100_000 and report["accepted"] == 100_000 and report["pending"] == 0
    with open_store(settings) as store:
        counts = store.counts()
        assert counts["nodes"]["User"] == 943
        assert counts["nodes"]["Item"] == 1682
        assert counts["nodes"]["Interest"] == 19
        assert counts["relationships"]["INTERACTED"] == 100_000
        # user 1 rated item 1 (Toy Story) 5 stars; Toy Story is Animation, Children's, Comedy
        toy = [r for r in store.user_interactions("1", limit=500) if r["item_id"] == "1"]
        assert toy and toy[0]["weight"] == 5.0 and toy[0]["count"] == 1
        tags = store.read_only_query(
            "MATCH (:Item {id: '1'})-[:TAGGED]->(g:Interest) RETURN g.name ORDER BY g.name", {}, 5000, 10
        )
        assert [r[0] for r in tags.rows] == ["Animation", "Children's", "Comedy"]


def test_the_import_and_the_training_benchmark_tag_movies_with_the_same_genre_ids(
    imported: tuple[Settings, dict],
) -> None:
    settings, _ = imported
    with open_store(settings) as store:
        graph = store.read_only_query("MATCH (i:Item)-[:TAGGED]->(g:Interest) RETURN i.id, g.id", {}, 30_000, 10_000)
    _, tags, _ = load_ml100k()
    assert {(t["item_id"], t["interest_id"]) for t in tags} == {tuple(r) for r in graph.rows}
    assert {"genre:childrens", "genre:sci-fi", "genre:film-noir"} <= {t["interest_id"] for t in tags}


def test_importing_again_adds_nothing(imported: tuple[Settings, dict]) -> None:
    settings, _ = imported
    with open_store(settings) as store:
        report = movielens.import_movielens(store, EventLog(settings))
        assert report["accepted"] == 0 and report["duplicates"] == 100_000
        assert store.counts()["relationships"]["INTERACTED"] == 100_000


def _fingerprint(store: GraphStore) -> dict[str, Any]:
    def q(text: str) -> list[list[Any]]:
        return store.read_only_query(text, {}, 30_000, 10).rows

    return {
        "counts": {k: v for k, v in store.counts()["nodes"].items() if k in ("User", "Item", "Interest")},
        "rels": {k: v for k, v in store.counts()["relationships"].items()},
        "interacted": q(
            "MATCH (:User)-[r:INTERACTED]->(:Item) RETURN sum(r.weight), sum(r.count), min(r.first_ts), max(r.last_ts)"
        ),
        "evidence": q(
            "MATCH (:User)-[r:INTERESTED_IN]->(:Interest) RETURN count(r), sum(r.evidence), max(r.evidence_ts)"
        ),
        "user42": q(
            "MATCH (:User {id: '42'})-[r:INTERESTED_IN]->(t:Interest) "
            "RETURN t.id, r.evidence, r.evidence_ts ORDER BY t.id"
        ),
    }


def test_replay_into_an_empty_store_reproduces_the_graph(
    imported: tuple[Settings, dict], ingest_data_dir: Path, tmp_path: Path
) -> None:
    settings, _ = imported
    with open_store(settings) as store:
        original = _fingerprint(store)
    target = settings.model_copy(update={"graph_name": settings.graph_name + "_replay"})
    with open_store(target) as store:
        store.migrate()
        assert replay(EventLog(target), store) == 100_000
        replayed = _fingerprint(store)
    assert replayed["counts"] == original["counts"]
    assert replayed["rels"] == original["rels"]
    assert replayed["interacted"] == original["interacted"]
    assert len(replayed["user42"]) == len(original["user42"]) > 0
    assert _close(replayed["user42"], original["user42"])
    assert replayed["evidence"][0][0] == original["evidence"][0][0]
    assert replayed["evidence"][0][1] == pytest.approx(original["evidence"][0][1], rel=1e-9)


def _close(a: list[list[Any]], b: list[list[Any]]) -> bool:
    return all(
        x[0] == y[0] and abs(x[1] - y[1]) <= 1e-9 * abs(y[1]) and x[2] == y[2] for x, y in zip(a, b, strict=True)
    )


def test_classic_layout_is_read_too(tmp_path: Path) -> None:
    (tmp_path / "u.user").write_text("1|24|M|technician|85711\n")
    (tmp_path / "u.item").write_text(
        "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n", encoding="latin-1"
    )
    (tmp_path / "u.data").write_text("1\t1\t5\t874965758\n")
    ml = load(tmp_path)
    assert ml.ratings == [("1", "1", 5.0, 874_965_758_000)]
    item = movielens.catalogue_items(ml)[0]
    assert item.interests == ["genre:animation", "genre:childrens", "genre:comedy"]
    assert item.attributes == {"year": 1995, "genres": ["Animation", "Children's", "Comedy"]}
    assert ml.users[0]["props"]["occupation"] == "technician"
    # the training benchmark's rows name the genres alike
    _, tags, _ = load_ml100k(tmp_path)
    assert [t["interest_id"] for t in tags] == item.interests
