"""Events from JSON lines (`interest-graph ingest FILE`), parsed and validated as
they are read, so a file of any size streams through EventLog.ingest() in
constant memory, validation overlapping the graph writes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from service.ingest.schemas import EventIn, validate_each

CHUNK = 1000  # lines validated together


def read_events(lines: Iterable[str], rejected: list[dict[str, Any]]) -> Iterator[tuple[int, EventIn]]:
    """(line number, event) for each valid event, in file order; each line that is
    not JSON or not a valid event is appended to `rejected` as {line, error}."""
    chunk: list[tuple[int, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            chunk.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            rejected.append({"line": number, "error": f"not valid JSON: {exc.msg}"})
        if len(chunk) >= CHUNK:
            yield from _validated(chunk, rejected)
            chunk = []
    yield from _validated(chunk, rejected)


def _validated(chunk: list[tuple[int, Any]], rejected: list[dict[str, Any]]) -> Iterator[tuple[int, EventIn]]:
    good, bad = validate_each(EventIn, [raw for _, raw in chunk])
    rejected.extend({"line": chunk[b["index"]][0], "error": b["error"]} for b in bad)
    for index, event in good:
        yield chunk[index][0], event
