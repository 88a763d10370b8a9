"""The event log's INSERT (multi-row VALUES on SQLite, COPY on PostgreSQL) stores each
value exactly, in the request's order, once per event_id; no graph involved."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from graph_schema.settings import Settings
from records.tables import EventAttribution, EventRecord, session_factory
from service.ingest.eventlog import EventLog
from service.ingest.recid import Served, new_rec_id
from service.ingest.schemas import EventIn, validate_each

pytestmark = pytest.mark.sql_engines

# what COPY's text format would misread if written raw: backslashes, \N, tabs are refused earlier
TRICKY = ["a\\b", "\\N", "trailing\\", "ünïcødé ✓", "quote'\"", "comma,semi;"]


def _log(sql_url: str, tmp_path: Path) -> EventLog:
    return EventLog(Settings(data_dir=tmp_path, database_url=sql_url, batch_size=4), session_factory(sql_url))


def _events(ids: list[str]) -> list[tuple[int, EventIn]]:
    raw = [
        {
            "event_id": f"id-{x}",
            "user_id": x,
            "item_id": f"item-{x}",
            "type": "view",
            "ts": 1_000 + n,
            "weight": 0.1 * n,
        }
        for n, x in enumerate(ids)
    ]
    good, bad = validate_each(EventIn, raw)
    assert not bad
    return good


def _rows(log: EventLog) -> list[tuple]:
    e = EventRecord
    with log.sessions() as session:
        return [
            tuple(r)
            for r in session.execute(
                select(e.event_id, e.user_id, e.item_id, e.ts, e.weight, e.status, e.batch_id).order_by(e.id)
            )
        ]


def test_values_are_stored_exactly_and_in_order(sql_url: str, tmp_path: Path) -> None:
    log = _log(sql_url, tmp_path)
    report = log.accept(_events(TRICKY))
    assert report.accepted == len(TRICKY) and report.accepted_ids == [f"id-{x}" for x in TRICKY]
    rows = _rows(log)
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (f"id-{x}", x, f"item-{x}", 1_000 + n) for n, x in enumerate(TRICKY)
    ]
    assert [r[4] for r in rows] == [0.1 * n for n in range(len(TRICKY))]  # floats round-trip exactly
    claimed = [r[6] for r in rows]  # the first batch_size events are claimed in the INSERT
    assert claimed[:4] == [claimed[0]] * 4 and claimed[0] is not None and claimed[4:] == [None, None]


def test_an_event_id_is_stored_once_across_requests(sql_url: str, tmp_path: Path) -> None:
    log = _log(sql_url, tmp_path)
    first = log.accept(_events(["x", "y"]), claim=False)
    second = log.accept(_events(["y", "z"]), claim=False)
    assert (first.accepted, first.duplicates) == (2, 0)
    assert (second.accepted, second.duplicates, second.accepted_ids) == (1, 1, ["id-z"])
    assert [r[0] for r in _rows(log)] == ["id-x", "id-y", "id-z"]
    assert {r[5] for r in _rows(log)} == {"pending"} and {r[6] for r in _rows(log)} == {None}


def test_each_new_event_with_a_rec_id_gets_its_attribution_once(sql_url: str, tmp_path: Path) -> None:
    log = _log(sql_url, tmp_path)
    a = new_rec_id(Served("blend", "v1", "exp\\1", None))
    b = new_rec_id(Served(None, None))
    raw = [
        {"event_id": "i1", "user_id": "u", "item_id": "x", "type": "impression", "ts": 1, "rec_id": a, "position": 1},
        {"event_id": "i2", "user_id": "u", "item_id": "y", "type": "impression", "ts": 1, "rec_id": a, "position": 2},
        {"event_id": "c1", "user_id": "u", "item_id": "x", "type": "click", "ts": 2, "rec_id": b},
        {"event_id": "v1", "user_id": "u", "item_id": "z", "type": "view", "ts": 3},
    ]
    good, _ = validate_each(EventIn, raw)
    assert log.accept(good).accepted == 4
    assert log.accept(good[:2]).duplicates == 2  # resent: no second attribution (the primary key would refuse it)
    t = EventAttribution
    with log.sessions() as session:
        rows = set(
            session.execute(
                select(t.event_id, t.rec_id, t.strategy, t.model_version, t.experiment_id, t.arm, t.position)
            )
        )
    assert rows == {
        ("i1", a, "blend", "v1", "exp\\1", None, 1),
        ("i2", a, "blend", "v1", "exp\\1", None, 2),
        ("c1", b, None, None, None, None, None),
    }
