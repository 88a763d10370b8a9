"""Refresh time on the MovieLens-100K graph: a full refresh (pull + build + train + evaluate
+ write-back), then an incremental refresh after 1,000 new events. Prints each phase, the
counts (the incremental run's neighbourhood: touched_users, neighbour_users, refit_items,
interactions pulled), the incremental gate's numbers (ours against the published
vectors on the users' newest new items), and the write phase's store calls one by one
(write_similar_items, stage_interest_strengths, stage_node_properties per label,
publish_model, and the cleanup_versions after it).

The default new events are random re-ratings by 100 users, so the gate's numbers are noise.
--held-out F instead imports MovieLens without its newest F of ratings (by time), publishes
the full run on the rest, and ingests the held-out ratings as the new events: real future
behaviour, on which the incremental gate measures something (the fold-in settings in
training.refresh.RefreshOptions were chosen with --held-out 0.03: 3,000 ratings of 71 users).

--backend falkordb (default): a fresh temporary DATA_DIR (embedded FalkorDB + SQLite) unless
--data-dir is given. --backend neo4j: the same MovieLens-100K import and refreshes on the
project's test Neo4j 5 (tests/engines.py; started for this run, new and empty, stopped at
the end whatever happens), or on the server in NEO4J_URI (+ NEO4J_USER / NEO4J_PASSWORD)
with --wipe (everything in its database is deleted before and after); the event log stays
SQLite in the temporary DATA_DIR, so the two runs differ only in the graph engine.

    .venv/bin/python bench/refresh.py [--backend falkordb|neo4j] [--new-events 1000 | --held-out 0.03]
                                      [--device auto] [--epochs N]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.engines import add_backend_arguments, graph_engine
from graph_schema.rows import Interaction
from graph_schema.store import open_store
from graph_schema.store.factory import embedded_server
from service.ingest.eventlog import EventLog
from service.ingest.movielens import import_dataset, import_movielens
from training.movielens import MovieLens, load
from training.refresh import PHASES, RefreshResult, run_refresh

FULL_TARGET_S = 60.0
INCREMENTAL_TARGET_S = 10.0


# The store calls of a refresh's write phase (and the cleanup after it), timed one by one:
# which of them makes the write phase slow on an engine.
WRITE_CALLS = (
    "write_similar_items",
    "stage_interest_strengths",
    "stage_node_properties",
    "publish_model",
    "cleanup_versions",
)


class CallTimes:
    """Wraps the store's write-back methods (on the instance only) to time each call."""

    def __init__(self, store: Any) -> None:
        self.seconds: dict[str, float] = {}
        self.rows: dict[str, int] = {}
        for name in WRITE_CALLS:
            setattr(store, name, self._timed(name, getattr(store, name)))

    def _timed(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            label = f"{name} {args[0]}" if name == "stage_node_properties" and args else name
            rows = args[-1] if args and isinstance(args[-1], list) else None
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - start
                if rows is not None:
                    self.rows[label] = self.rows.get(label, 0) + len(rows)

        return call

    def show(self) -> None:
        parts = []
        for label, seconds in self.seconds.items():
            rows = self.rows.get(label)
            rate = f" ({rows:,} rows, {rows / seconds:,.0f}/s)" if rows and seconds > 0 else ""
            parts.append(f"{label} {seconds:.2f}s{rate}")
        print(f"  write calls: {'; '.join(parts)}")
        self.seconds.clear()
        self.rows.clear()


def show(title: str, res: RefreshResult, total: float, target: float) -> None:
    phases = "  ".join(f"{p} {res.phases.get(p, 0.0):.1f}s" for p in PHASES)
    rest = total - sum(res.phases.get(p, 0.0) for p in PHASES)
    phases += f"  (outside the phases: imports, model read, cleanup of old versions {rest:.1f}s)"
    verdict = "met" if total <= target else "NOT met"
    print(f"{title}: {total:.1f} s (target <= {target:.0f} s: {verdict}) status={res.status} device={res.device}")
    print(f"  phases: {phases}")
    m, b = res.metrics, res.baseline
    print(
        f"  ndcg@20 ours {m.get('ndcg@20', 0):.4f} pop {b.get('ndcg@20', 0):.4f}; "
        f"recall@20 ours {m.get('recall@20', 0):.4f} pop {b.get('recall@20', 0):.4f} "
        f"(users {m.get('users', 0):.0f}); counts {res.counts}"
    )
    if res.mode == "incremental":
        ref = "-" if res.published_metric is None else f"{res.published_metric:.4f}"
        print(f"  gate: ndcg@20 ours {m.get('ndcg@20', 0):.4f} vs published vectors {ref}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--new-events", type=int, default=1000)
    p.add_argument("--held-out", type=float, default=0.0, help="newest share of ratings ingested as the new events")
    p.add_argument("--device", default="auto")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument(
        "--warm-up",
        type=int,
        default=0,
        help="full refreshes run (and printed) before the measured one: a deployment's graph engine is warm "
        "(Neo4j: JIT-compiled, query plans cached), a benchmark's is new",
    )
    p.add_argument(
        "--data-dir", type=Path, default=None, help="keep the store here (default: a temp dir; FalkorDB only)"
    )
    add_backend_arguments(p)
    a = p.parse_args()
    if a.data_dir is not None and a.backend != "falkordb":
        p.error("--data-dir keeps the embedded FalkorDB store: it goes with --backend falkordb only")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    with graph_engine(a.backend, wipe=a.wipe) as engine, tempfile.TemporaryDirectory(prefix="bench-refresh-") as tmp:
        data_dir = a.data_dir or Path(tmp)
        settings = engine.settings(data_dir=data_dir, graph_name="bench_refresh")
        print(f"backend: {engine.describe()}; {os.cpu_count()} CPUs", flush=True)
        try:
            with open_store(settings) as store:
                store.migrate()
                held: list[tuple[str, str, float, int]] = []
                older: MovieLens | None = None
                if a.held_out > 0:
                    ml = load()
                    ratings = sorted(ml.ratings, key=lambda r: r[3])
                    cut = len(ratings) - int(len(ratings) * a.held_out)
                    held = ratings[cut:]
                    older = replace(ml, ratings=ratings[:cut])  # the graph gets the older ratings
                t0 = time.perf_counter()
                if older is None:
                    import_movielens(store, EventLog(settings))
                else:
                    import_dataset(store, EventLog(settings), older)
                print(f"MovieLens-100K import: {time.perf_counter() - t0:.1f} s ({len(held)} ratings held out)")

                for n in range(a.warm_up):
                    t0 = time.perf_counter()
                    run_refresh(store, settings, "full", a.device, a.epochs, force=True)
                    print(f"warm-up full refresh {n + 1}: {time.perf_counter() - t0:.1f} s", flush=True)
                calls = CallTimes(store)
                t0 = time.perf_counter()
                full = run_refresh(store, settings, "full", a.device, a.epochs, force=True)
                show("full refresh", full, time.perf_counter() - t0, FULL_TARGET_S)
                calls.show()

                if held:
                    events = [Interaction(u, i, r, ts) for u, i, r, ts in held]
                else:  # new events after the published run: random users re-rate random items
                    sub = store.pull_subgraph()
                    users = sorted({r["user_id"] for r in sub.interactions})
                    items = sorted({r["item_id"] for r in sub.interactions})
                    rng = random.Random(7)
                    t_new = max(r["last_ts"] for r in sub.interactions) + 1000
                    events = [
                        Interaction(rng.choice(users[:100]), rng.choice(items), float(rng.randint(1, 5)), t_new + k)
                        for k in range(a.new_events)
                    ]
                store.apply_interactions(events, settings.evidence_tau_ms)
                touched = sorted({e.user_id for e in events})

                t0 = time.perf_counter()
                inc = run_refresh(store, settings, "incremental", a.device, force=True, touched_users=touched)
                show(
                    f"incremental refresh after {len(events)} {'held-out' if held else 'random'} events",
                    inc,
                    time.perf_counter() - t0,
                    INCREMENTAL_TARGET_S,
                )
                calls.show()
        finally:
            if settings.backend == "falkordb":
                embedded_server(settings).stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
