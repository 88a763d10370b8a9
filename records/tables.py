"""Relational tables shared by the API, the CLI and the refresh job.

The durable event log (the source a graph can be replayed from), the catalogue
records that came with it, the refresh-run history, API keys and a named lock
table. SQLite file by default, PostgreSQL by DATABASE_URL. Imports neither
Flask nor torch.
"""

from __future__ import annotations

import time
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from sqlalchemy.schema import CreateIndex

from graph_schema.clock import now_ms


class Base(DeclarativeBase):
    pass


class EventRecord(Base):
    """One accepted behaviour event. `event_id` is unique: a retried event is a no-op.

    status: pending -> applied (or failed: the graph refused its batch; kept, not
    replayed twice). `batch_id` is set when a worker claims the event
    for a graph batch; the same batch id is reused on retry so the graph can
    recognise a batch it already applied (exactly-once across lost replies).
    """

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    # indexed with its type (ix_events_user_type), not alone
    user_id: Mapped[str] = mapped_column(String(200), nullable=False)
    item_id: Mapped[str] = mapped_column(String(200), nullable=False)
    type: Mapped[str] = mapped_column(String(50), nullable=False)
    ts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    weight: Mapped[float] = mapped_column(Float, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    # no index of its own: every query by batch_id also filters status (ix_events_status_batch)
    batch_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    failed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    received_at: Mapped[int] = mapped_column(BigInteger, nullable=False, default=now_ms)
    applied_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (
        Index("ix_events_status_batch", "status", "batch_id"),
        # an incremental refresh's users with events received since the published model:
        # read from the index alone (a scan of the whole log took 1.9 s at 1M events)
        Index("ix_events_received_user", "received_at", "user_id"),
        # a user's events (privacy delete, the console) by its prefix, and a user's negative
        # feedback, read for every computed answer, from the index alone: by user_id only,
        # SQLite fetched every event of the user to test its type (0.25 ms for a MovieLens
        # user's 125 events, growing with the history; 16 µs with the type in the index)
        Index("ix_events_user_type", "user_id", "type"),
    )


class CatalogueRecord(Base):
    """The latest catalogue record per item (replayed before events)."""

    __tablename__ = "catalogue_items"
    item_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    title: Mapped[str | None] = mapped_column(Text, nullable=True)
    interests: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    updated_at: Mapped[int] = mapped_column(BigInteger, nullable=False, default=now_ms)


class InterestRecord(Base):
    __tablename__ = "interests"
    interest_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(String(50), nullable=False, default="tag")


class UserRecord(Base):
    """Optional user attributes (e.g. demographics from an import)."""

    __tablename__ = "users"
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


class RefreshRun(Base):
    """One refresh (training) run and what it produced."""

    __tablename__ = "refresh_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mode: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="running")
    trigger: Mapped[str] = mapped_column(String(32), nullable=False, default="cli")
    started_at: Mapped[int] = mapped_column(BigInteger, nullable=False, default=now_ms)
    finished_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    phases: Mapped[dict[str, float]] = mapped_column(JSON, nullable=False, default=dict)
    counts: Mapped[dict[str, int]] = mapped_column(JSON, nullable=False, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    device: Mapped[str | None] = mapped_column(String(32), nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    forced: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class StrengthHistoryRecord(Base):
    """A user's published interest strengths under one model version (the console's chart).

    The graph keeps only the published version's strengths; the refresh job copies them
    here after each publication and keeps the newest STRENGTH_HISTORY_VERSIONS versions.
    `at_ms` is the version's data time (the newest interaction it was trained on).
    """

    __tablename__ = "strength_history"
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    at_ms: Mapped[int] = mapped_column(BigInteger, nullable=False)
    strengths: Mapped[dict[str, float]] = mapped_column(JSON, nullable=False, default=dict)
    recorded_at: Mapped[int] = mapped_column(BigInteger, nullable=False, default=now_ms)

    # retention deletes whole versions
    __table_args__ = (Index("ix_strength_history_version", "model_version"),)


class RelationEventRecord(Base):
    """One accepted user-user relation event (follow, unfollow, friend, unfriend).

    Kept beside `events` (same rules: `event_id` unique, a resent id is a no-op) so the
    item-event path, its batches and the training pulls never see a relation."""

    __tablename__ = "relation_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    user_id: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    target_user_id: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    ts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    weight: Mapped[float] = mapped_column(Float, nullable=False, default=1.0)
    received_at: Mapped[int] = mapped_column(BigInteger, nullable=False, default=now_ms)


class RelationRecord(Base):
    """The current state of one directed relation: a last-writer-wins register.

    One row per (user, target, kind); kind is `follow` or `friend` (a friend event
    writes both directions). The newest event by `ts` decides `active`; at equal `ts`
    the removal wins. `pending`: the graph has not been given this state yet."""

    __tablename__ = "relations"
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    target_user_id: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    active: Mapped[int] = mapped_column(Integer, nullable=False)
    ts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    weight: Mapped[float] = mapped_column(Float, nullable=False, default=1.0)
    pending: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    key_hash: Mapped[str] = mapped_column(String(128), nullable=False, unique=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False, default=now_ms)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class NamedLock(Base):
    """A cross-process lock row (e.g. 'refresh'); expires so a crashed holder
    cannot block forever."""

    __tablename__ = "locks"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200), nullable=False)
    acquired_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    expires_at: Mapped[int] = mapped_column(BigInteger, nullable=False)


class DeletedUser(Base):
    """Audit record of privacy deletes (who was removed, when). The user's events
    are deleted from the log, so a later replay cannot bring them back."""

    __tablename__ = "deleted_users"
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    deleted_at: Mapped[int] = mapped_column(BigInteger, nullable=False, default=now_ms)

    # after every graph batch the event log reads the tombstones newer than the batch
    __table_args__ = (Index("ix_deleted_users_deleted_at", "deleted_at"),)


class EventAttribution(Base):
    """The served answer an event reports on (events sent with a `rec_id`).

    Decoded from the rec_id when the event is accepted: the strategy and model
    version that produced the answer and the experiment arm it was served under,
    so online metrics group events without a lookup of the answer itself.
    """

    __tablename__ = "event_attributions"
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    rec_id: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    strategy: Mapped[str | None] = mapped_column(String(50), nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    experiment_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    arm: Mapped[str | None] = mapped_column(String(64), nullable=True)
    position: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ExperimentRecord(Base):
    """An online experiment: arms (strategy per arm), a holdout share, running or stopped."""

    __tablename__ = "experiments"
    experiment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    arms: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    holdout: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="running")
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False, default=now_ms)
    stopped_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class OnlineMetricsRecord(Base):
    """Online metrics of one (model version, strategy) as computed at one time (history)."""

    __tablename__ = "online_metrics"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    computed_at: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    model_version: Mapped[str] = mapped_column(String(64), nullable=False)  # "" before any model
    strategy: Mapped[str] = mapped_column(String(50), nullable=False)
    values: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


# (table, index) added to tables that existing databases already have:
# create_all() creates missing tables, never a missing index of an existing table.
# An events index is built once on an existing log (~1 s per million events; writes wait).
_ADDED_INDEXES: tuple[tuple[str, str], ...] = (
    ("deleted_users", "ix_deleted_users_deleted_at"),
    ("events", "ix_events_received_user"),
    ("events", "ix_events_user_type"),
)
# indexes an older schema had that a newer one replaced: dropped once every _ADDED_INDEXES
# exists (each costs every insert a B-tree write)
_REPLACED_INDEXES: tuple[tuple[str, str], ...] = (("events", "ix_events_user_id"),)


def _add_indexes(engine: Engine) -> None:
    """Create the _ADDED_INDEXES a database lacks, then drop the _REPLACED_INDEXES. Checked
    first because on PostgreSQL even CREATE INDEX IF NOT EXISTS locks the table against
    writes while it builds."""
    for table, name in _ADDED_INDEXES:
        if inspect(engine).has_index(table, name):
            continue
        index = next(i for i in Base.metadata.tables[table].indexes if i.name == name)
        try:
            with engine.begin() as conn:
                conn.execute(CreateIndex(index, if_not_exists=True))
        except DBAPIError:
            # processes starting together: PostgreSQL's IF NOT EXISTS can still
            # collide with a concurrent CREATE (duplicate key in pg_class)
            if not inspect(engine).has_index(table, name):
                raise
    # here every added index exists (a CREATE that failed without one raised above), so a
    # replaced index is never dropped before its replacement
    for table, name in _REPLACED_INDEXES:
        if inspect(engine).has_index(table, name):
            _drop_index(engine, name)


def _drop_index(engine: Engine, name: str) -> None:
    """DROP INDEX IF EXISTS (a constant name: an Index object here would attach itself to
    the table's metadata). On PostgreSQL CONCURRENTLY, outside a transaction: a plain DROP
    takes the table's ACCESS EXCLUSIVE lock, which waits for every open transaction on it
    while every new read and write of the table waits behind it."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        return
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL: readers never block the writer; several processes share the file.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


@cache
def get_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    _create_schema(engine)
    return engine


# pg_advisory_xact_lock key: one process at a time creates the schema
_SCHEMA_LOCK = 0x1A7E_5C4E


def _create_schema(engine: Engine) -> None:
    """Missing tables and indexes. On PostgreSQL, processes starting together against a
    new database (API workers, the scheduler, a CLI command) collided in CREATE TABLE
    (duplicate key in pg_type): a transaction-scoped advisory lock lets one create the
    schema while the others wait, then find it there."""
    if engine.dialect.name != "postgresql":
        # SQLite: create_all checks, then creates, outside one transaction; a process that
        # loses the race gets "already exists" and checks again (then finds it there)
        for attempt in range(5):
            try:
                Base.metadata.create_all(engine)
                break
            except OperationalError as exc:
                if "already exists" not in str(exc) or attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))
        _add_indexes(engine)
        return
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        Base.metadata.create_all(conn)
    _add_indexes(engine)


def session_factory(url: str) -> sessionmaker:
    return sessionmaker(get_engine(url), expire_on_commit=False)


__all__ = [
    "ApiKey",
    "Base",
    "CatalogueRecord",
    "DeletedUser",
    "EventAttribution",
    "EventRecord",
    "ExperimentRecord",
    "InterestRecord",
    "NamedLock",
    "OnlineMetricsRecord",
    "RefreshRun",
    "StrengthHistoryRecord",
    "UserRecord",
    "get_engine",
    "session_factory",
]
