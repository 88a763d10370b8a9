"""Ingestion throughput: events/s through the SQL event log + graph, and the
MovieLens-100K import time. Runs on a fresh temporary DATA_DIR (embedded store
and SQLite) unless GRAPH_URI / DATABASE_URL say otherwise.

    .venv/bin/python bench/ingest.py [--events 50000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from graph_schema.model import CatalogueItem
from graph_schema.settings import Settings
from graph_schema.store import open_store
from graph_schema.store.factory import embedded_server
from service.ingest.eventlog import EventLog
from service.ingest.movielens import import_movielens
from service.ingest.schemas import EventIn


def bench_events(data_dir: Path, n_events: int, batch: int) -> dict[str, float]:
    settings = Settings(data_dir=data_dir, graph_name="bench_events", batch_size=batch)
    log = EventLog(settings)
    rng = random.Random(7)
    types = ["view", "click", "cart", "purchase"]
    with open_store(settings) as store:
        store.migrate()
        store.upsert_items(
            [CatalogueItem(f"i{i}", f"Item {i}", tuple(f"t{rng.randrange(50)}" for _ in range(2))) for i in range(2000)]
        )
        per_batch: list[float] = []
        t_total = time.perf_counter()
        for start in range(0, n_events, batch):
            t0 = time.perf_counter()
            events = [
                (
                    n,
                    EventIn(
                        event_id=f"e{n}",
                        user_id=f"u{rng.randrange(5000)}",
                        item_id=f"i{rng.randrange(2000)}",
                        type=rng.choice(types),
                        ts=1_700_000_000_000 + n * 1000,
                    ),
                )
                for n in range(start, min(start + batch, n_events))
            ]
            log.accept(events)
            log.apply_pending(store)
            per_batch.append(time.perf_counter() - t0)
        total = time.perf_counter() - t_total
    return {
        "events": n_events,
        "batch": batch,
        "seconds": total,
        "events_per_s": n_events / total,
        "batch_median_ms": statistics.median(per_batch) * 1000,
    }


def bench_movielens(data_dir: Path) -> dict[str, float]:
    settings = Settings(data_dir=data_dir, graph_name="bench_ml", database_url=f"sqlite:///{data_dir / 'ml.sqlite3'}")
    with open_store(settings) as store:
        store.migrate()
        t0 = time.perf_counter()
        report = import_movielens(store, EventLog(settings))
        seconds = time.perf_counter() - t0
        counts = store.counts()
    return {"seconds": seconds, "ratings": report["applied"], "edges": counts["relationships"]["INTERACTED"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        data_dir = Path(tmp)
        try:
            ev = bench_events(data_dir, args.events, args.batch)
            ml = bench_movielens(data_dir)
        finally:
            embedded_server(Settings(data_dir=data_dir)).stop()
    print("ingest through event log + graph (embedded FalkorDB, SQLite)")
    print(
        f"  {ev['events']:,} events in batches of {ev['batch']:,}: {ev['events_per_s']:,.0f} events/s "
        f"(median batch {ev['batch_median_ms']:.1f} ms, total {ev['seconds']:.1f} s)"
    )
    print(
        f"  MovieLens-100K import: {ml['seconds']:.1f} s ({ml['ratings']:,} ratings, {ml['edges']:,} INTERACTED edges)"
    )


if __name__ == "__main__":
    main()
