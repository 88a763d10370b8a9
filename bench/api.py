"""API latency and throughput on MovieLens-100K, with a real load generator, loopback only.

1. A temporary DATA_DIR with SQLite and the graph engine of --backend: falkordb (default,
   the embedded FalkorDB in DATA_DIR) or neo4j (the project's test Neo4j 5 from
   tests/engines.py, started for this run, new and empty, stopped at the end whatever
   happens; or the server in NEO4J_URI / NEO4J_USER / NEO4J_PASSWORD, with --wipe, which
   deletes everything in its database before and after). MovieLens-100K imported through
   the event log (service.ingest.movielens), optionally a full refresh (a published model).
   The API server gets the same engine (GRAPH_URI, NEO4J_* in its environment).
2. gunicorn, 2 gthread workers, on 127.0.0.1 (the API's production server).
3. Recommendations: locust (headless, FastHttpUser), 16 concurrent users for --duration
   seconds against GET /v1/users/<random MovieLens user>/recommendations?k=20&strategy=blend
   -> p50, p99, requests/s. Measured before the model (co-interaction + trending) and, when
   the training stack is installed, after a full refresh (published SIMILAR_TO, strengths,
   embeddings); each state twice: with the per-worker answer cache (service/recs/caches.py)
   warmed by requesting every user 3 times, and with it off (every request computed).
   Each closed-loop run is followed by one paced at 300 req/s (the target rate) from the
   same 16 clients.
4. Ingest: POST /v1/events in batches of 1,000 new events, one client and 4 clients -> events/s
   (on this run's SQLite; bench/api_ingest.py measures ingest alone, on SQLite or PostgreSQL,
   with INGEST_APPLY=inline or background).

Every request goes to 127.0.0.1; the load is bounded in time and count and stops by itself.

    .venv/bin/python bench/api.py [--backend falkordb|neo4j] [--duration 20] [--users 16] [--no-refresh]
                                  [--answer-cache both|on|off] [--profile-cache both|on|off]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import http.client
import json
import logging
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.engines import Engine, add_backend_arguments, graph_engine  # noqa: E402
from bench.procfs import children  # noqa: E402
from graph_schema.store import open_store  # noqa: E402
from graph_schema.store.factory import embedded_server  # noqa: E402
from records.keys import create_key  # noqa: E402
from records.tables import session_factory  # noqa: E402
from service.config import ApiSettings  # noqa: E402
from service.ingest.eventlog import EventLog  # noqa: E402
from service.ingest.movielens import import_movielens  # noqa: E402
from training.movielens import load  # noqa: E402

TARGET_P99_MS = 20.0
TARGET_RPS = 300.0
HOST = "127.0.0.1"

LOCUSTFILE = textwrap.dedent(
    """
    import os, random
    from locust import FastHttpUser, constant_throughput, task

    USERS = os.environ["BENCH_USERS"].split(",")
    HEADERS = {"Authorization": "Bearer " + os.environ["BENCH_KEY"]}

    class Client(FastHttpUser):
        if os.environ.get("BENCH_RATE"):
            wait_time = constant_throughput(float(os.environ["BENCH_RATE"]))

        @task
        def recommendations(self):
            if os.environ.get("BENCH_HEALTHZ"):  # the framework's floor under the same load
                self.client.get("/healthz", name="/healthz")
                return
            user = random.choice(USERS)
            self.client.get(f"/v1/users/{user}/recommendations?k=20&strategy=blend", headers=HEADERS,
                            name="/v1/users/[id]/recommendations")
    """
)


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def request(port: int, method: str, path: str, key: str, body: Any = None, timeout: float = 60) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    headers = {"Authorization": f"Bearer {key}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    return resp.status, (json.loads(raw) if raw[:1] in (b"{", b"[") else raw)


class Gunicorn:
    """The API server. Its stderr goes to a file in `workdir` (a pipe nobody reads blocks
    the workers once it is full, e.g. with the Neo4j driver's warnings)."""

    def __init__(
        self,
        settings: ApiSettings,
        engine: Engine,
        port: int,
        workers: int,
        threads: int,
        answer_cache: bool,
        workdir: Path,
        extra_env: dict[str, str] | None = None,
        nice: int = 0,
    ) -> None:
        self.port = port
        self.answer_cache = answer_cache
        self.log = workdir / f"gunicorn-{port}.log"
        env = {
            **engine.env(),  # the graph engine: GRAPH_URI + NEO4J_* for Neo4j, none (embedded) for FalkorDB
            "DATA_DIR": str(settings.data_dir),
            "GRAPH_NAME": settings.graph_name,
            "DATABASE_URL": settings.sql_url,
            "AUTH_DISABLED": "0",
            "RECS_ANSWER_CACHE": str(settings.recs_answer_cache if answer_cache else 0),
            **(extra_env or {}),
        }
        with self.log.open("wb") as stderr:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [*(["nice", "-n", str(nice)] if nice else []), sys.executable, "-m", "gunicorn",
                 "-w", str(workers), "-k", "gthread", "--threads", str(threads),
                 "--backlog", "256", "-b", f"{HOST}:{port}", "--log-level", "warning", "service.app:create_app()"],
                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip

    def log_tail(self, chars: int = 2000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return ""

    def wait_ready(self, key: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gunicorn exited: " + self.log_tail())
            with contextlib.suppress(OSError):
                if request(self.port, "GET", "/readyz", key, timeout=30)[0] == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not become ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        with contextlib.suppress(OSError):
            lines = self.log.read_text(errors="replace").splitlines()
            warnings = [line for line in lines if "WARNING" in line or "ERROR" in line or "Traceback" in line]
            if warnings:
                print(f"  (the API server logged {len(warnings)} warnings/errors; the first: {warnings[0][:300]})")


def warm_up(port: int, key: str, users: list[str], passes: int = 3, seconds: float = 90.0) -> None:
    """Both workers load their trending snapshot and caches before measuring: every user
    `passes` times (each worker has its own caches, so one pass does not warm both)."""
    deadline = time.monotonic() + seconds
    todo = [u for _ in range(passes) for u in random.sample(users, len(users))]
    lock = threading.Lock()

    def loop() -> None:
        while time.monotonic() < deadline:
            with lock:
                if not todo:
                    return
                user = todo.pop()
            request(port, "GET", f"/v1/users/{user}/recommendations?k=20&strategy=blend", key)

    threads = [threading.Thread(target=loop) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def run_locust(
    port: int,
    key: str,
    users: list[str],
    clients: int,
    duration: int,
    workdir: Path,
    rate: float | None = None,
    healthz: bool = False,
) -> dict[str, float]:
    locustfile = workdir / "locustfile.py"
    locustfile.write_text(LOCUSTFILE)
    prefix = workdir / f"locust-{int(time.time())}"
    env = {**os.environ, "BENCH_USERS": ",".join(users), "BENCH_KEY": key}
    if rate:
        env["BENCH_RATE"] = str(rate / clients)
    if healthz:
        env["BENCH_HEALTHZ"] = "1"
    cmd = [
        sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", str(clients), "-r", str(clients),
        "-t", f"{duration}s", "--host", f"http://{HOST}:{port}", "--csv", str(prefix), "--only-summary",
        "--loglevel", "WARNING", "--stop-timeout", "5",
    ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=duration + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(f"{prefix}_stats.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    agg = next(r for r in rows if r["Name"] == "Aggregated")
    return {
        "requests": float(agg["Request Count"]),
        "failures": float(agg["Failure Count"]),
        "rps": float(agg["Requests/s"]),
        "p50_ms": float(agg["50%"]),
        "p90_ms": float(agg["90%"]),
        "p99_ms": float(agg["99%"]),
        "max_ms": float(agg["Max Response Time"]),
        "loadgen_cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
    }


def run_threaded(port: int, key: str, users: list[str], clients: int, duration: int) -> dict[str, float]:
    """Fallback when locust is not installed: closed-loop http.client clients."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def loop() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        mine: list[float] = []
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            conn.request("GET", f"/v1/users/{random.choice(users)}/recommendations?k=20&strategy=blend",
                         headers={"Authorization": f"Bearer {key}"})  # fmt: skip
            resp = conn.getresponse()
            resp.read()
            mine.append((time.perf_counter() - t0) * 1000)
            if resp.status != 200:
                with lock:
                    failures[0] += 1
        with lock:
            latencies.extend(mine)

    start = time.monotonic()
    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]

    return {"requests": len(latencies), "failures": failures[0], "rps": len(latencies) / elapsed,
            "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99), "max_ms": latencies[-1]}  # fmt: skip


def single_client(port: int, key: str, path: Any, seconds: float) -> dict[str, float]:
    """One client, one keep-alive connection, no think time: p50/p99 of GET path()."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        conn.request("GET", path(), headers=headers)
        resp = conn.getresponse()
        resp.read()
        latencies.append((time.perf_counter() - t0) * 1000)
        if resp.status != 200:
            raise RuntimeError(f"GET {path()}: {resp.status}")
    conn.close()
    latencies.sort()
    return {"requests": len(latencies), "p50_ms": latencies[len(latencies) // 2],
            "p99_ms": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]}  # fmt: skip


def worker_memory(pids: list[int]) -> str:
    """RSS and PSS (shared pages divided among their users) per worker, MB."""
    out = []
    for pid in pids:
        fields: dict[str, float] = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
                name, value, *_ = line.split()
                fields[name.rstrip(":")] = float(value) / 1024
        out.append(f"RSS {fields.get('Rss', 0):.0f} MB / PSS {fields.get('Pss', 0):.0f} MB")
    return "; ".join(out)


def bench_recommendations(
    server: Gunicorn,
    store_pid: int | None,
    key: str,
    users: list[str],
    a: argparse.Namespace,
    workdir: Path,
    label: str,
    store_name: str = "FalkorDB",
) -> dict[str, float]:
    port = server.port
    warm_up(port, key, users)
    use_locust = _has_module("locust")
    tool = "locust" if use_locust else "threaded http.client"
    workers = children(server.proc.pid)

    def cpu() -> tuple[float, float]:
        return sum(proc_cpu_s(p) for p in workers), proc_cpu_s(store_pid) if store_pid else 0.0

    def measure(rate: float | None) -> dict[str, float]:
        w0, r0 = cpu()
        if use_locust:
            res = run_locust(port, key, users, a.users, a.duration, workdir, rate)
        else:
            res = run_threaded(port, key, users, a.users, a.duration)
        w1, r1 = cpu()
        n = max(res["requests"], 1.0)
        res["api_cpu_ms"] = (w1 - w0) / n * 1000
        res["store_cpu_ms"] = (r1 - r0) / n * 1000
        res["loadgen_cpu_ms"] = res.get("loadgen_cpu_s", 0.0) / n * 1000
        return res

    recs_path = lambda: f"/v1/users/{random.choice(users)}/recommendations?k=20&strategy=blend"  # noqa: E731
    floor = single_client(port, key, lambda: "/healthz", a.single_seconds)
    one = single_client(port, key, recs_path, a.single_seconds)
    print(
        f"recommendations [{label}]: single client, {a.single_seconds:.0f} s each: /healthz p50 "
        f"{floor['p50_ms']:.2f} ms, p99 {floor['p99_ms']:.2f} ms; recommendations p50 {one['p50_ms']:.2f} ms, "
        f"p99 {one['p99_ms']:.2f} ms = {one['p50_ms'] / floor['p50_ms']:.2f}x /healthz p50 "
        f"({int(one['requests'])} requests)\n  worker memory after: {worker_memory(workers)}"
    )
    res = measure(None)
    if use_locust:
        hz = run_locust(port, key, users, a.users, a.duration, workdir, healthz=True)
        print(
            f"  /healthz, same closed loop ({a.users} clients): {hz['rps']:.0f} req/s, p50 {hz['p50_ms']:.1f} ms, "
            f"p99 {hz['p99_ms']:.1f} ms; recommendations reach {res['rps'] / max(hz['rps'], 1):.2f}x its req/s"
        )
    store_cpu = f"{res['store_cpu_ms']:.1f} ms" if store_pid else "- (not a local process of this run)"
    p99_ok = "met" if res["p99_ms"] <= TARGET_P99_MS else "NOT met"
    rps_ok = "met" if res["rps"] >= TARGET_RPS else "NOT met"
    print(
        f"recommendations [{label}]\n"
        f"  closed loop ({tool}, {a.users} clients, no think time, {a.duration}s): {res['rps']:.0f} req/s "
        f"(target >= {TARGET_RPS:.0f}: {rps_ok}); p50 {res['p50_ms']:.1f} ms, p90 {res['p90_ms']:.1f} ms, "
        f"p99 {res['p99_ms']:.1f} ms (target <= {TARGET_P99_MS:.0f}: {p99_ok}); "
        f"{int(res['requests'])} requests, {int(res['failures'])} failures\n"
        f"  CPU per request: API workers {res['api_cpu_ms']:.1f} ms, {store_name} {store_cpu}, "
        f"load generator {res['loadgen_cpu_ms']:.1f} ms (2 cores => at most ~"
        f"{2000 / max(res['api_cpu_ms'] + res['store_cpu_ms'] + res['loadgen_cpu_ms'], 0.1):.0f} req/s here)"
    )
    if use_locust:
        rate = a.paced_rps or TARGET_RPS
        paced = measure(rate)
        print(
            f"  paced at {rate:.0f} req/s ({a.users} clients): {paced['rps']:.0f} req/s; p50 {paced['p50_ms']:.1f} ms, "
            f"p90 {paced['p90_ms']:.1f} ms, p99 {paced['p99_ms']:.1f} ms "
            f"(target <= {TARGET_P99_MS:.0f}: {'met' if paced['p99_ms'] <= TARGET_P99_MS else 'NOT met'})"
        )
    return res


@contextlib.contextmanager
def console_open(port: int, key: str, a: argparse.Namespace) -> Any:
    """Web console pages open (bench/console_page.py) while the body runs, if --console."""
    if not a.console:
        yield
        return
    cmd = [sys.executable, str(ROOT / "bench" / "console_page.py"), "--url", f"http://{HOST}:{port}",
           "--key", key, "--pages", a.console, "--reload", str(a.console_reload)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline().strip()
        if ready != "console pages open":
            raise RuntimeError(f"the console pages did not open: {ready!r}")
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        print(f"  {out.strip()}")


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def bench_ingest(port: int, key: str, users: list[str], items: list[str], batches: int, clients: int) -> float:
    """POST /v1/events in batches of 1,000 new events; returns events/s."""
    counter = iter(range(10**9))
    lock = threading.Lock()
    now = int(time.time() * 1000)

    def batch() -> list[dict[str, Any]]:
        with lock:
            start = next(counter) * 1000
        return [
            {"event_id": f"bench-{now}-{start + n}", "user_id": random.choice(users), "item_id": random.choice(items),
             "type": random.choice(("view", "click", "cart", "purchase")), "ts": now - random.randint(0, 86_400_000)}
            for n in range(1000)
        ]  # fmt: skip

    per_client = max(1, batches // clients)
    errors: list[str] = []

    def loop() -> None:
        for _ in range(per_client):
            status, body = request(port, "POST", "/v1/events", key, {"events": batch()}, timeout=120)
            if status != 202 or body.get("accepted") != 1000:
                errors.append(f"{status}: {str(body)[:200]}")

    t0 = time.perf_counter()
    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    total = per_client * clients * 1000
    rate = total / elapsed
    print(f"ingest ({clients} client{'s' if clients > 1 else ''}, batches of 1,000): {total:,} events in "
          f"{elapsed:.1f} s = {rate:,.0f} events/s{'; errors: ' + errors[0] if errors else ''}")  # fmt: skip
    return rate


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=20, help="seconds of load per measurement")
    p.add_argument("--users", type=int, default=16, help="concurrent clients")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ingest-batches", type=int, default=20)
    p.add_argument("--graph-name", default="bench_api", help="graph key in --data-dir (bench/scale.py: bench_scale)")
    p.add_argument(
        "--sample-users",
        type=int,
        default=None,
        help="the graph in --data-dir is not MovieLens (e.g. bench/scale.py --keep DIR's): request this many "
        "of its users (and ingest its items)",
    )
    p.add_argument("--single-seconds", type=float, default=10.0, help="seconds of each single-client loop")
    p.add_argument("--no-refresh", action="store_true", help="skip the with-model measurement")
    p.add_argument(
        "--answer-cache",
        choices=("both", "on", "off"),
        default="both",
        help="measure with the per-worker answer cache (warmed), without it, or both (default)",
    )
    p.add_argument(
        "--profile-cache",
        choices=("both", "on", "off"),
        default="both",
        help="with the answer cache off: measure with the workers' kept profiles (RECS_PROFILE_CACHE, warmed), "
        "with every profile read from the graph (RECS_PROFILE_CACHE=0), or both (default)",
    )
    p.add_argument(
        "--freshness",
        choices=("feed", "check"),
        default="feed",
        help="RECS_FRESHNESS of the API server: how a cached answer is known to hold (default feed)",
    )
    p.add_argument("--epochs", type=int, default=None, help="training epochs for the refresh")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="reuse this DATA_DIR (import / refresh only if missing; kept afterwards; FalkorDB only)",
    )
    p.add_argument(
        "--console",
        default=None,
        help="keep these web console pages open during each measurement (comma-separated, e.g. overview,users/1; "
        "headless Chromium via bench/console_page.py)",
    )
    p.add_argument("--console-reload", type=float, default=10.0, help="seconds between console page reloads")
    p.add_argument(
        "--paced-rps",
        type=float,
        default=None,
        help="also measure latency at this fixed request rate (default: the 300 req/s target)",
    )
    add_backend_arguments(p)
    a = p.parse_args()
    if a.data_dir is not None and a.backend != "falkordb":
        p.error("--data-dir reuses an embedded FalkorDB store: it goes with --backend falkordb only")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with graph_engine(a.backend, wipe=a.wipe) as engine:
        return run(a, engine)


def run(a: argparse.Namespace, engine: Engine) -> int:
    print(f"machine: {os.cpu_count()} CPUs; gunicorn {a.workers} workers x {a.threads} threads")
    print(f"backend: {engine.describe()}", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="bench-api-"))
    settings = engine.settings(ApiSettings, data_dir=a.data_dir or tmp / "data", graph_name=a.graph_name)
    # the embedded server this run starts is stopped at its end (one already running is left)
    started_here = settings.backend == "falkordb" and not embedded_server(settings).is_running()
    store_name = "FalkorDB" if engine.backend == "falkordb" else "Neo4j"
    server = None
    try:
        with open_store(settings) as store:
            store.migrate()
            if store.counts()["nodes"].get("User", 0) == 0 and a.sample_users is None:
                t0 = time.perf_counter()
                report = import_movielens(store, EventLog(settings))
                print(f"MovieLens-100K imported in {time.perf_counter() - t0:.1f} s: {report}")
            has_model = store.current_model_version() is not None
        if a.sample_users is None:
            ml = load()
            users = [str(u["user_id"]) for u in ml.users]
            items = [i.item_id for i in ml.items]
        else:  # a graph built elsewhere (bench/scale.py --keep): ask it for its ids
            with open_store(settings) as store:
                users, items = (
                    [str(r[0]) for r in store.read_only_query(q, {"n": a.sample_users}, 60_000, a.sample_users).rows]
                    for q in ("MATCH (u:User) RETURN u.id LIMIT $n", "MATCH (i:Item) RETURN i.id LIMIT $n")
                )
            print(f"graph: {a.sample_users:,} users and items asked for, {len(users):,} / {len(items):,} found")
        key = create_key(session_factory(settings.sql_url), "admin", "bench")

        store_pid = engine.server_pid(settings)
        answer_modes = {"both": (True, False), "on": (True,), "off": (False,)}[a.answer_cache]
        # profiles are kept only with the change feed
        profile_modes = {"both": (True, False), "on": (True,), "off": (False,)}[a.profile_cache]
        if a.freshness != "feed":
            profile_modes = (False,)
        modes = [(cached, kept) for cached in answer_modes for kept in ((True,) if cached else profile_modes)]

        def bench_state(label: str) -> None:
            nonlocal server
            for cached, kept in modes:
                env = {"RECS_FRESHNESS": a.freshness, **({} if kept else {"RECS_PROFILE_CACHE": "0"})}
                server = Gunicorn(settings, engine, free_port(), a.workers, a.threads, cached, tmp, env)
                try:
                    server.wait_ready(key)
                    what = "answer cache on, warm" if cached else "answer cache off: every request computed"
                    if not cached:
                        what += ", profiles kept (warm)" if kept else ", each profile read from the graph"
                    if a.console:
                        what += f"; console open: {a.console}"
                    with console_open(server.port, key, a):
                        bench_recommendations(server, store_pid, key, users, a, tmp, f"{label}; {what}", store_name)
                finally:
                    server.stop()
                    server = None

        if not has_model:
            bench_state("no model: co-interaction + interests + trending")
        if not has_model and not a.no_refresh:
            try:
                from training.refresh import run_refresh
            except ImportError as exc:
                print(f"(no refresh: the training stack is not installed: {exc})")
            else:
                t0 = time.perf_counter()
                with open_store(settings) as store:
                    res = run_refresh(store, settings, "full", device="auto", epochs=a.epochs)
                print(f"full refresh: {res.status} {res.model_version} in {time.perf_counter() - t0:.0f} s")
                has_model = res.status == "published"
        if has_model:
            bench_state("published model: similar + interests + embeddings")

        server = Gunicorn(
            settings, engine, free_port(), a.workers, a.threads, True, tmp, {"RECS_FRESHNESS": a.freshness}
        )
        server.wait_ready(key)
        bench_ingest(server.port, key, users, items, a.ingest_batches, 1)
        bench_ingest(server.port, key, users, items, a.ingest_batches, 4)
    finally:
        if server is not None:
            server.stop()
        if started_here:
            with contextlib.suppress(Exception):
                embedded_server(settings).stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
