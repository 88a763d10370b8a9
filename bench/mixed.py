"""Serving under mixed load (issue 20): recommendations while events stream in and the
model is refreshed, on MovieLens-100K, embedded FalkorDB + SQLite, loopback only.

The deployment the docs recommend for one host: the API (gunicorn, 2 workers x 2
threads) with API_RUNS_REFRESH=0, so a refresh asked for through the API is queued,
and `interest-graph scheduler` as its own process, which runs the queued refreshes at
REFRESH_NICE (the training threads yield the CPU to the API).

1. Unloaded, in turn: one client asking for recommendations (a keep-alive connection,
   no think time, answer cache on) -> p50, p99; --ingest-clients (1) clients ingesting new
   events (POST /v1/events, batches of 1,000) -> events/s.
2. Mixed, for --minutes: the ingest clients as fast as they can, two recommendation
   clients, and POST /v1/jobs/refresh {"mode": "incremental"} every --refresh-every s.
   -> recommendation p50/p99 and their ratio to the unloaded single client's p99
   (target <= 3x); ingest events/s and its share of the unloaded rate (target >= 50 %);
   refreshes published; non-2xx answers; every event sent is in the log, once.

    .venv/bin/python bench/mixed.py [--minutes 3] [--refresh-every 60] [--data-dir DIR] [--batch-size N]
        [--ingest-nice N] [--ingest-clients N] [--ingest-max-batches N]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.api import Gunicorn, free_port, request, single_client, warm_up  # noqa: E402
from bench.engines import graph_engine  # noqa: E402
from bench.procfs import children, memory_mib  # noqa: E402
from graph_schema.store import open_store  # noqa: E402
from graph_schema.store.factory import embedded_server  # noqa: E402
from records.keys import create_key  # noqa: E402
from records.tables import session_factory  # noqa: E402
from service.config import ApiSettings  # noqa: E402
from service.ingest.eventlog import EVENTS, EventLog  # noqa: E402
from service.ingest.movielens import import_movielens  # noqa: E402
from training.movielens import load  # noqa: E402

RECS_P99_RATIO = 3.0
INGEST_SHARE = 0.5


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))] if values else float("nan")


class Load:
    """Client threads sharing a stop flag and their measurements."""

    def __init__(self, port: int, key: str, users: list[str], items: list[str], ingest_port: int = 0) -> None:
        self.port, self.key, self.users, self.items = port, key, users, items
        self.ingest_port = ingest_port or port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.sent = 0
        self.errors: list[str] = []
        self.refreshes: list[int] = []
        self.ingest_seconds = 0.0  # the ingest clients' own time (their processes start a little late)
        self.busy = 0  # batches refused with 503 ingest-busy (INGEST_MAX_BATCHES), then resent
        self.run_tag = f"mixed-{int(time.time())}"

    def recs(self) -> None:

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Authorization": f"Bearer {self.key}"}
        mine = []
        while not self.stop.is_set():
            t0 = time.perf_counter()
            conn.request("GET", f"/v1/users/{random.choice(self.users)}/recommendations?k=20", headers=headers)
            resp = conn.getresponse()
            resp.read()
            mine.append((time.perf_counter() - t0) * 1000)
            if resp.status != 200:
                with self.lock:
                    self.errors.append(f"recs {resp.status}")
        with self.lock:
            self.latencies.extend(mine)

    def ingest(self, client: int = 0) -> None:
        """An ingest client, in its own process: a client of the API, not a thread
        competing for this process's GIL with the recommendation clients it measures."""
        ctx = mp.get_context("spawn")
        stop, sent, seconds, errors = ctx.Event(), ctx.Value("q", 0), ctx.Value("d", 0.0), ctx.Queue()
        busy = ctx.Value("q", 0)
        tag = f"{self.run_tag}-c{client}"
        proc = ctx.Process(
            target=ingest_client,
            args=(self.ingest_port, self.key, self.users, self.items, tag, stop, sent, seconds, errors, busy),
        )
        proc.start()
        self.stop.wait()
        stop.set()
        proc.join(180)
        if proc.is_alive():  # stuck on a request: the bench must still end
            proc.kill()
            proc.join()
        with self.lock:
            self.sent += sent.value
            self.busy += busy.value
            self.ingest_seconds = max(self.ingest_seconds, seconds.value)  # the clients run side by side
            while not errors.empty():
                self.errors.append(errors.get())

    def refresh(self, every_s: float) -> None:
        while not self.stop.wait(every_s):
            status, body = request(self.port, "POST", "/v1/jobs/refresh", self.key, {"mode": "incremental"})
            with self.lock:
                if status == 202:
                    self.refreshes.append(int(body.get("run_id") or 0))
                elif status != 409:  # 409: one is still running, fine
                    self.errors.append(f"refresh {status}: {str(body)[:200]}")


def ingest_client(
    port: int,
    key: str,
    users: list[str],
    items: list[str],
    run_tag: str,
    stop: Any,
    sent: Any,
    seconds: Any,
    errors: Any,
    busy: Any,
) -> None:
    """POST /v1/events, 1,000 new events a request, until `stop`; `sent` counts the
    accepted, `seconds` the time from the first request to the last answer. The bodies
    come from 32 random templates made before the clock starts, each request's event ids
    made unique by its number: a client elsewhere would not spend this host's CPU on
    building them, so this one spends as little as it can. A batch refused with 503
    `ingest-busy` is resent after its Retry-After (`busy` counts the refusals)."""
    now = int(time.time() * 1000)
    templates = [
        json.dumps({"events": [
            {"event_id": f"{run_tag}-@@-{n}", "user_id": random.choice(users), "item_id": random.choice(items),
             "type": random.choice(("view", "click", "cart", "purchase")), "ts": now - random.randint(0, 86_400_000)}
            for n in range(1000)
        ]}).encode()
        for _ in range(32)
    ]  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    number, t0 = 0, time.perf_counter()
    while not stop.is_set():
        conn.request("POST", "/v1/events", body=templates[number % 32].replace(b"@@", str(number).encode()),
                     headers=headers)  # fmt: skip
        resp = conn.getresponse()
        status, raw = resp.status, resp.read()
        body = json.loads(raw) if raw[:1] == b"{" else {}
        if status == 503 and str(body.get("type", "")).endswith("/ingest-busy"):
            busy.value += 1
            stop.wait(float(resp.getheader("Retry-After") or 1))
            continue  # the same batch again
        number += 1
        if status == 202 and body.get("accepted") == 1000:
            with sent.get_lock():
                sent.value += 1000
        else:
            errors.put(f"ingest {status}: {str(body)[:200]}")
        seconds.value = time.perf_counter() - t0


def memory_line(scheduler: int, apis: list[int]) -> str:
    # the gunicorn workers, and each one's children (its ingest child, multiprocessing's tracker)
    procs = [p for api in apis for worker in children(api) for p in (worker, *children(worker))]
    rss = ", ".join(f"{memory_mib(p).get('VmRSS', 0.0):.0f}" for p in procs)
    return (
        f"  memory: scheduler peak RSS {memory_mib(scheduler).get('VmHWM', 0.0):,.0f} MiB; API workers and ingest "
        f"children RSS [{rss}] MiB"
    )


def run_for(seconds: float, load: Load, targets: list[Any]) -> None:
    """Run the targets for `seconds`, then stop them and wait until they have reported."""
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    time.sleep(seconds)
    load.stop.set()
    for t in threads:
        t.join()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=3.0, help="length of the mixed load")
    p.add_argument("--refresh-every", type=float, default=60.0, help="seconds between refresh requests")
    p.add_argument("--unloaded-seconds", type=float, default=20.0)
    p.add_argument("--data-dir", type=Path, default=None, help="reuse this DATA_DIR (MovieLens + a model)")
    p.add_argument("--ingest-apply", choices=("inline", "background"), default="inline", help="the API's INGEST_APPLY")
    p.add_argument("--freshness", choices=("feed", "check"), default="feed", help="the API's RECS_FRESHNESS")
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="the API's BATCH_SIZE (events per graph write; default the setting's 5,000, so one write per "
        "request of 1,000): smaller writes hold FalkorDB's single writer for less time",
    )
    p.add_argument(
        "--ingest-nice",
        type=int,
        default=0,
        help="the API's INGEST_NICE: each worker takes its event batches in a child process at this nice value",
    )
    p.add_argument(
        "--ingest-server-nice",
        type=int,
        default=0,
        help="0: the ingest client posts to the serving API; N > 0: to a second gunicorn of its own "
        "(--ingest-workers x 2 threads) at nice N (the experiment before INGEST_NICE)",
    )
    p.add_argument("--ingest-workers", type=int, default=1)
    p.add_argument("--ingest-clients", type=int, default=1, help="ingest client processes, unloaded and mixed")
    p.add_argument(
        "--ingest-max-batches",
        type=int,
        default=0,
        help="the API's INGEST_MAX_BATCHES: past it a worker refuses a batch (503 ingest-busy) and the client resends",
    )
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-mixed-"))
    with graph_engine("falkordb", wipe=False) as engine:
        settings = engine.settings(ApiSettings, data_dir=a.data_dir or tmp / "data", graph_name="bench_mixed")
        started_here = not embedded_server(settings).is_running()  # stopped at the end (one running is left)
        server = scheduler = ingest_server = None
        try:
            with open_store(settings) as store:
                store.migrate()
                if store.counts()["nodes"].get("User", 0) == 0:
                    print(f"MovieLens-100K imported: {import_movielens(store, EventLog(settings))}", flush=True)
                if store.current_model_version() is None:
                    from service.jobs.refresh import run_job

                    outcome = run_job(store, settings, "full", trigger="bench", force=True)
                    print(f"first model: {outcome.result.status} {outcome.result.model_version}", flush=True)
            ml = load()
            users = [str(u["user_id"]) for u in ml.users]
            items = [i.item_id for i in ml.items]
            key = create_key(session_factory(settings.sql_url), "admin", "bench-mixed")
            env = {"API_RUNS_REFRESH": "0", "QUEUED_POLL_S": "2", "REFRESH_INTERVAL_MINUTES": "0",
                   "ONLINE_METRICS_EVERY_S": "0", "INGEST_APPLY": a.ingest_apply,
                   "RECS_FRESHNESS": a.freshness, "INGEST_NICE": str(a.ingest_nice),
                   "INGEST_MAX_BATCHES": str(a.ingest_max_batches),
                   **({"BATCH_SIZE": str(a.batch_size)} if a.batch_size else {})}  # fmt: skip
            server = Gunicorn(settings, engine, free_port(), 2, 2, True, tmp, extra_env=env)
            server.wait_ready(key)
            ingest_port = server.port
            if a.ingest_server_nice:
                ingest_server = Gunicorn(
                    settings, engine, free_port(), a.ingest_workers, 2, True, tmp, extra_env=env,
                    nice=a.ingest_server_nice,
                )  # fmt: skip
                ingest_server.wait_ready(key)
                ingest_port = ingest_server.port
            sched_env = {**os.environ, **engine.env(), "DATA_DIR": str(settings.data_dir),
                         "GRAPH_NAME": settings.graph_name, "DATABASE_URL": settings.sql_url, **env}  # fmt: skip
            with (tmp / "scheduler.log").open("wb") as log:
                scheduler = subprocess.Popen(
                    [sys.executable, "-m", "service", "scheduler"], env=sched_env, cwd=ROOT,
                    stdout=subprocess.DEVNULL, stderr=log,
                )  # fmt: skip
            warm_up(server.port, key, users, passes=2)
            path = lambda: f"/v1/users/{random.choice(users)}/recommendations?k=20"  # noqa: E731
            alone = single_client(server.port, key, path, a.unloaded_seconds)
            solo = Load(ingest_port, key, users, items)
            run_for(a.unloaded_seconds, solo, [lambda c=c: solo.ingest(c) for c in range(a.ingest_clients)])
            time.sleep(1.0)
            ingest_alone = solo.sent / solo.ingest_seconds
            print(f"unloaded: one recommendation client p50 {alone['p50_ms']:.1f} ms, p99 {alone['p99_ms']:.1f} ms; "
                  f"{a.ingest_clients} ingest client(s) {ingest_alone:,.0f} events/s", flush=True)  # fmt: skip

            mixed = Load(server.port, key, users, items, ingest_port)
            with open_store(settings) as store:
                before = store.current_model_version()
            threads = [threading.Thread(target=mixed.ingest, args=(c,)) for c in range(a.ingest_clients)]
            threads += [threading.Thread(target=t) for t in (mixed.recs, mixed.recs)]
            threads.append(threading.Thread(target=mixed.refresh, args=(a.refresh_every,)))
            for t in threads:
                t.start()
            time.sleep(a.minutes * 60)
            mixed.stop.set()
            for t in threads:
                t.join()
            time.sleep(2.0)
            memory = memory_line(scheduler.pid, [api.proc.pid for api in (server, ingest_server) if api is not None])
            runs = request(server.port, "GET", "/v1/jobs?limit=50", key)[1]
            published = [r for r in (runs.get("runs") or []) if r.get("status") == "published"
                         and r.get("trigger") == "api" and r.get("run_id") in mixed.refreshes]  # fmt: skip
            with session_factory(settings.sql_url)() as session:
                logged = session.scalar(
                    select(func.count()).select_from(EVENTS).where(EVENTS.c.event_id.like(f"{mixed.run_tag}-%"))
                )
            with open_store(settings) as store:
                after = store.current_model_version()
            p50, p99 = pct(mixed.latencies, 50), pct(mixed.latencies, 99)
            rate = mixed.sent / mixed.ingest_seconds
            ratio = p99 / alone["p99_ms"]
            print(
                f"mixed load, {a.minutes:g} min ({a.ingest_clients} ingest client(s), 2 recommendation clients, "
                f"an incremental refresh asked for every {a.refresh_every:g} s, run by the scheduler process at "
                f"REFRESH_NICE; "
                f"INGEST_APPLY={a.ingest_apply}"
                f"{f', INGEST_NICE={a.ingest_nice}' if a.ingest_nice else ''}"
                f"{f', INGEST_MAX_BATCHES={a.ingest_max_batches}' if a.ingest_max_batches else ''}"
                f"{f', ingest by a 2nd API at nice {a.ingest_server_nice}' if a.ingest_server_nice else ''}):\n"
                f"  recommendations: {len(mixed.latencies):,} answers, p50 {p50:.1f} ms, p99 {p99:.1f} ms = "
                f"{ratio:.2f}x the unloaded p99 (target <= {RECS_P99_RATIO:g}x: "
                f"{'met' if ratio <= RECS_P99_RATIO else 'NOT met'})\n"
                f"  ingest: {mixed.sent:,} events, {rate:,.0f} events/s = {rate / ingest_alone:.0%} of unloaded "
                f"(target >= {INGEST_SHARE:.0%}: {'met' if rate / ingest_alone >= INGEST_SHARE else 'NOT met'}); "
                f"{mixed.busy:,} batches refused busy and resent\n"
                f"  refreshes: {len(mixed.refreshes)} asked for, {len(published)} published; model "
                f"{before} -> {after}\n"
                f"  errors: {len(mixed.errors)} {mixed.errors[:3]}\n{memory}"
                + f"\n  events of this run in the log: {logged:,} (accepted {mixed.sent:,}: none lost or doubled "
                f"{'- yes' if logged == mixed.sent else '- NO'})"
            )
        finally:
            for proc in (scheduler,):
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(30)
                    if proc.poll() is None:
                        proc.kill()
            for api in (ingest_server, server):
                if api is not None:
                    api.stop()
            if started_here:
                with contextlib.suppress(Exception):
                    embedded_server(settings).stop()
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
