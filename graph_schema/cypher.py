"""Named Cypher queries, loaded from ``graph_schema/queries``.

``queries/<name>.cypher`` is shared by both engines. Where a dialect differs, a
file of the same name under ``queries/<backend>/`` overrides it for that
backend only, so the two variants sit side by side.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

QUERY_DIR = Path(__file__).parent / "queries"
BACKENDS = ("falkordb", "neo4j")


class UnknownQuery(KeyError):
    pass


@cache
def query(name: str, backend: str, variant: bool = True) -> str:
    """The query's text for a backend: its variant if there is one (and `variant`),
    else the shared text."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}")
    paths = (QUERY_DIR / backend / f"{name}.cypher", QUERY_DIR / f"{name}.cypher")
    for path in paths if variant else paths[1:]:
        if path.is_file():
            return path.read_text()
    raise UnknownQuery(name)


def names() -> list[str]:
    return sorted(p.stem for p in QUERY_DIR.glob("*.cypher"))
