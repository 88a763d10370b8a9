"""Graph store throughput and latency on a synthetic graph of ~100k INTERACTED edges.

    .venv/bin/python bench/store.py [--backend falkordb|neo4j] [--users 5000 --items 2000 --interests 50
                                     --edges 100000 --repeats 20000 --samples 200]

--backend falkordb (default): the embedded FalkorDB in a fresh temporary DATA_DIR; the
server it starts is stopped and the directory removed at the end. With
GRAPH_URI=falkordb://PATH it runs against the FalkorDB server of that directory instead,
on a separate graph key (`bench`, deleted at the end; the server is stopped only if this
script started it).

--backend neo4j: the project's test Neo4j 5 (tests/engines.py), started for this run in a
temporary directory and stopped at the end whatever happens; its database is new and is
emptied without asking. With NEO4J_URI (+ NEO4J_USER / NEO4J_PASSWORD / NEO4J_DATABASE)
set, that server instead, and only with `--wipe`: the benchmark needs an empty database
and deletes everything in it before and after.

Measures rows/s of batched `apply_interactions` (batches of 1,000 and 5,000, new edges,
then repeats onto existing edges), of the write-back calls (64-float embeddings,
interest strengths, item similarities), the time of a full training pull, and the
latency (median, p95) of the 2-hop `co_interaction` query and of `user_interests` for
random users. Prints the engine and its version. Numbers drift on shared machines:
compare ratios within one run, and engines in runs on the same machine.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.engines import Engine, add_backend_arguments, graph_engine
from graph_schema.rows import CatalogueItem, Interaction
from graph_schema.settings import Settings
from graph_schema.store import GraphStore, embedded_server, open_store

EVENT_WEIGHTS = ((1.0, 0.6), (2.0, 0.25), (4.0, 0.1), (8.0, 0.05))  # view, click, cart, purchase
DAY_MS = 86_400_000
T0 = 1_700_000_000_000
DIM = 64


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=5000)
    p.add_argument("--items", type=int, default=2000)
    p.add_argument("--interests", type=int, default=50)
    p.add_argument("--edges", type=int, default=100_000, help="distinct (user, item) pairs")
    p.add_argument("--repeats", type=int, default=20_000, help="extra events onto existing edges")
    p.add_argument("--samples", type=int, default=200, help="random users for the latency measurements")
    p.add_argument("--seed", type=int, default=0)
    add_backend_arguments(p)
    return p.parse_args(argv)


# --- synthetic data -------------------------------------------------------------------------


class Synthetic:
    def __init__(self, args: argparse.Namespace) -> None:
        rng = random.Random(args.seed)
        self.rng = rng
        self.users = [f"u{k}" for k in range(args.users)]
        self.items = [f"i{k}" for k in range(args.items)]
        self.interests = [f"t{k}" for k in range(args.interests)]
        self.catalogue = [
            CatalogueItem(item, f"Item {item}", tuple(rng.sample(self.interests, rng.randint(1, 3))), {"price": k % 97})
            for k, item in enumerate(self.items)
        ]
        # skewed popularity (Zipf-like) for items, milder skew for user activity
        item_cum = list(itertools.accumulate(1.0 / (r + 1) ** 0.8 for r in range(len(self.items))))
        user_cum = list(itertools.accumulate(1.0 / (r + 1) ** 0.3 for r in range(len(self.users))))
        pairs: dict[tuple[str, str], None] = {}
        if args.edges > 0.5 * len(self.users) * len(self.items):
            raise SystemExit("--edges is too large for --users x --items")
        while len(pairs) < args.edges:
            n = args.edges - len(pairs)
            for u, i in zip(
                rng.choices(self.users, cum_weights=user_cum, k=n),
                rng.choices(self.items, cum_weights=item_cum, k=n),
                strict=True,
            ):
                pairs[(u, i)] = None
        self.pairs = list(pairs)[: args.edges]
        rng.shuffle(self.pairs)
        self.repeats = [rng.choice(self.pairs) for _ in range(args.repeats)]

    def event(self, user: str, item: str) -> Interaction:
        w = self.rng.choices([w for w, _ in EVENT_WEIGHTS], weights=[p for _, p in EVENT_WEIGHTS])[0]
        return Interaction(user, item, w, T0 + self.rng.randrange(90 * DAY_MS))

    def embedding(self) -> list[float]:
        return [self.rng.gauss(0.0, 0.1) for _ in range(DIM)]


# --- measuring -------------------------------------------------------------------------------


class Report:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []

    def throughput(self, what: str, rows: int, seconds: float) -> None:
        self.rows.append((what, f"{rows:,} rows in {seconds:.2f} s", f"{rows / seconds:,.0f} rows/s"))
        print(f"  {what}: {rows / seconds:,.0f} rows/s", flush=True)

    def latency(self, what: str, samples: list[float], extra: str = "") -> None:
        ms = sorted(s * 1000 for s in samples)
        median = statistics.median(ms)
        p95 = statistics.quantiles(ms, n=20, method="inclusive")[-1]
        self.rows.append((what, f"n={len(ms)}{extra}", f"median {median:.2f} ms, p95 {p95:.2f} ms"))
        print(f"  {what}: median {median:.2f} ms, p95 {p95:.2f} ms", flush=True)

    def print(self, title: str) -> None:
        widths = [max(len(r[k]) for r in [("measure", "work", "result"), *self.rows]) for k in range(3)]
        line = "-+-".join("-" * w for w in widths)
        print(f"\n{title}")
        print(" | ".join(h.ljust(w) for h, w in zip(("measure", "work", "result"), widths, strict=True)))
        print(line)
        for row in self.rows:
            print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def apply_in_batches(store: GraphStore, events: list[Interaction], size: int, tau_ms: float) -> None:
    for k in range(0, len(events), size):
        if not store.apply_interactions(events[k : k + size], tau_ms):
            raise RuntimeError("a fresh batch id was reported as already applied")


def run(store: GraphStore, settings: Settings, args: argparse.Namespace, report: Report) -> None:
    data = Synthetic(args)
    tau = settings.evidence_tau_ms
    print(
        f"synthetic graph: {len(data.users):,} users, {len(data.items):,} items, {len(data.interests)} interests, "
        f"{len(data.pairs):,} edges (+{len(data.repeats):,} repeat events)",
        flush=True,
    )
    store.migrate()
    store.upsert_interests([{"interest_id": t, "name": f"Interest {t}", "kind": "tag"} for t in data.interests])
    report.throughput(
        "upsert_items (catalogue, 1-3 tags)", len(data.catalogue), timed(lambda: store.upsert_items(data.catalogue))
    )

    half = len(data.pairs) // 2
    first = [data.event(u, i) for u, i in data.pairs[:half]]
    second = [data.event(u, i) for u, i in data.pairs[half:]]
    repeats = [data.event(u, i) for u, i in data.repeats]
    report.throughput(
        "apply_interactions, new edges, batch 1,000",
        len(first),
        timed(lambda: apply_in_batches(store, first, 1000, tau)),
    )
    report.throughput(
        "apply_interactions, new edges, batch 5,000",
        len(second),
        timed(lambda: apply_in_batches(store, second, 5000, tau)),
    )
    if repeats:
        report.throughput(
            "apply_interactions, existing edges, batch 5,000",
            len(repeats),
            timed(lambda: apply_in_batches(store, repeats, 5000, tau)),
        )

    sub: list[Any] = []
    seconds = timed(lambda: sub.append(store.pull_subgraph()))
    pulled = len(sub[0].interactions) + len(sub[0].tags) + len(sub[0].evidence)
    report.throughput("pull_subgraph (interactions+tags+evidence)", pulled, seconds)

    version = "bench-v1"
    user_rows = [{"id": u, "props": {"embedding": data.embedding(), "model_version": version}} for u in data.users]
    item_rows = [{"id": i, "props": {"embedding": data.embedding(), "model_version": version}} for i in data.items]
    report.throughput(
        f"write_node_properties User, {DIM} floats",
        len(user_rows),
        timed(lambda: store.write_node_properties("User", user_rows)),
    )
    report.throughput(
        f"write_node_properties Item, {DIM} floats",
        len(item_rows),
        timed(lambda: store.write_node_properties("Item", item_rows)),
    )
    strengths = [
        {"user_id": u, "interest_id": t, "strength": data.rng.random(), "updated_at": T0, "model_version": version}
        for u in data.users
        for t in data.rng.sample(data.interests, min(10, len(data.interests)))
    ]
    report.throughput(
        "write_interest_strengths (10/user)", len(strengths), timed(lambda: store.write_interest_strengths(strengths))
    )
    similar = [
        {"item_id": i, "other_id": o, "score": data.rng.random(), "model_version": version}
        for i in data.items
        for o in data.rng.sample(data.items, min(20, len(data.items) - 1))
        if o != i
    ]
    report.throughput("write_similar_items (20/item)", len(similar), timed(lambda: store.write_similar_items(similar)))

    users = data.rng.sample(data.users, min(args.samples, len(data.users)))
    for u in users[:5]:  # warm-up (query plan caches)
        store.co_interaction(u)
        store.user_interests(u)
    co_latency, sizes = [], []
    for u in users:
        start = time.perf_counter()
        rows = store.co_interaction(u, k=20, peers=50)
        co_latency.append(time.perf_counter() - start)
        sizes.append(len(rows))
    report.latency("co_interaction (2-hop, k=20, peers=50)", co_latency, f", {statistics.mean(sizes):.1f} items/answer")
    report.latency("user_interests", [timed(lambda u=u: store.user_interests(u)) for u in users])
    counts = store.counts()
    print(f"final counts: {counts['nodes']} {counts['relationships']}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    graph_uri = os.environ.get("GRAPH_URI") or None  # falkordb://PATH (graph_engine refuses a Neo4j URI)
    with graph_engine(args.backend, wipe=args.wipe) as engine:
        return measure(engine, args, graph_uri if args.backend == "falkordb" else None)


def measure(engine: Engine, args: argparse.Namespace, graph_uri: str | None) -> int:
    """graph_uri: FalkorDB only, falkordb://PATH (a server of someone's; else the embedded one in a temp dir)."""
    report = Report()
    tmp = Path(tempfile.mkdtemp(prefix="bench-store-"))
    if graph_uri is None:  # the embedded FalkorDB in tmp, or Neo4j (tmp holds nothing then)
        settings = engine.settings(data_dir=tmp)
    else:
        settings = engine.settings(data_dir=tmp, graph_uri=graph_uri, graph_name="bench")

    server = embedded_server(settings) if settings.backend == "falkordb" else None
    started_here = server is not None and not server.is_running()
    try:
        where = settings.graph_uri or tmp
        print(
            f"backend: {engine.describe()}; store {where}; python {platform.python_version()}; {os.cpu_count()} CPUs",
            flush=True,
        )
        total = time.perf_counter()
        store = open_store(settings)
        try:
            if settings.backend == "falkordb" and graph_uri is not None:  # a clean `bench` key on someone's server
                store._graph.delete()  # type: ignore[attr-defined]
                store._write("RETURN 1", {})  # any write query creates the key again
            # Neo4j: graph_engine emptied the database (and empties an external one afterwards)
            run(store, settings, args, report)
        finally:
            if settings.backend == "falkordb" and graph_uri is not None:
                with contextlib.suppress(Exception):
                    store._graph.delete()  # type: ignore[attr-defined]
            store.close()
        version = f" {engine.version}" if engine.version else ""
        report.print(f"bench/store.py — {settings.backend}{version}, total {time.perf_counter() - total:.0f} s")
    finally:
        if server is not None and started_here:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
