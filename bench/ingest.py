"""Ingestion throughput: events/s through the SQL event log + graph, and the
MovieLens-100K import time. Runs on a fresh temporary DATA_DIR (SQLite, unless
DATABASE_URL says otherwise) with the graph engine of --backend:

- falkordb (default): the embedded FalkorDB in that DATA_DIR.
- neo4j: the project's test Neo4j 5 (tests/engines.py), started for this run, new and
  empty, stopped at the end whatever happens; or the server in NEO4J_URI (+ NEO4J_USER /
  NEO4J_PASSWORD) with --wipe (everything in its database is deleted before, between
  the measurements, and after).

    .venv/bin/python bench/ingest.py [--backend falkordb|neo4j] [--events 50000] [--batch 1000] [--clients 1]
                                     [--impressions 10] [--skip-movielens]

Two ways in, each on a fresh graph (FalkorDB: its own graph key; Neo4j: the database
emptied) and event log:
- stream: what `interest-graph ingest FILE` does with JSON lines: parse and
  validate (service.ingest.jsonl), then GraphWriter.ingest(), which logs and claims
  batch k+1 while the graph writes batch k.
- requests: what POST /v1/events does with `batch` events per request:
  validate_each (pydantic), accept (SQL log), apply_pending (graph), one request
  after another. --clients N runs N client processes at once (like the API's
  gunicorn workers), each sending its share; the graph server and SQLite are shared.
CPU per batch: this benchmark's client processes, and the graph server process
(all its threads, from /proc; Linux only; the embedded FalkorDB or the test Neo4j's JVM,
not a server given by NEO4J_URI).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.engines import Engine, add_backend_arguments, graph_engine
from graph_schema.rows import CatalogueItem
from graph_schema.settings import Settings
from graph_schema.store import open_store
from graph_schema.store.factory import embedded_server
from service.ingest.eventlog import EventLog
from service.ingest.graph_writer import GraphWriter
from service.ingest.jsonl import read_events
from service.ingest.movielens import import_movielens
from service.ingest.recid import Served, new_rec_id
from service.ingest.schemas import EventIn, validate_each
from service.runtime import tune_gc


def _server_cpu_s(engine: Engine, settings: Settings) -> float | None:
    """CPU time of every thread of the graph server (Linux /proc), s: the embedded
    FalkorDB, or the JVM of the test Neo4j started by this run."""
    pid = engine.server_pid(settings)
    if pid is None:
        return None
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/schedstat") as fh:
                total += int(fh.read().split()[0])
    except OSError:
        return None
    return total / 1e9


def _events_settings(engine: Engine, data_dir: Path, batch: int, name: str = "bench_events") -> Settings:
    return engine.settings(
        data_dir=data_dir, graph_name=name, batch_size=batch, database_url=f"sqlite:///{data_dir / name}.sqlite3"
    )


def _catalogue(engine: Engine, settings: Settings) -> None:
    """A fresh graph (Neo4j: the database emptied; FalkorDB: each measurement has its
    own graph key) with 2,000 items with 2 of 50 interests each."""
    engine.wipe()
    rng = random.Random(11)
    with open_store(settings) as store:
        store.migrate()
        store.upsert_items(
            [CatalogueItem(f"i{i}", f"Item {i}", tuple(f"t{rng.randrange(50)}" for _ in range(2))) for i in range(2000)]
        )


def _raw_events(n_events: int, impressions_per_action: int = 0) -> list[dict[str, Any]]:
    """`n_events` events; with impressions_per_action r, r of every r + 1 are impressions
    (log only), and every event carries a served answer's rec_id and a position."""
    rng = random.Random(7)
    types = ["view", "click", "cart", "purchase"]
    rec_ids = [new_rec_id(Served("blend", "bench-v1", "bench", rng.choice("ab"))) for _ in range(1000)]
    events = []
    for n in range(n_events):
        event = {
            "event_id": f"e{n}",
            "user_id": f"u{rng.randrange(5000)}",
            "item_id": f"i{rng.randrange(2000)}",
            "type": rng.choice(types),
            "ts": 1_700_000_000_000 + n * 1000,
        }
        if impressions_per_action:
            if n % (impressions_per_action + 1):
                event["type"] = "impression"
            event["rec_id"] = rng.choice(rec_ids)
            event["position"] = rng.randrange(1, 21)
        events.append(event)
    return events


def _send(
    settings: Settings, requests: list[list[dict[str, Any]]], start_at: float
) -> tuple[list[float], float, float]:
    """One client: set up, wait for `start_at` (time.time(): the clients start
    together, after their processes started), then send requests one after another;
    (seconds per request, CPU s, time.time() when done)."""
    log = EventLog(settings)
    writer = GraphWriter(log)
    with open_store(settings) as store:
        store.ping()
        tune_gc()  # as in an API worker (gunicorn post_worker_init)
        per_request = []
        time.sleep(max(0.0, start_at - time.time()))
        cpu0 = time.process_time()
        for raw in requests:
            t0 = time.perf_counter()
            good, bad = validate_each(EventIn, raw)
            assert not bad
            log.accept(good)
            report = writer.apply_pending(store)
            assert report.error is None, report.error
            per_request.append(time.perf_counter() - t0)
        return per_request, time.process_time() - cpu0, time.time()


def bench_stream(engine: Engine, data_dir: Path, n_events: int, batch: int) -> dict[str, Any]:
    settings = _events_settings(engine, data_dir, batch, "bench_stream")
    _catalogue(engine, settings)
    lines = [json.dumps(e) for e in _raw_events(n_events)]  # the file's text, read up front
    log = EventLog(settings)
    tune_gc()  # as `interest-graph ingest` does
    with open_store(settings) as store:
        server0, cpu0 = _server_cpu_s(engine, settings), time.process_time()
        t0 = time.perf_counter()
        rejected: list[dict[str, Any]] = []
        _, applied = GraphWriter(log).ingest(store, read_events(lines, rejected))
        seconds = time.perf_counter() - t0
        client, server1 = time.process_time() - cpu0, _server_cpu_s(engine, settings)
    assert not rejected and applied.error is None and applied.applied == n_events, (rejected, applied)
    batches = n_events / batch
    return {
        "events": n_events,
        "batch": batch,
        "seconds": seconds,
        "events_per_s": n_events / seconds,
        "client_cpu_ms": client / batches * 1000,
        "server_cpu_ms": None if server0 is None or server1 is None else (server1 - server0) / batches * 1000,
    }


def bench_events(
    engine: Engine, data_dir: Path, n_events: int, batch: int, clients: int = 1, impressions: int = 0
) -> dict[str, Any]:
    settings = _events_settings(engine, data_dir, batch, name=f"bench_events_{impressions}")
    _catalogue(engine, settings)
    raw = _raw_events(n_events, impressions)  # generated up front: not part of the measurement
    requests = [raw[k : k + batch] for k in range(0, n_events, batch)]
    shares = [requests[c::clients] for c in range(clients)]
    server0 = _server_cpu_s(engine, settings)
    if clients == 1:
        start_at = time.time()
        results = [_send(settings, shares[0], start_at)]
    else:  # time to spawn the client processes and import everything, not measured
        start_at = time.time() + 5.0
        with multiprocessing.get_context("spawn").Pool(clients) as pool:
            results = pool.starmap(_send, [(settings, share, start_at) for share in shares])
    total = max(end for _, _, end in results) - start_at
    server1 = _server_cpu_s(engine, settings)
    per_request = [s for times, _, _ in results for s in times]
    n = len(per_request)
    return {
        "events": n_events,
        "impressions_per_action": impressions,
        "batch": batch,
        "clients": clients,
        "seconds": total,
        "events_per_s": n_events / total,
        "batch_median_ms": statistics.median(per_request) * 1000,
        "client_cpu_ms": sum(cpu for _, cpu, _ in results) / n * 1000,
        "server_cpu_ms": None if server0 is None or server1 is None else (server1 - server0) / n * 1000,
    }


def bench_movielens(engine: Engine, data_dir: Path) -> dict[str, Any]:
    settings = engine.settings(
        data_dir=data_dir, graph_name="bench_ml", database_url=f"sqlite:///{data_dir / 'ml.sqlite3'}"
    )
    engine.wipe()  # a fresh graph (Neo4j; FalkorDB: a graph key of its own)
    with open_store(settings) as store:
        store.migrate()
        tune_gc()  # as `interest-graph import movielens` does
        server0, cpu0 = _server_cpu_s(engine, settings), time.process_time()
        t0 = time.perf_counter()
        report = import_movielens(store, EventLog(settings))
        seconds = time.perf_counter() - t0
        client, server1 = time.process_time() - cpu0, _server_cpu_s(engine, settings)
        counts = store.counts()
    return {
        "seconds": seconds,
        "ratings": report["applied"],
        "edges": counts["relationships"]["INTERACTED"],
        "batch": settings.batch_size,
        "client_cpu_s": client,
        "server_cpu_s": None if server0 is None or server1 is None else server1 - server0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=1, help="concurrent client processes (default 1)")
    parser.add_argument(
        "--impressions",
        type=int,
        default=10,
        help="also measure requests where N of every N+1 events are impressions with a rec_id (0: skip)",
    )
    parser.add_argument("--skip-movielens", action="store_true", help="skip the MovieLens-100K import")
    add_backend_arguments(parser)
    args = parser.parse_args()
    with (
        graph_engine(args.backend, wipe=args.wipe) as engine,
        tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp,
    ):
        print(f"backend: {engine.describe()}", flush=True)
        data_dir = Path(tmp)
        try:
            stream = bench_stream(engine, data_dir, args.events, args.batch)
            ev = bench_events(engine, data_dir, args.events, args.batch, args.clients)
            imp = (
                bench_events(engine, data_dir, args.events, args.batch, args.clients, args.impressions)
                if args.impressions
                else None
            )
            ml = None if args.skip_movielens else bench_movielens(engine, data_dir)
        finally:
            if engine.backend == "falkordb":
                embedded_server(engine.settings(data_dir=data_dir)).stop()
    graph = "embedded FalkorDB" if engine.backend == "falkordb" else f"Neo4j {engine.version}"
    sql = "SQLite" if not os.environ.get("DATABASE_URL") else "DATABASE_URL"
    print(f"ingest through event log + graph ({graph}, {sql}), {os.cpu_count()} CPUs")
    print(
        f"  stream (ingest FILE), {stream['events']:,} events in batches of {stream['batch']:,}: "
        f"{stream['events_per_s']:,.0f} events/s (total {stream['seconds']:.1f} s)"
    )
    if stream["server_cpu_ms"] is not None:
        print(
            f"    CPU per batch: client {stream['client_cpu_ms']:.1f} ms, graph server {stream['server_cpu_ms']:.1f} ms"
        )
    print(
        f"  requests (POST /v1/events), {ev['events']:,} events in requests of {ev['batch']:,}, "
        f"{ev['clients']} client(s): "
        f"{ev['events_per_s']:,.0f} events/s (median request {ev['batch_median_ms']:.1f} ms, "
        f"total {ev['seconds']:.1f} s)"
    )
    if ev["server_cpu_ms"] is not None:
        print(f"    CPU per request: client {ev['client_cpu_ms']:.1f} ms, graph server {ev['server_cpu_ms']:.1f} ms")
    if imp is not None:
        print(
            f"  requests with impressions ({imp['impressions_per_action']} per other event, all with rec_id), "
            f"{imp['events']:,} events: {imp['events_per_s']:,.0f} events/s "
            f"(median request {imp['batch_median_ms']:.1f} ms, total {imp['seconds']:.1f} s)"
        )
    if ml is not None:
        cpu = (
            f"; CPU: client {ml['client_cpu_s']:.1f} s, graph server {ml['server_cpu_s']:.1f} s"
            if ml["server_cpu_s"] is not None
            else ""
        )
        print(
            f"  MovieLens-100K import: {ml['seconds']:.1f} s ({ml['ratings']:,} ratings in batches of "
            f"{ml['batch']:,}, {ml['edges']:,} INTERACTED edges{cpu})"
        )


if __name__ == "__main__":
    main()
