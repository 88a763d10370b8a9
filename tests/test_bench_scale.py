"""bench/scale.py's synthetic data: the same files for a seed, the requested number of events,
power-law skew, and a catalogue and events that the real ingest path takes whole."""

from __future__ import annotations

import json
from pathlib import Path

from bench.scale import DAY_MS, DAYS, END_MS, EVENT_TYPES, Spec, load_catalogue, write_dataset, write_new_events
from graph_schema.settings import Settings
from graph_schema.store import open_store
from graph_schema.store.factory import embedded_server
from service.ingest.eventlog import EventLog
from service.ingest.graph_writer import GraphWriter
from service.ingest.jsonl import read_events


def _files(spec: Spec, directory: Path) -> tuple[bytes, bytes]:
    directory.mkdir()
    write_dataset(spec, directory)
    return (directory / "events.jsonl").read_bytes(), (directory / "catalogue.jsonl").read_bytes()


def test_a_seed_gives_the_same_files_and_another_seed_others(tmp_path: Path) -> None:
    first = _files(Spec.of(5_000, seed=3), tmp_path / "a")
    assert first == _files(Spec.of(5_000, seed=3), tmp_path / "b")
    other = _files(Spec.of(5_000, seed=4), tmp_path / "c")
    assert other[0] != first[0] and other[1] != first[1]


def test_the_requested_events_in_time_order_with_power_law_skew(tmp_path: Path) -> None:
    spec = Spec.of(120_000)  # more than two generator chunks
    assert (spec.users, spec.items) == (6_000, 2_400)  # the ratios: events / 20, events / 50
    _, stats = write_dataset(spec, tmp_path)
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").open()]
    assert len(events) == stats.events == 120_000
    assert len({e["event_id"] for e in events}) == 120_000
    ts = [e["ts"] for e in events]
    assert ts == sorted(ts) and ts[0] >= END_MS - DAYS * DAY_MS and ts[-1] < END_MS
    assert {e["type"] for e in events} == set(EVENT_TYPES)
    assert all("weight" in e for e in events if e["type"] == "rating")
    # power law: the top 1 % of items and of users get far more than 1 % of the events
    assert stats.top_share(stats.item_events) > 0.15
    assert stats.top_share(stats.user_events) > 0.05
    assert stats.items > 0.95 * spec.items and stats.users > 0.9 * spec.users


def test_the_ingest_path_accepts_the_catalogue_and_every_event(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = Settings(
        data_dir=data, graph_uri=None, graph_name="scale_test", database_url=f"sqlite:///{data / 'log.sqlite3'}"
    )
    spec = Spec.of(2_000, seed=1)
    world, stats = write_dataset(spec, tmp_path)
    new = write_new_events(world, tmp_path / "new.jsonl", 20)
    later = write_new_events(world, tmp_path / "new-1.jsonl", 20, round_=1)  # --incremental-rounds 2
    log = EventLog(settings)
    rejected: list[dict[str, object]] = []
    try:
        with open_store(settings) as store:
            store.migrate()
            assert load_catalogue(settings, store, world, tmp_path / "catalogue.jsonl") == spec.items
            for path in ("events.jsonl", "new.jsonl", "new-1.jsonl"):  # what `interest-graph ingest FILE` does
                with (tmp_path / path).open() as fh:
                    report, applied = GraphWriter(log).ingest(store, read_events(fh, rejected))
                assert not report.rejected and applied.error is None
            counts = store.counts()
    finally:
        embedded_server(settings).stop()
    assert not rejected
    assert log.count() == stats.events + new.events + later.events == 2_040  # each round's events have new ids
    first, second = ([json.loads(line)["ts"] for line in (tmp_path / f).open()] for f in ("new.jsonl", "new-1.jsonl"))
    assert max(first) < min(second)  # a round is the day after the one before
    assert log.pending_count() == 0
    assert counts["nodes"]["Item"] == spec.items and counts["nodes"]["Interest"] == spec.interests
    users = set().union(*(set(g.user_events.nonzero()[0]) for g in (stats, new, later)))
    assert counts["nodes"]["User"] == len(users)
    assert counts["relationships"]["TAGGED"] == len(world.tag_item)
