"""The event log's per-user index: (user_id, type), so that a user's negative feedback,
read for every computed recommendation, comes from the index alone; an existing log
gets it and loses the user_id index it replaces (records/tables.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect

from records.tables import _create_schema
from service.ingest.eventlog import _NEGATIVE_TERMS, EventLog
from service.ingest.schemas import EventIn, validate_each

pytestmark = pytest.mark.sql_engines


def _indexes(engine: object) -> set[str]:
    return {i["name"] for i in inspect(engine).get_indexes("events")}  # type: ignore[arg-type]


def test_an_existing_log_gets_the_user_type_index_instead_of_the_user_index(sql_url: str) -> None:
    engine = create_engine(sql_url)
    try:
        _create_schema(engine)
        with engine.begin() as conn:  # the events table as the schema before made it
            conn.exec_driver_sql("DROP INDEX ix_events_user_type")
            conn.exec_driver_sql("CREATE INDEX ix_events_user_id ON events (user_id)")
        assert "ix_events_user_type" not in _indexes(engine)
        _create_schema(engine)  # a process of the new version starting
        found = _indexes(engine)
        assert "ix_events_user_type" in found and "ix_events_user_id" not in found
        _create_schema(engine)  # and the next one: nothing left to do
        assert _indexes(engine) == found
    finally:
        engine.dispose()


def test_negative_terms_read_a_users_feedback_only(event_log: EventLog, sql_engine: str) -> None:
    raw = [
        {"event_id": f"e{n}", "user_id": user, "item_id": item, "type": type_, "ts": 1_000 + n}
        for n, (user, item, type_) in enumerate(
            [("u1", "a", "view"), ("u1", "b", "dislike"), ("u1", "c", "not_interested"), ("u1", "d", "purchase"),
             ("u2", "a", "dislike"), ("u10", "e", "dislike")]
        )
    ]  # fmt: skip
    good, bad = validate_each(EventIn, raw)
    assert not bad
    event_log.accept(good)
    assert sorted(item for item, *_ in event_log.negative_terms("u1")) == ["b", "c"]
    assert [item for item, *_ in event_log.negative_terms("u2")] == ["a"]
    assert event_log.negative_terms("nobody") == []
    # ... and from the index, not from each of the user's rows
    engine = event_log.sessions.kw["bind"]
    sql = str(_NEGATIVE_TERMS.params(user_id="u1").compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        if sql_engine == "sqlite":
            plan = " ".join(r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
            assert "ix_events_user_type (user_id=? AND type=?)" in plan, plan
        else:  # (six rows: without this the planner scans the table whatever the indexes)
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = " ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))
            assert "ix_events_user_type" in plan, plan
