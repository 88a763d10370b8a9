"""Ingest through the API: POST /v1/events to gunicorn, events/s with 1 and 4 clients,
on SQLite and on PostgreSQL (issue 20), and with impressions at 10 × the other events
(issue 16).

The server is bench/api.py's (gunicorn, 2 gthread workers × 2 threads, loopback), on a
fresh DATA_DIR with the embedded FalkorDB (or --backend neo4j). The event log is a
SQLite file in that DATA_DIR, or, with --sql postgresql, a new database on a PostgreSQL
started for this run from Debian's package (tests/engines.py; or TEST_POSTGRES_URL).

Request bodies are generated and JSON-encoded before the clock starts, so the clients
(threads of this process) cost little CPU of the 2 cores. Every event id is new.
With INGEST_APPLY=background (--apply background) the 202 answer means "in the log",
the graph catches up behind: the benchmark also waits until nothing is pending and
reports that time (accepted/s and applied/s).

    .venv/bin/python bench/api_ingest.py [--sql sqlite|postgresql] [--clients 1,4] [--batches 40]
                                         [--apply inline|background] [--impressions 0,10] [--ingest-nice N]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.api import HOST, Gunicorn, free_port  # noqa: E402
from bench.engines import Engine, add_backend_arguments, graph_engine  # noqa: E402
from graph_schema.store import open_store  # noqa: E402
from graph_schema.store.factory import embedded_server  # noqa: E402
from records.keys import create_key  # noqa: E402
from records.tables import session_factory  # noqa: E402
from service.config import ApiSettings  # noqa: E402
from service.ingest.eventlog import EventLog  # noqa: E402
from service.ingest.recid import Served, new_rec_id  # noqa: E402

BATCH = 1000
N_USERS, N_ITEMS = 5000, 2000


def bodies(prefix: str, n_batches: int, impressions: int, seed: int) -> list[bytes]:
    """`n_batches` request bodies of BATCH new events; with impressions r, r of every
    r + 1 events are impressions, and every event carries a rec_id and position."""
    rng = random.Random(seed)
    rec_ids = [new_rec_id(Served("blend", "bench-v1", "bench", rng.choice("ab"))) for _ in range(200)]
    now = int(time.time() * 1000)
    out = []
    for b in range(n_batches):
        events = []
        for n in range(BATCH):
            event: dict[str, Any] = {
                "event_id": f"{prefix}-{b}-{n}",
                "user_id": f"u{rng.randrange(N_USERS)}",
                "item_id": f"i{rng.randrange(N_ITEMS)}",
                "type": rng.choice(("view", "click", "cart", "purchase")),
                "ts": now - rng.randrange(86_400_000),
            }
            if impressions:
                if n % (impressions + 1):
                    event["type"] = "impression"
                event["rec_id"] = rng.choice(rec_ids)
                event["position"] = rng.randrange(1, 21)
            events.append(event)
        out.append(json.dumps({"events": events}).encode())
    return out


def post_all(port: int, key: str, shares: list[list[bytes]]) -> tuple[float, list[str]]:
    """One thread (one keep-alive connection) per share, started together; seconds
    until the last answer, and the errors seen."""
    errors: list[str] = []
    go = threading.Barrier(len(shares) + 1)

    def client(share: list[bytes]) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=300)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        go.wait()
        try:
            for body in share:
                conn.request("POST", "/v1/events", body=body, headers=headers)
                resp = conn.getresponse()
                answer = resp.read()
                if resp.status != 202 or json.loads(answer).get("accepted") != BATCH:
                    errors.append(f"{resp.status}: {answer[:200]!r}")
        except OSError as exc:  # the server went away: reported, and this client stops
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(s,)) for s in shares]
    for t in threads:
        t.start()
    go.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, errors


def wait_applied(event_log: EventLog, timeout_s: float = 600.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if event_log.pending_count() == 0:
            return True
        time.sleep(0.05)
    return False


def measure(
    settings: ApiSettings, port: int, key: str, clients: int, n_batches: int, impressions: int, run: str
) -> dict[str, Any]:
    share = max(1, n_batches // clients)
    shares = [bodies(f"{run}-c{c}", share, impressions, seed=c) for c in range(clients)]
    seconds, errors = post_all(port, key, shares)
    t_accepted = time.perf_counter()
    drained = not errors and wait_applied(EventLog(settings))
    applied_s = seconds + (time.perf_counter() - t_accepted)
    total = share * clients * BATCH
    return {
        "clients": clients,
        "impressions": impressions,
        "events": total,
        "seconds": seconds,
        "events_per_s": total / seconds,
        "applied_per_s": total / applied_s if drained else None,
        "errors": errors,
    }


@contextlib.contextmanager
def sql_database(kind: str, workdir: Path) -> Iterator[tuple[str, str]]:
    """(SQLAlchemy URL, description) of a new, empty event log database."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'events.sqlite3'}", "SQLite (WAL) file"
        return
    from tests.engines import start_postgres

    server = start_postgres(workdir)
    try:
        with server.fresh_database("bench") as url:
            yield url, "PostgreSQL (tests/engines.py: fsync off, synchronous_commit off)"
    finally:
        server.stop()


def run(a: argparse.Namespace, engine: Engine) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-api-ingest-"))
    try:
        with sql_database(a.sql, tmp) as (url, sql_name):
            settings = engine.settings(ApiSettings, data_dir=tmp / "data", graph_name="bench_ingest", database_url=url)
            with open_store(settings) as store:
                store.migrate()
            key = create_key(session_factory(settings.sql_url), "admin", "bench")
            env = {"INGEST_APPLY": a.apply, "INGEST_NICE": str(a.ingest_nice)}
            server = Gunicorn(settings, engine, free_port(), a.workers, a.threads, True, tmp, extra_env=env)
            try:
                server.wait_ready(key)
                print(f"backend: {engine.describe()}; event log: {sql_name}; INGEST_APPLY={a.apply}", flush=True)
                print(f"gunicorn {a.workers} workers x {a.threads} threads; {os.cpu_count()} CPUs", flush=True)
                for impressions in a.impressions:
                    for clients in a.clients:
                        r = measure(settings, server.port, key, clients, a.batches, impressions, f"r{clients}")
                        what = f", impressions {impressions} per other event" if impressions else ""
                        applied = (
                            f"; all in the graph after {r['events'] / r['applied_per_s']:.1f} s = "
                            f"{r['applied_per_s']:,.0f} events/s"
                            if r["applied_per_s"]
                            else "; NOT all applied within the timeout"
                        )
                        err = f"; {len(r['errors'])} errors, first: {r['errors'][0]}" if r["errors"] else ""
                        if r["errors"]:
                            print("the server's log ends with:\n" + server.log_tail(), flush=True)
                        print(
                            f"ingest API ({a.sql}, {clients} client{'s' if clients > 1 else ''}{what}, batches of "
                            f"{BATCH:,}): {r['events']:,} events accepted in {r['seconds']:.1f} s = "
                            f"{r['events_per_s']:,.0f} events/s{applied}{err}",
                            flush=True,
                        )
            finally:
                server.stop()
                if "Traceback" in server.log_tail(100_000):
                    print("the server's log ends with:\n" + server.log_tail(4000), flush=True)
    finally:
        if engine.backend == "falkordb":
            with contextlib.suppress(Exception):
                embedded_server(engine.settings(data_dir=tmp / "data")).stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sql", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--clients", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4])
    p.add_argument("--batches", type=int, default=40, help="requests of 1,000 events per measurement")
    p.add_argument("--impressions", type=lambda s: [int(x) for x in s.split(",")], default=[0])
    p.add_argument("--apply", choices=("inline", "background"), default="inline", help="INGEST_APPLY of the server")
    p.add_argument("--ingest-nice", type=int, default=0, help="INGEST_NICE of the server (batches in a niced child)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    add_backend_arguments(p)
    a = p.parse_args()
    with graph_engine(a.backend, wipe=a.wipe) as engine:
        run(a, engine)


if __name__ == "__main__":
    main()
