"""JSON-lines events for `interest-graph ingest FILE`: line numbers, and every
bad line reported once, in the API's words."""

from __future__ import annotations

import json

from service.ingest.jsonl import read_events
from service.ingest.schemas import EventIn, validate_each


def line(event_id: str, **extra: object) -> str:
    return json.dumps({"event_id": event_id, "user_id": "u", "item_id": "i", "type": "view", "ts": 1000, **extra})


def test_events_keep_their_line_numbers_and_bad_lines_are_worded_like_the_api() -> None:
    lines = [line("e1"), "", "{broken", line("e2", ts="yesterday"), "   ", line("e3"), "[1, 2]", line("e4")]
    rejected: list[dict[str, object]] = []
    events = [(n, e.event_id) for n, e in read_events(lines, rejected)]
    assert events == [(1, "e1"), (6, "e3"), (8, "e4")]
    assert [r["line"] for r in rejected] == [3, 4, 7]
    assert "not valid JSON" in str(rejected[0]["error"]) and "ts" in str(rejected[1]["error"])
    assert rejected[2]["error"] == "must be a JSON object, got list"
    # the same words as validate_each (POST /v1/events) for the same record
    record = json.loads(line("e2", ts="yesterday"))
    assert rejected[1]["error"] == validate_each(EventIn, [record])[1][0]["error"]


def test_what_json_loads_would_refuse_or_coerce_is_refused_the_same() -> None:
    rejected: list[dict[str, object]] = []
    lines = [line("n1", weight=float("nan")), '{"event_id": "x"', line("s1", user_id=" padded ")]
    events = list(read_events(lines, rejected))
    assert [r["line"] for r in rejected] == [1, 2]
    assert events[0][1].user_id == "padded"  # whitespace stripped, as the API does


def test_the_file_is_read_lazily() -> None:
    consumed: list[int] = []

    def lines():  # type: ignore[no-untyped-def]
        for n in range(5000):
            consumed.append(n)
            yield line(f"e{n}")

    stream = read_events(lines(), [])
    assert next(stream)[0] == 1
    assert len(consumed) == 1  # one line read, not the whole file


def test_a_line_reads_like_the_same_record_posted_to_the_api() -> None:
    records = [
        {"event_id": "d1", "user_id": "u", "item_id": "i", "type": "view", "ts": "1700000000000"},
        {"event_id": "d2", "user_id": "u", "item_id": "i", "type": "view", "ts": " 86400 "},
        {"event_id": "d3", "user_id": "u", "item_id": "i", "type": "view", "ts": "2024-05-01T10:00:00Z"},
        {"event_id": "d4", "user_id": "u", "item_id": "i", "type": "view", "ts": 1.7e12},
    ]
    from_file = [e for _, e in read_events([json.dumps(r) for r in records], [])]
    from_api = [e for _, e in validate_each(EventIn, records)[0]]
    assert [e.ts_ms for e in from_file] == [e.ts_ms for e in from_api] == [1700000000000, 86400, 1714557600000, 1.7e12]
