"""Offline evaluation through the served code path (issue 14, part 1).

The quality of what the API answers, not of the model's raw scores: for one protocol,
a fresh temporary DATA_DIR (embedded FalkorDB + SQLite), the catalogue and the known
interactions ingested through the real ingest path (service.ingest.movielens.import_dataset:
the event log, then the graph, original timestamps), one forced full refresh through the
job (service.jobs.refresh.run_job; its wall time is the "training time"), then
Recommender.recommend(user, k=20, strategy=S, exclude=...) for every user with truth and
every strategy the API offers (RecsQuery.strategy). The answers are scored with
training.metrics.rank_metrics, the popularity baseline with evaluate_popularity, so every
number is defined exactly as in training.metrics.evaluate.

Protocols (per user, over its distinct (user, item) interactions):
- temporal: time-ordered 80/10/10 (training.data.temporal_split); the graph knows TRAIN,
  VALID is excluded from the answer (the request's `exclude`), truth = TEST.
- deployed: the same split; the graph knows TRAIN + VALID, truth = TEST.
- random: a random 80/10/10 (numpy default_rng(seed)), same sizes; graph knows TRAIN,
  VALID excluded, truth = TEST.
The seed drives the random split and the training seed (TRAIN_SEED).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import tempfile
import time
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from graph_schema.store import open_store
from graph_schema.store.factory import embedded_server
from service.api.models import RecsQuery
from service.config import ApiSettings
from service.ingest.eventlog import EventLog
from service.ingest.movielens import import_dataset
from service.jobs.refresh import run_job
from service.recs.recommender import Recommender
from training.data import TrainingData, temporal_split
from training.metrics import DEFAULT_KS, REPORTED, evaluate_popularity, rank_metrics
from training.movielens import MovieLens, load

log = logging.getLogger(__name__)

PROTOCOLS = ("temporal", "deployed", "random")
POPULARITY = "popularity"
K = max(DEFAULT_KS)  # answers of 20 items: every reported metric is @10 or @20
FRAC = 0.1  # valid and test share per user (80/10/10)

Rating = tuple[str, str, float, int]  # user, item, rating, ts (ms): MovieLens.ratings rows
# progress(label, done, total): called as work advances (see rich_progress)
Progress = Callable[[str, int, int], None]


def api_strategies() -> tuple[str, ...]:
    """The strategies the API accepts (RecsQuery.strategy): new ones are evaluated automatically."""
    return tuple(typing.get_args(RecsQuery.model_fields["strategy"].annotation))


# --- splits ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ProtocolSplit:
    """What one protocol ingests, excludes and scores."""

    protocol: str
    known: list[Rating]  # ingested into the graph (the known history)
    exclude: dict[str, list[str]]  # per user: item ids passed as the request's `exclude`
    truth: dict[str, list[str]]  # per user with test items: the items to find
    parts: dict[str, int]  # interactions (distinct user-item pairs) per part


@dataclass(frozen=True)
class _Pairs:
    """The distinct (user, item) pairs of the ratings, each with its rating rows."""

    data: TrainingData  # one row per pair, first_ts = its first rating
    rows: list[list[int]]  # pair -> indices into the ratings


def _pairs(ratings: Sequence[Rating]) -> _Pairs:
    index: dict[tuple[str, str], int] = {}
    rows: list[list[int]] = []
    first: list[int] = []
    for n, (u, i, _r, ts) in enumerate(ratings):
        p = index.setdefault((u, i), len(index))
        if p == len(rows):
            rows.append([])
            first.append(ts)
        rows[p].append(n)
        first[p] = min(first[p], ts)
    keys = list(index)
    data = TrainingData.from_rows(
        {"user_id": u, "item_id": i, "first_ts": ts, "last_ts": ts} for (u, i), ts in zip(keys, first, strict=True)
    )
    return _Pairs(data, rows)


def random_split(data: TrainingData, seed: int, frac: float = FRAC) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per user, a random permutation (default_rng(seed), users in index order) cut like
    temporal_split: first n-2*floor(frac*n) train, next floor(frac*n) valid, rest test."""
    rng = np.random.default_rng(seed)
    order = np.argsort(data.user, kind="stable")
    bounds = np.searchsorted(data.user[order], np.arange(data.n_users + 1))
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    for k in range(data.n_users):
        rows = rng.permutation(order[bounds[k] : bounds[k + 1]])
        n = rows.shape[0]
        h = int(np.floor(frac * n + 1e-9))
        parts[0].append(rows[: n - 2 * h])
        parts[1].append(rows[n - 2 * h : n - h])
        parts[2].append(rows[n - h :])
    train, valid, test = (np.sort(np.concatenate(p)) if p else np.zeros(0, dtype=np.int64) for p in parts)
    return train, valid, test


def split_ratings(ratings: Sequence[Rating], protocol: str, seed: int = 0) -> ProtocolSplit:
    """The protocol's known history, per-user exclusions and truth (see the module notes).
    Every rating of a (user, item) pair goes to the part of the pair."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}")
    pairs = _pairs(ratings)
    data = pairs.data
    if protocol == "random":
        train, valid, test = random_split(data, seed)
    else:
        s = temporal_split(data, FRAC)
        train, valid, test = s.train, s.valid, s.test

    def by_user(rows: np.ndarray) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for r in rows.tolist():
            out.setdefault(data.users.ids[data.user[r]], []).append(data.items.ids[data.item[r]])
        return out

    known_pairs = np.sort(np.concatenate([train, valid])) if protocol == "deployed" else train
    known = [ratings[n] for p in known_pairs.tolist() for n in pairs.rows[p]]
    known.sort(key=lambda r: r[3])  # ingested in time order, as they would have arrived
    return ProtocolSplit(
        protocol=protocol,
        known=known,
        exclude={} if protocol == "deployed" else by_user(valid),
        truth=by_user(test),
        parts={"train": len(train), "valid": len(valid), "test": len(test)},
    )


# --- metrics ---------------------------------------------------------------------------
def item_index(dataset: MovieLens) -> dict[str, int]:
    """Catalogue items first (file order), then items only seen in ratings."""
    index: dict[str, int] = {}
    for m in dataset.items:
        index.setdefault(m.item_id, len(index))
    for _u, i, _r, _ts in dataset.ratings:
        index.setdefault(i, len(index))
    return index


def answer_metrics(
    answers: Mapping[str, Sequence[str]],
    truth: Mapping[str, Sequence[str]],
    items: Mapping[str, int],
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, float]:
    """training.metrics.rank_metrics over the users of `truth`, their ranked lists being
    the answers (best first). A short answer is padded with a column that is never a hit;
    an item outside `items` never counts as a hit either."""
    kmax = max(ks)
    pad = len(items)
    users = [u for u, t in truth.items() if len(t)]
    ranked = np.full((len(users), kmax), pad, dtype=np.int64)
    for row, u in enumerate(users):
        got = [items.get(i, pad) for i in list(answers.get(u, ()))[:kmax]]
        ranked[row, : len(got)] = got
    truth_idx = [np.unique(np.array([items[i] for i in truth[u]], dtype=np.int64)) for u in users]
    return rank_metrics(ranked, truth_idx, ks)


def popularity_metrics(split: ProtocolSplit, items: Mapping[str, int]) -> dict[str, float]:
    """The popularity baseline: items by interaction count in the known history, each
    user's known and excluded items never ranked (training.metrics.evaluate_popularity)."""
    users = [u for u, t in split.truth.items() if len(t)]
    row = {u: n for n, u in enumerate(users)}
    seen_lists: list[list[int]] = [[] for _ in users]
    counted: list[int] = []
    for u, i, _r, _ts in split.known:
        counted.append(items[i])
        if u in row:
            seen_lists[row[u]].append(items[i])
    for u, excluded in split.exclude.items():
        if u in row:
            seen_lists[row[u]].extend(items[i] for i in excluded)
    seen = [np.unique(np.array(s, dtype=np.int64)) for s in seen_lists]
    truth = [np.unique(np.array([items[i] for i in split.truth[u]], dtype=np.int64)) for u in users]
    return evaluate_popularity(np.array(counted, dtype=np.int64), len(items), seen, truth)


# --- one protocol ------------------------------------------------------------------------
@dataclass
class ProtocolResult:
    protocol: str
    seed: int
    metrics: dict[str, dict[str, float]]  # strategy or "popularity" -> metric -> value (plus "users")
    train_seconds: float  # the full refresh through run_job (pull, train, evaluate, write)
    ingest_seconds: float
    answer_seconds: dict[str, float]  # strategy -> seconds for all its answers
    counts: dict[str, int]  # users, items, known ratings, split parts, evaluated users
    short_answers: dict[str, int]  # strategy -> answers with fewer than K items
    used: dict[str, dict[str, int]]  # strategy requested -> strategy the answer says it applied -> users
    refresh: dict[str, Any] = field(default_factory=dict)  # status, version, phases, its own hold-out metrics

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def without_genres(dataset: MovieLens) -> MovieLens:
    """The data set with no genre interests (items untagged)."""
    items = [dataclasses.replace(m, genres=()) for m in dataset.items]
    return dataclasses.replace(dataset, items=items, genres=[])


def evaluate_protocol(
    protocol: str,
    seed: int = 0,
    strategies: Sequence[str] | None = None,
    progress: Progress | None = None,
    *,
    dataset: MovieLens | None = None,
    settings: Mapping[str, Any] | None = None,
    workdir: Path | None = None,
) -> ProtocolResult:
    """Run one protocol end to end (see the module notes) on `dataset` (MovieLens-100K from
    the recbole wheel by default). `settings` overrides ApiSettings fields (e.g. train_epochs);
    the temporary DATA_DIR is made under `workdir` (the system's temp dir by default) and
    removed at the end, its embedded server stopped."""
    strategies = tuple(strategies or api_strategies())
    unknown = set(strategies) - set(api_strategies())
    if unknown:
        raise ValueError(f"unknown strategies {sorted(unknown)}; the API offers {', '.join(api_strategies())}")
    ml = dataset if dataset is not None else load()
    split = split_ratings(ml.ratings, protocol, seed)
    items = item_index(ml)
    tag = f"{protocol} seed {seed}"
    tmp = Path(tempfile.mkdtemp(prefix=f"ig-eval-{protocol}-", dir=workdir))
    api = ApiSettings(
        **{
            "data_dir": tmp,
            "graph_uri": None,
            "database_url": None,
            "recs_answer_cache": 0,
            "train_seed": seed,
            "scheduler_enabled": False,
            **(settings or {}),
        }
    )
    try:
        with open_store(api) as store:
            store.migrate()
            t0 = time.perf_counter()
            done = 0

            def ingested(n: int) -> None:
                nonlocal done
                done += n
                if progress:
                    progress(f"{tag}: ingest", done, len(split.known))

            report = import_dataset(store, EventLog(api), dataclasses.replace(ml, ratings=split.known), ingested)
            ingest_s = time.perf_counter() - t0
            if report["pending"]:
                raise RuntimeError(f"{report['pending']} events were not applied to the graph: {report}")

            if progress:
                progress(f"{tag}: refresh", 0, 1)
            t0 = time.perf_counter()
            outcome = run_job(store, api, "full", trigger="evaluate", force=True)
            train_s = time.perf_counter() - t0
            res = outcome.result
            if progress:
                progress(f"{tag}: refresh", 1, 1)
            if res.status != "published":
                raise RuntimeError(f"the refresh did not publish ({res.status}): {res.reason}")

            rec = Recommender(api)
            users = [u for u, t in split.truth.items() if t]
            metrics: dict[str, dict[str, float]] = {}
            answer_s: dict[str, float] = {}
            short: dict[str, int] = {}
            used: dict[str, dict[str, int]] = {}
            for strategy in strategies:
                answers: dict[str, list[str]] = {}
                used[strategy] = {}
                short[strategy] = 0
                t0 = time.perf_counter()
                for n, u in enumerate(users):
                    out = rec.recommend(
                        store, u, k=K, strategy=strategy, exclude=split.exclude.get(u, ()), explain=False
                    )
                    answers[u] = [r["item_id"] for r in out["items"]]
                    used[strategy][out["strategy"]] = used[strategy].get(out["strategy"], 0) + 1
                    short[strategy] += len(answers[u]) < K
                    if progress and (n % 25 == 0 or n == len(users) - 1):
                        progress(f"{tag}: {strategy}", n + 1, len(users))
                answer_s[strategy] = time.perf_counter() - t0
                metrics[strategy] = _reported(answer_metrics(answers, split.truth, items))
            metrics[POPULARITY] = _reported(popularity_metrics(split, items))
    finally:
        try:
            embedded_server(api).stop()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return ProtocolResult(
        protocol=protocol,
        seed=seed,
        metrics=metrics,
        train_seconds=train_s,
        ingest_seconds=ingest_s,
        answer_seconds=answer_s,
        counts={
            "users": len(ml.users) or len({r[0] for r in ml.ratings}),
            "items": len(items),
            "known_ratings": len(split.known),
            **split.parts,
            "evaluated_users": len(users),
        },
        short_answers=short,
        used=used,
        refresh={
            "status": res.status,
            "model_version": res.model_version,
            "device": res.device,
            "best_epoch": res.best_epoch,
            "phases": res.phases,
            "holdout_metrics": res.metrics,
        },
    )


def _reported(m: Mapping[str, float]) -> dict[str, float]:
    return {name: float(m[name]) for name in (*REPORTED, "users") if name in m}


def evaluate_all(
    protocols: Iterable[str] = PROTOCOLS,
    seeds: Iterable[int] = (0,),
    strategies: Sequence[str] | None = None,
    progress: Progress | None = None,
    **kwargs: Any,
) -> list[ProtocolResult]:
    """evaluate_protocol for every protocol and seed (protocol-major); kwargs as there.
    MovieLens-100K is read once."""
    if "dataset" not in kwargs or kwargs["dataset"] is None:
        kwargs["dataset"] = load()
    seeds = list(seeds)
    return [evaluate_protocol(p, s, strategies, progress, **kwargs) for p in protocols for s in seeds]


# --- summary and table -----------------------------------------------------------------------
@dataclass(frozen=True)
class Summary:
    """One protocol over its seeds: mean and (population) std per column and metric."""

    protocol: str
    seeds: list[int]
    mean: dict[str, dict[str, float]]
    std: dict[str, dict[str, float]]
    train_seconds: tuple[float, float]  # mean, std

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def summarise(results: Sequence[ProtocolResult]) -> list[Summary]:
    """Mean ± std over the seeds of each protocol, protocols in first-seen order."""
    out = []
    for protocol in dict.fromkeys(r.protocol for r in results):
        runs = [r for r in results if r.protocol == protocol]
        columns = list(dict.fromkeys(c for r in runs for c in r.metrics))
        mean: dict[str, dict[str, float]] = {}
        std: dict[str, dict[str, float]] = {}
        for c in columns:
            names = list(dict.fromkeys(m for r in runs for m in r.metrics.get(c, {})))
            values = {m: np.array([r.metrics[c][m] for r in runs if m in r.metrics.get(c, {})]) for m in names}
            mean[c] = {m: float(v.mean()) for m, v in values.items()}
            std[c] = {m: float(v.std()) for m, v in values.items()}
        t = np.array([r.train_seconds for r in runs])
        out.append(Summary(protocol, [r.seed for r in runs], mean, std, (float(t.mean()), float(t.std()))))
    return out


def format_table(results: Sequence[ProtocolResult], metrics: Sequence[str] = ("ndcg@20", "recall@20")) -> str:
    """Plain-text table: one row per protocol and metric, one column per strategy, then
    popularity and the training time; with several seeds, mean ± std."""
    summaries = summarise(results)
    if not summaries:
        return "(no results)"
    columns = list(dict.fromkeys(c for s in summaries for c in s.mean))
    columns = [c for c in columns if c != POPULARITY] + [POPULARITY]
    several = any(len(s.seeds) > 1 for s in summaries)

    def cell(s: Summary, c: str, m: str) -> str:
        v = s.mean.get(c, {}).get(m)
        if v is None or math.isnan(v):
            return "-"
        return f"{v:.4f} ± {s.std[c][m]:.4f}" if several else f"{v:.4f}"

    header = ["protocol", "metric", *columns, "train s"]
    rows = []
    for s in summaries:
        t_mean, t_std = s.train_seconds
        train = f"{t_mean:.1f} ± {t_std:.1f}" if several else f"{t_mean:.1f}"
        for n, m in enumerate(metrics):
            rows.append([s.protocol if n == 0 else "", m, *(cell(s, c, m) for c in columns), train if n == 0 else ""])
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(v.ljust(w) if k < 2 else v.rjust(w) for k, (v, w) in enumerate(zip(r, widths, strict=True)))

    seeds = sorted({seed for s in summaries for seed in s.seeds})
    title = f"answers of the recommender (k={K}), seeds {seeds}" + (" (mean ± std)" if several else "")
    return "\n".join([title, line(header), line(["-" * w for w in widths]), *map(line, rows)])


@contextmanager
def rich_progress(transient: bool = True) -> Iterator[Progress]:
    """A Progress callback drawing one rich progress bar per label (on stderr)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bars

    bars = Bars(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=transient,
    )
    tasks: dict[str, Any] = {}

    def update(label: str, done: int, total: int) -> None:
        if label not in tasks:
            tasks[label] = bars.add_task(label, total=total)
        bars.update(tasks[label], completed=done, total=total)

    with bars:
        yield update
