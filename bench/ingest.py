"""Ingestion throughput: events/s through the SQL event log + graph, and the
MovieLens-100K import time. Runs on a fresh temporary DATA_DIR (embedded store
and SQLite) unless GRAPH_URI / DATABASE_URL say otherwise.

    .venv/bin/python bench/ingest.py [--events 50000] [--batch 1000] [--clients 1]

Two ways in, each on a fresh graph and event log:
- stream: what `interest-graph ingest FILE` does with JSON lines: parse and
  validate (service.ingest.jsonl), then EventLog.ingest(), which logs and claims
  batch k+1 while the graph writes batch k.
- requests: what POST /v1/events does with `batch` events per request:
  validate_each (pydantic), accept (SQL log), apply_pending (graph), one request
  after another. --clients N runs N client processes at once (like the API's
  gunicorn workers), each sending its share; the graph server and SQLite are shared.
CPU per batch: this benchmark's client processes, and the graph server process
(all its threads, from /proc; Linux only).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from graph_schema.model import CatalogueItem
from graph_schema.settings import Settings
from graph_schema.store import open_store
from graph_schema.store.factory import embedded_server
from service.ingest.eventlog import EventLog
from service.ingest.jsonl import read_events
from service.ingest.movielens import import_movielens
from service.ingest.schemas import EventIn, validate_each
from service.runtime import tune_gc


def _server_cpu_s(settings: Settings) -> float | None:
    """CPU time of every thread of the embedded graph server (Linux /proc), s."""
    if settings.backend != "falkordb":
        return None
    pid = embedded_server(settings).pid()
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


def _events_settings(data_dir: Path, batch: int, name: str = "bench_events") -> Settings:
    return Settings(
        data_dir=data_dir, graph_name=name, batch_size=batch, database_url=f"sqlite:///{data_dir / name}.sqlite3"
    )


def _catalogue(settings: Settings) -> None:
    """2,000 items with 2 of 50 interests each."""
    rng = random.Random(11)
    with open_store(settings) as store:
        store.migrate()
        store.upsert_items(
            [CatalogueItem(f"i{i}", f"Item {i}", tuple(f"t{rng.randrange(50)}" for _ in range(2))) for i in range(2000)]
        )


def _raw_events(n_events: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    types = ["view", "click", "cart", "purchase"]
    return [
        {
            "event_id": f"e{n}",
            "user_id": f"u{rng.randrange(5000)}",
            "item_id": f"i{rng.randrange(2000)}",
            "type": rng.choice(types),
            "ts": 1_700_000_000_000 + n * 1000,
        }
        for n in range(n_events)
    ]


def _send(
    data_dir: Path, batch: int, requests: list[list[dict[str, Any]]], start_at: float
) -> tuple[list[float], float, float]:
    """One client: set up, wait for `start_at` (time.time(): the clients start
    together, after their processes started), then send requests one after another;
    (seconds per request, CPU s, time.time() when done)."""
    settings = _events_settings(data_dir, batch)
    log = EventLog(settings)
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
            report = log.apply_pending(store)
            assert report.error is None, report.error
            per_request.append(time.perf_counter() - t0)
        return per_request, time.process_time() - cpu0, time.time()


def bench_stream(data_dir: Path, n_events: int, batch: int) -> dict[str, Any]:
    settings = _events_settings(data_dir, batch, "bench_stream")
    _catalogue(settings)
    lines = [json.dumps(e) for e in _raw_events(n_events)]  # the file's text, read up front
    log = EventLog(settings)
    tune_gc()  # as `interest-graph ingest` does
    with open_store(settings) as store:
        server0, cpu0 = _server_cpu_s(settings), time.process_time()
        t0 = time.perf_counter()
        rejected: list[dict[str, Any]] = []
        _, applied = log.ingest(store, read_events(lines, rejected))
        seconds = time.perf_counter() - t0
        client, server1 = time.process_time() - cpu0, _server_cpu_s(settings)
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


def bench_events(data_dir: Path, n_events: int, batch: int, clients: int = 1) -> dict[str, Any]:
    settings = _events_settings(data_dir, batch)
    _catalogue(settings)
    raw = _raw_events(n_events)  # generated up front: not part of the measurement
    requests = [raw[k : k + batch] for k in range(0, n_events, batch)]
    shares = [requests[c::clients] for c in range(clients)]
    server0 = _server_cpu_s(settings)
    if clients == 1:
        start_at = time.time()
        results = [_send(data_dir, batch, shares[0], start_at)]
    else:  # time to spawn the client processes and import everything, not measured
        start_at = time.time() + 5.0
        with multiprocessing.get_context("spawn").Pool(clients) as pool:
            results = pool.starmap(_send, [(data_dir, batch, share, start_at) for share in shares])
    total = max(end for _, _, end in results) - start_at
    server1 = _server_cpu_s(settings)
    per_request = [s for times, _, _ in results for s in times]
    n = len(per_request)
    return {
        "events": n_events,
        "batch": batch,
        "clients": clients,
        "seconds": total,
        "events_per_s": n_events / total,
        "batch_median_ms": statistics.median(per_request) * 1000,
        "client_cpu_ms": sum(cpu for _, cpu, _ in results) / n * 1000,
        "server_cpu_ms": None if server0 is None or server1 is None else (server1 - server0) / n * 1000,
    }


def bench_movielens(data_dir: Path) -> dict[str, Any]:
    settings = Settings(data_dir=data_dir, graph_name="bench_ml", database_url=f"sqlite:///{data_dir / 'ml.sqlite3'}")
    with open_store(settings) as store:
        store.migrate()
        tune_gc()  # as `interest-graph import movielens` does
        server0, cpu0 = _server_cpu_s(settings), time.process_time()
        t0 = time.perf_counter()
        report = import_movielens(store, EventLog(settings))
        seconds = time.perf_counter() - t0
        client, server1 = time.process_time() - cpu0, _server_cpu_s(settings)
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
    parser.add_argument("--skip-movielens", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        data_dir = Path(tmp)
        try:
            stream = bench_stream(data_dir, args.events, args.batch)
            ev = bench_events(data_dir, args.events, args.batch, args.clients)
            ml = None if args.skip_movielens else bench_movielens(data_dir)
        finally:
            embedded_server(Settings(data_dir=data_dir)).stop()
    print(f"ingest through event log + graph (embedded FalkorDB, SQLite), {os.cpu_count()} CPUs")
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
