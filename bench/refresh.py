"""Refresh time on the MovieLens-100K graph: a full refresh (pull + build + train + evaluate
+ write-back), then an incremental refresh after 1,000 new events. Prints each phase.

Runs on a fresh temporary DATA_DIR (embedded FalkorDB + SQLite) unless --data-dir is given.

    .venv/bin/python bench/refresh.py [--new-events 1000] [--device auto] [--epochs N]
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graph_schema.model import Interaction
from graph_schema.settings import Settings
from graph_schema.store import open_store
from graph_schema.store.factory import embedded_server
from service.ingest.eventlog import EventLog
from service.ingest.movielens import import_movielens
from training.refresh import PHASES, RefreshResult, run_refresh

FULL_TARGET_S = 60.0
INCREMENTAL_TARGET_S = 10.0


def show(title: str, res: RefreshResult, total: float, target: float) -> None:
    phases = "  ".join(f"{p} {res.phases.get(p, 0.0):.1f}s" for p in PHASES)
    verdict = "met" if total <= target else "NOT met"
    print(f"{title}: {total:.1f} s (target <= {target:.0f} s: {verdict}) status={res.status} device={res.device}")
    print(f"  phases: {phases}")
    m, b = res.metrics, res.baseline
    print(
        f"  ndcg@20 ours {m.get('ndcg@20', 0):.4f} pop {b.get('ndcg@20', 0):.4f}; "
        f"recall@20 ours {m.get('recall@20', 0):.4f} pop {b.get('recall@20', 0):.4f}; counts {res.counts}"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--new-events", type=int, default=1000)
    p.add_argument("--device", default="auto")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--data-dir", type=Path, default=None, help="keep the store here (default: a temp dir)")
    a = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    with tempfile.TemporaryDirectory(prefix="bench-refresh-") as tmp:
        data_dir = a.data_dir or Path(tmp)
        settings = Settings(data_dir=data_dir, graph_name="bench_refresh")
        try:
            with open_store(settings) as store:
                store.migrate()
                t0 = time.perf_counter()
                import_movielens(store, EventLog(settings))
                print(f"MovieLens-100K import: {time.perf_counter() - t0:.1f} s")

                t0 = time.perf_counter()
                full = run_refresh(store, settings, "full", a.device, a.epochs, force=True)
                show("full refresh", full, time.perf_counter() - t0, FULL_TARGET_S)

                # new events after the published run: random users re-rate random items
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
                    f"incremental refresh after {a.new_events} events",
                    inc,
                    time.perf_counter() - t0,
                    INCREMENTAL_TARGET_S,
                )
        finally:
            embedded_server(settings).stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
