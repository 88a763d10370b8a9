"""The Cypher that only Neo4j runs, checked without a Neo4j server.

- Every Neo4j migration statement must match Neo4j 5's schema DDL form (named, `IF NOT EXISTS`).
  No installable parser covers Neo4j's schema commands, so this is a strict pattern check.
- Every query the Neo4j backend runs (shared files, `queries/neo4j/` overrides and Neo4j-only
  files) is parsed by `cypherast` (pure-Python openCypher/Neo4j 5 parser), and lexically
  checked: balanced brackets, no FalkorDB-only syntax, no string-formatting placeholders.
What a parser cannot see (planner errors, unknown functions/procedures, type errors, the
semantics of MERGE under concurrency) needs a real Neo4j: the CI job with a neo4j:5 service
runs the store conformance suite for that.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from deploy_support import REPO

from graph_schema.cypher import QUERY_DIR, query
from graph_schema.migrations import LATEST_VERSION, MIGRATIONS

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_NODE = rf"\((?P<nvar>{_IDENT}):(?P<label>{_IDENT})\)"
_REL = rf"\(\)-\[(?P<rvar>{_IDENT}):(?P<type>{_IDENT})\]-(?:>)?\(\)"
_PROPS = rf"{_IDENT}\.{_IDENT}(?:\s*,\s*{_IDENT}\.{_IDENT})*"
NEO4J_CONSTRAINT = re.compile(
    rf"CREATE CONSTRAINT (?P<name>{_IDENT}) IF NOT EXISTS FOR (?:{_NODE}|{_REL}) "
    rf"REQUIRE (?:\((?P<keys>{_PROPS})\)|(?P<key>{_PROPS})) "
    r"IS (?:(?:NODE |RELATIONSHIP |REL )?UNIQUE|(?:NODE |RELATIONSHIP |REL )?KEY|NOT NULL|:: \w+)"
)
NEO4J_INDEX = re.compile(
    rf"CREATE (?:RANGE |TEXT |POINT |LOOKUP )?INDEX (?P<name>{_IDENT}) IF NOT EXISTS FOR (?:{_NODE}|{_REL}) "
    rf"ON \((?P<props>{_PROPS})\)"
)
NEO4J_DROP = re.compile(rf"DROP (?:INDEX|CONSTRAINT) (?P<name>{_IDENT}) IF EXISTS")
FALKORDB_ONLY = re.compile(r"\bGRAPH\.|\bdb\.idx\.|\balgo\.|\bvecf32\s*\(|\bdb\.constraints?\s*\(", re.I)


def _neo4j_query_files() -> dict[str, Path]:
    """name -> the file the Neo4j backend runs for it."""
    names = {p.stem for p in QUERY_DIR.glob("*.cypher")} | {p.stem for p in (QUERY_DIR / "neo4j").glob("*.cypher")}
    files = {}
    for name in sorted(names):
        override = QUERY_DIR / "neo4j" / f"{name}.cypher"
        files[name] = override if override.is_file() else QUERY_DIR / f"{name}.cypher"
    return files


QUERY_FILES = _neo4j_query_files()
DDL = [(m.version, s) for m in MIGRATIONS for s in m.neo4j]


def _strip(text: str) -> str:
    """Cypher with strings, quoted identifiers and comments blanked (brackets inside them don't count)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            assert j >= 0, "unterminated /* comment"
            i = j + 2
            continue
        if c in "'\"`":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            assert j < n, f"unterminated {c}-quoted text"
            out.append(c + c)
            i = j + 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _check_brackets(text: str) -> None:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for pos, c in enumerate(_strip(text)):
        if c in "([{":
            stack.append(c)
        elif c in pairs:
            assert stack and stack[-1] == pairs[c], f"unbalanced {c!r} at offset {pos}"
            stack.pop()
    assert not stack, f"unclosed {stack}"


def test_migration_versions_are_contiguous_and_every_one_has_ddl():
    versions = [m.version for m in MIGRATIONS]
    assert versions == list(range(1, len(versions) + 1)) and versions[-1] == LATEST_VERSION
    for m in MIGRATIONS:
        # a migration may catch one engine up with the other (then it says so in its name)
        assert m.neo4j or "(FalkorDB)" in m.name, f"migration {m.version} has no Neo4j statements"
        assert m.falkordb or "(Neo4j)" in m.name, f"migration {m.version} has no FalkorDB statements"


@pytest.mark.parametrize(("version", "statement"), DDL, ids=[f"v{v}-{i}" for i, (v, _) in enumerate(DDL)])
def test_neo4j_ddl_is_neo4j5_schema_syntax(version, statement):
    if NEO4J_DROP.fullmatch(statement):  # dropping a schema object made by an earlier migration
        created = [s for v, s in DDL if v < version and f" {NEO4J_DROP.fullmatch(statement)['name']} " in s]
        assert created, f"migration {version} drops what no earlier migration created: {statement}"
        return
    assert "IF NOT EXISTS" in statement, "re-running a migration must be a no-op"
    m = NEO4J_CONSTRAINT.fullmatch(statement) or NEO4J_INDEX.fullmatch(statement)
    assert m, f"migration {version}: not a Neo4j 5 CREATE CONSTRAINT/INDEX statement: {statement}"
    var = m["nvar"] or m["rvar"]
    props = m.groupdict().get("props") or m.groupdict().get("keys") or m.groupdict().get("key")
    for ref in re.findall(rf"({_IDENT})\.{_IDENT}", props):
        assert ref == var, f"migration {version}: property of {ref}, but the pattern binds {var}"
    assert not FALKORDB_ONLY.search(statement)
    _check_brackets(statement)


def test_neo4j_schema_object_names_are_unique():
    names = []
    for _, statement in DDL:
        m = NEO4J_CONSTRAINT.fullmatch(statement) or NEO4J_INDEX.fullmatch(statement)
        if m:
            names.append(m["name"])
    assert len(names) == len(set(names)), f"duplicate constraint/index names: {names}"


def test_ddl_checker_rejects_what_neo4j_5_rejects():
    for bad in (
        "CREATE CONSTRAINT ON (n:User) ASSERT n.id IS UNIQUE",  # Neo4j 4 syntax, removed in 5
        "CREATE CONSTRAINT user_id FOR (n:User) REQUIRE n.id IS UNIQUE",  # not idempotent
        "CREATE INDEX FOR (n:User) ON (n.id)",  # FalkorDB form: unnamed, not idempotent
        "CREATE INDEX x IF NOT EXISTS FOR (n:User) ON (m.id)",
    ):
        m = NEO4J_CONSTRAINT.fullmatch(bad) or NEO4J_INDEX.fullmatch(bad)
        bound_ok = True
        if m:
            var = m["nvar"] or m["rvar"]
            props = m.groupdict().get("props") or m.groupdict().get("key") or ""
            bound_ok = all(r == var for r in re.findall(rf"({_IDENT})\.{_IDENT}", props))
        assert not (m and bound_ok), bad


def test_the_neo4j_backend_resolves_every_query_to_these_files():
    for name, path in QUERY_FILES.items():
        assert query(name, "neo4j") == path.read_text(), name


@pytest.mark.parametrize("name", sorted(QUERY_FILES))
def test_neo4j_queries_lexical(name):
    text = QUERY_FILES[name].read_text(encoding="utf-8")
    _check_brackets(text)
    code = _strip(text)
    assert not FALKORDB_ONLY.search(code), f"{name}: FalkorDB-only syntax in a query Neo4j runs"
    assert not re.search(r"%[sd(]|\{\d*\}", code), f"{name}: looks like a string-formatting placeholder"
    assert code.strip(), f"{name}: empty query"


@pytest.mark.parametrize("name", sorted(QUERY_FILES))
def test_neo4j_queries_parse(name):
    cypherast = pytest.importorskip("cypherast")
    text = QUERY_FILES[name].read_text(encoding="utf-8")
    try:
        cypherast.parse_one(text, read="neo4j5")
    except Exception as exc:  # the parser's own error carries line/column and a caret
        pytest.fail(f"{QUERY_FILES[name].relative_to(REPO)} does not parse as Neo4j 5 Cypher:\n{exc}")


def test_the_parser_check_is_not_vacuous():
    cypherast = pytest.importorskip("cypherast")
    for bad in ("MATCH (n RETURN n", "MATCH (n) RETRUN n", "MATCH (n) WHERE n.x IN [1, 2 RETURN n", "GRAPH.QUERY g"):
        with pytest.raises(Exception):  # noqa: B017 - any parse error will do
            cypherast.parse_one(bad, read="neo4j5")
    # Neo4j 5 features FalkorDB lacks parse, so Neo4j-only variants can use them
    cypherast.parse_one("MATCH (u:User) WHERE EXISTS { MATCH (u)-[:INTERACTED]->() } RETURN u", read="neo4j5")
    cypherast.parse_one("MATCH (n) RETURN n LIMIT $limit", read="neo4j5")


def test_lexical_checker_is_not_vacuous():
    with pytest.raises(AssertionError):
        _check_brackets("MATCH (n RETURN n")
    with pytest.raises(AssertionError):
        _check_brackets("RETURN [1, 2}")
    _check_brackets("RETURN '(' AS a, \"]\" AS b // ) comment\n")
