"""Prometheus metrics: per-endpoint request counts and latency, events ingested,
refresh runs and their durations.

Request metrics live in the process (prometheus_client multiprocess mode when
PROMETHEUS_MULTIPROC_DIR is set, as under gunicorn). Refresh runs may happen in
another process (the scheduler), so their metrics are read from the run
history table at scrape time instead of being counted in memory.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from records.runs import SUCCEEDED
from records.tables import EventRecord, RefreshRun

REQUESTS = Counter(
    "interest_graph_http_requests_total",
    "HTTP requests by endpoint, method and status.",
    ["endpoint", "method", "status"],
)
LATENCY = Histogram(
    "interest_graph_http_request_duration_seconds",
    "HTTP request latency by endpoint and method.",
    ["endpoint", "method"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EVENTS = Counter("interest_graph_events_total", "Events received through the API by outcome.", ["outcome"])
ITEMS = Counter(
    "interest_graph_catalogue_items_total", "Catalogue records received through the API by outcome.", ["outcome"]
)
INGEST_REFUSED = Counter(
    "interest_graph_ingest_refused_total",
    "Ingest batches a worker refused (503 ingest-busy: INGEST_MAX_BATCHES already taken), by endpoint.",
    ["endpoint"],
)
RECOMMENDATIONS = Counter(
    "interest_graph_recommendations_total", "Recommendation responses by strategy used.", ["strategy"]
)

DURATION_BUCKETS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)


class SqlCollector(Collector):
    """Refresh-run history and the event backlog, read from SQL at scrape time."""

    def __init__(self, sessions: sessionmaker) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[Any]:
        try:
            with self.sessions() as session:
                by_status = session.execute(
                    select(RefreshRun.mode, RefreshRun.status, func.count()).group_by(
                        RefreshRun.mode, RefreshRun.status
                    )
                ).all()
                finished = session.execute(
                    select(RefreshRun.mode, RefreshRun.started_at, RefreshRun.finished_at, RefreshRun.status)
                    .where(RefreshRun.finished_at.is_not(None))
                    .order_by(RefreshRun.id.desc())
                    .limit(1000)
                ).all()
                pending = session.scalar(select(func.count()).where(EventRecord.status == "pending")) or 0
        except Exception:
            return
        runs = CounterMetricFamily(
            "interest_graph_refresh_runs", "Refresh runs by mode and status.", labels=["mode", "status"]
        )
        for mode, status, n in by_status:
            runs.add_metric([mode, status], n)
        yield runs

        hist = HistogramMetricFamily(
            "interest_graph_refresh_run_duration_seconds",
            "Durations of the last 1000 finished refresh runs.",
            labels=["mode"],
        )
        last_success = GaugeMetricFamily(
            "interest_graph_refresh_last_success_timestamp_seconds", "End of the last successful run.", labels=["mode"]
        )
        per_mode: dict[str, list[float]] = {}
        latest_ok: dict[str, int] = {}
        for mode, started, finished_at, status in finished:
            per_mode.setdefault(mode, []).append(max(0.0, (finished_at - started) / 1000.0))
            if status == SUCCEEDED:
                latest_ok[mode] = max(latest_ok.get(mode, 0), finished_at)
        for mode, durations in per_mode.items():
            buckets = [(str(b), sum(1 for d in durations if d <= b)) for b in DURATION_BUCKETS]
            buckets.append(("+Inf", len(durations)))
            hist.add_metric([mode], buckets, sum(durations))
        for mode, ts in latest_ok.items():
            last_success.add_metric([mode], ts / 1000.0)
        yield hist
        yield last_success
        yield GaugeMetricFamily(
            "interest_graph_events_pending", "Events logged but not yet in the graph.", value=pending
        )
        yield from _online_families(self.sessions)


ONLINE_GAUGES = ("impressions", "ctr", "ctr_at_k", "conversion_rate", "coverage", "novelty", "diversity")


def _online_families(sessions: sessionmaker) -> Iterator[GaugeMetricFamily]:
    """The newest online metrics (service/loop/online.py) from SQL: every worker agrees."""
    from service.loop import online

    try:
        newest = online.history(sessions, 1)
    except Exception:
        return
    family = GaugeMetricFamily(
        "interest_graph_online",
        "Online metrics per model version and strategy, as last computed from the event log.",
        labels=["model_version", "strategy", "metric"],
    )
    for group in newest[0]["groups"] if newest else []:
        for metric in ONLINE_GAUGES:
            if group.get(metric) is not None:
                family.add_metric([group["model_version"] or "", group["strategy"], metric], float(group[metric]))
    yield family


def init_metrics(app: Flask, sessions: sessionmaker) -> None:
    sql_registry = CollectorRegistry(auto_describe=False)
    sql_registry.register(SqlCollector(sessions))

    @app.before_request
    def _start_timer() -> None:
        g.metrics_t0 = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        t0 = g.pop("metrics_t0", None)
        if t0 is not None and request.path != "/metrics":
            endpoint = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
            LATENCY.labels(endpoint, request.method).observe(time.perf_counter() - t0)
            REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
        return response

    text_response = {
        "description": "Prometheus text exposition format",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }

    @app.get("/metrics", responses={200: text_response})
    def metrics() -> Response:
        """Prometheus exposition of the request, ingest and refresh metrics."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            body = generate_latest(registry)
        else:
            from prometheus_client import REGISTRY

            body = generate_latest(REGISTRY)
        body += generate_latest(sql_registry)
        return Response(body, mimetype=CONTENT_TYPE_LATEST.split(";")[0], headers={"Content-Type": CONTENT_TYPE_LATEST})
