"""The console's overview: graph size, the event log's load and backlog, the published
model, the next scheduled refresh and the health of store, SQL and scheduler.

Read at most once per CONSOLE_CACHE_S per worker, however many dashboards are open:
the counts scan the graph, the event rate scans the last hours of the log, and
neither may compete with /v1 serving (docs/console.md measures it).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import text

from graph_schema.clock import now_ms
from service.api.deps import Services
from service.ingest.log_reads import backlog, received_per_minute
from service.jobs.schedule_status import refresh_schedule

RATE_MINUTES = 180  # events per minute over the last 3 hours

_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


def overview(svc: Services) -> dict[str, Any]:
    """The overview, from this worker's cache when younger than CONSOLE_CACHE_S."""
    ttl = svc.settings.console_cache_s
    key = str(svc.settings.sql_url) + "|" + svc.settings.graph_name
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        data = _read(svc)  # under the lock: concurrent dashboards wait for one read
        _cache[key] = (time.monotonic() + ttl, data)
        return data


def _read(svc: Services) -> dict[str, Any]:
    now = now_ms()
    health: dict[str, str] = {}
    out: dict[str, Any] = {"read_at_ms": now, "health": health, "counts": None, "model": None}
    try:
        with svc.sessions() as session:
            session.execute(text("SELECT 1"))
        health["sql"] = "ok"
        out["events"] = backlog(svc.sessions)
        out["per_minute"] = received_per_minute(svc.sessions, now, RATE_MINUTES)
    except Exception as exc:  # the page shows what failed instead of failing
        health["sql"] = f"unavailable: {type(exc).__name__}: {exc}"
        out["events"], out["per_minute"] = None, []
    try:
        store = svc.store()
        store.ping()
        nodes = dict(sorted(store.node_counts().items()))
        out["counts"] = {"nodes": nodes, "relationships": store.relationship_counts()}
        out["model"] = _model(store.current_model(), now)
        health["graph"] = "ok"
    except Exception as exc:
        health["graph"] = f"unavailable: {type(exc).__name__}: {exc}"
    schedule = refresh_schedule(svc.sessions, svc.settings.refresh_misfire_grace_s)
    out["next_refresh_ms"] = schedule.next_refresh_ms
    health["scheduler"] = schedule.health
    return out


def _model(current: dict[str, Any] | None, now: int) -> dict[str, Any] | None:
    if not current:
        return None
    metrics = current.get("metrics") or {}
    baseline = metrics.get("baseline") or {}
    published_at = current.get("published_at")
    return {
        "version": current.get("model_version"),
        "published_at_ms": published_at,
        "age_s": None if published_at is None else max(0, (now - int(published_at)) // 1000),
        "mode": metrics.get("mode"),
        "holdout": {
            name: {"model": metrics.get(name), "popularity": baseline.get(name)}
            for name in ("ndcg@20", "recall@20", "hit@20", "mrr@20")
            if metrics.get(name) is not None
        },
        "users": metrics.get("users"),
    }


def forget() -> None:
    """Drop the cached overview (a refresh started from the console shows at once)."""
    with _lock:
        _cache.clear()
