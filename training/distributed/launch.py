"""Run a distributed training job: one server and one trainer per partition (machine).

The processes are training.distributed.node's, started per machine: on this host over
127.0.0.1 with free ports, or across the machines of a Cluster (another machine's through
its remote command, ssh by default). They run in their own process groups with
their output in JOB_DIR/logs; the launcher waits for the trainers (at most `timeout_s`),
gives the servers a moment to take trainer 0's shutdown, and kills whatever is still
running on every way out, failure and timeout included. A failure raises with the failing
process's last log lines.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.config import Cluster, TrainConfig
from training.data import TrainingData
from training.distributed import shm
from training.distributed.job import Job, prepare

log = logging.getLogger(__name__)

SERVER_EXIT_S = 30.0  # after the trainers: servers stop on trainer 0's shutdown request
POLL_S = 0.2


@dataclass(frozen=True)
class ProcessExit:
    name: str  # "server 0", "trainer 1", ...
    pid: int
    returncode: int | None  # None: still running when the launcher gave up on it (then killed)
    killed: bool  # the launcher had to end it
    command: tuple[str, ...]  # as started (through the remote command for another machine)


class DistributedTrainingError(RuntimeError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.processes: list[ProcessExit] = []  # filled in once every process is gone


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen
    log_path: Path

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])


def check_config(cfg: TrainConfig) -> None:
    """What the distributed trainer supports (it always propagates over sampled blocks)."""
    if len(cfg.fanouts) != cfg.layers:
        raise ValueError(f"{len(cfg.fanouts)} fan-outs for {cfg.layers} layers")
    if cfg.item_bias:
        raise ValueError("distributed training does not learn an item bias (item_bias=False)")
    if cfg.recency_sampling > 0:
        raise ValueError("distributed training draws positives uniformly (recency_sampling=0)")
    if cfg.device == "cuda":
        raise ValueError("distributed training runs on CPU (gloo)")


def free_ports(n: int) -> list[int]:
    """n distinct free TCP ports on 127.0.0.1 (held open together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


LOCAL_HOSTS = ("127.0.0.1", "localhost")


def run_local(job: Job, timeout_s: float, threads_per_process: int | None = None) -> list[ProcessExit]:
    """Every partition's server and trainer on this host (127.0.0.1, free ports)."""
    return run(job, Cluster(timeout_s=timeout_s), threads_per_process)


def run(job: Job, cluster: Cluster, threads_per_process: int | None = None) -> list[ProcessExit]:
    """Start every machine's server and trainer, wait for the trainers, and return how each
    process ended (all of them are gone by then).

    Machine 0 is this host; a machine on another address is started through
    `cluster.remote` (ssh by default), which must end the remote process when it is
    ended itself (`ssh -tt` does: the remote side gets a hang-up)."""
    hosts = cluster.hosts or ("127.0.0.1",) * job.num_parts
    if len(hosts) != job.num_parts:
        raise ValueError(f"{len(hosts)} hosts for {job.num_parts} partitions")
    ports = free_ports(job.num_parts + 1) if not cluster.hosts else [cluster.port + k for k in range(len(hosts) + 1)]
    ip_config = job.root / "ip_config.txt"
    ip_config.write_text("".join(f"{host} {port}\n" for host, port in zip(hosts, ports, strict=False)))
    master = f"{hosts[0]}:{ports[-1]}"
    logs = job.root / "logs"
    logs.mkdir(exist_ok=True)
    per_host = max(hosts.count(h) for h in hosts)  # processes that share one machine's cores
    threads = threads_per_process or max(1, (os.cpu_count() or 2) // per_host)
    # the processes import what this one does ("" on sys.path: this working directory)
    paths = [p or os.getcwd() for p in sys.path]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")]),
    }

    def start(role: str, machine: int) -> _Proc:
        path = logs / f"{role}{machine}.log"
        cmd = [sys.executable, "-m", "training.distributed.node", role, str(job.root)]
        cmd += ["--ip-config", str(ip_config), "--machine", str(machine)]
        if role == "trainer":
            cmd += ["--master", master]
        if machine > 0 and hosts[machine] not in LOCAL_HOSTS:
            inner = shlex.join(["env", f"OMP_NUM_THREADS={threads}", "PYTHONUNBUFFERED=1", *cmd])
            cmd = shlex.split(cluster.remote.format(host=hosts[machine], command=shlex.quote(inner)))
        with path.open("wb") as out:
            popen = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        return _Proc(f"{role} {machine}", popen, path)

    timeout_s = cluster.timeout_s
    procs: list[_Proc] = []
    exits: list[ProcessExit] = []
    try:
        servers = [start("server", k) for k in range(job.num_parts)]
        procs += servers
        trainers = [start("trainer", k) for k in range(job.num_parts)]
        procs += trainers
        _wait_trainers(servers, trainers, time.monotonic() + timeout_s, timeout_s)
        _wait_servers(servers)
    except DistributedTrainingError as e:
        e.processes = exits
        raise
    finally:
        for p in procs:
            rc = p.popen.poll()
            if rc is None:
                _kill(p.popen)
            exits.append(ProcessExit(p.name, p.popen.pid, p.popen.returncode, rc is None, tuple(p.popen.args)))
        removed = shm.remove_leftovers(job.tag)
        if removed:
            log.warning("removed %d shared-memory segments left by job %s", len(removed), job.tag)
    return exits


def _wait_trainers(servers: list[_Proc], trainers: list[_Proc], deadline: float, timeout_s: float) -> None:
    while True:
        for p in trainers:
            rc = p.popen.poll()
            if rc not in (None, 0):
                raise DistributedTrainingError(f"{p.name} exited with {rc}; its last lines:\n{p.tail()}")
        if all(p.popen.poll() == 0 for p in trainers):
            return
        for p in servers:
            rc = p.popen.poll()
            # a server stops (0) once trainer 0 is done, maybe before the other trainers exit
            if rc not in (None, 0):
                raise DistributedTrainingError(
                    f"{p.name} exited with {rc} during training; its last lines:\n{p.tail()}"
                )
        if time.monotonic() > deadline:
            slow = [p for p in trainers if p.popen.poll() is None]
            raise DistributedTrainingError(
                f"distributed training did not finish within {timeout_s:.0f} s; {slow[0].name}'s last lines:\n"
                f"{slow[0].tail()}"
            )
        time.sleep(POLL_S)


def _wait_servers(servers: list[_Proc]) -> None:
    deadline = time.monotonic() + SERVER_EXIT_S
    for p in servers:
        try:
            p.popen.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop after training; killed", p.name)


def _kill(popen: subprocess.Popen) -> None:
    """End a process and its group (term, then kill); nothing if it already exited."""
    if popen.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, sig)
        try:
            popen.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def train_distributed(
    data: TrainingData,
    now_ms: int,
    cfg: TrainConfig,
    valid_truth: Sequence[np.ndarray] | None = None,
):  # -> training.train.TrainResult (imported lazily: training.train imports this module)
    """training.train's result, trained by `cfg.distributed` partitions where `cfg.cluster` says."""
    from training.distributed.trainer import load_table
    from training.graph import build_graph, homogeneous_view
    from training.model import LightGCN
    from training.train import TrainResult, embed

    check_config(cfg)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dist-train-", dir=cfg.cluster.workdir or None) as tmp:
        job = prepare(data, now_ms, cfg, valid_truth, cfg.distributed, Path(tmp))
        spec = job.spec()
        run(job, cfg.cluster)
        result = np.load(job.result)
        record = json.loads(job.history.read_text())
        model = LightGCN(dict(zip(spec.ntypes, spec.sizes, strict=True)), cfg.dim, cfg.layers, cfg.init_std)
        load_table(model, spec.ntypes, spec.sizes, result["base"])
        best_epoch, epochs_run = int(result["best_epoch"]), int(result["epochs_run"])
    embeddings = embed(model, homogeneous_view(build_graph(data, now_ms, cfg.graph)))
    return TrainResult(
        embeddings=embeddings,
        model=model,
        device="cpu",
        best_epoch=best_epoch,
        epochs_run=epochs_run,
        best_valid=record["best_valid"],
        history=record["history"],
        warm_started=spec.warm_started,
        seconds=time.perf_counter() - start,
    )
