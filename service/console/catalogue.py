"""The analyst catalogue (graph_schema/queries/analyst/*.cypher) as one-click examples:
each file's leading comment is its description and its `// params: {...}` line the
example parameters."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from graph_schema.cypher import QUERY_DIR

ANALYST_DIR = QUERY_DIR / "analyst"


@dataclass(frozen=True)
class Example:
    name: str
    description: str
    params: dict[str, Any]
    query: str


@cache
def examples() -> tuple[Example, ...]:
    out = []
    for path in sorted(ANALYST_DIR.glob("*.cypher")):
        text = path.read_text()
        comments, params = [], {}
        for line in text.splitlines():
            if not line.startswith("//"):
                break
            body = line[2:].strip()
            if body.startswith("params:"):
                params = json.loads(body.removeprefix("params:").strip() or "{}")
            else:
                comments.append(body)
        out.append(Example(path.stem, " ".join(comments), params, text))
    return tuple(out)
