"""Offline quality on MovieLens-100K, through the code path the API serves (issue 14).

    .venv/bin/python bench/quality.py [--protocol temporal|deployed|random|all] [--seeds N]
                                      [--strategies blend graph ...] [--no-genres] [--quiet] [--json]
    .venv/bin/python bench/quality.py --raw-model [--no-genres] [--quiet] [--json]

For each protocol and seed (0..N-1): a fresh temporary DATA_DIR (embedded FalkorDB + SQLite),
the catalogue and the protocol's known ratings ingested through the event log, one full
refresh (its wall time is the training time), then the recommender's answer (k=20) for
every user with test items, for every strategy of the API, scored with training.metrics
next to the popularity baseline (service/evaluation.py has the protocols). The seed drives
the random split and TRAIN_SEED. Prints one table (NDCG@20 and recall@20 per cell; mean ±
std over the seeds when N > 1); --json adds one JSON line with every metric of every run.

--raw-model runs the older benchmark instead: the model's own scores (training.benchmark,
temporal protocol, no store), ours next to popularity.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.evaluation import (
    PROTOCOLS,
    api_strategies,
    evaluate_all,
    format_table,
    rich_progress,
    summarise,
    without_genres,
)
from training.metrics import REPORTED
from training.movielens import load


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--protocol", choices=[*PROTOCOLS, "all"], default="all")
    p.add_argument("--seeds", type=int, default=1, help="run seeds 0..N-1 (default 1)")
    p.add_argument("--strategies", nargs="+", choices=api_strategies(), default=None, help="default: all the API's")
    p.add_argument("--no-genres", action="store_true", help="import the movies without genre interests")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="also print every run's full metrics as one JSON line")
    p.add_argument("--raw-model", action="store_true", help="the older raw-model benchmark (training.benchmark)")
    a = p.parse_args(argv)
    if a.seeds < 1:
        p.error("--seeds must be at least 1")
    return a


def raw_model(a: argparse.Namespace) -> int:
    from training.benchmark import movielens_data, run_benchmark
    from training.config import TrainConfig

    res = run_benchmark(movielens_data(use_genres=not a.no_genres), TrainConfig(progress=not a.quiet))
    print(f"MovieLens-100K, raw model scores (temporal protocol)  {res.counts}")
    print(f"{'metric':<10} {'ours':>8} {'pop':>8}")
    for m in REPORTED:
        print(f"{m:<10} {res.ours[m]:>8.4f} {res.popularity[m]:>8.4f}")
    print(f"train time {res.train_seconds:.1f} s on {res.device} ({res.epochs_run} epochs, best {res.best_epoch})")
    if a.json:
        print(json.dumps({"ours": res.ours, "pop": res.popularity, "train_s": res.train_seconds, "valid": res.valid}))
    return 0


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if a.raw_model:
        return raw_model(a)
    protocols = PROTOCOLS if a.protocol == "all" else (a.protocol,)
    ml = load()
    if a.no_genres:
        ml = without_genres(ml)
    seeds = range(a.seeds)
    if a.quiet:
        results = evaluate_all(protocols, seeds, a.strategies, dataset=ml)
    else:
        with rich_progress() as progress:
            results = evaluate_all(protocols, seeds, a.strategies, progress, dataset=ml)

    print(f"MovieLens-100K ({len(ml.users)} users, {len(ml.items)} items, {len(ml.ratings)} ratings)")
    print(format_table(results))
    for r in results:
        short = {s: n for s, n in r.short_answers.items() if n}
        fallback = {s: u for s, u in r.used.items() if set(u) != {s}}
        answer_s = ", ".join(f"{s} {t:.0f}s" for s, t in r.answer_seconds.items())
        print(
            f"  {r.protocol} seed {r.seed}: ingest {r.ingest_seconds:.1f}s, refresh {r.train_seconds:.1f}s "
            f"(train phase {r.refresh['phases'].get('train', 0.0):.1f}s, best epoch {r.refresh['best_epoch']}), "
            f"answers: {answer_s}; users {r.counts['evaluated_users']}"
            + (f"; answers < 20 items: {short}" if short else "")
            + (f"; strategy applied instead: {fallback}" if fallback else "")
        )
    if a.json:
        print(
            json.dumps({"runs": [r.as_dict() for r in results], "summary": [s.as_dict() for s in summarise(results)]})
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
