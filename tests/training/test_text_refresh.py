"""Text in the refresh, on FalkorDB and on Neo4j, with the real all-MiniLM-L6-v2 (loaded
once per process, offline): changed texts embedded and stored, unchanged ones not, text
tags proposed on a tiny synthetic catalogue, kept apart from the catalogue's, and counted
as live evidence only once their model version is published."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("dgl")
pytest.importorskip("sentence_transformers")

from graph_schema.rows import CatalogueItem, Interaction
from training import text
from training.config import TrainConfig
from training.refresh import RefreshOptions, run_refresh
from training.text_cache import TextVectorCache

pytestmark = pytest.mark.graph_engines

DAY = 86_400_000
T0 = 1_700_000_000_000
OPTS = RefreshOptions(
    top_n_interests=2,
    similar_k=3,
    train=TrainConfig(dim=8, layers=2, lr=0.05, epochs=4, batch_size=256, progress=False, device="cpu", seed=3),
)
# two interests the catalogue uses, each with a few tagged items; the last item of each
# kind is untagged and must be tagged from its text alone
DESCRIPTIONS = {
    "jazz": ["saxophone and piano jazz standards", "smooth jazz piano trio", "late night jazz club saxophone"],
    "hiking": ["waterproof boots for mountain hiking trails", "a backpack for long mountain hikes", "trail map"],
}
UNTAGGED = {"jazz": "jazz2", "hiking": "hiking2"}


def catalogue(changed: dict[str, str] | None = None) -> list[CatalogueItem]:
    items = []
    for interest, texts in DESCRIPTIONS.items():
        for k, description in enumerate(texts):
            item_id = f"{interest}{k}"
            tags = () if item_id in UNTAGGED.values() else (interest,)
            description = (changed or {}).get(item_id, description)
            items.append(CatalogueItem(item_id, f"{interest} item {k}", tags, {"description": description}))
    return items


@pytest.fixture
def loaded(graph_store, training_settings):
    graph_store.upsert_items(catalogue())
    graph_store.upsert_interests(
        [
            {"interest_id": "jazz", "name": "jazz music", "kind": "genre"},
            {"interest_id": "hiking", "name": "hiking", "kind": "genre"},
        ]
    )
    # each group of users takes its interest's first two items; the third has no interaction
    events = [
        Interaction(f"{interest}-user{u}", f"{interest}{k}", 1.0, T0 + (u + k) * DAY)
        for u in range(6)
        for interest in DESCRIPTIONS
        for k in range(2)
    ]
    graph_store.apply_interactions(events, training_settings.evidence_tau_ms)
    return graph_store


def text_tags(store) -> dict[str, tuple[str, str]]:
    rows = store.read_only_query(
        "MATCH (i:Item)-[t:TAGGED]->(x:Interest) WHERE t.source = 'text' RETURN i.id, x.id, t.model_version",
        None,
        5000,
        100,
    ).rows
    return {f"{r[0]}->{r[1]}": r[2] for r in rows}


def test_refresh_stores_text_vectors_and_embeds_only_changed_texts(loaded, training_settings):
    store = loaded
    first = run_refresh(store, training_settings, "full", options=OPTS)
    assert first.status == "published" and "text" in first.phases
    assert first.counts["item_texts_embedded"] == 6 and first.counts["interest_texts_embedded"] == 2
    assert text.load_encoder.cache_info().currsize == 0  # released once the texts are embedded
    rows = store.read_only_query(
        "MATCH (n) WHERE n:Item OR n:Interest RETURN n.id, size(n.text_embedding), n.text_hash ORDER BY n.id",
        None,
        5000,
        100,
    ).rows
    assert len(rows) == 8 and all(r[1] == text.DIMENSIONS and len(r[2]) == 32 for r in rows)

    second = run_refresh(store, training_settings, "full", options=OPTS, force=True)
    assert second.counts["item_texts_embedded"] == 0 and second.counts["item_texts_unchanged"] == 6
    assert second.counts["interest_texts_embedded"] == 0

    store.upsert_items(catalogue({"jazz0": "bebop saxophone jazz quartet"}))
    third = run_refresh(store, training_settings, "full", options=OPTS, force=True)
    assert third.counts["item_texts_embedded"] == 1 and third.counts["item_texts_unchanged"] == 5


def test_untagged_items_get_the_right_text_tag_apart_from_the_catalogue(loaded, training_settings):
    store = loaded
    res = run_refresh(store, training_settings, "full", options=OPTS)
    tags = text_tags(store)
    for interest, item in UNTAGGED.items():
        assert tags.get(f"{item}->{interest}") == res.model_version, tags
    assert not any(t.split("->")[0].startswith("hiking") and t.endswith("jazz") for t in tags), tags
    # the catalogue's own tags are marked as such, never proposed again as text tags
    sources = store.read_only_query(
        "MATCH (:Item {id: 'jazz0'})-[t:TAGGED]->(:Interest {id: 'jazz'}) RETURN t.source", None, 5000, 10
    ).rows
    assert sources == [["catalogue"]]
    # a catalogue upsert keeps the text tags; one that now lists the pair takes it over
    store.upsert_items(catalogue())
    assert text_tags(store) == tags
    store.upsert_items(
        [CatalogueItem("jazz2", "jazz item 2", ("jazz",), {"description": "late night jazz club saxophone"})]
    )
    assert "jazz2->jazz" not in text_tags(store)
    pairs = store.read_only_query(
        "MATCH (:Item {id: 'jazz2'})-[t:TAGGED]->(:Interest {id: 'jazz'}) RETURN t.source", None, 5000, 10
    ).rows
    assert pairs == [["catalogue"]]


def test_live_evidence_counts_text_tags_once_published(loaded, training_settings):
    store = loaded
    res = run_refresh(store, training_settings, "full", options=OPTS)
    assert text_tags(store).get("hiking2->hiking") == res.model_version

    def evidence(user: str) -> dict[str, float]:
        return {r["interest_id"]: r["evidence"] for r in store.user_interests(user) if r.get("evidence")}

    store.apply_interactions([Interaction("fresh", "hiking2", 1.0, T0 + 30 * DAY)], training_settings.evidence_tau_ms)
    assert "hiking" in evidence("fresh")
    # another version published (one that wrote no text tags): the tags no longer count
    store.publish_model("not-the-tags-version", store.current_model()["metrics"])
    store.apply_interactions([Interaction("other", "hiking2", 1.0, T0 + 30 * DAY)], training_settings.evidence_tau_ms)
    assert "hiking" not in evidence("other")


def test_catalogue_can_opt_out_of_text_tags(loaded, training_settings):
    store = loaded
    run_refresh(store, training_settings, "full", options=OPTS)
    assert text_tags(store)
    res = run_refresh(store, training_settings, "full", options=replace(OPTS, text_tags=False), force=True)
    assert text_tags(store) == {} and res.counts["text_tags_removed"] > 0


def test_refresh_runs_without_text_when_turned_off(loaded, training_settings):
    store = loaded
    res = run_refresh(store, training_settings, "full", options=replace(OPTS, text_features=False))
    assert res.status == "published" and "item_texts_embedded" not in res.counts
    assert store.read_only_query(
        "MATCH (i:Item) WHERE i.text_embedding IS NOT NULL RETURN count(i)", None, 5000, 1
    ).rows == [[0]]
    assert np.isfinite(res.metrics["ndcg@20"])


def test_an_item_without_interactions_gets_a_vector_from_its_text(loaded, training_settings):
    store = loaded
    res = run_refresh(store, training_settings, "full", options=OPTS)
    for interest, cold in UNTAGGED.items():
        similar = store.read_named("item_similar", item_id=cold, model_version=res.model_version, k=2)
        assert {r["item_id"] for r in similar} == {f"{interest}0", f"{interest}1"}, (cold, similar)
    vectors = store.read_only_query(
        "MATCH (i:Item) WHERE i.id IN ['jazz2', 'hiking2'] RETURN i.id, i.model_version, size(i.embedding)",
        None,
        5000,
        10,
    ).rows
    assert sorted(vectors) == [["hiking2", res.model_version, 8], ["jazz2", res.model_version, 8]]
    # what serving reads: a neighbour with a vector from text alone is marked, and explained so
    lists = store.similar_lists(res.model_version, ["jazz0"], 5)["jazz0"]
    via = {n.item_id: n.via for n in lists}
    assert via["jazz2"] == "text" and via["jazz1"] is None, via


def test_a_tag_from_before_sources_counts_as_the_catalogues_and_is_upgraded_on_upsert(loaded):
    store = loaded
    # a graph written before TAGGED.source existed (the one ad-hoc write, to make such an edge)
    store._write("MATCH (:Item {id: 'jazz0'})-[t:TAGGED]->() SET t.source = null", {})
    assert {r["interest_id"] for r in store.read_named("pull_tags") if r["item_id"] == "jazz0"} == {"jazz"}
    store.upsert_items(catalogue())
    rows = store.read_only_query(
        "MATCH (:Item {id: 'jazz0'})-[t:TAGGED]->(x:Interest) RETURN x.id, t.source", None, 5000, 10
    ).rows
    assert rows == [["jazz", "catalogue"]]


def test_unchanged_text_vectors_come_from_the_local_cache(loaded, training_settings, monkeypatch):
    """A run reads the vectors of unchanged texts from DATA_DIR's cache, not the graph; without
    the cache (or with a damaged one) it pulls them from the graph, embedding nothing again."""
    store = loaded
    pulls: list[str] = []
    pull = store.pull_text_vectors

    def counted(label, *args, **kwargs):
        pulls.append(label)
        return pull(label, *args, **kwargs)

    monkeypatch.setattr(store, "pull_text_vectors", counted)
    first = run_refresh(store, training_settings, "full", options=OPTS)
    assert first.counts["item_texts_embedded"] == 6 and pulls == []  # nothing stored yet to pull
    cache = training_settings.text_cache_dir / "item.npz"
    with np.load(cache) as saved:
        cached = dict(zip(saved["hashes"].tolist(), saved["vectors"], strict=True))
    rows = store.read_only_query(
        "MATCH (n:Item) RETURN n.id, n.text_hash, n.text_embedding ORDER BY n.id", None, 5000, 100
    ).rows
    assert len(cached) == len(rows) == 6
    for _, digest, vector in rows:  # the cache holds exactly what the graph stores
        np.testing.assert_allclose(cached[digest], np.asarray(vector, dtype=np.float32), atol=1e-6)

    second = run_refresh(store, training_settings, "full", options=OPTS, force=True)
    assert second.counts["item_texts_embedded"] == 0 and second.counts["item_texts_unchanged"] == 6
    assert pulls == []

    cache.write_bytes(b"not a numpy file")  # damaged: only a miss
    third = run_refresh(store, training_settings, "full", options=OPTS, force=True)
    assert third.counts["item_texts_embedded"] == 0 and pulls == ["Item"]
    with np.load(cache) as saved:  # and written again
        assert sorted(saved["hashes"].tolist()) == sorted(r[1] for r in rows)

    store.upsert_items(catalogue({"jazz0": "bebop saxophone jazz quartet"}))
    for f in training_settings.text_cache_dir.iterdir():
        f.unlink()
    fourth = run_refresh(store, training_settings, "full", options=OPTS, force=True)
    assert fourth.counts["item_texts_embedded"] == 1 and fourth.counts["item_texts_unchanged"] == 5
    assert pulls == ["Item", "Item", "Interest"]


def test_unchanged_text_tags_are_carried_to_the_new_version(loaded, training_settings):
    """A run with no text embedded and the catalogue unchanged moves the published text tags to
    its version (live evidence keeps counting them); a catalogue change, or another version's
    tags, or other settings make it write them again."""
    store = loaded
    first = run_refresh(store, training_settings, "full", options=OPTS)
    written = text_tags(store)
    assert written and set(written.values()) == {first.model_version} and "text_tags" in first.counts

    second = run_refresh(store, training_settings, "full", options=OPTS, force=True)
    assert second.counts["text_tags_carried"] == len(written) and "text_tags" not in second.counts
    assert text_tags(store) == dict.fromkeys(written, second.model_version)  # the same tags, moved
    store.apply_interactions([Interaction("late", "hiking2", 1.0, T0 + 30 * DAY)], training_settings.evidence_tau_ms)
    assert any(r["interest_id"] == "hiking" and r.get("evidence") for r in store.user_interests("late"))

    other = run_refresh(store, training_settings, "full", options=replace(OPTS, text_tag_threshold=0.2), force=True)
    assert "text_tags" in other.counts and "text_tags_carried" not in other.counts  # other settings
    again = run_refresh(store, training_settings, "full", options=replace(OPTS, text_tag_threshold=0.2), force=True)
    assert "text_tags_carried" in again.counts

    store.upsert_items(catalogue())  # the catalogue moved on (the same records: rev only)
    fourth = run_refresh(store, training_settings, "full", options=replace(OPTS, text_tag_threshold=0.2), force=True)
    assert "text_tags" in fourth.counts and "text_tags_carried" not in fourth.counts
    assert set(text_tags(store).values()) == {fourth.model_version}

    # a version published without writing tags: its successor writes them (not its own to carry)
    store.publish_model("not-the-tags-version", store.current_model()["metrics"])
    fifth = run_refresh(store, training_settings, "full", options=replace(OPTS, text_tag_threshold=0.2), force=True)
    assert "text_tags" in fifth.counts and set(text_tags(store).values()) == {fifth.model_version}


def test_a_catalogue_change_during_a_run_is_not_carried_past(loaded, training_settings):
    """The text tags record the catalogue revision their run read before its text phase: an
    upsert while the run trains leaves them behind the catalogue, so the next run writes them
    from the new catalogue instead of carrying the old ones (with the revision read at the
    end, the next run carried tags that missed the removed catalogue tag)."""
    store = loaded
    opts = replace(OPTS, text_tag_threshold=0.2)
    run_refresh(store, training_settings, "full", options=opts)
    assert "jazz0->jazz" not in text_tags(store)  # a catalogue tag, never a text tag too

    def untag_jazz0(phase: str) -> None:
        if phase == "evaluate":  # after the pull: this run's tags come from the old catalogue
            items = [i if i.item_id != "jazz0" else replace(i, interests=()) for i in catalogue()]
            store.upsert_items(items)

    during = run_refresh(store, training_settings, "full", options=opts, force=True, on_phase=untag_jazz0)
    assert during.status == "published" and "jazz0->jazz" not in text_tags(store)
    after = run_refresh(store, training_settings, "full", options=opts, force=True)
    assert "text_tags" in after.counts and "text_tags_carried" not in after.counts
    assert text_tags(store)["jazz0->jazz"] == after.model_version  # the catalogue no longer lists it
    again = run_refresh(store, training_settings, "full", options=opts, force=True)
    assert again.counts["text_tags_carried"] == len(text_tags(store))  # now current: carried


def test_a_run_reads_no_text_while_the_catalogue_stands(loaded, training_settings, monkeypatch):
    """While no item or interest has been upserted since a run read every text, the next
    run takes all text vectors from the cache without reading a text from the graph; an
    interest renamed or an item changed makes it read them all again and embed the change."""
    store = loaded
    reads: list[str] = []
    pull = store.pull_texts
    monkeypatch.setattr(store, "pull_texts", lambda label, *a, **kw: reads.append(label) or pull(label, *a, **kw))
    first = run_refresh(store, training_settings, "full", options=OPTS)
    assert reads == ["Item", "Interest"] and first.counts["item_texts_embedded"] == 6
    tags = text_tags(store)

    second = run_refresh(store, training_settings, "full", options=OPTS, force=True)
    assert reads == ["Item", "Interest"]  # none this time
    assert second.counts["item_texts_unchanged"] == 6 and second.counts["interest_texts_unchanged"] == 2
    assert second.counts["text_tags_carried"] == len(tags)

    store.upsert_interests([{"interest_id": "hiking", "name": "mountain hiking and trekking", "kind": "genre"}])
    third = run_refresh(store, training_settings, "full", options=OPTS, force=True)
    assert reads[2:] == ["Item", "Interest"] and third.counts["interest_texts_embedded"] == 1
    assert "text_tags" in third.counts  # a new interest text: the tags are chosen again

    store.upsert_items(catalogue({"jazz1": "a cello suite"}))
    fourth = run_refresh(store, training_settings, "full", options=OPTS, force=True)
    assert reads[4:] == ["Item", "Interest"] and fourth.counts["item_texts_embedded"] == 1
    run_refresh(store, training_settings, "full", options=OPTS, force=True)
    assert len(reads) == 6

    # a cache file not written (disk full): no revision is claimed for the stale one
    real_save, failing = TextVectorCache.save, {"Item"}
    monkeypatch.setattr(
        TextVectorCache,
        "save",
        lambda self, label, *a, **kw: False if label in failing else real_save(self, label, *a, **kw),
    )
    store.upsert_items(catalogue({"jazz1": "a violin sonata"}))
    run_refresh(store, training_settings, "full", options=OPTS, force=True)
    assert len(reads) == 8 and not (training_settings.text_cache_dir / "manifest.json").exists()
    failing.clear()
    run_refresh(store, training_settings, "full", options=OPTS, force=True)
    assert len(reads) == 10  # read again, and the cache then complete
    run_refresh(store, training_settings, "full", options=OPTS, force=True)
    assert len(reads) == 10
