"""validate_all (one pydantic call for a whole batch) answers as validate_each does."""

from __future__ import annotations

from typing import Any

from service.ingest.schemas import EventIn, validate_all, validate_each

GOOD: list[Any] = [
    {"event_id": "a", "user_id": " u1 ", "item_id": "x", "type": "view", "ts": 1_700_000_000_000},
    {"event_id": "b", "user_id": "u2", "item_id": "y", "type": "rating", "ts": "2024-05-01T10:00:00", "weight": 4},
    {"event_id": "c", "user_id": "u3", "item_id": "z", "type": "click", "ts": "1700000000000"},
]
BAD: list[Any] = [
    "not an object",
    {"event_id": "d", "user_id": "u1", "item_id": "x", "type": "view", "ts": "yesterday"},
    {"event_id": "e", "user_id": "", "item_id": "x", "type": "view", "ts": 1, "colour": "red"},
]


def _dump(result: tuple[list[tuple[int, EventIn]], list[dict[str, Any]]]) -> Any:
    good, bad = result
    return [(n, e.model_dump()) for n, e in good], bad


def test_a_valid_batch_gives_the_same_events() -> None:
    fast = _dump(validate_all(EventIn, GOOD))
    assert fast == _dump(validate_each(EventIn, GOOD))
    assert [e["user_id"] for _, e in fast[0]] == ["u1", "u2", "u3"]  # stripped, as record by record
    assert [e["ts"] for _, e in fast[0]] == [1_700_000_000_000, 1_714_557_600_000, 1_700_000_000_000]


def test_a_batch_with_bad_records_keeps_the_good_ones_and_words_each_refusal() -> None:
    mixed = [GOOD[0], BAD[0], GOOD[1], BAD[1], BAD[2], GOOD[2]]
    good, bad = _dump(validate_all(EventIn, mixed))
    assert (good, bad) == _dump(validate_each(EventIn, mixed))
    assert [n for n, _ in good] == [0, 2, 5]
    assert [r["index"] for r in bad] == [1, 3, 4]
    assert "JSON object" in bad[0]["error"] and bad[1]["error"].startswith("ts:")
    assert "user_id" in bad[2]["error"] and "colour" in bad[2]["error"]
