"""JSON-lines events for `interest-graph ingest FILE`: line numbers survive the
chunked validation, and every bad line is reported once."""

from __future__ import annotations

import json

import pytest

from service.ingest import jsonl
from service.ingest.jsonl import read_events


def line(event_id: str, **extra: object) -> str:
    return json.dumps({"event_id": event_id, "user_id": "u", "item_id": "i", "type": "view", "ts": 1000, **extra})


@pytest.mark.parametrize("chunk", [1, 2, 3, 1000])
def test_events_keep_their_line_numbers_across_chunks(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(jsonl, "CHUNK", chunk)
    lines = [line("e1"), "", "{broken", line("e2", ts="yesterday"), "   ", line("e3"), "[1, 2]", line("e4")]
    rejected: list[dict[str, object]] = []
    events = [(n, e.event_id) for n, e in read_events(lines, rejected)]
    assert events == [(1, "e1"), (6, "e3"), (8, "e4")]
    assert [r["line"] for r in rejected] == [3, 4, 7]
    assert "not valid JSON" in str(rejected[0]["error"]) and "ts" in str(rejected[1]["error"])
    assert "JSON object" in str(rejected[2]["error"])


def test_the_file_is_read_lazily() -> None:
    consumed: list[int] = []

    def lines():  # type: ignore[no-untyped-def]
        for n in range(5000):
            consumed.append(n)
            yield line(f"e{n}")

    stream = read_events(lines(), [])
    assert next(stream)[0] == 1
    assert len(consumed) == jsonl.CHUNK  # one chunk read, not the whole file
