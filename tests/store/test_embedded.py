"""The embedded FalkorDB server: lifecycle, sharing, crash recovery, clear errors, ACLs."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from graph_schema.rows import CatalogueItem, Interaction
from graph_schema.settings import Settings
from graph_schema.store import StoreUnavailable, open_store
from graph_schema.store.embedded import ANALYST_USER, EmbeddedServer, EmbeddedStoreError
from graph_schema.store.falkor import FalkorDBStore

TAU = 1_000_000.0
# redis-py retries failed connections ~3 s by default; these clients fail at once
NO_RETRY = Retry(NoBackoff(), 0)
MakeServer = Callable[..., EmbeddedServer]
ServersUnder = Callable[[Path], list[int]]


def _settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, graph_uri=None)


def _open(data_dir: Path, make_server: MakeServer) -> tuple[FalkorDBStore, EmbeddedServer]:
    settings = _settings(data_dir)
    server = make_server(settings.falkordb_dir)
    store = open_store(settings)
    assert isinstance(store, FalkorDBStore)
    return store, server


def _fill(store: FalkorDBStore) -> None:
    store.migrate()
    store.upsert_items([CatalogueItem("i1", "One", ("a", "b")), CatalogueItem("i2", "Two", ("b",))])
    store.apply_interactions(
        [Interaction("u1", "i1", 1.0, 1000), Interaction("u1", "i2", 2.0, 2000), Interaction("u2", "i2", 4.0, 3000)],
        TAU,
        batch_id="fill",
    )


def _snapshot(store: FalkorDBStore) -> tuple:
    return (
        store.counts(),
        store.user_interactions("u1"),
        store.user_interests("u1"),
        store.user_interactions("u2"),
    )


def _wait_dead(pid: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.readlink(f"/proc/{pid}/exe")
        except OSError:  # gone, or a zombie (dead, not yet reaped)
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} did not die")


def test_starts_from_a_clean_data_dir(
    tmp_path: Path, make_server: MakeServer, redis_servers_under: ServersUnder
) -> None:
    data_dir = tmp_path / "data"
    assert not data_dir.exists()
    store, server = _open(data_dir, make_server)
    try:
        assert server.dir == (data_dir / "falkordb").resolve()
        assert store.counts() == {"nodes": {}, "relationships": {}}
        assert server.is_running()
        assert redis_servers_under(data_dir) == [server.pid()]
        status = server.status()
        assert status["running"] and status["pid"] == server.pid()
        assert stat.S_IMODE(server.credentials_file.stat().st_mode) == 0o600
        conf = server.conf_file.read_text()
        assert "port 0\n" in conf and "appendonly yes\n" in conf
        assert "bolt" not in conf.lower()  # FalkorDB's experimental Bolt listener stays off
        assert stat.S_ISSOCK(os.stat(server.socket_path).st_mode)
        # the default user needs the password
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(unix_socket_path=server.socket_path, retry=NO_RETRY).ping()
    finally:
        store.close()
    assert server.stop() is True
    assert not server.is_running() and server.pid() is None
    assert server.stop() is False
    assert redis_servers_under(data_dir) == []


def test_restart_keeps_data(tmp_path: Path, make_server: MakeServer) -> None:
    store, server = _open(tmp_path, make_server)
    _fill(store)
    before = _snapshot(store)
    first_pid = server.pid()
    store.close()
    assert server.stop()
    # a clean stop compacts the append-only log into a snapshot: the next start
    # loads the graph instead of replaying every write query
    aof = server.dir / "appendonlydir"
    assert [p.stat().st_size for p in aof.glob("*.incr.aof")] == [0]
    assert sum(p.stat().st_size for p in aof.glob("*.base.rdb")) > 0

    store, _ = _open(tmp_path, make_server)
    try:
        assert server.pid() not in (None, first_pid)
        assert _snapshot(store) == before
        assert store.migrate() == []
        assert store.batch_applied("fill")
    finally:
        store.close()


def test_second_start_reuses_the_running_server(
    tmp_path: Path, make_server: MakeServer, redis_servers_under: ServersUnder
) -> None:
    directory = tmp_path / "falkordb"
    first = make_server(directory)
    endpoint = first.ensure_running()
    pid = first.pid()
    assert pid is not None

    second = make_server(directory)
    assert second.ensure_running() == endpoint
    assert second.pid() == pid
    assert first.ensure_running() == endpoint
    assert redis_servers_under(directory) == [pid]

    # two stores on the same directory see each other's writes
    a, _ = _open(tmp_path, make_server)
    b, _ = _open(tmp_path, make_server)
    try:
        a.apply_interactions([Interaction("u1", "i1", 1.0, 1)], TAU)
        assert b.user_exists("u1")
        assert redis_servers_under(directory) == [pid]
    finally:
        a.close()
        b.close()


def test_concurrent_starts_from_threads_start_one_server(
    tmp_path: Path, make_server: MakeServer, redis_servers_under: ServersUnder
) -> None:
    directory = tmp_path / "falkordb"
    servers = [make_server(directory) for _ in range(4)]
    barrier = threading.Barrier(len(servers))
    results: list[object] = [None] * len(servers)

    def start(k: int) -> None:
        barrier.wait()
        try:
            results[k] = servers[k].ensure_running()
        except Exception as exc:  # reported below
            results[k] = exc

    threads = [threading.Thread(target=start, args=(k,)) for k in range(len(servers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(r == results[0] for r in results), results
    assert redis_servers_under(directory) == [servers[0].pid()]


def test_concurrent_starts_from_processes_start_one_server(
    tmp_path: Path, make_server: MakeServer, redis_servers_under: ServersUnder
) -> None:
    directory = tmp_path / "falkordb"
    server = make_server(directory)
    code = (
        "import sys\n"
        "from graph_schema.store.embedded import EmbeddedServer\n"
        "s = EmbeddedServer(sys.argv[1])\n"
        "s.ensure_running()\n"
        "print(s.pid())\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(directory)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err.decode() for _, err in outputs]
    pids = {int(out) for out, _ in outputs}
    assert len(pids) == 1
    assert redis_servers_under(directory) == [server.pid()] == list(pids)


def test_stale_pid_file_is_not_trusted(
    tmp_path: Path, make_server: MakeServer, redis_servers_under: ServersUnder
) -> None:
    server = make_server(tmp_path / "falkordb")
    server.dir.mkdir(parents=True)
    server.pid_file.write_text(f"{os.getpid()}\n")  # a live process, but not a redis-server
    assert server.pid() is None
    server.ensure_running()
    assert server.pid() not in (None, os.getpid())
    assert redis_servers_under(server.dir) == [server.pid()]


def test_killed_server_is_detected_and_restarted(
    tmp_path: Path, make_server: MakeServer, redis_servers_under: ServersUnder
) -> None:
    store, server = _open(tmp_path, make_server)
    try:
        _fill(store)
        before = _snapshot(store)
        pid = server.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        _wait_dead(pid)
        assert not server.is_running()

        retry = [Interaction("u3", "i1", 8.0, 5000)]
        with pytest.raises(StoreUnavailable):
            store.apply_interactions(retry, TAU, batch_id="after-crash")
        new_pid = server.pid()
        assert new_pid is not None and new_pid != pid  # restarted by the store
        assert redis_servers_under(tmp_path) == [new_pid]

        # the next call works, with everything written before the crash (AOF)
        assert _snapshot(store) == before
        assert store.apply_interactions(retry, TAU, batch_id="after-crash") is True
        assert store.apply_interactions(retry, TAU, batch_id="after-crash") is False
        assert store.user_interactions("u3")[0]["weight"] == 8.0

        # a read after a crash behaves the same way
        os.kill(new_pid, signal.SIGKILL)
        _wait_dead(new_pid)
        with pytest.raises(StoreUnavailable):
            store.counts()
        assert store.user_interactions("u3")[0]["weight"] == 8.0
        assert store.user_interactions("u1") == before[1]
    finally:
        store.close()


def test_corrupt_append_only_file_gives_a_clear_error(
    tmp_path: Path, make_server: MakeServer, redis_servers_under: ServersUnder
) -> None:
    store, server = _open(tmp_path, make_server)
    _fill(store)
    store.close()
    assert server.stop()
    aof_dir = server.dir / "appendonlydir"
    incr = sorted(aof_dir.glob("*.incr.aof"))
    assert incr, list(aof_dir.iterdir())
    incr[-1].write_bytes(b"this is not a redis append-only file\r\n" * 4)

    with pytest.raises(EmbeddedStoreError) as info:
        server.ensure_running()
    message = str(info.value)
    assert str(server.dir) in message
    assert "append only file" in message.lower()  # the server's own reason, from its log
    assert not server.is_running()
    assert redis_servers_under(tmp_path) == []
    with pytest.raises(EmbeddedStoreError):
        open_store(_settings(tmp_path))


def test_bad_configuration_gives_a_clear_error(
    tmp_path: Path, make_server: MakeServer, redis_servers_under: ServersUnder
) -> None:
    server = make_server(tmp_path / "falkordb", appendfsync="sometimes")
    with pytest.raises(EmbeddedStoreError, match="appendfsync"):
        server.ensure_running()
    assert redis_servers_under(tmp_path) == []


def test_unusable_data_dir_gives_a_clear_error(tmp_path: Path, make_server: MakeServer) -> None:
    """DATA_DIR pointing at a regular file: the caller (CLI, API) catches
    EmbeddedStoreError to print a clear message, so that is what must come out."""
    not_a_dir = tmp_path / "data"
    not_a_dir.write_text("a file, not a directory")
    with pytest.raises(EmbeddedStoreError, match=re.escape(str(not_a_dir))):
        make_server(not_a_dir / "falkordb").ensure_running()


def test_analyst_user_cannot_write(tmp_path: Path, make_server: MakeServer) -> None:
    store, server = _open(tmp_path, make_server)
    try:
        _fill(store)
        before = store.counts()
        endpoint = server.ensure_running()
        analyst = redis.Redis(
            unix_socket_path=endpoint.socket_path,
            username=ANALYST_USER,
            password=endpoint.analyst_password,
            retry=NO_RETRY,
        )
        graph = store.graph_name
        reply = analyst.execute_command("GRAPH.RO_QUERY", graph, "MATCH (u:User) RETURN count(u)")
        assert reply[1] == [[2]]
        for command in (
            ("GRAPH.QUERY", graph, "RETURN 1"),
            ("GRAPH.QUERY", graph, "CREATE (:User {id: 'intruder'})"),
            ("GRAPH.DELETE", graph),
            ("GRAPH.CONSTRAINT", "DROP", graph, "UNIQUE", "NODE", "User", "PROPERTIES", "1", "id"),
            ("FLUSHALL",),
            ("DEL", graph),
            ("CONFIG", "SET", "appendonly", "no"),
            ("SHUTDOWN",),
        ):
            with pytest.raises(redis.exceptions.NoPermissionError):
                analyst.execute_command(*command)
        with pytest.raises(redis.exceptions.ResponseError):  # the engine refuses writes on RO_QUERY
            analyst.execute_command("GRAPH.RO_QUERY", graph, "CREATE (:User {id: 'intruder'})")
        assert store.counts() == before
        assert server.is_running()
    finally:
        store.close()


def test_a_store_that_may_not_start_the_server_uses_a_running_one_only(
    tmp_path: Path, make_server: MakeServer, redis_servers_under: ServersUnder
) -> None:
    """The API's niced ingest child opens its store with start_server=False: a server it
    started would run at its priority. No server: a clear error, none started. A running
    one is used; killed, it is not restarted by that store (the starting store does)."""
    settings = _settings(tmp_path)
    with pytest.raises(EmbeddedStoreError, match="not running"):
        open_store(settings, start_server=False)
    assert redis_servers_under(tmp_path) == []
    store, server = _open(tmp_path, make_server)  # starts it
    follower = open_store(settings, start_server=False)
    try:
        _fill(follower)
        assert follower.user_interactions("u2")[0]["weight"] == 4.0
        pid = server.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        _wait_dead(pid)
        with pytest.raises(StoreUnavailable, match="could not be restarted"):
            follower.counts()
        assert redis_servers_under(tmp_path) == []
        with pytest.raises(StoreUnavailable):
            store.counts()  # the store that may start it restarts it ...
        assert follower.user_interactions("u2")[0]["weight"] == 4.0  # ... and the other reconnects
    finally:
        follower.close()
        store.close()
