"""Parsing and validating a POST /v1/events body (and JSON lines for `ingest FILE`):
which library, which call. Issue 20 asks to measure orjson, msgspec and pydantic's
own fast path on our event schema (service.ingest.schemas.EventIn) and keep the best.

Each way turns the same bytes (1,000 valid events, as bench/api_ingest.py sends them)
into validated events; the best of --repeat runs is printed as µs per event.

- stdlib json + validate_each: Flask's request.get_json, then EventIn.model_validate
  per record (the API before issue 20).
- orjson + validate_each: the same validation on orjson's parse.
- orjson + TypeAdapter(list[EventIn]).validate_python: the list in one pydantic call.
- stdlib json + validate_all: what POST /v1/events does now (Flask/flask-openapi3 parse
  the body with the standard library; validate_all is that one call, falling back to
  validate_each when a record is bad).
- TypeAdapter(envelope).validate_json: pydantic-core parses and validates in one pass.
- msgspec Struct: msgspec.json.decode into a Struct with the same length/pattern
  constraints (not the same rules: no whitespace stripping, no ISO timestamps, no
  custom messages), to see what a non-pydantic decoder would win.
- per line model_validate_json: `ingest FILE` (service.ingest.jsonl), one call per line.

msgspec is optional (`pip install msgspec`); without it that row is skipped.

    .venv/bin/python bench/parse.py [--events 1000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson
from pydantic import BaseModel, TypeAdapter

from service.ingest.schemas import EventIn, validate_all, validate_each


class _Envelope(BaseModel):
    events: list[EventIn]


def _events(n: int) -> list[dict[str, Any]]:
    rng = random.Random(3)
    return [
        {
            "event_id": f"bench-1733300000000-{k}",
            "user_id": f"u{rng.randrange(5000)}",
            "item_id": f"i{rng.randrange(2000)}",
            "type": rng.choice(("view", "click", "cart", "purchase")),
            "ts": 1_733_300_000_000 - rng.randrange(86_400_000),
        }
        for k in range(n)
    ]


def _msgspec_way() -> Callable[[bytes], Any] | None:
    try:
        import msgspec
    except ImportError:
        return None
    from typing import Annotated

    ids = msgspec.Meta(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")
    ident = Annotated[str, ids]
    # msgspec.defstruct: classes built at run time (this module's annotations are strings)
    event = msgspec.defstruct(
        "Event",
        [
            ("event_id", ident),
            ("user_id", ident),
            ("item_id", ident),
            ("type", Annotated[str, msgspec.Meta(min_length=1, max_length=50, pattern=r"^[^\x00-\x1f\x7f]*$")]),
            ("ts", Annotated[int, msgspec.Meta(ge=0, le=32_503_680_000_000)]),
            ("weight", Annotated[float, msgspec.Meta(ge=0)] | None, None),
            ("rec_id", ident | None, None),
            ("position", Annotated[int, msgspec.Meta(ge=1, le=1000)] | None, None),
        ],
        forbid_unknown_fields=True,
    )
    envelope = msgspec.defstruct("Envelope", [("events", list[event])])  # type: ignore[valid-type]
    decoder = msgspec.json.Decoder(envelope)
    return lambda body: decoder.decode(body).events


def ways() -> dict[str, Callable[[bytes], Any]]:
    as_list = TypeAdapter(list[EventIn])
    envelope = TypeAdapter(_Envelope)
    out: dict[str, Callable[[bytes], Any]] = {
        "stdlib json + validate_each": lambda body: validate_each(EventIn, json.loads(body)["events"]),
        "orjson + validate_each": lambda body: validate_each(EventIn, orjson.loads(body)["events"]),
        "orjson + TypeAdapter(list).validate_python": lambda body: as_list.validate_python(
            orjson.loads(body)["events"]
        ),
        "stdlib json + validate_all (the API now)": lambda body: validate_all(EventIn, json.loads(body)["events"])[0],
        "TypeAdapter(envelope).validate_json": lambda body: envelope.validate_json(body).events,
    }
    msgspec_way = _msgspec_way()
    if msgspec_way is not None:
        out["msgspec Struct decode (looser rules)"] = msgspec_way
    return out


def best_us(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=30)
    a = p.parse_args()
    events = _events(a.events)
    body = json.dumps({"events": events}).encode()
    lines = [json.dumps(e) for e in events]
    print(f"{a.events:,} events, {len(body):,} bytes; best of {a.repeat}; µs per event (lower is better)")
    for name, way in ways().items():
        out = way(body)
        n = len(out[0] if isinstance(out, tuple) else out)
        assert n == a.events, (name, n)
        print(f"  {name:45s} {best_us(lambda way=way: way(body), a.repeat) / a.events:6.2f}")
    per_line = best_us(lambda: [EventIn.model_validate_json(line) for line in lines], a.repeat)
    print(f"  {'per line model_validate_json (ingest FILE)':45s} {per_line / a.events:6.2f}")


if __name__ == "__main__":
    main()
