"""What item text adds to a full refresh on the MovieLens-100K graph, and to the graph.

Imports MovieLens-100K into a fresh store, then runs three full refreshes: the first with
text (every item and genre text embedded), the second with text again (nothing changed:
every hash matches, nothing embedded), the third with TEXT_FEATURES off. Prints each run's
phases, with the text phase (pull the texts + embed the changed ones + write their vectors)
and the text tags written after publishing. Then the graph's extra storage: on FalkorDB the
server's used_memory before and after the text vectors and hashes are removed.

    .venv/bin/python bench/text_refresh.py [--backend falkordb|neo4j] [--epochs N]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.engines import add_backend_arguments, graph_engine
from graph_schema.store import open_store
from service.ingest.eventlog import EventLog
from service.ingest.movielens import import_movielens
from training.options import RefreshOptions
from training.refresh import PHASES, RefreshResult, run_refresh


def used_memory(store: Any) -> int | None:
    """The FalkorDB server's used_memory (bytes); None on another engine."""
    db = getattr(store, "_db", None)
    if db is None or not hasattr(db, "connection"):
        return None
    return int(db.connection.info("memory")["used_memory"])


def show(title: str, res: RefreshResult, total: float) -> None:
    phases = "  ".join(f"{p} {res.phases.get(p, 0.0):.1f}s" for p in PHASES)
    text = {k: v for k, v in res.counts.items() if "text" in k}
    epochs = f"{len(res.history)} epochs (best {res.best_epoch})"
    print(f"{title}: {res.status} in {total:.1f} s  ({phases})  {epochs}  {text}", flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=None)
    add_backend_arguments(p)
    a = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with graph_engine(a.backend, wipe=a.wipe) as engine, tempfile.TemporaryDirectory(prefix="bench-text-") as tmp:
        settings = engine.settings(data_dir=Path(tmp), graph_name="bench_text")
        print(f"backend: {engine.describe()}", flush=True)
        with open_store(settings) as store:
            store.migrate()
            import_movielens(store, EventLog(settings))
            options = RefreshOptions.from_settings(settings)
            for title, opts in (
                ("first run, text on", options),
                ("unchanged re-run, text on", options),
                ("text off", replace(options, text_features=False)),
            ):
                start = time.perf_counter()
                res = run_refresh(store, settings, "full", "cpu", a.epochs, force=True, options=opts)
                show(title, res, time.perf_counter() - start)
            stored = store.read_only_query(
                "MATCH (n) WHERE n.text_embedding IS NOT NULL RETURN count(n), sum(size(n.text_embedding))",
                None,
                60_000,
                1,
            ).rows[0]
            before = used_memory(store)
            # a bench measuring storage: the one ad-hoc write, through the backend's own call
            store._write(
                "MATCH (n) WHERE n.text_embedding IS NOT NULL SET n.text_embedding = NULL, n.text_hash = NULL", {}
            )
            after = used_memory(store)
            print(f"stored: {stored[0]} nodes with a text vector, {stored[1]} floats", flush=True)
            if before is not None and after is not None:
                print(
                    f"FalkorDB used_memory {before / 1e6:.1f} MB with text vectors, {after / 1e6:.1f} MB without: "
                    f"{(before - after) / 1e6:.1f} MB ({(before - after) / max(stored[0], 1):.0f} B per node)"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
