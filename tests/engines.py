"""The production engines for the test suite: a real Neo4j 5 and a real PostgreSQL,
started from the project's own files and stopped whatever happens.

- **Neo4j**: Neo4j 5.26 LTS Community as a Java library (tests/neo4j_server: a pom.xml
  and one class), embedded with Bolt on 127.0.0.1 at a free port, authentication on with
  a generated password, an ephemeral database in a temporary directory. Maven resolves the
  jars into its local repository (never committed or shipped: Neo4j is GPLv3); the
  classpath and the compiled class are cached under ~/.cache/interest-graph.
- **PostgreSQL**: Debian's package (`make test` installs it when missing), a fresh
  cluster (initdb) in a temporary directory, on 127.0.0.1 at a free port, password auth.

Both are started lazily, once per test session, by the session fixtures in
tests/conftest.py, and stopped when the session ends. If pytest itself dies, Neo4j
exits when its standard input closes and PostgreSQL gets SIGINT from the kernel
(PR_SET_PDEATHSIG), so nothing outlives the run.

TEST_ENGINES chooses what happens when an engine cannot start:
``auto`` (default) skips the tests that need it, with the reason; ``required`` (what
`make test` and CI set) fails them; ``off`` never starts either. An engine given from
outside wins: NEO4J_URI (+ NEO4J_USER / NEO4J_PASSWORD) or TEST_POSTGRES_URL (a
database whose user may CREATE DATABASE).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
NEO4J_PROJECT = ROOT / "neo4j_server"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "interest-graph"
NEO4J_START_TIMEOUT_S = float(os.environ.get("TEST_NEO4J_START_TIMEOUT_S", "180"))


class EngineUnavailable(RuntimeError):
    """The engine cannot run here; the message says why and what would fix it."""


def mode() -> str:
    value = os.environ.get("TEST_ENGINES", "auto").strip().lower()
    if value not in {"auto", "required", "off"}:
        raise ValueError("TEST_ENGINES must be auto, required or off")
    return value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent(sig: int) -> None:
    """In a child before exec: the kernel sends `sig` when this process's parent dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, sig, 0, 0, 0)  # PR_SET_PDEATHSIG


def _wait_for(proc: subprocess.Popen[str], ready: threading.Event, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not ready.wait(0.2):
        if proc.poll() is not None:
            raise EngineUnavailable(f"{what} exited with code {proc.returncode} before it was ready; see {log}")
        if time.monotonic() > deadline:
            proc.kill()
            raise EngineUnavailable(f"{what} did not answer within {timeout:.0f} s; see {log}")


# --- Neo4j ------------------------------------------------------------------------
@dataclass
class Neo4jServer:
    uri: str
    user: str
    password: str
    proc: subprocess.Popen[str] | None = None
    home: Path | None = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()  # the launcher shuts Neo4j down on EOF
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)


def _neo4j_classpath() -> tuple[str, Path]:
    """(classpath, directory of the compiled launcher), built once per pom/source content."""
    java, javac, mvn = shutil.which("java"), shutil.which("javac"), shutil.which("mvn")
    if not (java and javac and mvn):
        raise EngineUnavailable("the test Neo4j needs a JDK 17+ (java, javac) and Maven (mvn) on PATH")
    pom = NEO4J_PROJECT / "pom.xml"
    source = NEO4J_PROJECT / "src/main/java/interestgraph/TestNeo4j.java"
    key = hashlib.sha256(pom.read_bytes() + source.read_bytes()).hexdigest()[:16]
    build = CACHE / f"neo4j-{key}"
    cp_file, classes = build / "classpath.txt", build / "classes"
    if not (cp_file.is_file() and (classes / "interestgraph/TestNeo4j.class").is_file()):
        build.mkdir(parents=True, exist_ok=True)
        tmp_cp = build / f"classpath.{os.getpid()}.txt"
        done = subprocess.run(
            [mvn, "-q", "-B", "-f", str(pom), "dependency:build-classpath", f"-Dmdep.outputFile={tmp_cp}"],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:
            raise EngineUnavailable(f"Maven could not resolve Neo4j from Maven Central:\n{done.stdout[-2000:]}")
        tmp_classes = build / f"classes.{os.getpid()}"
        done = subprocess.run(
            [javac, "-d", str(tmp_classes), "-cp", tmp_cp.read_text().strip(), str(source)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise EngineUnavailable(f"javac failed on {source}:\n{done.stderr[-2000:]}")
        shutil.rmtree(classes, ignore_errors=True)
        tmp_classes.rename(classes)
        tmp_cp.rename(cp_file)
    return cp_file.read_text().strip(), classes


def start_neo4j(log_dir: Path, config: dict[str, str] | None = None) -> Neo4jServer:
    """The test Neo4j; `config`: further Neo4j settings (name -> value)."""
    if os.environ.get("NEO4J_URI"):
        return Neo4jServer(
            os.environ["NEO4J_URI"], os.environ.get("NEO4J_USER", "neo4j"), os.environ.get("NEO4J_PASSWORD", "")
        )
    classpath, classes = _neo4j_classpath()
    home = Path(tempfile.mkdtemp(prefix="test-neo4j-"))
    port, password = free_port(), secrets.token_urlsafe(18)
    log = log_dir / "neo4j.log"
    cmd = [
        "java",
        "-Xms256m",
        "-Xmx1g",
        "-XX:+UseG1GC",
        "-XX:+ExitOnOutOfMemoryError",
        "-cp",
        f"{classes}{os.pathsep}{classpath}",
        "interestgraph.TestNeo4j",
        str(home),
        str(port),
        password,
        *(f"{k}={v}" for k, v in (config or {}).items()),
    ]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log.open("w"), text=True, cwd=home
    )
    server = Neo4jServer(f"bolt://127.0.0.1:{port}", "neo4j", password, proc, home)
    ready = threading.Event()

    def watch() -> None:
        assert proc.stdout is not None
        with log.with_suffix(".out").open("w") as out:
            for line in proc.stdout:
                out.write(line)
                out.flush()
                if line.startswith("NEO4J READY"):
                    ready.set()

    threading.Thread(target=watch, daemon=True, name="neo4j-stdout").start()
    try:
        _wait_for(proc, ready, NEO4J_START_TIMEOUT_S, "the test Neo4j", log)
    except BaseException:
        server.stop()
        raise
    return server


# --- PostgreSQL ---------------------------------------------------------------------
def _pg_bindir() -> Path:
    candidates = [Path(p).resolve().parent for p in (shutil.which("initdb"), shutil.which("pg_ctl")) if p]
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for d in candidates:
        if (d / "initdb").is_file() and (d / "postgres").is_file():
            return d.resolve()
    raise EngineUnavailable(
        "PostgreSQL's server binaries (initdb, postgres) were not found; `make test` installs "
        "Debian's postgresql package, or set TEST_POSTGRES_URL"
    )


@dataclass
class PostgresServer:
    url: str  # SQLAlchemy URL of the maintenance database (its user may CREATE DATABASE)
    proc: subprocess.Popen[str] | None = None
    root: Path | None = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    def database_url(self, name: str) -> str:
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    @contextlib.contextmanager
    def fresh_database(self, prefix: str = "t"):  # type: ignore[no-untyped-def]
        """A new, empty database for one test; dropped afterwards (connections forced off)."""
        from sqlalchemy import create_engine, text

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = self.database_url(name)
            try:
                yield url
            finally:
                from records.tables import get_engine

                if get_engine.cache_info().currsize:  # the project caches an engine per URL
                    with contextlib.suppress(Exception):
                        get_engine(url).dispose()
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()


def start_postgres(log_dir: Path) -> PostgresServer:
    if os.environ.get("TEST_POSTGRES_URL"):
        return PostgresServer(os.environ["TEST_POSTGRES_URL"])
    bindir = _pg_bindir()
    root = Path(tempfile.mkdtemp(prefix="test-postgres-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    password = secrets.token_urlsafe(18)
    (root / "pwfile").write_text(password + "\n")
    demote = None
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        import pwd

        try:
            pg = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise EngineUnavailable("running as root and there is no `postgres` user to run PostgreSQL as") from exc
        os.chmod(root, 0o755)
        for p in (root, sock, root / "pwfile"):
            os.chown(p, pg.pw_uid, pg.pw_gid)

        def demote() -> None:
            os.setgid(pg.pw_gid)
            os.setgroups([])
            os.setuid(pg.pw_uid)
            _die_with_parent(signal.SIGINT)  # after setuid: a credential change clears it

    log = log_dir / "postgres.log"
    init = subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "scram-sha-256",
            f"--pwfile={root / 'pwfile'}",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        capture_output=True,
        text=True,
        preexec_fn=demote,
        timeout=120,
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise EngineUnavailable(f"initdb failed: {init.stderr[-2000:]}")
    port = free_port()
    cmd = [
        str(bindir / "postgres"),
        "-D",
        str(data),
        "-k",
        str(sock),
        "-p",
        str(port),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "fsync=off",
        "-c",
        "synchronous_commit=off",
        "-c",
        "full_page_writes=off",
        "-c",
        "max_connections=200",
        "-c",
        "shared_buffers=128MB",
    ]
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=demote or (lambda: _die_with_parent(signal.SIGINT)),
    )
    server = PostgresServer(f"postgresql+psycopg2://postgres:{password}@127.0.0.1:{port}/postgres", proc, root)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            server.stop()
            raise EngineUnavailable(f"PostgreSQL exited with code {proc.returncode}; see {log}")
        ok = (
            subprocess.run(
                [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"], capture_output=True
            ).returncode
            == 0
        )
        if ok:
            return server
        if time.monotonic() > deadline:
            server.stop()
            raise EngineUnavailable(f"PostgreSQL did not accept connections within 60 s; see {log}")
        time.sleep(0.2)
