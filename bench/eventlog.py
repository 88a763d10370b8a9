"""The event log's INSERT alone: EventLog.accept() of 1,000 validated events, on SQLite
and on PostgreSQL, ms per batch (best and median of --batches), no graph.

On PostgreSQL two ways are compared on the same server:
- values: the log's statement on SQLite, multi-row INSERT ... VALUES ... ON CONFLICT DO
  NOTHING RETURNING with positional parameters (what psycopg2's execute_values does:
  one statement per page of rows);
- copy: COPY of the rows into a temporary table, then INSERT ... SELECT ... ON CONFLICT
  DO NOTHING RETURNING from it (COPY cannot skip conflicts itself): the log's way on
  PostgreSQL since issue 20 (service/ingest/pg_copy.py).

PostgreSQL is started for the run (tests/engines.py; or TEST_POSTGRES_URL).

    .venv/bin/python bench/eventlog.py [--batches 60] [--skip-postgresql]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graph_schema.settings import Settings
from records.tables import session_factory
from service.ingest import eventlog
from service.ingest.eventlog import EventLog
from service.ingest.schemas import EventIn

BATCH = 1000


def _batches(n: int, prefix: str) -> list[list[tuple[int, EventIn]]]:
    return [
        [
            (
                k,
                EventIn.model_construct(
                    event_id=f"{prefix}-{b}-{k}",
                    user_id=f"u{(b * 7919 + k) % 5000}",
                    item_id=f"i{(b * 104729 + k) % 2000}",
                    type="view",
                    ts=1_733_300_000_000 + k,
                    weight=None,
                    rec_id=None,
                    position=None,
                ),
            )
            for k in range(BATCH)
        ]
        for b in range(n)
    ]


def _values_insert(session: Any, rows: Any) -> list[tuple[str, str | None]]:
    """The multi-row INSERT ... VALUES way, also on PostgreSQL (the log's way before COPY)."""
    conn = session.connection()
    out: list[tuple[str, str | None]] = []
    for start in range(0, len(rows), eventlog._INSERT_PAGE):
        page = rows[start : start + eventlog._INSERT_PAGE]
        params = tuple(itertools.chain.from_iterable(page))
        out.extend((e, b) for e, b in conn.exec_driver_sql(eventlog._insert_sql(len(page), "%s"), params).all())
    return out


def measure(url: str, n: int, prefix: str, insert: Callable[..., Any] | None = None) -> tuple[float, float]:
    log = EventLog(Settings(database_url=url, batch_size=5000), session_factory(url))
    batches = _batches(n, prefix)
    original = eventlog._insert_events
    if insert is not None:
        eventlog._insert_events = insert
    try:
        log.accept(batches[0])  # warm: connection, statement text
        times = []
        for batch in batches[1:]:
            t0 = time.perf_counter()
            report = log.accept(batch, claim=False)
            times.append(time.perf_counter() - t0)
            assert report.accepted == BATCH, report.accepted
    finally:
        eventlog._insert_events = original
    return min(times) * 1000, statistics.median(times) * 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, default=60)
    p.add_argument("--skip-postgresql", action="store_true")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-eventlog-") as tmp:
        best, median = measure(f"sqlite:///{tmp}/log.sqlite3", a.batches, "s")
        print(f"accept() of {BATCH:,} events, ms per batch (best / median of {a.batches - 1}):")
        print(f"  SQLite (WAL), multi-row VALUES:      {best:6.1f} / {median:6.1f}")
        if a.skip_postgresql:
            return
        from tests.engines import start_postgres

        server = start_postgres(Path(tmp))
        try:
            with server.fresh_database("bench") as url:
                best, median = measure(url, a.batches, "v", _values_insert)
                print(f"  PostgreSQL, multi-row VALUES:        {best:6.1f} / {median:6.1f}")
                best, median = measure(url, a.batches, "c")  # the log's own way: service/ingest/pg_copy.py
                print(f"  PostgreSQL, COPY + INSERT ... SELECT: {best:6.1f} / {median:6.1f}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
