"""API-only settings, on top of graph_schema.settings.Settings (the one config place).

Every field maps to the upper-case environment variable of the same name
(``auth_disabled`` <- ``AUTH_DISABLED``), exactly like the base settings.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from graph_schema.settings import Settings


class ApiSettings(Settings):
    # --- HTTP -----------------------------------------------------------------
    api_host: str = Field("127.0.0.1", description="`serve` binds here.")
    api_port: int = Field(8000, ge=1, le=65535, description="`serve` listens here.")
    max_request_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Larger request bodies get a 413 problem.")
    max_batch_events: int = Field(10_000, ge=1, description="Most events accepted in one POST /v1/events.")
    max_batch_items: int = Field(10_000, ge=1, description="Most catalogue records in one POST /v1/items.")

    # --- ingest -----------------------------------------------------------------
    ingest_apply: Literal["inline", "background"] = Field(
        "inline",
        description="inline: POST /v1/events writes its events to the graph before answering (pending 0 when "
        "the graph is up). background: it answers once they are in the event log, and a thread of each worker "
        "applies the log to the graph in batches of BATCH_SIZE events taken across requests, aggregated per user and "
        "item (pending > 0 until it has caught up; the log's total is /readyz's pending_events).",
    )
    ingest_nice: int = Field(
        0,
        ge=0,
        le=19,
        description="0: POST /v1/events does its work in the request thread. N > 0 (Linux): each API worker hands "
        "its event batches to one child process of its own at nice N, so that answering recommendations comes first "
        "on the CPU under heavy ingest (bench/mixed.py); batches queue for the child, one core's worth per worker.",
    )
    ingest_max_batches: int = Field(
        0,
        ge=0,
        description="Most POST /v1/events and /v1/items batches one API worker takes at once (in its request threads, "
        "or waiting for its ingest process); past it a batch gets a 503 `ingest-busy` with Retry-After, so ingest "
        "connections cannot hold every request thread and answers still find one. Keep it below the worker's "
        "threads (GUNICORN_THREADS). 0: no limit.",
    )

    # --- auth -------------------------------------------------------------------
    auth_disabled: bool = Field(False, description="Local development only: every request acts as admin.")
    api_key_cache_s: float = Field(
        30.0, ge=0, description="How long a worker trusts a looked-up key (revocation delay)."
    )

    # --- web console (/console) --------------------------------------------------
    console_secret_key: str | None = Field(
        None,
        description="Signs the console's session cookie; unset: generated once into DATA_DIR/console-secret-key "
        "(shared by the workers of one host; set it when several hosts serve the console).",
    )
    console_cookie_secure: bool = Field(
        False, description="Send the console's session cookie over HTTPS only (set it behind TLS)."
    )
    console_cache_s: float = Field(
        10.0, ge=0, description="How long a worker reuses the console overview's store and SQL reads, s."
    )

    # --- recommendations -------------------------------------------------------
    recs_anchor_items: int = Field(10, ge=1, le=500, description="Recent items whose neighbours become candidates.")
    recs_seen_limit: int = Field(5000, ge=1, description="Most recent interactions excluded as 'seen'.")
    recs_similar_per_item: int = Field(20, ge=1, le=200)
    recs_peers: int = Field(20, ge=1, le=1000, description="Peers used by co-interaction before a model exists.")
    recs_top_interests: int = Field(3, ge=1, le=50)
    recs_social_weight: float = Field(
        0.3,
        ge=0,
        description="Weight of the social source (what followed people took) in the heuristic blend, and next to "
        "the learned ranking when the published run learned none (service/recs/social_weight.py); 0 turns it off.",
    )
    recs_social_rows: int = Field(
        2000, ge=10, le=100_000, description="Most (followed user, item) rows the social source reads per request."
    )
    trending_tau_days: float = Field(7.0, gt=0, description="Decay of trending popularity, days.")
    trending_limit: int = Field(5000, ge=10, description="Items kept in each worker's trending snapshot.")
    recs_cache_s: float = Field(60.0, ge=0, description="Age of the trending/catalogue snapshot before a refresh.")
    recs_snapshot_dir: Path | None = Field(
        None,
        description="Where each published model's serving snapshot (vectors, similar lists, titles; "
        "memory-mapped by every worker) is written; unset: DATA_DIR/serving-snapshots.",
    )
    recs_snapshot_keep: int = Field(3, ge=1, description="Serving snapshots of this many model versions are kept.")
    recs_snapshot_users: bool = Field(
        True,
        description="Keep each user's vector and learned ranking in the serving snapshot, so that an experiment "
        "arm can pin the version after newer publishes (~10 s per publish at 50k users); false: no pinned arms.",
    )
    recs_profile_cache: int = Field(
        5_000,
        ge=0,
        description="Users' profiles (the graph's one read per computed answer) kept per worker while the "
        "change feed sees the user unchanged (RECS_FRESHNESS=feed; 0 disables): a computed answer for such a "
        "user asks no store.",
    )
    recs_cache_items: int = Field(200_000, ge=100, description="Per-worker cache size for similar lists/embeddings.")
    recs_answer_cache: int = Field(
        20_000, ge=0, description="Finished recommendation answers cached per worker (0 disables); see docs/api.md."
    )
    online_ctr_k: int = Field(10, ge=1, le=100, description="Online metrics: CTR@k counts positions 1..k.")
    online_metrics_every_s: float = Field(
        900.0, ge=0, description="The scheduler recomputes online metrics this often, s (0: never)."
    )
    recs_freshness: Literal["feed", "check"] = Field(
        "feed",
        description="How a worker knows a cached answer is still good: feed = tail the event log every "
        "RECS_FEED_POLL_MS (no store query on a hit; other workers' events seen within the interval); "
        "check = ask the graph and the log on every request (exact, two round trips).",
    )
    recs_feed_poll_ms: float = Field(100.0, gt=0, le=60_000, description="feed: how often a worker reads the log.")
    recs_feed_settle_ms: int = Field(
        1000, ge=0, description="feed on PostgreSQL: how long a row may commit after a newer one (sequence ids)."
    )
    recs_answer_ttl_s: float = Field(
        300.0, ge=0, description="Longest life of a cached answer, s (jittered to half..all; 0 disables)."
    )

    # --- scheduler --------------------------------------------------------------
    scheduler_enabled: bool = Field(False, description="Run the refresh scheduler inside `serve`.")
    refresh_interval_minutes: float = Field(60.0, ge=0, description="0 disables the interval trigger.")
    refresh_cron: str | None = Field(None, description="Crontab expression (5 fields, UTC); overrides the interval.")
    refresh_mode: Literal["full", "incremental"] = "incremental"
    refresh_full_every: int = Field(
        24,
        ge=0,
        description="With REFRESH_MODE=incremental, every Nth scheduled run is a full one (items move and "
        "SIMILAR_TO is rebuilt only by full runs); 0: never.",
    )
    refresh_misfire_grace_s: int = Field(900, ge=1, description="A run missed by less than this still runs once.")
    refresh_device: str = Field("auto", description="Passed to the refresh job: auto|cpu|cuda.")
    api_runs_refresh: bool = Field(
        True,
        description="POST /v1/jobs/refresh trains inside the API worker (one-process setups); false: the run "
        "is queued for the scheduler process, the one meant to train.",
    )
    queued_poll_s: float = Field(10.0, ge=0, description="The scheduler starts API-queued runs every N s; 0 disables.")
    apply_pending_interval_s: float = Field(60.0, ge=0, description="Retry pending events every N s; 0 disables.")

    @property
    def recs_snapshot_root(self) -> Path:
        """This graph's serving snapshots: one directory per graph, so graphs sharing a
        DATA_DIR (or a snapshot volume) never read each other's."""
        return (self.recs_snapshot_dir or self.data_dir / "serving-snapshots").resolve() / self.graph_key

    @field_validator("refresh_cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        if len(v.split()) != 5:
            raise ValueError("REFRESH_CRON must be a 5-field crontab expression, e.g. '0 3 * * *'")
        return v.strip()


@lru_cache(maxsize=1)
def get_api_settings() -> ApiSettings:
    return ApiSettings()
